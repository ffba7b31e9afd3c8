"""Thresholds a scheduler acts on: more failed requests than allowed, in all or in a category.

A breach is not an error of the scan: the report is written first, and the exit code (1) tells
the scheduler. Only Ollama's failed requests count, as in the headline."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from logscan.errors import UsageError

if TYPE_CHECKING:  # no Polars at import: the CLI reads the thresholds before it imports Polars
    from logscan.aggregate import Summary
    from logscan.trends import CategoryTrend

_FAIL_ON = re.compile(r"^([a-z0-9][a-z0-9_.-]*)(?:=(\d+))?$")


@dataclass(frozen=True)
class Limits:
    total: int | None = None  # --fail-above N: more than N failed requests
    per_category: Mapping[str, int] = field(default_factory=dict)  # --fail-on CATEGORY[=N]


def limits(fail_above: int | None, fail_on: Sequence[str]) -> Limits:
    per_category: dict[str, int] = {}
    for value in fail_on:
        found = _FAIL_ON.match(value)
        if not found:
            raise UsageError(
                f"--fail-on '{value}' is not CATEGORY or CATEGORY=N (e.g. auth or request_format=10)"
            )
        per_category[found.group(1)] = int(found.group(2) or 0)
    return Limits(fail_above, per_category)


def check_categories(given: Limits, categories: Iterable[str]) -> None:
    known = set(categories)
    unknown = sorted(set(given.per_category) - known)
    if unknown:
        raise UsageError(
            f"--fail-on names no category: {', '.join(unknown)} (categories: {', '.join(sorted(known))})"
        )


def breaches(summary: Summary, given: Limits) -> list[str]:
    """One line per threshold the scan went over, naming it and the figure."""
    found = []
    if given.total is not None and summary.total > given.total:
        found.append(f"{summary.total:,} failed requests, above --fail-above {given.total:,}")
    counts = dict(summary.by_category.select("category", "requests").iter_rows())
    for category, limit in given.per_category.items():
        count = int(counts.get(category) or 0)
        if count > limit:
            found.append(f"{count:,} {category} requests, above --fail-on {category}={limit:,}")
    return found


def new_categories(trends: Sequence[CategoryTrend]) -> list[str]:
    """One line per category counted now that no stored run had (--fail-on-new-category)."""
    return [
        f"{trend.now:,} {trend.category} requests, a category no stored run had (--fail-on-new-category)"
        for trend in trends
        if trend.is_new
    ]
