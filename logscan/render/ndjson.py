"""NDJSON: one JSON object per line for each time window and cause, for pipelines."""

from __future__ import annotations

import json

from logscan import sanitize
from logscan.aggregate import WINDOW_COLUMNS
from logscan.render.common import RenderOptions, iso
from logscan.results import ScanResult


def render_ndjson(result: ScanResult, options: RenderOptions) -> str:
    """Every row of the windows (Ollama's 400s with ``ollama`` true, the applications' own with
    it false; null windows for requests without a timestamp), as in the CSV."""
    del options
    windows = iso(result.summary.windows.select(WINDOW_COLUMNS), ("window_start", "window_end"))
    # One object per line: json.dumps escapes newlines inside strings, so none can split a line.
    return "".join(
        sanitize.json_document(json.dumps(row, ensure_ascii=False)) + "\n" for row in windows.to_dicts()
    )
