"""Envelopes: the wrappers collectors put around each log line (journald, Docker, compose),
detected per file and peeled off before the inner line is parsed; the time they carry is kept."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from logscan.formats import DETECTION_SAMPLE_LINES
from logscan.timestamps import MONTHS, timestamp_precision


@dataclass(frozen=True)
class Envelope:
    """A wrapper that a collector puts around each line (journald, Docker, compose). It is
    peeled off before the inner line is parsed; the timestamp it carries is kept."""

    id: str
    description: str
    # Regex with a group named `inner` and optionally `ts`; None for JSON envelopes.
    pattern: str | None = None
    # For JSON envelopes: JSON paths of the inner line and of the timestamp.
    json_paths: tuple[str, str] | None = None
    # Containers run in UTC unless told otherwise, so zone-less times inside are UTC.
    container: bool = False


_ISO_TS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
_JOURNAL_MONTH = r"[A-Z][a-z]{2}|\d{1,2}月"

ENVELOPES: tuple[Envelope, ...] = (
    Envelope(
        "journald-json",
        "journalctl -o json",
        json_paths=("$.MESSAGE", "$.__REALTIME_TIMESTAMP"),
    ),
    Envelope("docker-json", "Docker json-file record", json_paths=("$.log", "$.time"), container=True),
    Envelope(
        "journald-short-iso",
        "journalctl -o short-iso",
        rf"^(?P<ts>{_ISO_TS}) \S+ [^\s:\[]+(?:\[\d+\])?: (?P<inner>.*)$",
    ),
    Envelope(
        "journald-short",
        "journalctl (short): local time, no year",
        rf"^(?P<month>{_JOURNAL_MONTH}) {{1,2}}(?P<day>\d{{1,2}}) (?P<time>\d{{2}}:\d{{2}}:\d{{2}})"
        r" \S+ [^\s:\[]+(?:\[\d+\])?: (?P<inner>.*)$",
    ),
    Envelope("docker-timestamps", "docker logs -t", rf"^(?P<ts>{_ISO_TS}) (?P<inner>.*)$", container=True),
    Envelope(
        "docker-desktop",
        "Docker Desktop: host-local time before the container's own line",
        r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) "
        r"(?P<inner>(?:\[GIN|time=|\d{4}/\d{2}/\d{2} |\d{4}-\d{2}-\d{2}T|llama|ggml).*)$",
        container=True,
    ),
    Envelope(
        "compose", "docker compose service prefix", r"^[A-Za-z0-9][\w.-]* *\| (?P<inner>.*)$", container=True
    ),
)
ENVELOPES_BY_ID = {envelope.id: envelope for envelope in ENVELOPES}
# A line any envelope could be around (JSON ones included): most files have none, and one
# pass of this spares a pass per envelope.
_ANY_ENVELOPE = "|".join(
    ["^\\{", *(f"(?:{re.sub(r'[(][?]P<[a-z]+>', '(?:', e.pattern)})" for e in ENVELOPES if e.pattern)]
)
_ENVELOPE_SHARE = 0.1
_ENVELOPE_MIN_LINES = 2
_MAX_ENVELOPE_DEPTH = 4


def detect_envelopes(sample: pl.Series) -> tuple[Envelope, ...]:
    """The envelopes around the sample's lines, outermost first. They can stack (a compose
    prefix around a `docker logs -t` timestamp around a GIN line) and mix (logs pasted from
    several sources), so each one found around a fair share of lines is peeled where it fits."""
    stack: list[Envelope] = []
    lines = sample.head(DETECTION_SAMPLE_LINES).drop_nulls()
    if not may_be_enveloped(lines).any():
        return ()
    for _ in range(_MAX_ENVELOPE_DEPTH):
        depth = len(stack)
        for envelope in ENVELOPES:
            if envelope not in stack and _wraps_enough(lines, envelope):
                stack.append(envelope)
                lines = peel(lines, (envelope,), JournalYear(2000)).get_column("line")
        if len(stack) == depth:
            break
    return tuple(stack)


def may_be_enveloped(lines: pl.Series) -> pl.Series:
    """True for lines some envelope may be around; a sample with none has no envelope."""
    return lines.str.contains(_ANY_ENVELOPE).fill_null(value=False)


def _wraps_enough(lines: pl.Series, envelope: Envelope) -> bool:
    if envelope.json_paths is not None:
        wrapped = int(lines.str.json_path_match(envelope.json_paths[0]).is_not_null().sum())
    else:
        wrapped = int(lines.str.contains(envelope.pattern or "").sum())
    return wrapped >= _ENVELOPE_MIN_LINES and wrapped >= _ENVELOPE_SHARE * lines.len()


@dataclass
class JournalYear:
    """The year of journald short timestamps, which print none. It starts from a hint (the
    file's other timestamps, or its modification time) and moves on each time the month goes
    back (December to January), across blocks."""

    year: int
    last_month: int | None = None

    def years(self, months: pl.Series) -> pl.Series:
        previous = months.shift(1).forward_fill()
        if self.last_month is not None:
            previous = previous.fill_null(self.last_month)
        rolled_over = (months < previous).fill_null(value=False)
        years = rolled_over.cast(pl.Int32).cum_sum() + self.year
        last_known = months.drop_nulls()
        if last_known.len():
            self.last_month = int(last_known[-1])
            self.year = int(years[-1])
        return years


def first_journal_month(lines: pl.Series, stack: tuple[Envelope, ...]) -> int | None:
    """The month of the first journald short line, if the lines are in that envelope."""
    if ENVELOPES_BY_ID["journald-short"] not in stack:
        return None
    months = (
        lines.str.extract(ENVELOPES_BY_ID["journald-short"].pattern or "", 1)
        .replace_strict(MONTHS, default=None, return_dtype=pl.Int32)
        .drop_nulls()
    )
    return int(months[0]) if months.len() else None


def peel(lines: pl.Series, stack: tuple[Envelope, ...], journal_year: JournalYear) -> pl.DataFrame:
    """Columns `line` (the inner line), `envelope_ts` (the most precise timestamp the envelopes
    carried, as text; null if none) and `in_container` (a container envelope was peeled, so
    the inner line's zone-less times are UTC). A line an envelope does not fit stays as it is."""
    frame = pl.DataFrame(
        {
            "line": lines,
            "envelope_ts": pl.Series([None], dtype=pl.String).new_from_index(0, lines.len()),
            "in_container": pl.Series([False]).new_from_index(0, lines.len()),
        }
    )
    for envelope in stack:
        frame = _peel_one(frame, envelope, journal_year)
    return frame


def _peel_one(frame: pl.DataFrame, envelope: Envelope, journal_year: JournalYear) -> pl.DataFrame:
    line = pl.col("line")
    raw_ts: pl.Expr
    if envelope.json_paths is not None:
        inner_path, ts_path = envelope.json_paths
        inner = line.str.json_path_match(inner_path).str.strip_suffix("\n")
        raw_ts = line.str.json_path_match(ts_path)
        if envelope.id == "journald-json":
            microseconds = raw_ts.cast(pl.Int64, strict=False)
            raw_ts = pl.from_epoch(microseconds, "us").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
    else:
        parts = line.str.extract_groups(envelope.pattern or "")
        inner = parts.struct.field("inner")
        if envelope.id == "journald-short":
            months = frame.select(
                parts.struct.field("month").replace_strict(MONTHS, default=None, return_dtype=pl.Int32)
            ).to_series()
            raw_ts = pl.format(
                "{}-{}-{}T{}",
                pl.lit(journal_year.years(months)),
                pl.lit(months).cast(pl.String).str.zfill(2),
                parts.struct.field("day").str.zfill(2),
                parts.struct.field("time"),
            )
        elif "ts" in _group_names(envelope.pattern or ""):
            raw_ts = parts.struct.field("ts")
        else:
            raw_ts = pl.lit(None, pl.String)
    earlier = pl.col("envelope_ts")
    more_precise = timestamp_precision(raw_ts).fill_null(-1) > timestamp_precision(earlier).fill_null(-1)
    return frame.with_columns(
        line=pl.coalesce(inner, line),
        envelope_ts=pl.when(more_precise).then(raw_ts).otherwise(earlier),
        in_container=pl.col("in_container") | (inner.is_not_null() & envelope.container),
    )


def _group_names(pattern: str) -> set[str]:
    return set(re.findall(r"\(\?P<(\w+)>", pattern))
