"""CSV: the windows of every 400, and the events, with cells a spreadsheet would run as a
formula kept as text. Times are ISO 8601 in the report zone.

The CSV is pure CSV, a header row and rows of the same columns: no comment lines, which CSV
has not got (a spreadsheet or ``csv.DictReader`` would read one as a row). What the run was
(when, which version, bounds, inputs) is in the JSON and on every NDJSON line."""

from __future__ import annotations

from typing import BinaryIO

import polars as pl

from logscan import sanitize
from logscan.aggregate import WINDOW_COLUMNS
from logscan.render.common import RenderOptions, iso, iso_expr, report_zone
from logscan.results import ScanResult

EVENT_COLUMNS = (
    "file", "line", "end_line", "timestamp", "side", "status", "method", "endpoint", "model",
    "category", "rule_id", "client", "format", "message", "request_id", "attribution",
    "matched_file", "matched_line",
)  # fmt: skip


def formula_safe(frame: pl.LazyFrame, raw: bool) -> pl.LazyFrame:
    """Text cells that a spreadsheet would run as a formula, prefixed to stay text (OWASP's
    advice on CSV injection); as they are with ``raw``."""
    if raw:
        return frame
    texts = [name for name, dtype in frame.collect_schema().items() if dtype == pl.String]
    starts_like_formula = sanitize.FORMULA_START.pattern
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(starts_like_formula))
        .then(pl.lit(sanitize.FORMULA_PREFIX) + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )


def render_csv(result: ScanResult, options: RenderOptions) -> str:
    windows = iso(
        result.summary.windows.select(WINDOW_COLUMNS), ("window_start", "window_end"), report_zone(result)
    )
    return formula_safe(windows.lazy(), options.raw_csv).collect().write_csv()


def write_events_csv(result: ScanResult, stream: BinaryIO, options: RenderOptions) -> None:
    """Stream the occurrences into ``stream`` as CSV: they are read part by part, so a scan of
    any size writes them in bounded memory."""
    if result.events is None:
        raise ValueError("the scan was run without keeping its events")
    rows = result.events.select(
        *EVENT_COLUMNS[:9], pl.col("final_category").alias("category"), *EVENT_COLUMNS[10:]
    ).with_columns(iso_expr(pl.col("timestamp"), report_zone(result)))
    formula_safe(rows, options.raw_csv).sink_csv(stream)
