"""The shape of a finished scan, shared by the pipeline that fills it and the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from logscan.aggregate import COVERAGE_COLUMNS, SUPPRESSED_COLUMNS, Summary
from logscan.classify import RegexTimeout
from logscan.cluster import Clusters
from logscan.requests import ClockOffset, JoinStats
from logscan.rulemodel import UNCLASSIFIED
from logscan.rules import Category, Rule
from logscan.trends import CategoryTrend

if TYPE_CHECKING:
    from logscan.state import CategoryCounts

# The sides of the wire a 400 record is on: Ollama's or a proxy's logs, or the application's.
SIDES = ("server", "client")
# The example records a report shows per cause: the record standing for each request chosen.
EXAMPLES_PER_CAUSE = 3
EXAMPLE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "category": pl.String,
    "request_id": pl.Int64,
    "timestamp": pl.Datetime("us", "UTC"),
    "file": pl.String,
    "line": pl.Int64,
    "side": pl.String,
    "message": pl.String,
}
EXAMPLE_COLUMNS = tuple(EXAMPLE_SCHEMA)


@dataclass
class FileReport:
    """What reading one input gave, and why any of it was not read.

    Lines are accounted for exactly: ``lines`` (the lines read, counted in the bytes: each
    newline, and a last line without one) equals ``lines_used`` (the lines handed on to record
    detection, each of them scanned for 400s) plus ``lines_skipped`` (lines read that are not
    scanned: those in the first 32 KiB of a binary file, read to find it is binary). A line
    longer than the matching cap counts once, in ``lines_cut`` too: its head is scanned, its
    rest only read past. Bytes: ``bytes`` were read (after decompression), ``hole_bytes`` of a
    sparse file were skipped unread.

    ``skipped`` says why an input was deliberately not read (binary, a FIFO, a link not
    followed...); ``error`` why it could not be read, or not to its end (what was read is
    counted all the same).
    """

    name: str
    format: str = "-"
    envelopes: str = ""  # e.g. "compose+docker-timestamps", outermost first
    compression: str = "none"
    # The zone its zone-less times were read in, when its other lines showed one (else the
    # --assume-tz zone applies).
    zone: str | None = None
    bytes: int = 0  # decompressed bytes read
    hole_bytes: int = 0
    lines: int = 0
    lines_used: int = 0
    lines_skipped: int = 0
    lines_cut: int = 0
    records: int = 0
    occurrences: int = 0
    # Lines with bytes that were not valid UTF-8 (or NUL), read with U+FFFD in their place.
    replaced_lines: int = 0
    # Lines that match no known line shape; they are still scanned, as plain text.
    unknown_lines: int = 0
    skipped: str | None = None
    error: str | None = None
    named: bool = False  # given on the command line (not found in a folder)
    # With --state: what of the file was new (e.g. "continued from line 1,041"), or why none was.
    incremental: str | None = None

    @property
    def accounted(self) -> bool:
        """Every line read is used or skipped."""
        return self.lines == self.lines_used + self.lines_skipped

    @property
    def empty(self) -> bool:
        return (
            self.bytes == 0 and self.hole_bytes == 0 and not (self.skipped or self.error or self.incremental)
        )


@dataclass(frozen=True)
class InputTotals:
    """The read accounting of a whole scan."""

    files: int
    bytes: int
    hole_bytes: int
    lines: int
    lines_used: int
    lines_skipped: int
    lines_cut: int
    records: int
    replaced_lines: int
    empty: int
    skipped: int
    failed: int

    @classmethod
    def of(cls, reports: list[FileReport]) -> InputTotals:
        def total(figure: str) -> int:
            return sum(getattr(report, figure) for report in reports)

        return cls(
            files=len(reports),
            bytes=total("bytes"),
            hole_bytes=total("hole_bytes"),
            lines=total("lines"),
            lines_used=total("lines_used"),
            lines_skipped=total("lines_skipped"),
            lines_cut=total("lines_cut"),
            records=total("records"),
            replaced_lines=total("replaced_lines"),
            empty=sum(report.empty for report in reports),
            skipped=sum(report.skipped is not None for report in reports),
            failed=sum(report.error is not None for report in reports),
        )


@dataclass(frozen=True)
class TimeExclusions:
    """Occurrences left out by --since/--until."""

    outside: int = 0
    untimed: int = 0

    def __add__(self, other: TimeExclusions) -> TimeExclusions:
        return TimeExclusions(self.outside + other.outside, self.untimed + other.untimed)


@dataclass(frozen=True)
class PendingRecords:
    """With --state: records of requests that may straddle two runs. ``carried`` came from the
    last run and are counted now; ``held`` wait for the next run's join; ``over_bound`` would
    have waited but were counted now, past the bound on waiting records."""

    carried: int = 0
    held: int = 0
    over_bound: int = 0


@dataclass(frozen=True)
class RunInfo:
    """What every report says about the run that made it: when, by which version, over which
    bounds (as applied, in the report zone) and which inputs (as named on the command line)."""

    generated_at: datetime
    version: str
    since: datetime | None = None
    until: datetime | None = None
    report_tz: str = "UTC"
    inputs: tuple[str, ...] = ()
    duration_seconds: float | None = None  # of the scan, when the report is written


@dataclass
class ScanResult:
    # Every 400 record, in scan order, with the request it belongs to (read lazily: it may
    # wait on disk); None when the scan was asked not to keep them.
    events: pl.LazyFrame | None
    summary: Summary
    # The requests counted per window, category, rule, endpoint and model (aggregate.tally).
    tally: pl.DataFrame
    files: list[FileReport]
    categories: dict[str, Category]
    window: str
    assume_tz: str
    rules: tuple[Rule, ...] = ()
    # Occurrences silenced by a suppress entry: counted here, in none of the totals above.
    suppressed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=list(SUPPRESSED_COLUMNS)))
    # Hits per loaded rule, zero for the rules that never fired on this input.
    coverage: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=list(COVERAGE_COLUMNS)))
    clusters: Clusters = field(default_factory=lambda: Clusters([]))
    # Up to EXAMPLES_PER_CAUSE records per category (EXAMPLE_SCHEMA), the first requests in time.
    examples: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EXAMPLE_SCHEMA))
    regex_timeouts: list[RegexTimeout] = field(default_factory=list)
    excluded: TimeExclusions = TimeExclusions()
    # Clock offsets of server files, estimated from the requests matched across files or given.
    offsets: list[ClockOffset] = field(default_factory=list)
    join_stats: JoinStats = field(default_factory=JoinStats)
    # Server 400s no client record explains, per endpoint and client address.
    unmatched_server: pl.DataFrame = field(default_factory=pl.DataFrame)
    # Filled by whoever writes the report (the CLI): None in a bare library scan.
    run_info: RunInfo | None = None
    # This run against the stored runs (--state): None without a state.
    trends: list[CategoryTrend] | None = None
    pending: PendingRecords | None = None  # --state only
    # --state only: the counts of every run stored in the state plus this run's, so that
    # counters written from them only grow from one run to the next.
    cumulative: CategoryCounts | None = None

    @property
    def counts(self) -> CategoryCounts:
        """This scan's counts per cause category (zeros left out)."""
        # The state (and SQLite) is imported only when asked: a scan without --state does not.
        from logscan.state import CategoryCounts  # noqa: PLC0415

        summary = self.summary
        records = {side: _per_category(summary.by_category, f"{side}_records") for side in SIDES}
        return CategoryCounts(
            requests=_per_category(summary.by_category, "requests"),
            records={(category, side): count for side in SIDES for category, count in records[side].items()},
            other_requests=_per_category(summary.other, "requests"),
        )

    @property
    def rules_loaded(self) -> int:
        return len(self.rules)

    @property
    def lines(self) -> int:
        return sum(report.lines for report in self.files)

    @property
    def unreadable(self) -> list[FileReport]:
        return [report for report in self.files if report.error]

    @property
    def skipped(self) -> list[FileReport]:
        return [report for report in self.files if report.skipped]

    @property
    def input_totals(self) -> InputTotals:
        return InputTotals.of(self.files)

    @property
    def suppressed_total(self) -> int:
        return int(self.suppressed.get_column("count").sum()) if self.suppressed.height else 0

    @property
    def never_fired(self) -> list[str]:
        return self.coverage.filter(pl.col("hits") == 0).get_column("rule_id").to_list()


def _per_category(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """The sums of ``column`` per category, in the frame's order, zeros left out."""
    # A category is always set on a counted request; "unclassified" keeps a stray null counted.
    sums = (
        frame.with_columns(pl.col("category").fill_null(UNCLASSIFIED))
        .group_by("category", maintain_order=True)
        .agg(pl.col(column).sum())
    )
    return {category: int(total) for category, total in sums.iter_rows() if total}


@dataclass
class FormatSurvey:
    """What `logscan formats` shows for one source."""

    report: FileReport
    line_shapes: dict[str, int]
