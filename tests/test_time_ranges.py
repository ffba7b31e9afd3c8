"""Time ranges for nightly runs (today, yesterday 06:00 ...), -q/--quiet and the progress line."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from logscan import rules, scan, scanoptions, sources
from logscan.cli import main
from logscan.cli_progress import ProgressLine
from logscan.errors import UsageError

SMALL_LOG = """\
[GIN] 2025/05/07 - 06:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"
[GIN] 2025/05/07 - 06:06:00 | 200 |     1.218ms |       127.0.0.1 | POST     "/api/chat"
"""
SMALL_CSV = (
    "window_start,window_end,category,ollama,requests,server_records,client_records\n"
    "2025-05-07T06:00:00Z,2025-05-07T07:00:00Z,unclassified,true,1,1,0\n"
)


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin)


def bound(text: str, zone: str, now: datetime) -> datetime:
    return scanoptions.time_bound(text, zone, "--since", now)


# --- today / yesterday ---------------------------------------------------------------------


def test_day_words_in_utc() -> None:
    now = datetime(2026, 12, 3, 15, 20, tzinfo=UTC)
    assert bound("today", "UTC", now) == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    assert bound("yesterday", "UTC", now) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    assert bound("tomorrow", "UTC", now) == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert bound("yesterday 06:00", "UTC", now) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    assert bound("today 06:00", "UTC", now) == datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    assert bound("Today 23:59:59", "UTC", now) == datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC)
    assert bound("  yesterday   6:05 ", "UTC", now) == datetime(2026, 12, 2, 6, 5, tzinfo=UTC)
    assert bound("now", "UTC", now) == now


def test_day_words_in_berlin_across_the_spring_dst_change() -> None:
    # 2026-03-29: clocks go from 02:00 CET (+01:00) to 03:00 CEST (+02:00). Now is 14:00 CEST.
    now = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    zone = "Europe/Berlin"
    assert bound("today", zone, now) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET
    assert bound("yesterday", zone, now) == datetime(2026, 3, 27, 23, 0, tzinfo=UTC)
    assert bound("tomorrow", zone, now) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # 00:00 CEST
    assert bound("today 06:00", zone, now) == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)  # CEST
    assert bound("yesterday 06:00", zone, now) == datetime(2026, 3, 28, 5, 0, tzinfo=UTC)  # CET
    # 02:30 does not exist that day: it reads as 02:30 CET, which is 03:30 CEST.
    assert bound("today 02:30", zone, now) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # The day is 23 hours long.
    assert bound("tomorrow", zone, now) - bound("today", zone, now) == timedelta(hours=23)


def test_today_is_the_day_in_the_zone_not_in_utc() -> None:
    # 23:30 UTC on 2 December is 00:30 on 3 December in Berlin.
    now = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    assert bound("today", "Europe/Berlin", now) == datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    assert bound("today", "UTC", now) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def test_day_words_at_a_fixed_offset() -> None:
    # 23:00 UTC on 3 December is 01:00 on 4 December at +02:00.
    now = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    assert bound("today", "+02:00", now) == datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    assert bound("yesterday", "+02:00", now) == datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    assert bound("yesterday 06:00", "+02:00", now) == datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    assert bound("today", "-05:30", now) == datetime(2026, 12, 3, 5, 30, tzinfo=UTC)


ZONES = st.sampled_from(
    ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "+02:00", "-09:30"]
)
NOWS = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)


@given(now=NOWS, zone=ZONES)
def test_today_begins_the_day_now_falls_in(now: datetime, zone: str) -> None:
    yesterday, today, tomorrow = (bound(word, zone, now) for word in ("yesterday", "today", "tomorrow"))
    assert yesterday < today <= now < tomorrow
    assert timedelta(hours=22) <= tomorrow - today <= timedelta(hours=26)
    assert today.tzinfo == UTC


TIME_LIKE = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A\s*\d{1,25}[smhdw]\s*\Z"),
    st.from_regex(r"\A(?i:today|yesterday|tomorrow|now)( +\d{1,3}:\d{1,3}(:\d{1,3})?)?\Z"),
    st.from_regex(r"\A\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d)?)?(Z|[+-]\d\d:\d\d)?\Z"),
)


@given(text=TIME_LIKE, zone=ZONES)
def test_any_text_is_a_utc_time_or_a_usage_error(text: str, zone: str) -> None:
    try:
        moment = scanoptions.time_bound(text, zone, "--since", datetime(2026, 12, 3, 12, tzinfo=UTC))
    except UsageError as error:
        assert str(error).startswith("--since '")
    else:
        assert moment.utcoffset() == timedelta(0)


def test_yesterday_to_now_keeps_what_happened_since_yesterdays_midnight() -> None:
    now = datetime.now(UTC)
    # Yesterday's midnight is 24 to 48 hours back: 49 hours back is before it, a minute after.
    lines = [now - timedelta(hours=49), now - timedelta(minutes=1), now + timedelta(hours=1)]
    text = "".join(f"{moment:%Y-%m-%d %H:%M:%S},000 ERROR a: x (status code: 400)\n" for moment in lines)
    options = scan.ScanOptions(paths=(), since="yesterday", until="now")
    result = scan.run(options, rules.load(), [sources.Source("log", data=text.encode())])
    assert result.events.collect().get_column("line").to_list() == [2]
    assert (result.excluded.outside, result.excluded.untimed) == (2, 0)


# --- usage errors --------------------------------------------------------------------------


def test_since_after_until_is_a_usage_error_naming_both() -> None:
    result = invoke("scan", "-", "--since", "2025-05-08", "--until", "2025-05-07T06:00", stdin=SMALL_LOG)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "logscan: error: --since '2025-05-08' (2025-05-08 00:00:00 UTC) is not before"
        " --until '2025-05-07T06:00' (2025-05-07 06:00:00 UTC): no 400 could be counted\n"
    )


def test_since_equal_to_until_in_the_report_zone_is_a_usage_error() -> None:
    # A zone-less --since is read in the report's zone, not in --assume-tz (the logs' zone).
    result = invoke(
        "scan", "-", "--report-tz", "Europe/Berlin", "--assume-tz", "Asia/Tokyo",
        "--since", "2025-05-07T06:00", "--until", "2025-05-07T04:00Z", stdin=SMALL_LOG,
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --since '2025-05-07T06:00' (2025-05-07 06:00:00+02:00 Europe/Berlin) is not"
        " before --until '2025-05-07T04:00Z' (2025-05-07 06:00:00+02:00 Europe/Berlin): no 400 could"
        " be counted\n",
    )


def test_today_until_yesterday_is_a_usage_error() -> None:
    result = invoke("scan", "-", "--since", "today", "--until", "yesterday", stdin=SMALL_LOG)
    assert result.exit_code == 2
    assert re.fullmatch(
        r"logscan: error: --since 'today' \(\d{4}-\d\d-\d\d 00:00:00 UTC\) is not before"
        r" --until 'yesterday' \(\d{4}-\d\d-\d\d 00:00:00 UTC\): no 400 could be counted\n",
        result.stderr,
    )


@pytest.mark.parametrize("window", ["0m", "0s", "0h0m", "00d"])
def test_a_zero_window_is_a_usage_error(window: str) -> None:
    result = invoke("scan", "-", "--window", window, stdin=SMALL_LOG)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"logscan: error: --window '{window}' is zero: windows need a width such as 5m, 1h or 1d\n",
    )


def test_a_window_with_a_zero_part_is_not_zero() -> None:
    result = invoke("scan", "-", "-f", "csv", "--window", "0h60m", stdin=SMALL_LOG)
    assert (result.exit_code, result.stdout) == (0, SMALL_CSV)


def test_a_time_of_day_out_of_range_is_a_usage_error() -> None:
    result = invoke("scan", "-", "--since", "yesterday 25:00", stdin=SMALL_LOG)
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --since 'yesterday 25:00': hour must be in 0..23"
        " (use HH:MM or HH:MM:SS, 00:00 to 23:59:59)\n",
    )


def test_a_time_out_of_range_is_a_usage_error() -> None:
    result = invoke("scan", "-", "--since", "99999999999d", stdin=SMALL_LOG)
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --since '99999999999d' is out of range: times run from year 1 to 9999\n",
    )
    result = invoke("scan", "-", "--report-tz", "+02:00", "--until", "0001-01-01", stdin=SMALL_LOG)
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --until '0001-01-01' is out of range: times run from year 1 to 9999\n",
    )


def test_an_unknown_time_word_is_a_usage_error_listing_the_forms() -> None:
    result = invoke("scan", "-", "--until", "last week", stdin=SMALL_LOG)
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --until 'last week' is neither an ISO 8601 time (2025-05-07T06:00,"
        " 2025-05-07), a span back from now (30m, 24h, 7d), nor today, yesterday or tomorrow"
        " (with an optional time such as 'yesterday 06:00')\n",
    )


# --- quiet ---------------------------------------------------------------------------------


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "ollama.log").write_text(SMALL_LOG, encoding="utf-8")
    (tmp_path / "empty.log").write_bytes(b"")
    yield tmp_path


def test_quiet_leaves_out_warnings_and_notices_but_keeps_the_report_and_exit_code(logs: Path) -> None:
    paths = [str(logs / "ollama.log"), str(logs / "missing.log"), str(logs / "empty.log")]
    loud = invoke("scan", "-f", "csv", *paths)
    assert (loud.exit_code, loud.stdout) == (2, SMALL_CSV)
    assert loud.stderr == (
        f"logscan: warning: {logs}/missing.log: No such file or directory\n"
        f"logscan: notice: {logs}/empty.log: empty\n"
    )
    quiet = invoke("scan", "-q", "-f", "csv", *paths)
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (2, SMALL_CSV, "")
    assert invoke("scan", "--quiet", "-f", "csv", *paths).stderr == ""


def test_quiet_keeps_errors() -> None:
    result = invoke("scan", "-q", "-", "--window", "0m", stdin=SMALL_LOG)
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --window '0m' is zero: windows need a width such as 5m, 1h or 1d\n",
    )


def test_quiet_keeps_the_breached_threshold_that_explains_exit_1() -> None:
    result = invoke("scan", "-q", "-", "-f", "csv", "--fail-above", "0", stdin=SMALL_LOG)
    assert (result.exit_code, result.stdout) == (1, SMALL_CSV)
    assert result.stderr.startswith("logscan: threshold breached: ")


def test_quiet_wins_over_a_forced_progress(logs: Path) -> None:
    result = invoke("scan", "-q", "--progress", "-f", "csv", str(logs / "ollama.log"))
    assert (result.exit_code, result.stdout, result.stderr) == (0, SMALL_CSV, "")


# --- progress ------------------------------------------------------------------------------


def test_progress_forced_on_draws_the_line_and_ends_it(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    size = len(SMALL_LOG.encode())
    result = invoke("scan", "--progress", "-f", "csv", str(logs / "ollama.log"))
    assert (result.exit_code, result.stdout) == (0, SMALL_CSV)
    # The rate is the only figure that varies from run to run.
    assert re.fullmatch(
        rf"\rlogscan: 100% \[##########\] {size}/{size} B [\d.]+ (B|KiB|MiB)/s 0:00 left"
        r" 1/1 files \d+ 400s ollama\.log\n",
        result.stderr,
    )


def test_progress_of_stdin_has_no_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = invoke("scan", "--progress", "-f", "csv", "-", stdin=SMALL_LOG)
    assert (result.exit_code, result.stdout) == (0, SMALL_CSV)
    size = len(SMALL_LOG.encode())
    assert re.fullmatch(
        rf"\rlogscan: {size} B [\d.]+ (B|KiB|MiB)/s 1/1 files \d+ 400s <stdin>\n", result.stderr
    )


def test_no_progress_and_the_default_off_a_terminal_print_nothing(logs: Path) -> None:
    for flags in (["--no-progress"], []):
        result = invoke("scan", *flags, "-f", "csv", str(logs / "ollama.log"))
        assert (result.exit_code, result.stdout, result.stderr) == (0, SMALL_CSV, "")


def test_progress_line_figures() -> None:
    line = ProgressLine(10 * 2**20, clock=lambda: 0.0).line
    assert line(scan.Progress(1, 4, 5 * 2**20, 1234, "/var/log/a.log"), 2.0) == (
        "logscan:  50% [#####-----] 5.0/10.0 MiB 2.5 MiB/s 0:02 left 1/4 files 1,234 400s a.log"
    )
    hours = ProgressLine(100 * 2**30).line(scan.Progress(0, 3, 2**30, 0, "big.log"), 100.0)
    assert (
        hours == "logscan:   1% [----------] 1.0/100.0 GiB 10.2 MiB/s 2:45:00 left 0/3 files 0 400s big.log"
    )
    # A compressed file reads to more than the guessed total: no share, no time left.
    over = ProgressLine(2**20).line(scan.Progress(1, 2, 3 * 2**20, 7, "b.log.gz"), 1.0)
    assert over == "logscan: 3.0 MiB 3.0 MiB/s 1/2 files 7 400s b.log.gz"
    # Once every file is read, the bar is full whatever the guess.
    done = ProgressLine(2**20).line(scan.Progress(2, 2, 3 * 2**20, 7, "b.log.gz"), 1.0)
    assert done == "logscan: 100% [##########] 3.0 MiB 3.0 MiB/s 0:00 left 2/2 files 7 400s b.log.gz"


def test_progress_line_redraws_at_most_ten_times_a_second_but_always_at_the_end(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "64")
    times = iter([0.0, 1.0, 1.05, 1.2, 1.21])
    printer = ProgressLine(4096, clock=lambda: next(times))
    for done in (1, 2, 3, 4):
        printer(scan.Progress(done, 4, done * 1024, done, f"f{done}.log"))
    printer.finish()
    assert capsys.readouterr().err == (
        "\rlogscan:  25% [##--------] 1.0/4.0 KiB 1.0 KiB/s 0:03 left 1/4 "
        "\rlogscan:  75% [########--] 3.0/4.0 KiB 2.5 KiB/s 0:00 left 3/4 "
        "\rlogscan: 100% [##########] 4.0/4.0 KiB 3.3 KiB/s 0:00 left 4/4 \n"
    )


def test_progress_line_unused_ends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    ProgressLine(None).finish()
    assert capsys.readouterr().err == ""
