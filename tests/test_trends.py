"""This run against stored runs: previous, mean of the last seven, new categories, spikes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logscan.render.trend import pending_note
from logscan.results import PendingRecords
from logscan.state import Run, StateDB
from logscan.trends import MEAN_RUNS, SPIKE_FACTOR, SPIKE_FLOOR, CategoryTrend, Flag, compare


@dataclass(frozen=True)
class Stored:
    requests: Mapping[str, int]


def nights(*counts: dict[str, int]) -> list[Stored]:
    """Stored runs, newest first."""
    return [Stored(night) for night in counts]


def test_each_category_is_compared_with_the_previous_run_and_the_mean_of_the_last_seven() -> None:
    history = nights(
        {"auth": 2, "request_format": 4},
        {"auth": 1},
        {"auth": 3, "request_format": 2},
        {},
        {"auth": 1},
        {"auth": 1},
        {"auth": 6},
        {"auth": 100, "rate_limit": 9},  # the eighth run back: outside the mean, not the new-check
    )
    assert compare({"auth": 5, "request_format": 1, "rate_limit": 2}, history) == [
        CategoryTrend("auth", 5, 2, 14 / 7, 3, frozenset()),
        CategoryTrend("rate_limit", 2, 0, 0.0, 2, frozenset()),
        CategoryTrend("request_format", 1, 4, 6 / 7, -3, frozenset()),
    ]


def test_a_category_absent_from_every_stored_run_is_new() -> None:
    history = nights({"auth": 2}, {"auth": 1, "unclassified": 3})
    trends = {trend.category: trend for trend in compare({"auth": 1, "server_misconfig": 2}, history)}
    assert trends["server_misconfig"].flags == frozenset({Flag.NEW})
    assert trends["server_misconfig"].is_new
    assert not trends["auth"].is_new
    # Gone since the run before the last: shown with 0 now, so a drop can be seen too.
    assert trends["unclassified"] == CategoryTrend("unclassified", 0, 0, 1.5, 0, frozenset())


def test_a_spike_is_more_than_three_times_the_mean_and_more_than_the_floor() -> None:
    history = nights(*[{"auth": 2, "rate_limit": 1}] * MEAN_RUNS)
    assert SPIKE_FACTOR == 3.0
    assert SPIKE_FLOOR == 5
    trends = {trend.category: trend for trend in compare({"auth": 7, "rate_limit": 4}, history)}
    assert trends["auth"].flags == frozenset({Flag.SPIKE})  # 7 > 3 x 2, 7 > 5
    assert trends["rate_limit"].flags == frozenset()  # 4 > 3 x 1, yet not above the floor
    trends = {trend.category: trend for trend in compare({"auth": 6, "rate_limit": 6}, history)}
    assert not trends["auth"].is_spike  # 6 is not above 3 x 2
    assert trends["rate_limit"].is_spike


def test_a_new_category_above_the_floor_is_new_and_a_spike() -> None:
    (trend,) = compare({"auth": 6}, nights({}))
    assert trend == CategoryTrend("auth", 6, 0, 0.0, 6, frozenset({Flag.NEW, Flag.SPIKE}))


def test_a_first_run_has_nothing_to_compare_with_and_flags_nothing() -> None:
    assert compare({"auth": 40, "unclassified": 0, "request_format": 40}, []) == [
        CategoryTrend("auth", 40, None, None, None, frozenset()),
        CategoryTrend("request_format", 40, None, None, None, frozenset()),
    ]


def test_with_fewer_than_seven_runs_stored_the_mean_is_over_those() -> None:
    (trend,) = compare({"auth": 1}, nights({"auth": 4}, {"auth": 2}))
    assert (trend.previous, trend.mean7, trend.change) == (4, 3.0, -3)


def test_history_rows_from_the_state_feed_the_comparison(tmp_path: Path) -> None:
    start = datetime(2026, 11, 1, 2, 15, tzinfo=UTC)
    with StateDB.open(tmp_path / "state.db") as db:
        for night, counts in enumerate([{"auth": 1}, {"auth": 2, "rate_limit": 1}]):
            moment = start + timedelta(days=night)
            db.commit(Run(moment, moment, [], 10, counts))
        history = db.history()
    assert compare({"auth": 9, "request_format": 1}, history) == [
        CategoryTrend("auth", 9, 2, 1.5, 7, frozenset({Flag.SPIKE})),
        CategoryTrend("request_format", 1, 0, 0.0, 1, frozenset({Flag.NEW})),
        CategoryTrend("rate_limit", 0, 1, 0.5, -1, frozenset()),
    ]


counts = st.dictionaries(st.sampled_from(["auth", "rate_limit", "unclassified"]), st.integers(0, 50))


@given(now=counts, history=st.lists(counts, max_size=12))
def test_flags_follow_their_definitions(now: dict[str, int], history: list[dict[str, int]]) -> None:
    trends = compare(now, nights(*history))
    recent = history[:MEAN_RUNS]
    for trend in trends:
        assert trend.now == now.get(trend.category, 0)
        if not history:
            assert (trend.previous, trend.mean7, trend.flags) == (None, None, frozenset())
            continue
        mean = sum(night.get(trend.category, 0) for night in recent) / len(recent)
        assert trend.mean7 == mean
        assert trend.is_spike == (trend.now > 3 * mean and trend.now > 5)
        assert trend.is_new == (trend.now > 0 and all(night.get(trend.category, 0) == 0 for night in history))
    listed = {trend.category for trend in trends}
    assert listed == {c for night in [now, *recent] for c, n in night.items() if n > 0}


@pytest.mark.parametrize(
    ("carried", "held", "over_bound", "note"),
    [
        (0, 0, 0, None),
        (1, 0, 0, "1 record carried from the last run was joined now; 0 near the end of this run's data,"
         " without a partner yet, wait for the next run."),
        (3, 1, 0, "3 records carried from the last run were joined now; 1 near the end of this run's data,"
         " without a partner yet, waits for the next run."),
        (0, 2, 1, "0 records carried from the last run were joined now; 2 near the end of this run's data,"
         " without a partner yet, wait for the next run; 1 more was counted now, over the bound on waiting"
         " records."),
    ],
)  # fmt: skip
def test_the_pending_note_counts_in_words(carried: int, held: int, over_bound: int, note: str | None) -> None:
    result = SimpleNamespace(pending=PendingRecords(carried=carried, held=held, over_bound=over_bound))
    assert pending_note(result) == note  # type: ignore[arg-type]
