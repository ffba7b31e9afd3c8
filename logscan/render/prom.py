"""Prometheus text exposition (format 0.0.4), for node_exporter's textfile collector: the
counts of the scan as counters per cause and side, and gauges for when the run was and how
long its scan took.

Without --state the counters are the totals of the logs scanned: they only ever grow from one
run to the next when each run scans the same, growing logs (a reset, e.g. after rotation, is
what Prometheus's rate() already allows for). With --state each run reads only what is new, so
the counters are the totals of every run stored in the state plus this one: they grow by what
this run found, and never fall. No sample carries a timestamp: the textfile collector refuses
them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from logscan import sanitize
from logscan.render.common import RenderOptions
from logscan.results import SIDES, ScanResult

if TYPE_CHECKING:
    from logscan.state import CategoryCounts


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


def _categories(result: ScanResult, counts: CategoryCounts) -> list[str]:
    """Every category the rules know and every one counted, so that a series does not vanish
    from one run to the next because a cause did not occur."""
    counted = [*counts.requests, *(category for category, _side in counts.records)]
    return list(dict.fromkeys([*result.categories, *counted]))


def _over_stored_runs(stored: bool) -> str:
    # States written before these were stored kept requests only: their runs add nothing here.
    return ", over every run of the --state file that stored them (this one included)." if stored else "."


def render_prom(result: ScanResult, options: RenderOptions) -> str:
    del options
    # With --state each run reads only what is new, so its own counts would fall from night to
    # night: the counters are the state's totals, and their help says so.
    stored = result.cumulative is not None
    counts = result.cumulative if result.cumulative is not None else result.counts
    categories = _categories(result, counts)
    lines = _family(
        "logscan_failed_requests_total",
        "counter",
        "Requests to Ollama that failed with HTTP 400, by cause, "
        + ("over every run of the --state file (this one included)." if stored else "in the scanned logs."),
        [({"category": category}, counts.requests.get(category, 0)) for category in categories],
    )
    lines += _family(
        "logscan_400_records_total",
        "counter",
        "HTTP 400 records those requests left in server-side and client-side logs, by cause"
        + _over_stored_runs(stored),
        [
            ({"category": category, "side": side}, counts.records.get((category, side), 0))
            for category in categories
            for side in SIDES
        ],
    )
    lines += _family(
        "logscan_other_400_requests_total",
        "counter",
        "HTTP 400s the applications answered themselves (nothing shows they reached Ollama), by cause"
        + _over_stored_runs(stored),
        [({"category": category}, count) for category, count in sorted(counts.other_requests.items())],
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
