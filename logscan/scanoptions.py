"""What a scan is asked to do, checked once: the options of `logscan scan`, the time bounds
they set (ISO times, spans back from now, today/yesterday), zones and durations."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path

from logscan import formats, sources, timestamps
from logscan.errors import UsageError

_DURATION = re.compile(r"^(?:\d+(?:ns|us|ms|s|m|h|d|w|mo|q|y))+$")


@dataclass(frozen=True)
class ScanOptions:
    paths: Sequence[str]
    rule_paths: Sequence[Path] = ()
    include_builtin_rules: bool = True
    window: str = "1h"
    # The zone of zone-less timestamps in the logs.
    assume_tz: str = "UTC"
    # The zone windows are cut in (a 1d window starts at its midnight) and zone-less or day-word
    # --since/--until are read in.
    report_tz: str = "UTC"
    top: int = 5
    block_bytes: int = sources.DEFAULT_BLOCK_BYTES
    # Worker processes for large inputs; 0 means one per core.
    jobs: int = 0
    format_hint: str | None = None
    # Keep only occurrences at or after `since` and before `until`: ISO 8601 times (zone-less
    # ones in report_tz), a span back from now such as 24h or 7d, or today/yesterday.
    since: str | None = None
    until: str | None = None
    # Keep every occurrence in the result (``ScanResult.events``), not only the summaries.
    keep_events: bool = True
    # How far apart the client's and the server's records of one request may be (--match-window).
    match_window: str = "3s"
    # Clock offsets of server files given by the user instead of estimated: one for every
    # server file, and per file name (signed durations such as -2h or +7203s).
    server_offset: str | None = None
    server_offsets: Mapping[str, str] = field(default_factory=dict)
    read_policy: sources.ReadPolicy = field(default_factory=sources.ReadPolicy)


_SPAN_BACK = re.compile(r"^(\d+)([smhdw])$")
_SPAN_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# As journalctl takes them: a day's midnight in --report-tz, or a time of that day.
_DAY_WORD = re.compile(r"^(today|yesterday|tomorrow)(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$", re.IGNORECASE)
_DAYS_FROM_TODAY = {"yesterday": -1, "today": 0, "tomorrow": 1}


def time_bound(text: str, zone: str, option: str, now: datetime | None = None) -> datetime:
    """A --since/--until value as a UTC time: ISO 8601 (zone-less in ``zone``), a span back
    from ``now`` (24h, 7d), or today/yesterday/tomorrow with an optional HH:MM[:SS] of that
    day in ``zone``."""
    try:
        return _time_bound(text, zone, option, now or datetime.now(UTC))
    except OverflowError as error:  # 999999999d, 0001-01-01 in a zone east of UTC
        raise UsageError(f"{option} '{text}' is out of range: times run from year 1 to 9999") from error


def _time_bound(text: str, zone: str, option: str, now: datetime) -> datetime:
    stripped = text.strip()
    span = _SPAN_BACK.match(stripped)
    if span:
        amount, unit = int(span.group(1)), _SPAN_UNITS[span.group(2)]
        return now - timedelta(**{unit: amount})
    if stripped.lower() == "now":
        return now.astimezone(UTC)
    day_word = _DAY_WORD.match(stripped)
    if day_word:
        return _day_time(day_word, timestamps.tzinfo_of(zone), now, text, option)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError as error:
        raise UsageError(
            f"{option} '{text}' is neither an ISO 8601 time (2025-05-07T06:00, 2025-05-07),"
            " a span back from now (30m, 24h, 7d), nor today, yesterday or tomorrow"
            " (with an optional time such as 'yesterday 06:00')"
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timestamps.tzinfo_of(zone))
    return moment.astimezone(UTC)


def _day_time(day_word: re.Match[str], zone: tzinfo, now: datetime, text: str, option: str) -> datetime:
    """'yesterday 06:00' as a UTC time: the day counted from today in ``zone``. A wall time a
    DST change skips reads as the time before the change (02:30 on a spring-forward day is
    03:30 summer time), as timestamps in the logs do."""
    word, hours, minutes, seconds = day_word.groups()
    day = now.astimezone(zone).date() + timedelta(days=_DAYS_FROM_TODAY[word.lower()])
    try:
        wall = time(int(hours or 0), int(minutes or 0), int(seconds or 0))
    except ValueError as error:
        raise UsageError(f"{option} '{text}': {error} (use HH:MM or HH:MM:SS, 00:00 to 23:59:59)") from error
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def validate(options: ScanOptions) -> ScanOptions:
    """Check the options; return them with the time zones resolved (``local``, ``utc``...)."""
    if options.format_hint is not None and options.format_hint not in formats.FORMATS_BY_ID:
        known = ", ".join(formats.FORMATS_BY_ID)
        raise UsageError(f"--format-hint '{options.format_hint}' is not a format; use one of: {known}")
    if not _DURATION.match(options.window):
        raise UsageError(f"--window '{options.window}' is not a duration such as 30s, 5m, 1h, 1d or 1w")
    if not any(int(amount) for amount in re.findall(r"\d+", options.window)):
        raise UsageError(f"--window '{options.window}' is zero: windows need a width such as 5m, 1h or 1d")
    options = replace(
        options,
        assume_tz=resolve_zone(options.assume_tz),
        report_tz=resolve_zone(options.report_tz, "--report-tz"),
    )
    bounds = TimeBounds.of(options)
    if bounds.since is not None and bounds.until is not None and bounds.since >= bounds.until:
        raise UsageError(
            f"--since '{options.since}' ({_shown(bounds.since, options.report_tz)}) is not before"
            f" --until '{options.until}' ({_shown(bounds.until, options.report_tz)}): no 400 could be"
            " counted"
        )
    if not _SIGNED_DURATION.match(options.match_window) or options.match_window.startswith("-"):
        raise UsageError(f"--match-window '{options.match_window}' is not a duration such as 3s or 1500ms")
    for offset in [options.server_offset, *options.server_offsets.values()]:
        if offset is not None and not _SIGNED_DURATION.match(offset):
            raise UsageError(f"--server-offset '{offset}' is not a signed duration such as -2h, +7203s or 0")
    return options


def _shown(moment: datetime, zone: str) -> str:
    if zone == "UTC":
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    local = moment.astimezone(timestamps.tzinfo_of(zone))
    return f"{local.isoformat(sep=' ', timespec='seconds')} {zone}"


_SIGNED_DURATION = re.compile(r"^[+-]?(?:0|(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_PART_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """A signed duration (checked by validate) as a timedelta."""
    seconds = sum(float(amount) * _PART_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=-seconds if text.startswith("-") else seconds)


def resolve_zone(text: str, option: str = "--assume-tz") -> str:
    """A zone option as a zone logscan knows: an IANA name, ``UTC`` in any case, ``local`` (the
    machine's zone, honouring TZ), or a fixed offset such as +02:00."""
    if text.lower() == "utc":
        return "UTC"
    if text.lower() == "local":
        import tzlocal  # noqa: PLC0415

        # tzlocal keeps the first zone it finds; TZ may have changed since (an embedding program).
        tzlocal.reload_localzone()
        return tzlocal.get_localzone_name() or "UTC"
    if timestamps.fixed_offset_minutes(text) is not None:
        return text
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise UsageError(
            f"{option} '{text}' is not a known time zone (an IANA name such as Europe/Berlin,"
            " UTC, local, or an offset such as +02:00)"
        ) from error
    return text


@dataclass(frozen=True)
class TimeBounds:
    """--since/--until as UTC times, fixed once per scan (a span back from now moves)."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(cls, options: ScanOptions, now: datetime | None = None) -> TimeBounds:
        # One now for both, so that --since 24h --until 1h is a day less an hour wide.
        now = now or datetime.now(UTC)
        return cls(
            since=time_bound(options.since, options.report_tz, "--since", now) if options.since else None,
            until=time_bound(options.until, options.report_tz, "--until", now) if options.until else None,
        )
