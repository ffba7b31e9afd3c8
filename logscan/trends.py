"""This run against the stored runs: per cause category, the count now, in the previous run
and on average over the last ``MEAN_RUNS`` runs, with two flags.

- ``new``: present now, absent from every stored run. A first run (nothing stored) flags
  nothing new: with nothing to compare with, everything would be.
- ``spike``: more than ``SPIKE_FACTOR`` times the mean of the last ``MEAN_RUNS`` stored runs
  (fewer if fewer are stored; a run without the category counts 0 in the mean) and more than
  ``SPIKE_FLOOR`` requests, so that 1 → 4 on a quiet night is no alarm. A first run flags no
  spike either.

Nothing here touches the database: the history rows come from ``state.py``, newest first,
and must not include this run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

MEAN_RUNS = 7
SPIKE_FACTOR = 3.0
SPIKE_FLOOR = 5


class Flag(StrEnum):
    NEW = "new"
    SPIKE = "spike"


class StoredRun(Protocol):
    """What a history row must offer: its failed requests per category."""

    @property
    def requests(self) -> Mapping[str, int]: ...


@dataclass(frozen=True)
class CategoryTrend:
    """One category's count now and before. ``previous``, ``mean7`` and ``change`` are None
    when no run is stored."""

    category: str
    now: int
    previous: int | None
    mean7: float | None
    change: int | None  # now - previous
    flags: frozenset[Flag]

    @property
    def is_new(self) -> bool:
        return Flag.NEW in self.flags

    @property
    def is_spike(self) -> bool:
        return Flag.SPIKE in self.flags


def compare(now: Mapping[str, int], history: Sequence[StoredRun]) -> list[CategoryTrend]:
    """A trend for every category counted now or in any of the last ``MEAN_RUNS`` runs, the
    largest now first (then by id). ``history`` is newest first, this run not included."""
    recent = history[:MEAN_RUNS]
    ever_seen = {category for run in history for category, count in run.requests.items() if count > 0}
    categories = {category for category, count in now.items() if count > 0}
    categories |= {category for run in recent for category, count in run.requests.items() if count > 0}
    trends = [_trend(category, now.get(category, 0), recent, ever_seen) for category in categories]
    return sorted(trends, key=lambda trend: (-trend.now, trend.category))


def _trend(category: str, count: int, recent: Sequence[StoredRun], ever_seen: set[str]) -> CategoryTrend:
    if not recent:
        return CategoryTrend(category, count, None, None, None, frozenset())
    previous = recent[0].requests.get(category, 0)
    mean = sum(run.requests.get(category, 0) for run in recent) / len(recent)
    flags = set()
    if count > 0 and category not in ever_seen:
        flags.add(Flag.NEW)
    if count > SPIKE_FACTOR * mean and count > SPIKE_FLOOR:
        flags.add(Flag.SPIKE)
    return CategoryTrend(category, count, previous, mean, count - previous, frozenset(flags))
