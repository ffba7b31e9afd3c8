"""Prometheus text exposition (format 0.0.4), for node_exporter's textfile collector: the
counts of the scan as counters per cause and side, and gauges for when the run was and how
long its scan took.

The counters are the totals of the logs scanned: they only ever grow from one run to the next
when each run scans the same, growing logs (a reset, e.g. after rotation, is what Prometheus's
rate() already allows for). No sample carries a timestamp: the textfile collector refuses
them."""

from __future__ import annotations

import time

import polars as pl

from logscan import sanitize
from logscan.render.common import RenderOptions
from logscan.results import ScanResult
from logscan.rulemodel import UNCLASSIFIED

_SIDES = ("server", "client")


def label_value(text: str) -> str:
    """``text`` as a label value: controls other than newline shown as visible escapes (see
    sanitize.terminal), then backslash, double quote and newline escaped as the exposition
    format requires."""
    return sanitize.terminal_lines(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        pairs = ",".join(f'{key}="{label_value(text)}"' for key, text in labels.items())
        number = str(int(value)) if float(value).is_integer() else repr(float(value))
        lines.append(f"{name}{{{pairs}}} {number}" if pairs else f"{name} {number}")
    return lines


def _categories(result: ScanResult, frame: pl.DataFrame) -> list[str]:
    """Every category the rules know and every one counted, so that a series does not vanish
    from one run to the next because a cause did not occur."""
    counted = frame.get_column("category").to_list() if frame.height else []
    return list(dict.fromkeys([*result.categories, *(c for c in counted if c is not None)]))


def _per_category(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if not frame.height:
        return {}
    sums = frame.group_by("category").agg(pl.col(column).sum())
    # A category is always set on a counted request; "unclassified" keeps a stray null counted.
    return {category or UNCLASSIFIED: int(total) for category, total in sums.iter_rows()}


def render_prom(result: ScanResult, options: RenderOptions) -> str:
    del options
    summary = result.summary
    causes = summary.by_category
    categories = _categories(result, causes)
    requests = _per_category(causes, "requests")
    records = {side: _per_category(causes, f"{side}_records") for side in _SIDES}
    other = _per_category(summary.other, "requests")
    lines = _family(
        "logscan_failed_requests_total",
        "counter",
        "Requests to Ollama that failed with HTTP 400, by cause, in the scanned logs.",
        [({"category": category}, requests.get(category, 0)) for category in categories],
    )
    lines += _family(
        "logscan_400_records_total",
        "counter",
        "HTTP 400 records those requests left in server-side and client-side logs, by cause.",
        [
            ({"category": category, "side": side}, records[side].get(category, 0))
            for category in categories
            for side in _SIDES
        ],
    )
    lines += _family(
        "logscan_other_400_requests_total",
        "counter",
        "HTTP 400s the applications answered themselves (nothing shows they reached Ollama), by cause.",
        [({"category": category}, count) for category, count in sorted(other.items())],
    )
    run = result.run_info
    lines += _family(
        "logscan_last_run_timestamp_seconds",
        "gauge",
        "When logscan made this report, in seconds since the Unix epoch.",
        [({}, round(run.generated_at.timestamp() if run else time.time(), 3))],
    )
    if run is not None and run.duration_seconds is not None:
        lines += _family(
            "logscan_last_run_duration_seconds",
            "gauge",
            "How long the scan of the last run took, in seconds.",
            [({}, round(run.duration_seconds, 3))],
        )
    return "\n".join(lines) + "\n"
