"""Timestamps of log lines, vectorised: finding the first one in a text, how precise it is, and
reading it as UTC (a zone written, one assumed, a fixed offset; DST gaps and overlaps as
Python and Go read them; access-log and epoch forms)."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta, timezone, tzinfo

import polars as pl

# The first date and time in a text: groups year, month, day, time, fraction, zone.
TIMESTAMP = (
    r"(\d{4})[-/](\d{2})[-/](\d{2})(?:T| - | )(\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?"
    r"\s?(Z|[+-]\d{2}:?\d{2})?"
)
MONTHS = {
    **{name: i for i, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)},
    **{f"{i}月": i for i in range(1, 13)},
}  # fmt: skip

# Access-log time (`07/May/2025:08:59:38 +0200`) and epoch times in JSON logs (pino
# milliseconds, llama.cpp runner seconds).
_ACCESS_LOG_TIME = r"\[(\d{2})/(\w{3})/(\d{4}):(\d{2}:\d{2}:\d{2}) ([+-]\d{4})\]"
_EPOCH_TIME = r"\"(?:time|timestamp|ts)\"\s*:\s*(\d{13}|\d{10})\b"
_MONTH_NUMBERS = {name: f"{number:02d}" for name, number in MONTHS.items() if not name.endswith("月")}
_ZONED = 100  # a zone outweighs any number of fraction digits


def timestamp_precision(text: pl.Expr, zone_known: pl.Expr | bool = False) -> pl.Expr:
    """How precise the first timestamp in ``text`` is; null where there is none. A timestamp
    with a zone (or whose zone is known from elsewhere) outweighs any number of digits."""
    parts = text.str.extract_groups(TIMESTAMP)
    zoned = (parts.struct.field("6").is_not_null() | zone_known).cast(pl.Int32) * _ZONED
    digits = parts.struct.field("5").str.len_chars().fill_null(0).cast(pl.Int32)
    epoch_digits = text.str.extract(_EPOCH_TIME, 1).str.len_chars().cast(pl.Int32)
    return (
        pl.when(parts.struct.field("1").is_not_null())
        .then(zoned + digits)
        .when(text.str.contains(_ACCESS_LOG_TIME))
        .then(pl.lit(_ZONED))
        .when(epoch_digits.is_not_null())
        .then(_ZONED + epoch_digits - 10)
    )


def parse_timestamps(texts: pl.Series, assume_tz: str, utc_rows: pl.Series | None = None) -> pl.Series:
    """The first timestamp in each text, in UTC (null where there is none). Times without a
    zone are taken in ``assume_tz``, or in UTC on ``utc_rows``. A time that a DST change makes
    ambiguous takes the earlier instant; one that falls in the gap is read with the offset in
    force before the gap (as Python and Go do), so 02:30 on a spring-forward night in Berlin
    is 01:30 UTC.

    Evaluated in steps, each on columns the step before materialised: the pattern is searched
    once per text, and the rarer shapes (access log, epoch) only in texts without a date."""
    frame = (
        pl.DataFrame({"text": texts})
        .select(parts=pl.col("text").str.extract_groups(TIMESTAMP))
        .unnest("parts")
        .select(
            local=pl.format(
                "{}-{}-{}T{}.{}", *(pl.col(str(group)) for group in range(1, 5)), pl.col("5").fill_null("0")
            ),
            zone=pl.col("6").str.replace("^Z$", "+00:00").str.replace(r"^([+-]\d{2})(\d{2})$", "$1:$2"),
        )
    )
    zoned = pl.concat_str("local", "zone").str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC"
    )
    naive = pl.col("local").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    localised = _localised(naive, assume_tz)
    if utc_rows is not None and assume_tz != "UTC":
        frame = frame.with_columns(utc=utc_rows)
        localised = pl.when(pl.col("utc")).then(naive.dt.replace_time_zone("UTC")).otherwise(localised)
    found = frame.select(pl.when(pl.col("zone").is_not_null()).then(zoned).otherwise(localised)).to_series()
    undated = found.is_null()
    if not undated.any():
        return found
    rest = pl.DataFrame({"text": texts.filter(undated)})
    text = pl.col("text")
    other = rest.select(pl.coalesce(_access_log_time(text), _epoch_time(text))).to_series()
    return found.scatter(undated.arg_true(), other)


_FIXED_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def fixed_offset_minutes(zone: str) -> int | None:
    """A fixed offset such as +02:00 or -0530 in minutes east of UTC; None for a zone name."""
    found = _FIXED_OFFSET.match(zone)
    if not found:
        return None
    minutes = int(found.group(2)) * 60 + int(found.group(3))
    return -minutes if found.group(1) == "-" else minutes


def tzinfo_of(zone: str) -> tzinfo:
    minutes = fixed_offset_minutes(zone)
    return timezone(timedelta(minutes=minutes)) if minutes is not None else zoneinfo.ZoneInfo(zone)


def _localised(naive: pl.Expr, zone: str) -> pl.Expr:
    if zone == "UTC":
        return naive.dt.replace_time_zone("UTC")
    minutes = fixed_offset_minutes(zone)
    if minutes is not None:
        return naive.dt.replace_time_zone("UTC") - pl.duration(minutes=minutes)
    hour = pl.duration(hours=1)
    return pl.coalesce(
        naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null"),
        (naive - hour).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null") + hour,
    ).dt.convert_time_zone("UTC")


def _access_log_time(text: pl.Expr) -> pl.Expr:
    access = text.str.extract_groups(_ACCESS_LOG_TIME).struct.field
    return pl.format(
        "{}-{}-{}T{}{}",
        access("3"),
        access("2").replace_strict(_MONTH_NUMBERS, default=None),
        access("1"),
        access("4"),
        access("5"),
    ).str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_unit="us", time_zone="UTC")


def _epoch_time(text: pl.Expr) -> pl.Expr:
    epoch = text.str.extract(_EPOCH_TIME, 1)
    return pl.from_epoch(
        pl.when(epoch.str.len_chars() == 13)
        .then(epoch.cast(pl.Int64) * 1000)
        .otherwise(epoch.cast(pl.Int64) * 1_000_000),
        "us",
    ).dt.replace_time_zone("UTC")
