"""Bytes out: one function per output format, all with the same signature, plus the events
CSV. Nothing here filters or aggregates. Text from logs and file names is made harmless for
where it goes (see sanitize.py): terminal escapes shown, spreadsheet formulas not run."""

from __future__ import annotations

from collections.abc import Callable

from logscan.render.common import RenderOptions, tabulate
from logscan.render.csvs import EVENT_COLUMNS, formula_safe, render_csv, write_events_csv
from logscan.render.html import render_html
from logscan.render.jsondoc import render_json
from logscan.render.markdown import render_markdown
from logscan.render.ndjson import render_ndjson
from logscan.render.prom import render_prom
from logscan.render.table import TABLE_CLUSTERS, render_formats, render_table
from logscan.results import ScanResult

# The name older callers use for the CSV cells a spreadsheet would run.
_formula_safe = formula_safe

Renderer = Callable[[ScanResult, RenderOptions], str]
RENDERERS: dict[str, Renderer] = {
    "table": render_table,
    "csv": render_csv,
    "json": render_json,
    "markdown": render_markdown,
    "ndjson": render_ndjson,
    "prom": render_prom,
    "html": render_html,
}

__all__ = [
    "EVENT_COLUMNS",
    "RENDERERS",
    "TABLE_CLUSTERS",
    "RenderOptions",
    "Renderer",
    "render_csv",
    "render_formats",
    "render_json",
    "render_markdown",
    "render_ndjson",
    "render_prom",
    "render_table",
    "tabulate",
    "write_events_csv",
]
