"""Zones of zone-less times: --assume-tz spellings, and a server log's own offset."""

from datetime import UTC, datetime

import pytest

from logscan import rules, scan, scanoptions, sources
from logscan.errors import UsageError

BUILTIN = rules.load()


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        ("utc", "UTC"),
        ("UTC", "UTC"),
        ("+02:00", "+02:00"),
        ("-0530", "-0530"),
        ("Europe/Berlin", "Europe/Berlin"),
    ],
)
def test_assume_tz_spellings(given: str, resolved: str) -> None:
    assert scanoptions.resolve_zone(given) == resolved


def test_local_follows_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert scanoptions.resolve_zone("local") == "Asia/Tokyo"


def test_an_unknown_zone_says_what_is_accepted() -> None:
    with pytest.raises(UsageError, match=r"an IANA name such as Europe/Berlin, UTC, local, or an offset"):
        scanoptions.resolve_zone("Mars/Olympus")


def first_time(text: str, assume_tz: str = "UTC") -> datetime:
    options = scan.ScanOptions(paths=(), assume_tz=assume_tz)
    events = scan.run(options, BUILTIN, [sources.Source("server.log", data=text.encode())]).events
    return events.collect().item(0, "timestamp")


GIN_400 = '[GIN] 2025/05/07 - 10:14:58 | 400 |    2.013377ms |        10.0.3.5 | POST     "/api/chat"\n'


def test_a_fixed_offset_moves_zone_less_times() -> None:
    assert first_time(GIN_400, "+02:00") == datetime(2025, 5, 7, 8, 14, 58, tzinfo=UTC)
    assert first_time(GIN_400, "-0530") == datetime(2025, 5, 7, 15, 44, 58, tzinfo=UTC)


def test_gin_lines_take_the_offset_of_the_slog_lines_beside_them() -> None:
    log = (
        'time=2025-05-07T10:00:04.008+02:00 level=INFO source=routes.go:1238 msg="Listening on 127.0.0.1:11434 (version 0.6.8)"\n'
        + GIN_400
    )
    # Read as UTC, the GIN line would land two hours away from its own slog lines.
    assert first_time(log) == datetime(2025, 5, 7, 8, 14, 58, tzinfo=UTC)
    [report] = scan.run(
        scan.ScanOptions(paths=()), BUILTIN, [sources.Source("server.log", data=log.encode())]
    ).files
    assert report.zone == "+02:00"


def test_offsets_that_disagree_leave_the_assumed_zone() -> None:
    log = (
        'time=2025-03-30T01:59:59.000+01:00 level=INFO source=routes.go:1 msg="a"\n'
        'time=2025-03-30T03:00:01.000+02:00 level=INFO source=routes.go:1 msg="b"\n' + GIN_400
    )
    assert first_time(log) == datetime(2025, 5, 7, 10, 14, 58, tzinfo=UTC)
