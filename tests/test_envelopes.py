from datetime import UTC, datetime

import polars as pl
import pytest

from logscan import envelopes, rules, scan, scanoptions, sources

BUILTIN = rules.load()
GIN_400 = '[GIN] 2024/05/07 - 06:59:38 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"'
GIN_200 = '[GIN] 2024/05/07 - 06:59:40 | 200 |     1.2ms |       127.0.0.1 | POST     "/api/chat"'


def occurrences(text: str, assume_tz: str = "UTC") -> list[tuple[int, str, str, datetime | None]]:
    options = scan.ScanOptions(paths=(), assume_tz=assume_tz)
    result = scan.run(options, BUILTIN, [sources.Source("log", data=text.encode())])
    return result.events.collect().select("line", "side", "category", "timestamp").rows()


@pytest.mark.parametrize(
    ("lines", "stack", "timestamp"),
    [
        (
            [
                f"May 07 06:59:38 gpu-box ollama[176672]: {GIN_400}",
                f"May 07 06:59:40 gpu-box ollama[176672]: {GIN_200}",
            ],
            ["journald-short"],
            datetime(2024, 5, 7, 6, 59, 38, tzinfo=UTC),
        ),
        (
            [
                f"2024-05-07T08:59:38+0200 gpu-box ollama[1]: {GIN_400}",
                f"2024-05-07T08:59:40+0200 gpu-box ollama[1]: {GIN_200}",
            ],
            ["journald-short-iso"],
            datetime(2024, 5, 7, 6, 59, 38, tzinfo=UTC),
        ),
        (
            [
                '{"MESSAGE":"'
                + GIN_400.replace('"', '\\"')
                + '","__REALTIME_TIMESTAMP":"1715065178123456","_HOSTNAME":"h"}',
                '{"MESSAGE":"x","__REALTIME_TIMESTAMP":"1715065180000000"}',
            ],
            ["journald-json"],
            datetime(2024, 5, 7, 6, 59, 38, 123456, tzinfo=UTC),
        ),
        (
            [f"2024-05-07T06:59:38.123456789Z {GIN_400}", f"2024-05-07T06:59:40.000000001Z {GIN_200}"],
            ["docker-timestamps"],
            datetime(2024, 5, 7, 6, 59, 38, 123456, tzinfo=UTC),
        ),
        (
            [
                '{"log":"'
                + GIN_400.replace('"', '\\"')
                + '\\n","stream":"stdout","time":"2024-05-07T06:59:38.5Z"}',
                '{"log":"'
                + GIN_200.replace('"', '\\"')
                + '\\n","stream":"stdout","time":"2024-05-07T06:59:40.5Z"}',
            ],
            ["docker-json"],
            datetime(2024, 5, 7, 6, 59, 38, 500000, tzinfo=UTC),
        ),
        (
            [
                f"ollama-1  | 2024-05-07T06:59:38.25Z {GIN_400}",
                f"ollama-1  | 2024-05-07T06:59:40.25Z {GIN_200}",
            ],
            ["compose", "docker-timestamps"],
            datetime(2024, 5, 7, 6, 59, 38, 250000, tzinfo=UTC),
        ),
        (
            [f"2024-05-07 08:59:38 {GIN_400}", f"2024-05-07 08:59:40 {GIN_200}"],
            ["docker-desktop"],
            # Both times have whole seconds and no zone: the container's own line wins.
            datetime(2024, 5, 7, 6, 59, 38, tzinfo=UTC),
        ),
    ],
)
def test_envelopes_are_detected_peeled_and_keep_the_most_precise_time(
    lines: list[str], stack: list[str], timestamp: datetime
) -> None:
    assert [e.id for e in envelopes.detect_envelopes(pl.Series(lines))] == stack
    assert occurrences("\n".join(lines) + "\n") == [(1, "server", "unclassified", timestamp)]


def test_journald_year_rolls_over_within_a_file() -> None:
    text = (
        f"Dec 31 23:59:58 box ollama[1]: {GIN_200.replace('2024/05/07 - 06:59:40', '2024/12/31 - 23:59:58')}\n"
        "Jan 01 00:00:01 box ollama[1]: time=2025-01-01T00:00:01.000Z level=INFO source=a.go:1 msg=x\n"
        "Jan 01 00:00:02 box ollama[1]: ollama._types.ResponseError: does not support tools (status code: 400)\n"
    )
    assert occurrences(text) == [
        (3, "client", "unsupported_capability", datetime(2025, 1, 1, 0, 0, 2, tzinfo=UTC))
    ]


def test_localized_journald_month_names() -> None:
    text = f"5月 07 06:59:38 box ollama[1]: {GIN_400}\n5月 07 06:59:40 box ollama[1]: {GIN_200}\n"
    assert occurrences(text, assume_tz="Asia/Shanghai") == [
        (1, "server", "unclassified", datetime(2024, 5, 6, 22, 59, 38, tzinfo=UTC))
    ]


def test_since_and_until_filter_occurrences_and_count_what_they_leave_out() -> None:
    text = (
        "2025-05-07 06:00:00,000 ERROR a: x (status code: 400)\n"
        "2025-05-07 07:00:00,000 ERROR a: x (status code: 400)\n"
        "2025-05-07 08:00:00,000 ERROR a: x (status code: 400)\n"
        "ERROR:a:untimed (status code: 400)\n"
    )
    options = scan.ScanOptions(paths=(), since="2025-05-07T07:00", until="2025-05-07T08:00:00+00:00")
    result = scan.run(options, BUILTIN, [sources.Source("log", data=text.encode())])
    assert result.events.collect().get_column("line").to_list() == [2]
    assert (result.excluded.outside, result.excluded.untimed) == (2, 1)


def test_relative_time_bounds() -> None:
    now = datetime(2025, 5, 8, 12, 0, tzinfo=UTC)
    assert scanoptions.time_bound("24h", "UTC", "--since", now) == datetime(2025, 5, 7, 12, 0, tzinfo=UTC)
    assert scanoptions.time_bound("7d", "UTC", "--since", now) == datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    assert scanoptions.time_bound("2025-05-07", "Europe/Berlin", "--since") == datetime(
        2025, 5, 6, 22, 0, tzinfo=UTC
    )
