"""Bytes out: one function per output format, all with the same signature, plus the events
CSV and an atomic file writer. Nothing here filters or aggregates."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
from tabulate import tabulate

from logscan.aggregate import WINDOW_COLUMNS
from logscan.results import FormatSurvey, ScanResult

EVENT_COLUMNS = (
    "file", "line", "end_line", "timestamp", "side", "status", "method", "endpoint", "model",
    "category", "rule_id", "client", "format", "message",
)  # fmt: skip
_ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
_NO_TIMESTAMP = "no timestamp"


@dataclass(frozen=True)
class RenderOptions:
    table_style: str = "simple"


def _when(value: datetime | None, with_seconds: bool = True) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def render_table(result: ScanResult, options: RenderOptions) -> str:
    summary = result.summary
    style = options.table_style
    out: list[str] = [
        f"logscan: {_plural(summary.total, 'HTTP 400')} in {_plural(len(result.files), 'file')}"
        f" ({_plural(result.lines, 'line')} read); times in UTC, window {result.window}",
        "",
    ]
    if summary.total:
        out += _causes_section(result, style)
        out += _windows_section(result, style)
        out += _top_section(result, style)
    out += _input_section(result, style)
    out += _notes(result)
    return "\n".join(out).rstrip("\n") + "\n"


def _causes_section(result: ScanResult, style: str) -> list[str]:
    summary = result.summary
    rows = [
        [
            result.categories[row["category"]].title
            if row["category"] in result.categories
            else row["category"],
            row["category"],
            row["total"],
            f"{row['share']:.1%}",
            row["server"],
            row["client"],
            _when(row["first_seen"]),
            _when(row["last_seen"]),
        ]
        for row in summary.by_category.iter_rows(named=True)
    ]
    server = sum(row[4] for row in rows)
    rows.append(["Total", "", summary.total, "100.0%", server, summary.total - server, "", ""])
    headers = ["cause", "category", "400s", "share", "server", "client", "first seen", "last seen"]
    fixes = [
        f"  {row['category']}: {result.categories[row['category']].remediation}"
        for row in summary.by_category.iter_rows(named=True)
        if row["category"] in result.categories and result.categories[row["category"]].remediation
    ]
    return [
        "Causes",
        tabulate(rows, headers=headers, tablefmt=style, colalign=_align(headers, 2)),
        "",
        "What to do",
        *fixes,
        "",
    ]


def _align(headers: list[str], text_columns: int) -> tuple[str, ...]:
    return ("left",) * text_columns + ("right",) * (len(headers) - text_columns)


def _windows_section(result: ScanResult, style: str) -> list[str]:
    windows = result.summary.windows
    categories = result.summary.by_category.get_column("category").to_list()
    wide = (
        windows.group_by("window_start", "category")
        .agg(pl.col("count").sum())
        .pivot(on="category", index="window_start", values="count")
        .sort("window_start", nulls_last=True)
        .fill_null(0)
    )
    rows = []
    for row in wide.iter_rows(named=True):
        counts = [row.get(category) or 0 for category in categories]
        label = _when(row["window_start"], with_seconds=False) if row["window_start"] else _NO_TIMESTAMP
        rows.append([label, *counts, sum(counts)])
    headers = ["window start", *categories, "total"]
    return [
        f"400s per {result.window} window",
        tabulate(rows, headers=headers, tablefmt=style, colalign=_align(headers, 1)),
        "",
    ]


def _top_section(result: ScanResult, style: str) -> list[str]:
    out: list[str] = []
    endpoints = [
        [f"{row['method'] or ''} {row['endpoint']}".strip(), row["count"]]
        for row in result.summary.top_endpoints.iter_rows(named=True)
    ]
    models = [[row["model"], row["count"]] for row in result.summary.top_models.iter_rows(named=True)]
    if endpoints:
        out += [
            "Top endpoints",
            tabulate(endpoints, headers=["endpoint", "400s"], tablefmt=style),
            "",
        ]
    if models:
        out += ["Top models", tabulate(models, headers=["model", "400s"], tablefmt=style), ""]
    return out


def _input_section(result: ScanResult, style: str) -> list[str]:
    rows = [
        [
            report.name,
            f"{report.format} in {report.envelopes}" if report.envelopes else report.format,
            report.compression if report.compression != "none" else "",
            report.lines,
            report.records,
            report.occurrences,
            f"unreadable: {report.error}" if report.error else "",
        ]
        for report in result.files
    ]
    headers = ["file", "format", "compressed", "lines", "records", "400s", "problem"]
    return [
        "Input",
        tabulate(
            rows,
            headers=headers,
            tablefmt=style,
            colalign=("left",) * 3 + ("right",) * 3 + ("left",),
        ),
        "",
    ]


def _notes(result: ScanResult) -> list[str]:
    summary = result.summary
    notes: list[str] = []
    if summary.total:
        share = summary.classified / summary.total
        notes.append(
            f"- Explained by a rule: {summary.classified:,} of {summary.total:,} ({share:.1%};"
            f" {result.rules_loaded} rules loaded). Unclassified: {summary.total - summary.classified:,}."
        )
        server_unclassified = result.events.filter(
            (pl.col("side") == "server") & pl.col("rule_id").is_null()
        ).height
        if server_unclassified == 1:
            notes.append(
                "- 1 unclassified 400 is a server access line: Ollama sends the reason to the client,"
                " so look for it in the application logs of the same time."
            )
        elif server_unclassified:
            notes.append(
                f"- {server_unclassified:,} unclassified 400s are server access lines: Ollama sends the"
                " reason to the client, so look for it in the application logs of the same time."
            )
    if summary.untimed:
        notes.append(
            f"- {_plural(summary.untimed, '400')} carry no timestamp: they are in the totals and"
            f" in the '{_NO_TIMESTAMP}' row."
        )
    if result.excluded.outside or result.excluded.untimed:
        notes.append(
            f"- Left out by --since/--until: {result.excluded.outside:,} outside the bounds and"
            f" {result.excluded.untimed:,} without a timestamp."
        )
    unknown = sum(report.unknown_lines for report in result.files)
    if unknown:
        notes.append(
            f"- {_plural(unknown, 'line')} matched no known log format and"
            f" {'was' if unknown == 1 else 'were'} scanned as plain text (see `logscan formats PATH`)."
        )
    replaced = sum(report.replaced_lines for report in result.files)
    if replaced:
        notes.append(
            f"- {replaced:,} lines had bytes that are not UTF-8; they were read with U+FFFD in their place."
        )
    if result.unreadable:
        notes.append(
            f"- {_plural(len(result.unreadable), 'file')} could not be read completely; see 'problem' above."
        )
    return ["Notes", *notes] if notes else []


def _iso(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).dt.strftime(_ISO_UTC) for c in columns if c in frame.columns)


def render_csv(result: ScanResult, options: RenderOptions) -> str:
    del options
    windows = _iso(result.summary.windows.select(WINDOW_COLUMNS), ("window_start", "window_end"))
    return windows.write_csv()


def render_json(result: ScanResult, options: RenderOptions) -> str:
    del options
    summary = result.summary

    def records(frame: pl.DataFrame) -> list[dict[str, object]]:
        datetimes = tuple(name for name, dtype in frame.schema.items() if dtype.is_temporal())
        return _iso(frame, datetimes).to_dicts()

    document = {
        "total_400s": summary.total,
        "classified": summary.classified,
        "unclassified": summary.total - summary.classified,
        "untimed": summary.untimed,
        "window": result.window,
        "assume_tz": result.assume_tz,
        "lines_read": result.lines,
        "excluded_by_time": result.excluded.__dict__,
        "categories": [
            {
                **row,
                "title": result.categories[row["category"]].title
                if row["category"] in result.categories
                else row["category"],
                "remediation": result.categories[row["category"]].remediation
                if row["category"] in result.categories
                else "",
            }
            for row in records(summary.by_category)
        ],
        "windows": records(summary.windows),
        "top_endpoints": records(summary.top_endpoints),
        "top_models": records(summary.top_models),
        "rule_hits": records(summary.rule_hits),
        "files": [report.__dict__ for report in result.files],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_events_csv(result: ScanResult) -> str:
    return _iso(result.events.select(EVENT_COLUMNS), ("timestamp",)).write_csv()


def render_formats(surveys: list[FormatSurvey], options: RenderOptions) -> str:
    """`logscan formats`: each file's envelopes and format, and the lines each parser took."""
    shape_names = list(dict.fromkeys(name for survey in surveys for name in survey.line_shapes))
    rows = [
        [
            survey.report.name,
            survey.report.envelopes or "-",
            survey.report.format,
            survey.report.compression if survey.report.compression != "none" else "",
            survey.report.lines,
            *(survey.line_shapes.get(name, 0) for name in shape_names),
            f"unreadable: {survey.report.error}" if survey.report.error else "",
        ]
        for survey in surveys
    ]
    headers = ["file", "envelopes", "format", "compressed", "lines", *shape_names, "problem"]
    table = tabulate(rows, headers=headers, tablefmt=options.table_style)
    return (
        f"{table}\n\nLines per parser: a line counts for the first format whose parser recognises it;"
        " 'continuation' lines (indented, tracebacks, brackets) belong to the record above;"
        " 'unknown' lines are scanned as plain text.\n"
    )


Renderer = Callable[[ScanResult, RenderOptions], str]
RENDERERS: dict[str, Renderer] = {"table": render_table, "csv": render_csv, "json": render_json}


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it into place, so a reader (or a
    crash) never sees a half-written report."""
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
