"""--report-tz: windows cut in the report's zone (DST days 23 and 25 hours long), times shown in
it with their offset, zone-less and day-word bounds read in it, and the bounds echoed."""

import csv
import io
import json
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from golden_cases import REPRODUCIBLE_EPOCH
from logscan import __version__, aggregate, scanoptions
from logscan.cli import main

BERLIN = "Europe/Berlin"


@pytest.fixture(autouse=True)
def reproducible_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", REPRODUCIBLE_EPOCH)


def gin(*utc_times: str) -> str:
    """Ollama access lines of 400s at these times (written zone-less, read as UTC)."""
    return "".join(
        f'[GIN] {t[:4]}/{t[5:7]}/{t[8:10]} - {t[11:19]} | 400 |  1.2ms |  127.0.0.1 | POST     "/api/chat"\n'
        for t in utc_times
    )


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def scan(*args: str) -> str:
    result = CliRunner().invoke(main, ["scan", *args])
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return result.stdout


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))[1:]


def test_a_spring_dst_day_is_a_23_hour_window_from_midnight_to_midnight(in_tmp: Path) -> None:
    # 2026-03-29 in Berlin: 00:00 CET is 23:00 UTC the day before, 24:00 CEST is 22:00 UTC.
    (in_tmp / "server.log").write_text(
        gin("2026-03-28T22:59:59", "2026-03-28T23:00:00", "2026-03-29T21:59:59", "2026-03-29T22:00:00")
    )
    text = scan(
        "server.log", "-f", "csv", "--window", "1d", "--report-tz", BERLIN,
        "--since", "2026-03-28", "--until", "2026-03-31",
    )  # fmt: skip
    assert rows(text) == [
        ["2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", "unclassified", "true", "1", "1", "0"],
        ["2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", "unclassified", "true", "2", "2", "0"],
        ["2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00", "unclassified", "true", "1", "1", "0"],
    ]
    lengths = [datetime.fromisoformat(end) - datetime.fromisoformat(start) for start, end, *_ in rows(text)]
    assert lengths == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]


def test_an_autumn_dst_day_is_a_25_hour_window(in_tmp: Path) -> None:
    # 2026-10-25 in Berlin: 00:00 CEST is 22:00 UTC the day before, 24:00 CET is 23:00 UTC.
    (in_tmp / "server.log").write_text(
        gin("2026-10-24T21:59:59", "2026-10-24T22:00:00", "2026-10-25T22:59:59", "2026-10-25T23:00:00")
    )
    text = scan("server.log", "-f", "csv", "--window", "1d", "--report-tz", BERLIN)
    assert rows(text) == [
        ["2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00", "unclassified", "true", "1", "1", "0"],
        ["2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", "unclassified", "true", "2", "2", "0"],
        ["2026-10-26T00:00:00+01:00", "2026-10-27T00:00:00+01:00", "unclassified", "true", "1", "1", "0"],
    ]
    middle = rows(text)[1]
    assert datetime.fromisoformat(middle[1]) - datetime.fromisoformat(middle[0]) == timedelta(hours=25)


def test_the_hour_that_repeats_in_autumn_is_two_windows(in_tmp: Path) -> None:
    # 02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC): the same wall time, an hour apart.
    (in_tmp / "server.log").write_text(gin("2026-10-25T00:30:00", "2026-10-25T01:30:00"))
    text = scan("server.log", "-f", "csv", "--report-tz", BERLIN)
    assert rows(text) == [
        ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "unclassified", "true", "1", "1", "0"],
        ["2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00", "unclassified", "true", "1", "1", "0"],
    ]


def test_a_fixed_offset_zone_cuts_days_at_its_midnight(in_tmp: Path) -> None:
    # 18:29:59 UTC is 23:59:59 at +05:30; 18:30 UTC is midnight.
    (in_tmp / "server.log").write_text(gin("2026-06-01T18:29:59", "2026-06-01T18:30:00"))
    text = scan("server.log", "-f", "csv", "--window", "1d", "--report-tz", "+05:30")
    assert rows(text) == [
        ["2026-06-01T00:00:00+05:30", "2026-06-02T00:00:00+05:30", "unclassified", "true", "1", "1", "0"],
        ["2026-06-02T00:00:00+05:30", "2026-06-03T00:00:00+05:30", "unclassified", "true", "1", "1", "0"],
    ]


def test_the_table_shows_the_zone_the_bounds_and_windows_with_their_offset(in_tmp: Path) -> None:
    (in_tmp / "server.log").write_text(gin("2026-03-28T23:30:00", "2026-03-29T22:30:00"))
    lines = scan(
        "server.log", "--window", "1d", "--report-tz", BERLIN, "--table-style", "plain",
        "--since", "2026-03-29", "--until", "2026-03-31",
    ).splitlines()  # fmt: skip
    assert lines[:2] == [
        "logscan: 2 requests failed with HTTP 400, seen in 2 records (2 server, 0 client); 1 file, 2 lines"
        " read; times in Europe/Berlin, window 1d",
        f"Run: 2026-01-01T00:00:00Z by logscan {__version__}; bounds: from 2026-03-29T00:00:00+01:00 to"
        " 2026-03-31T00:00:00+02:00 (until excluded); inputs: server.log",
    ]
    assert lines[5].split()[-6:] == ["2026-03-29", "00:30:00", "+01:00", "2026-03-30", "00:30:00", "+02:00"]
    start = lines.index("Failed requests per 1d window")
    assert lines[start + 1 : start + 4] == [
        "window start               unclassified    total",
        "2026-03-29 00:00 +01:00               1        1",
        "2026-03-30 00:00 +02:00               1        1",
    ]


@pytest.mark.parametrize(
    ("report_format", "seen", "window"),
    [
        ("markdown", "- **Seen:** 2026-06-02 00:00:00 +05:30 .. 2026-06-02 00:30:00 +05:30",
         "- **Window:** 1h; times in +05:30, times without a zone read as UTC"),
        ("html", "<dt>Seen</dt><dd>2026-06-02 00:00:00 +05:30 .. 2026-06-02 00:30:00 +05:30</dd>",
         "<dt>Window</dt><dd>1h; times in +05:30, times without a zone read as UTC</dd>"),
    ],
)  # fmt: skip
def test_the_headline_shows_times_in_the_report_zone(
    in_tmp: Path, report_format: str, seen: str, window: str
) -> None:
    (in_tmp / "server.log").write_text(gin("2026-06-01T18:30:00", "2026-06-01T19:00:00"))
    text = scan("server.log", "-f", report_format, "--report-tz", "+05:30")
    assert seen in text.splitlines()
    assert window in text.splitlines()


def test_the_json_names_its_bounds_in_the_report_zone(in_tmp: Path) -> None:
    (in_tmp / "server.log").write_text(gin("2026-03-28T23:30:00"))
    document = json.loads(
        scan(
            "server.log", "-f", "json", "--report-tz", BERLIN, "--since", "2026-03-29 00:00", "--until", "now"
        )
    )
    assert document["bounds"]["since"] == "2026-03-29T00:00:00+01:00"
    assert document["bounds"]["report_tz"] == BERLIN
    assert document["categories"][0]["first_seen"] == "2026-03-29T00:30:00+01:00"
    assert document["windows"][0]["window_start"] == "2026-03-29T00:00:00+01:00"


def test_yesterday_until_today_is_one_local_day_of_the_report_zone(in_tmp: Path) -> None:
    (in_tmp / "server.log").write_text(gin("2026-03-28T23:30:00"))
    before = datetime.now(UTC)
    document = json.loads(
        scan("server.log", "-f", "json", "--report-tz", BERLIN, "--since", "yesterday", "--until", "today")
    )
    after = datetime.now(UTC)
    since = datetime.fromisoformat(document["bounds"]["since"])
    until = datetime.fromisoformat(document["bounds"]["until"])
    zone = zoneinfo.ZoneInfo(BERLIN)
    # Today's midnight in Berlin, as of a moment of the run (the same unless it spans midnight).
    midnights = {
        datetime.combine(moment.astimezone(zone).date(), datetime.min.time(), zone)
        for moment in (before, after)
    }
    assert until in midnights
    assert (since.astimezone(zone).time(), until.astimezone(zone).time()) == (datetime.min.time(),) * 2
    assert until.astimezone(zone).date() - since.astimezone(zone).date() == timedelta(days=1)
    assert since.utcoffset() == since.astimezone(zone).utcoffset()


def test_yesterday_on_the_day_after_a_dst_change_is_23_or_25_hours() -> None:
    spring = datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    autumn = datetime(2026, 10, 26, 10, 0, tzinfo=UTC)
    for now, hours in ((spring, 23), (autumn, 25)):
        options = scanoptions.ScanOptions(paths=["-"], since="yesterday", until="today", report_tz=BERLIN)
        bounds = scanoptions.TimeBounds.of(options, now)
        assert bounds.until - bounds.since == timedelta(hours=hours)


def test_day_words_and_zone_less_bounds_are_read_in_the_report_zone_not_the_logs_zone() -> None:
    now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    options = scanoptions.ScanOptions(
        paths=["-"],
        since="yesterday 06:00",
        until="2026-12-03T00:00",
        assume_tz="Asia/Tokyo",
        report_tz=BERLIN,
    )
    bounds = scanoptions.TimeBounds.of(options, now)
    assert (bounds.since, bounds.until) == (
        datetime(2026, 12, 2, 5, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 23, 0, tzinfo=UTC),
    )


def test_local_is_the_zone_tz_names(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    (in_tmp / "server.log").write_text(gin("2026-06-01T03:59:59"))  # 23:59:59 EDT on 31 May
    text = scan("server.log", "-f", "csv", "--window", "1d", "--report-tz", "local")
    assert rows(text) == [
        ["2026-05-31T00:00:00-04:00", "2026-06-01T00:00:00-04:00", "unclassified", "true", "1", "1", "0"]
    ]


def test_an_unknown_report_zone_is_a_usage_error(in_tmp: Path) -> None:
    (in_tmp / "server.log").write_text(gin("2026-06-01T03:59:59"))
    result = CliRunner().invoke(main, ["scan", "server.log", "--report-tz", "Mars/Olympus"])
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        "logscan: error: --report-tz 'Mars/Olympus' is not a known time zone (an IANA name such as"
        " Europe/Berlin, UTC, local, or an offset such as +02:00)\n",
    )


ZONES = st.sampled_from(["UTC", BERLIN, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "-03:30"])


@given(
    moments=st.lists(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
        ),
        min_size=1,
        max_size=20,
    ),
    zone=ZONES,
)
def test_every_time_falls_in_the_local_day_that_holds_it(moments: list[datetime], zone: str) -> None:
    frame = pl.DataFrame({"t": moments}, schema={"t": pl.Datetime("us", "UTC")}).with_columns(
        start=aggregate.window_start(pl.col("t"), "1d", zone)
    )
    frame = frame.with_columns(end=aggregate.window_end(pl.col("start"), "1d", zone))
    tz = scanoptions.timestamps.tzinfo_of(zone)
    for moment, start, end in frame.iter_rows():
        assert start <= moment < end
        local_start, local_end = start.astimezone(tz), end.astimezone(tz)
        assert local_start.date() == moment.astimezone(tz).date()
        assert local_start.time() == local_end.time() == datetime.min.time()
        assert local_end.date() - local_start.date() == timedelta(days=1)


def test_a_nightly_run_over_yesterday_is_one_row_of_one_local_day(in_tmp: Path) -> None:
    zone = zoneinfo.ZoneInfo(BERLIN)
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    midnight = datetime.combine(yesterday, datetime.min.time(), zone)
    # A 400 a second after yesterday's midnight, one a second before today's, and one outside.
    inside = [
        midnight + timedelta(seconds=1),
        datetime.combine(yesterday + timedelta(days=1), datetime.min.time(), zone) - timedelta(seconds=1),
    ]
    outside = midnight - timedelta(seconds=1)
    (in_tmp / "server.log").write_text(
        gin(*(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") for moment in [*inside, outside]))
    )
    text = scan(
        "server.log", "-f", "csv", "--window", "1d", "--report-tz", BERLIN,
        "--since", "yesterday", "--until", "today",
    )  # fmt: skip
    start = midnight.isoformat()
    end = datetime.combine(yesterday + timedelta(days=1), datetime.min.time(), zone).isoformat()
    assert rows(text) == [[start, end, "unclassified", "true", "2", "2", "0"]]
