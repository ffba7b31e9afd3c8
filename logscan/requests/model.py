"""The shapes the request join takes and gives: options, clock offsets, statistics, result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

import polars as pl

from logscan.errors import ScanError, UsageError

# The columns a records frame must have, with the dtype each must have (None: any Datetime).
INPUT_COLUMNS: dict[str, type[pl.DataType] | None] = {
    "key": pl.Int64,
    "file": pl.String,
    "record_no": pl.Int64,
    "line": pl.Int64,
    "timestamp": None,
    "side": pl.String,
    "kind": pl.String,
    "reasonless": pl.Boolean,
    "endpoint": pl.String,
    "method": pl.String,
    "model": pl.String,
    "client": pl.String,
    "address": pl.String,
    "user_agent": pl.String,
    "latency": pl.Float64,
    "category": pl.String,
    "rule_id": pl.String,
    "reason": pl.String,
    "ollama": pl.Boolean,
}

UNCLASSIFIED = "unclassified"
# Other dtypes a column may come in: strings as categories, long texts as their hashes.
_ENCODED: dict[type[pl.DataType], tuple[type[pl.DataType], ...]] = {pl.String: (pl.Categorical, pl.UInt64)}


@dataclass(frozen=True)
class JoinOptions:
    """How records become requests.

    An offset is what must be added to a server file's times to put them on the reference clock:
    a server whose clock runs 2 h behind the application's has an offset of +2 h.
    """

    match_window: timedelta = timedelta(seconds=3)
    stitch_records: int = 5
    stitch_gap: timedelta = timedelta(seconds=2)
    server_offsets: Mapping[str, timedelta] = field(default_factory=lambda: MappingProxyType({}))
    default_server_offset: timedelta | None = None
    max_offset: timedelta = timedelta(hours=14)
    # GIN stamps the end of a response truncated to the second, and two hosts' clocks are never
    # exactly the same: a client record may look up to this much older than its server line.
    slack: timedelta = timedelta(seconds=1)
    min_offset_pairs: int = 3
    # Bound on the (server line, other record) differences the offset search looks at.
    offset_pair_budget: int = 500_000
    # Rows of one side searched for candidates at a time (bounds the pairs held at once; the
    # result is the same for any size).
    slice_rows: int = 50_000

    def __post_init__(self) -> None:
        problems = []
        if self.match_window <= timedelta(0):
            problems.append(f"the match window must be positive, not {self.match_window}")
        if self.stitch_records < 1:
            problems.append(f"stitch_records must be at least 1, not {self.stitch_records}")
        if self.stitch_gap < timedelta(0):
            problems.append(f"the stitch gap must not be negative, not {self.stitch_gap}")
        if self.slack < timedelta(0):
            problems.append(f"the slack must not be negative, not {self.slack}")
        if self.max_offset < timedelta(0):
            problems.append(f"the largest clock offset must not be negative, not {self.max_offset}")
        if self.slice_rows < 1:
            problems.append(f"slice_rows must be at least 1, not {self.slice_rows}")
        if self.min_offset_pairs < 1:
            problems.append(f"min_offset_pairs must be at least 1, not {self.min_offset_pairs}")
        for file, offset in self.server_offsets.items():
            if abs(offset) > timedelta(days=2):
                problems.append(f"the server offset of {file} ({offset}) is more than two days")
        if problems:
            raise UsageError("; ".join(problems))


@dataclass(frozen=True)
class ClockOffset:
    """The clock offset used for one server file.

    ``source`` is ``estimated`` (from ``pairs`` unambiguous pairs with ``reference_file``),
    ``given`` (by the user) or ``none`` (too few unambiguous pairs: no correction).
    """

    server_file: str
    reference_file: str | None
    offset: timedelta
    pairs: int
    source: str

    def describe(self) -> str:
        if self.source == "given":
            return f"{self.server_file}: clock offset {_signed(self.offset)} as given"
        if self.source == "none":
            return f"{self.server_file}: too few unambiguous pairs ({self.pairs}) to estimate a clock offset"
        if abs(self.offset) < timedelta(seconds=1):
            return f"{self.server_file} runs in step with {self.reference_file}, from {self.pairs} pairs"
        direction = "behind" if self.offset >= timedelta(0) else "ahead of"
        return (
            f"{self.server_file} runs {_span(abs(self.offset))} {direction} {self.reference_file}, "
            f"from {self.pairs} pairs"
        )


def _span(span: timedelta) -> str:
    total = int(span.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours} h {minutes:02d} m {seconds:02d} s"


def _signed(offset: timedelta) -> str:
    return ("-" if offset < timedelta(0) else "+") + _span(abs(offset))


@dataclass(frozen=True)
class JoinStats:
    stitched_records: int = 0  # records that joined another record of their own file
    joined_pairs: int = 0  # unambiguous links across sides or files
    ambiguous_pairs: int = 0  # links counted as one request but not used for attribution
    unmatched_server: int = 0  # server-side requests without any client record
    unmatched_client: int = 0  # Ollama client requests without any server record


@dataclass(frozen=True)
class Joined:
    records: pl.DataFrame
    requests: pl.DataFrame
    offsets: list[ClockOffset]
    stats: JoinStats


class RecordsFrameError(ScanError):
    """The records handed to the join do not have the promised shape."""


def check_records(records: pl.DataFrame) -> None:
    problems = []
    for name, dtype in INPUT_COLUMNS.items():
        if name not in records.columns:
            problems.append(f"column {name!r} is missing")
            continue
        actual = records.schema[name]
        if dtype is None:
            if not isinstance(actual, pl.Datetime):
                problems.append(f"column {name!r} is {actual}, not a Datetime")
        elif actual not in (dtype, pl.Null, *_ENCODED.get(dtype, ())):
            problems.append(f"column {name!r} is {actual}, not {dtype}")
    if not problems and records["key"].null_count():
        problems.append("column 'key' has nulls")
    if not problems and records["key"].n_unique() != records.height:
        problems.append("column 'key' has duplicate values")
    if problems:
        raise RecordsFrameError("records frame for the request join: " + "; ".join(problems))
