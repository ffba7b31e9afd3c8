"""The offset histogram of the clock estimate: the window of whole-second start holding most
(client - GIN) differences, taken only when it clearly beats every window far from it."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from logscan.requests.clocks import _CLEAR_WIN, _histogram_peak

SECOND = 1_000_000
WINDOW, SLACK = 3 * SECOND, SECOND


def peak(diffs: list[int], min_pairs: int = 3) -> int | None:
    return _histogram_peak(pl.Series(sorted(diffs), dtype=pl.Int64), WINDOW, SLACK, min_pairs)


def test_of_two_windows_as_full_and_as_near_no_offset_the_lower_wins() -> None:
    # [-1 s, 2 s] holds -1, 1, 2 and [1 s, 4 s] holds 1, 2, 4: three each, both 1 s from no
    # offset. The only far window, [4 s, 7 s], holds one.
    assert peak([-SECOND, SECOND, 2 * SECOND, 4 * SECOND]) == -SECOND


def test_a_window_that_does_not_clearly_win_gives_no_offset() -> None:
    # Three in [10 s, 13 s], two in [100 s, 103 s]: not twice as many.
    near, far = [10 * SECOND, 11 * SECOND, 12 * SECOND], [100 * SECOND, 101 * SECOND]
    assert peak(near + far) is None
    assert peak([*near, far[0]]) == 10 * SECOND
    assert peak(near[:2], min_pairs=3) is None


def brute_force(diffs: list[int], min_pairs: int) -> int | None:
    if len(diffs) < min_pairs:
        return None
    counts = {
        start: sum(start <= d <= start + WINDOW for d in diffs)
        for start in {d // SECOND * SECOND for d in diffs}
    }
    most = max(counts.values())
    top = min((start for start, count in counts.items() if count == most), key=lambda s: (abs(s), s))
    rival = max((count for start, count in counts.items() if abs(start - top) > WINDOW + SLACK), default=0)
    return None if most < min_pairs or most < _CLEAR_WIN * rival else top


@settings(max_examples=300, deadline=None)
@given(
    # Any microsecond, and half seconds, which fall on the edges of windows.
    st.lists(
        st.one_of(
            st.integers(min_value=-40 * SECOND, max_value=40 * SECOND),
            st.integers(min_value=-80, max_value=80).map(lambda halves: halves * SECOND // 2),
        ),
        max_size=40,
    ),
    st.integers(min_value=1, max_value=4),
)
def test_the_peak_is_that_of_counting_every_window(diffs: list[int], min_pairs: int) -> None:
    assert peak(diffs, min_pairs) == brute_force(diffs, min_pairs)
