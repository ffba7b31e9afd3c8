"""`logscan history`: the runs a --state file stored, in every output format."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from logscan.cli import main
from logscan.state import RunHistory, read_history

GIN = (
    '[GIN] 2025/05/07 - 09:00:{second:02d} | 400 |     213.546µs |       127.0.0.1 | POST     "/api/embed"\n'
)
CLIENT_FAILURE = """\
2025-05-07 10:00:00,509 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 400 Bad Request"
2025-05-07 10:00:00,512 ERROR chatbot: chat failed
Traceback (most recent call last):
ollama._types.ResponseError: registry.ollama.ai/library/gemma2:2b does not support tools (status code: 400)
"""


def nightly(logs: Path, state: Path) -> None:
    an_hour_ago = time.time() - 3600
    for path in logs.iterdir():
        os.utime(path, (an_hour_ago, an_hour_ago))  # nothing held back for a partner
    result = CliRunner().invoke(main, ["scan", str(logs), "--state", str(state), "-f", "csv"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, list[RunHistory]]:
    """Run 1: three unclassified server 400s (2 files, 4 lines, of 1 file's 3 lines and an
    empty one); run 2: one more of them and a client request that lacked a capability."""
    logs = tmp_path / "logs"
    logs.mkdir()
    state = tmp_path / "state.db"
    (logs / "server.log").write_text("".join(GIN.format(second=s) for s in (1, 11, 21)))
    (logs / "app.log").write_text("")
    nightly(logs, state)
    with (logs / "server.log").open("a") as log:
        log.write(GIN.format(second=31))
    (logs / "app.log").write_text(CLIENT_FAILURE)
    nightly(logs, state)
    return state, list(reversed(read_history(state)))


def history(state: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["history", "--state", str(state), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_csv_has_a_row_per_run_with_its_figures_and_categories(
    two_runs: tuple[Path, list[RunHistory]],
) -> None:
    state, (first, second) = two_runs
    server_bytes = len(GIN.format(second=1).encode())
    assert (first.bytes, second.bytes) == (3 * server_bytes, server_bytes + len(CLIENT_FAILURE.encode()))
    assert history(state, "-f", "csv").splitlines() == [
        "run,started_at,finished_at,first_event,last_event,files,bytes,lines,requests,unclassified,"
        "unsupported_capability,pending_over_bound",
        f"1,{first.started_at.isoformat()},{first.finished_at.isoformat()},2025-05-07T09:00:01+00:00,"
        f"2025-05-07T09:00:21+00:00,2,{first.bytes},3,3,3,0,0",
        f"2,{second.started_at.isoformat()},{second.finished_at.isoformat()},2025-05-07T09:00:31+00:00,"
        f"2025-05-07T10:00:00.509000+00:00,2,{second.bytes},5,2,1,1,0",
    ]


def test_last_keeps_the_last_runs(two_runs: tuple[Path, list[RunHistory]]) -> None:
    state, (_, second) = two_runs
    rows = history(state, "-f", "csv", "--last", "1").splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["2"]
    assert rows[0].endswith(",requests,unclassified,unsupported_capability,pending_over_bound")
    assert second.requests == {"unclassified": 1, "unsupported_capability": 1}


def test_json_and_ndjson_hold_each_run(two_runs: tuple[Path, list[RunHistory]]) -> None:
    state, (first, second) = two_runs
    expected = [
        {
            "run": 1,
            "started_at": first.started_at.isoformat(),
            "finished_at": first.finished_at.isoformat(),
            "first_event": "2025-05-07T09:00:01+00:00",
            "last_event": "2025-05-07T09:00:21+00:00",
            "files": 2,
            "bytes": first.bytes,
            "lines": 3,
            "requests": 3,
            "per_category": {"unclassified": 3},
            "pending_over_bound": 0,
        },
        {
            "run": 2,
            "started_at": second.started_at.isoformat(),
            "finished_at": second.finished_at.isoformat(),
            "first_event": "2025-05-07T09:00:31+00:00",
            "last_event": "2025-05-07T10:00:00.509000+00:00",
            "files": 2,
            "bytes": second.bytes,
            "lines": 5,
            "requests": 2,
            "per_category": {"unclassified": 1, "unsupported_capability": 1},
            "pending_over_bound": 0,
        },
    ]
    assert json.loads(history(state, "-f", "json")) == {"runs": expected}
    assert [json.loads(line) for line in history(state, "-f", "ndjson").splitlines()] == expected


def test_table_and_markdown_show_a_row_per_run(two_runs: tuple[Path, list[RunHistory]]) -> None:
    """In whole seconds (the CSV and JSON keep the stored precision)."""
    state, (first, second) = two_runs

    def seconds(moment: datetime) -> str:
        return moment.isoformat(timespec="seconds")

    table = history(state).splitlines()
    assert table[0].split() == [
        "run", "started_at", "finished_at", "first_event", "last_event", "files", "bytes", "lines",
        "requests", "unclassified", "unsupported_capability", "pending_over_bound",
    ]  # fmt: skip
    assert [row.split() for row in table[2:]] == [
        ["1", seconds(first.started_at), seconds(first.finished_at), "2025-05-07T09:00:01+00:00",
         "2025-05-07T09:00:21+00:00", "2", str(first.bytes), "3", "3", "3", "0", "0"],
        ["2", seconds(second.started_at), seconds(second.finished_at), "2025-05-07T09:00:31+00:00",
         "2025-05-07T10:00:00+00:00", "2", str(second.bytes), "5", "2", "1", "1", "0"],
    ]  # fmt: skip
    markdown = history(state, "-f", "markdown").splitlines()
    assert markdown[0].startswith("| run ")
    assert markdown[1].startswith("|:--") or markdown[1].startswith("|---")
    assert [row.split("|")[1].strip() for row in markdown[2:]] == ["1", "2"]


def test_prom_has_the_last_runs_figures_as_gauges_without_timestamps(
    two_runs: tuple[Path, list[RunHistory]],
) -> None:
    state, (_, second) = two_runs
    text = history(state, "-f", "prom")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples == {
        ("logscan_stored_run_failed_requests", (("category", "unclassified"),)): 1,
        ("logscan_stored_run_failed_requests", (("category", "unsupported_capability"),)): 1,
        ("logscan_stored_run_finished_timestamp_seconds", ()): round(second.finished_at.timestamp(), 3),
        ("logscan_stored_run_duration_seconds", ()): round(
            (second.finished_at - second.started_at).total_seconds(), 3
        ),
        ("logscan_stored_run_files", ()): 2,
        ("logscan_stored_run_bytes", ()): second.bytes,
        ("logscan_stored_run_lines", ()): 5,
    }
    # No sample carries a timestamp: the textfile collector refuses them.
    assert all(len(line.split()) == 2 for line in text.splitlines() if not line.startswith("#"))


def test_a_missing_state_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["history", "--state", str(tmp_path / "nothing.db")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
