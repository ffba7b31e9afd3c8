"""NDJSON: one JSON object per line for each time window and cause, for pipelines.

Every line stands alone: besides its window it carries what the run was (``generated_at``,
``version``, ``since``, ``until``, ``report_tz``, ``inputs``, ``duration_seconds``), so that
lines of many nights shipped into one store still tell which run and which bounds they come
from. Windows are ISO 8601 in the report zone."""

from __future__ import annotations

import json

from logscan import sanitize
from logscan.aggregate import WINDOW_COLUMNS
from logscan.render.common import RenderOptions, iso, report_zone, run_document
from logscan.results import ScanResult


def render_ndjson(result: ScanResult, options: RenderOptions) -> str:
    """Every row of the windows (Ollama's 400s with ``ollama`` true, the applications' own with
    it false; null windows for requests without a timestamp), as in the CSV, then the run's
    fields."""
    del options
    run = run_document(result)
    bounds = run.pop("bounds")
    about_run = {**run, **bounds}  # type: ignore[dict-item]
    windows = iso(
        result.summary.windows.select(WINDOW_COLUMNS), ("window_start", "window_end"), report_zone(result)
    )
    # One object per line: json.dumps escapes newlines inside strings, so none can split a line.
    return "".join(
        sanitize.json_document(json.dumps({**row, **about_run}, ensure_ascii=False)) + "\n"
        for row in windows.to_dicts()
    )
