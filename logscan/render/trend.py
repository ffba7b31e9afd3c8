"""The trend of a run against the stored runs (``--state``), as the table, Markdown and JSON
show it: per category, now, in the previous run, the mean of the last runs, the change and the
flags (see trends.py for when a category is new or a spike)."""

from __future__ import annotations

from typing import Any

from logscan.results import FileReport, ScanResult
from logscan.trends import MEAN_RUNS, SPIKE_FACTOR, SPIKE_FLOOR, CategoryTrend

TREND_HEADERS = ("category", "now", "previous", f"mean of last {MEAN_RUNS}", "change", "flags")
TREND_TITLE = "Trend against the stored runs"


def trend_note(result: ScanResult) -> str:
    """What the trend compares, and when it flags."""
    if not result.trends and result.trends is not None:
        return "No failed request now nor in the stored runs."
    if result.trends and result.trends[0].previous is None:
        return "First run with this state: nothing stored to compare with yet."
    return (
        f"new: no stored run had it; spike: above {SPIKE_FACTOR:g}× the mean of the last"
        f" {MEAN_RUNS} stored runs and above {SPIKE_FLOOR} requests."
    )


def trend_rows(trends: list[CategoryTrend]) -> list[list[Any]]:
    return [
        [
            trend.category,
            trend.now,
            "" if trend.previous is None else trend.previous,
            "" if trend.mean7 is None else f"{trend.mean7:.1f}",
            "" if trend.change is None else f"{trend.change:+d}",
            ", ".join(sorted(trend.flags)),
        ]
        for trend in trends
    ]


def trend_document(result: ScanResult) -> dict[str, Any] | None:
    """The trend as JSON: None without a state."""
    if result.trends is None:
        return None
    return {
        "mean_runs": MEAN_RUNS,
        "spike_factor": SPIKE_FACTOR,
        "spike_floor": SPIKE_FLOOR,
        "categories": [
            {
                "category": trend.category,
                "now": trend.now,
                "previous": trend.previous,
                "mean7": trend.mean7,
                "change": trend.change,
                "flags": sorted(trend.flags),
            }
            for trend in result.trends
        ],
        "pending": None if result.pending is None else result.pending.__dict__,
    }


def file_document(report: FileReport, *, incremental: bool) -> dict[str, Any]:
    """A file's figures as JSON; ``incremental`` only from a run with --state."""
    return {key: value for key, value in vars(report).items() if incremental or key != "incremental"}


def pending_note(result: ScanResult) -> str | None:
    """The records of requests that may straddle two runs, when there were any."""
    pending = result.pending
    if pending is None or not (pending.carried or pending.held or pending.over_bound):
        return None
    carried = "record carried from the last run was"
    if pending.carried != 1:
        carried = "records carried from the last run were"
    held = "waits" if pending.held == 1 else "wait"
    note = (
        f"{pending.carried:,} {carried} joined now; {pending.held:,} near"
        f" the end of this run's data, without a partner yet, {held} for the next run"
    )
    if pending.over_bound:
        more = "was" if pending.over_bound == 1 else "were"
        note += f"; {pending.over_bound:,} more {more} counted now, over the bound on waiting records"
    return note + "."
