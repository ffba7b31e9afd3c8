"""One constant clock offset per server file, estimated from the requests both sides saw.

Client time minus GIN time is the clock offset plus a delay that is never negative (GIN stamps
the end of the response, truncated to the second; the client logs after it has the answer). So:

1. every difference between a GIN line and a record of the same endpoint in another file, up
   to ``max_offset`` either way (only every k-th GIN line when that would be too many), gives
   a histogram; the offset window ``[o, o + match_window]`` holding most of them is the
   candidate, if it clearly beats every other window;
2. at that candidate the lines are matched one to one; the lower envelope (a low quantile, as
   NTP trusts its lowest-delay sample) of the unambiguous pairs' differences is the offset,
   in whole seconds, the resolution of the GIN clock;
3. the file with most such pairs is the reference.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from logscan.requests.matching import match_one_to_one, window_pairs
from logscan.requests.model import ClockOffset, JoinOptions

_SECOND = 1_000_000
_LOWER_ENVELOPE = 0.1
# The best offset window must hold this many times the differences of any other one.
_CLEAR_WIN = 2.0


def _micros(span: timedelta) -> int:
    return int(span.total_seconds() * _SECOND)


def clock_offsets(
    units: pl.DataFrame, server_files: list[str], options: JoinOptions
) -> tuple[dict[str, int], list[ClockOffset]]:
    """Offset in microseconds per server file, and what to report about each."""
    found: dict[str, int] = {}
    reports: list[ClockOffset] = []
    for file in server_files:
        given = options.server_offsets.get(file, options.default_server_offset)
        if given is not None:
            found[file] = _micros(given)
            reports.append(ClockOffset(file, None, given, 0, "given"))
            continue
        report = _estimate(units, file, options)
        found[file] = _micros(report.offset)
        reports.append(report)
    return found, reports


def _estimate(units: pl.DataFrame, file: str, options: JoinOptions) -> ClockOffset:
    window, slack = _micros(options.match_window), _micros(options.slack)
    reach = _micros(options.max_offset)
    servers = units.filter((pl.col("file") == file) & (pl.col("type") == "gin"))
    # Only records that name their endpoint: a guess must not move a clock.
    others = units.filter(
        (pl.col("file") != file)
        & pl.col("type").is_in(["client", "proxy"])
        & pl.col("endpoint").is_not_null()
    )
    pairs, share = window_pairs(
        servers,
        others,
        -reach - slack,
        reach + window,
        by_endpoint=True,
        max_pairs=options.offset_pair_budget,
    )
    if share < 1:
        # The one-to-one matching below then only sees the lines of the histogram's sample.
        servers = servers.filter(pl.col("id").is_in(pairs["probe"].unique().implode()))
    # Unit ids are positions: a column indexed by them names each build row's file.
    file_of_unit = pl.Series("file", [None], others.schema["file"]).extend_constant(
        None, int(units["id"].max() or 0)
    )
    file_of_unit = file_of_unit.scatter(others["id"], others["file"])
    pairs = pairs.with_columns(other_file=pl.lit(file_of_unit).gather("build"))
    best = ClockOffset(file, None, timedelta(0), 0, "none")
    by_file = pairs.partition_by("other_file", as_dict=True)
    # Ties go to the file whose name sorts first, so that the reference does not depend on order.
    for (other_file,), diffs in sorted(by_file.items(), key=lambda item: str(item[0][0])):
        candidate = _histogram_peak(diffs["diff"].sort(), window, slack, options.min_offset_pairs)
        if candidate is None:
            continue
        shifted = servers.with_columns(pl.col("t") + candidate)
        clients = others.filter(pl.col("file") == other_file)
        clean = match_one_to_one(clients, shifted, -slack, window, options.slice_rows).clean
        differences = (
            clean.join(clients.select(left="id", client_t="t"), on="left")
            .join(servers.select(right="id", server_t="t"), on="right")
            .select(pl.col("client_t") - pl.col("server_t"))
            .to_series()
        )
        if differences.len() > best.pairs:
            envelope = differences.quantile(_LOWER_ENVELOPE, interpolation="lower") or 0
            offset = timedelta(seconds=int(envelope) // _SECOND)
            best = ClockOffset(file, str(other_file), offset, differences.len(), "estimated")
    if best.pairs < options.min_offset_pairs:
        return ClockOffset(file, None, timedelta(0), best.pairs, "none")
    return best


def _histogram_peak(diffs: pl.Series, window: int, slack: int, min_pairs: int) -> int | None:
    """Start of the offset window holding most differences (sorted), when it clearly wins."""
    if diffs.len() < min_pairs:
        return None
    # Windows start at each whole second a difference falls in; the differences being sorted,
    # the first of each second is where the count of its window begins.
    seconds = (diffs // _SECOND * _SECOND).to_frame("start")
    firsts = seconds.with_row_index("first").filter(pl.col("start").ne_missing(pl.col("start").shift(1)))
    starts = firsts.get_column("start")
    ends = diffs.search_sorted(starts + window, side="right")
    counts = ends.cast(pl.Int64) - firsts.get_column("first").cast(pl.Int64)
    most = int(counts.max())  # type: ignore[arg-type]
    # Of the windows holding most, the one nearest no offset (the lower of two as near).
    top = min(starts.filter(counts == most).to_list(), key=lambda start: (abs(start), start))
    rival = counts.filter((starts - top).abs() > window + slack).max()
    if most < min_pairs or most < _CLEAR_WIN * (rival or 0):  # type: ignore[operator]
        return None
    return int(top)
