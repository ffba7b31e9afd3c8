"""`logscan scan --state`: incremental runs through the command line (and a real process for
the lock and a kill -9), over real files rotated as logrotate does it: rename, copytruncate,
truncation in place, compression afterwards. Every count is of GIN lines written here, one
failed request each, unless said otherwise."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from logscan import scan as pipeline
from logscan import shards, state
from logscan.cli import main
from logscan.state import StateDB, read_history

BASE = datetime(2025, 5, 7, 9, 0, 0, tzinfo=UTC)
CLIENT_FAILURE = """\
{time},509 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 400 Bad Request"
{time},512 ERROR chatbot: chat failed
Traceback (most recent call last):
ollama._types.ResponseError: registry.ollama.ai/library/gemma2:2b does not support tools (status code: 400)
"""


def gin(*numbers: int, endpoint: str = "/api/embed") -> str:
    """A GIN access line per number, each a failed request ten seconds after the one before."""
    return "".join(
        f"[GIN] {(BASE + timedelta(seconds=10 * n)):%Y/%m/%d - %H:%M:%S} | 400 |     213.546µs |"
        f'       127.0.0.1 | POST     "{endpoint}"\n'
        for n in numbers
    )


def settle(folder: Path) -> None:
    """Files last written an hour ago: no partner of their records can still be on its way,
    so a run holds nothing back for the next one."""
    an_hour_ago = time.time() - 3600
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("state"):
            os.utime(path, (an_hour_ago, an_hour_ago))


def run(
    tmp_path: Path, *paths: Path | str, extra: tuple[str, ...] = (), settled: bool = True
) -> dict[str, Any]:
    """One nightly run over ``paths`` (default: the logs folder): the JSON report, parsed."""
    logs = tmp_path / "logs"
    if settled:
        settle(logs)
    result = invoke(tmp_path, *(paths or (logs,)), "-f", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def invoke(tmp_path: Path, *args: Path | str) -> Result:
    return CliRunner().invoke(main, ["scan", "--state", str(tmp_path / "state.db"), *map(str, args)])


def files(report: dict[str, Any]) -> dict[str, tuple[int, str | None]]:
    """Lines read and the incremental note of each input, by file name."""
    return {Path(f["name"]).name: (f["lines"], f["incremental"]) for f in report["files"]}


def wait_for_lock(lock: Path, process: subprocess.Popen[bytes]) -> None:
    """Until ``process`` holds the state's lock (its pid is in the lock file)."""
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip() == str(process.pid)):
        assert process.poll() is None, "the process ended before it took the lock"
        assert time.monotonic() < deadline, "the process never took the lock"
        time.sleep(0.01)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def test_a_second_run_reads_only_the_new_lines_and_keeps_their_line_numbers(
    tmp_path: Path, logs: Path
) -> None:
    (logs / "server.log").write_text(gin(1, 2, 3))
    first = run(tmp_path)
    assert first["requests"] == 3
    assert files(first) == {"server.log": (3, None)}

    with (logs / "server.log").open("a") as log:
        log.write(gin(4, 5))
    events = tmp_path / "events.csv"
    second = run(tmp_path, extra=("--events", str(events)))
    assert second["requests"] == 2
    assert files(second) == {"server.log": (2, "continued from line 4")}
    rows = list(csv.DictReader(events.open()))
    assert [(row["line"], row["timestamp"]) for row in rows] == [
        ("4", "2025-05-07T09:00:40Z"),
        ("5", "2025-05-07T09:00:50Z"),
    ]


def test_a_run_over_unchanged_logs_counts_nothing(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1, 2, 3))
    (logs / "server.log.1.gz").write_bytes(gzip.compress(gin(7, 8).encode()))
    assert run(tmp_path)["requests"] == 5
    again = run(tmp_path)
    assert again["requests"] == 0
    assert files(again) == {
        "server.log": (0, "nothing new since the last run"),
        "server.log.1.gz": (0, "nothing new since the last run"),
    }


def test_rotation_by_rename_continues_the_old_file_and_reads_the_new_one_whole(
    tmp_path: Path, logs: Path
) -> None:
    (logs / "server.log").write_text(gin(1, 2, 3))
    assert run(tmp_path)["requests"] == 3
    with (logs / "server.log").open("a") as log:
        log.write(gin(4))  # written before the rename
    os.rename(logs / "server.log", logs / "server.log.1")
    (logs / "server.log").write_text(gin(5, 6))
    second = run(tmp_path)
    assert second["requests"] == 3
    assert files(second) == {
        "server.log": (2, None),
        "server.log.1": (1, f"was {logs / 'server.log'}, rotated from line 4"),
    }


def test_copytruncate_continues_the_copy_and_reads_the_truncated_file_from_its_start(
    tmp_path: Path, logs: Path
) -> None:
    (logs / "server.log").write_text(gin(1, 2, 3))
    assert run(tmp_path)["requests"] == 3
    with (logs / "server.log").open("a") as log:
        log.write(gin(4))
    shutil.copyfile(logs / "server.log", logs / "server.log.1")
    with (logs / "server.log").open("r+") as log:
        log.truncate(0)
        log.write(gin(5, 6))
    second = run(tmp_path)
    assert second["requests"] == 3
    assert files(second) == {
        "server.log": (2, "truncated since the last run: read from its start"),
        "server.log.1": (1, f"was {logs / 'server.log'}, copied from line 4"),
    }


def test_truncation_in_place_reads_the_file_from_its_start(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1, 2, 3))
    assert run(tmp_path)["requests"] == 3
    os.truncate(logs / "server.log", 0)
    with (logs / "server.log").open("a") as log:
        log.write(gin(4, 5))
    second = run(tmp_path)
    assert second["requests"] == 2
    assert files(second) == {"server.log": (2, "truncated since the last run: read from its start")}


def test_a_rotated_file_compressed_later_is_not_counted_again(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1, 2, 3))
    assert run(tmp_path)["requests"] == 3
    with (logs / "server.log").open("a") as log:
        log.write(gin(4))
    os.rename(logs / "server.log", logs / "server.log.1")
    (logs / "server.log").write_text(gin(5))
    assert run(tmp_path)["requests"] == 2
    # The next rotation: server.log.1 becomes server.log.2.gz, server.log becomes server.log.1.
    with (logs / "server.log.1").open("rb") as plain, gzip.open(logs / "server.log.2.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    os.remove(logs / "server.log.1")
    os.rename(logs / "server.log", logs / "server.log.1")
    (logs / "server.log").write_text(gin(6))
    third = run(tmp_path)
    assert third["requests"] == 1
    assert files(third)["server.log.2.gz"] == (
        0,
        f"was {logs / 'server.log.1'}, nothing new since the last run",
    )


def test_lines_appended_before_compression_are_read_from_the_compressed_file(
    tmp_path: Path, logs: Path
) -> None:
    (logs / "server.log.1").write_text(gin(1, 2))
    assert run(tmp_path)["requests"] == 2
    with (logs / "server.log.1").open("a") as log:
        log.write(gin(3))  # a last write to the old file, then it is compressed
    with (logs / "server.log.1").open("rb") as plain, gzip.open(logs / "server.log.2.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    os.remove(logs / "server.log.1")
    events = tmp_path / "events.csv"
    second = run(tmp_path, extra=("--events", str(events)))
    assert second["requests"] == 1
    assert files(second) == {"server.log.2.gz": (1, f"was {logs / 'server.log.1'}, compressed from line 3")}
    assert [row["line"] for row in csv.DictReader(events.open())] == ["3"]


def test_a_partial_last_line_waits_for_the_next_run_and_is_never_split(tmp_path: Path, logs: Path) -> None:
    whole = gin(1, 2, 3)
    (logs / "server.log").write_text(whole[: -len(gin(3)) + 20])  # line 3 cut after 20 characters
    first = run(tmp_path)
    assert first["requests"] == 2
    assert files(first) == {"server.log": (2, None)}
    with (logs / "server.log").open("a") as log:
        log.write(gin(3)[20:] + gin(4))
    second = run(tmp_path)
    assert second["requests"] == 2
    assert files(second) == {"server.log": (2, "continued from line 3")}


def test_a_file_that_vanished_is_no_error(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1, 2))
    (logs / "other.log").write_text(gin(3))
    assert run(tmp_path)["requests"] == 3
    os.remove(logs / "other.log")
    with (logs / "server.log").open("a") as log:
        log.write(gin(4))
    second = run(tmp_path)
    assert second["requests"] == 1
    assert files(second) == {"server.log": (1, "continued from line 3")}


def test_a_server_400_whose_client_record_comes_in_the_next_run_is_one_request(
    tmp_path: Path, logs: Path
) -> None:
    """The server wrote its access line just before the first run; the client's records (with
    the reason) only after it. The request is counted once, in the second run, by the client's
    reason, from the server record the first run held back."""
    (logs / "server.log").write_text(gin(1, 2, endpoint="/api/chat"))  # 09:00:10 and 09:00:20
    (logs / "app.log").write_text("")
    first = run(tmp_path, settled=False)  # just written: a partner may still come
    # The request at 09:00:10 is 10 s before the newest record of its file: not held back.
    assert first["requests"] == 1
    assert first["trend"]["pending"] == {"carried": 0, "held": 1, "over_bound": 0}
    with (logs / "app.log").open("a") as log:
        log.write(CLIENT_FAILURE.format(time="2025-05-07 09:00:20"))
    second = run(tmp_path, settled=False)
    assert second["requests"] == 1
    assert [
        (c["category"], c["requests"], c["server_records"], c["client_records"]) for c in second["categories"]
    ] == [("unsupported_capability", 1, 1, 2)]
    assert second["trend"]["pending"] == {"carried": 1, "held": 0, "over_bound": 0}
    # Nothing new, nothing waiting: nothing counted.
    assert run(tmp_path, settled=False)["requests"] == 0
    assert [run.total_requests for run in read_history(tmp_path / "state.db")] == [0, 1, 1]


def test_a_record_still_without_a_partner_in_the_next_run_is_counted_then(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1))
    assert run(tmp_path, settled=False)["requests"] == 0
    second = run(tmp_path)
    assert second["requests"] == 1
    assert second["trend"]["pending"] == {"carried": 1, "held": 0, "over_bound": 0}
    assert run(tmp_path)["requests"] == 0


def test_records_waiting_over_the_bound_are_counted_at_once(
    tmp_path: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "MAX_PENDING_RECORDS", 2)
    # Five requests within the match window of the newest: all could wait, two may.
    text = gin(1) * 5
    (logs / "server.log").write_text(text)
    first = run(tmp_path, settled=False)
    assert first["requests"] == 3
    assert first["trend"]["pending"] == {"carried": 0, "held": 2, "over_bound": 3}
    assert read_history(tmp_path / "state.db")[0].pending_dropped == 3
    assert run(tmp_path)["requests"] == 2


def test_fail_on_new_category_exits_1_naming_it_and_its_count(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1))
    (logs / "app.log").write_text("")
    settle(logs)
    first = invoke(tmp_path, logs, "--fail-on-new-category", "-f", "csv")
    assert first.exit_code == 0, first.output  # a first run has nothing to compare with
    with (logs / "app.log").open("a") as log:
        log.write(CLIENT_FAILURE.format(time="2025-05-07 10:00:00"))
        log.write(CLIENT_FAILURE.format(time="2025-05-07 10:10:00"))
    settle(logs)
    second = invoke(tmp_path, logs, "--fail-on-new-category", "-f", "csv")
    assert second.exit_code == 1
    assert second.stderr == (
        "logscan: threshold breached: 2 unsupported_capability requests, a category no stored run"
        " had (--fail-on-new-category)\n"
    )
    assert second.stdout.splitlines()[1:] == [
        "2025-05-07T10:00:00Z,2025-05-07T11:00:00Z,unsupported_capability,true,2,0,4",
    ]
    # Stored by the breaching run: the category is no longer new.
    with (logs / "app.log").open("a") as log:
        log.write(CLIENT_FAILURE.format(time="2025-05-07 11:00:00"))
    settle(logs)
    assert invoke(tmp_path, logs, "--fail-on-new-category", "-f", "csv").exit_code == 0


def test_fail_on_new_category_needs_a_state(tmp_path: Path) -> None:
    (tmp_path / "server.log").write_text(gin(1))
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "server.log"), "--fail-on-new-category"])
    assert result.exit_code == 2
    assert result.stderr == (
        "logscan: error: --fail-on-new-category compares with stored runs: it needs --state FILE\n"
    )


def test_the_trend_compares_with_the_previous_run_and_the_mean(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(*range(1, 3)))
    run(tmp_path)
    with (logs / "server.log").open("a") as log:
        log.write(gin(*range(3, 7)))
    run(tmp_path)
    with (logs / "server.log").open("a") as log:
        log.write(gin(*range(7, 27)))  # 20 against a mean of 3: a spike
    third = run(tmp_path)
    assert third["trend"]["categories"] == [
        {"category": "unclassified", "now": 20, "previous": 4, "mean7": 3.0, "change": 16, "flags": ["spike"]}
    ]
    settle(logs)
    table = invoke(tmp_path, logs)
    assert table.exit_code == 0
    section = table.stdout.split("Trend against the stored runs\n")[1].split("\n\n")[0]
    assert section.splitlines() == [
        "category        now    previous    mean of last 7    change    flags",
        "------------  -----  ----------  ----------------  --------  -------",
        "unclassified      0          20               8.7       -20",
        "new: no stored run had it; spike: above 3× the mean of the last 7 stored runs and above 5 requests.",
    ]
    markdown = invoke(tmp_path, logs, "-f", "markdown")
    assert "## Trend against the stored runs\n\n| category" in markdown.stdout


def test_a_second_run_is_refused_at_once_while_one_holds_the_state(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1))
    state = tmp_path / "state.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from logscan.state import StateDB; StateDB.open({str(state)!r}); print('open', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Locked first, then created and migrated: the history below needs the state opened.
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        wait_for_lock(tmp_path / "state.db.lock", holder)
        started = time.monotonic()
        result = invoke(tmp_path, logs)
        assert time.monotonic() - started < 10  # at once, not after a wait
        assert result.exit_code == 3
        assert result.stderr == (
            f"logscan: error: {state}: in use by process {holder.pid} (another logscan run); not waiting for it\n"
        )
        # The history is read without the lock, meanwhile.
        history = CliRunner().invoke(main, ["history", "--state", str(state)])
        assert (history.exit_code, history.stdout) == (0, "No run stored yet.\n")
    finally:
        holder.kill()
        holder.wait()
    assert run(tmp_path)["requests"] == 1


def test_a_scan_killed_mid_run_then_rerun_counts_as_one_uninterrupted_run(tmp_path: Path, logs: Path) -> None:
    requests = 200_000
    (logs / "server.log").write_text(gin(*range(1, requests + 1)))
    settle(logs)
    state = tmp_path / "state.db"
    command = [sys.executable, "-m", "logscan", "scan", str(logs), "--state", str(state), "-f", "json"]
    report = tmp_path / "report.json"
    killed = subprocess.Popen(
        [*command, "-o", str(report)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for_lock(tmp_path / "state.db.lock", killed)
    time.sleep(0.3)  # into the scan
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    assert not report.exists()
    assert read_history(state) == []  # nothing of the killed run was committed

    rerun = subprocess.run(command, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["requests"] == requests
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert json.loads(again.stdout)["requests"] == 0
    assert [run.total_requests for run in read_history(state)] == [0, requests]


def test_a_continued_file_is_cut_for_workers_only_within_what_is_new(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    line = gin(1)
    count = (3 * shards.MIN_PART_BYTES) // len(line.encode()) + 1
    with path.open("w") as log:
        log.write(line * count)
    start = shards.MIN_PART_BYTES + 10 * len(line.encode())
    end = path.stat().st_size - len(line.encode())
    source = pipeline.sources.Source(str(path), path, start=start, end=end)
    tasks = shards.plan([source], 2)
    parts = [part for task in tasks for part in task.parts]
    assert parts[0].start == start
    assert parts[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))


def test_history_of_a_state_never_committed_to(tmp_path: Path) -> None:
    StateDB.open(tmp_path / "state.db").close()
    result = CliRunner().invoke(main, ["history", "--state", str(tmp_path / "state.db"), "-f", "json"])
    assert (result.exit_code, json.loads(result.stdout)) == (0, {"runs": []})


def test_the_members_of_an_archive_are_read_once(tmp_path: Path, logs: Path) -> None:
    with zipfile.ZipFile(logs / "old.zip", "w") as archive:
        archive.writestr("server.log", gin(1, 2))
    first = run(tmp_path)
    assert first["requests"] == 2
    second = run(tmp_path)
    assert second["requests"] == 0
    assert files(second) == {"old.zip:server.log": (0, "an archive read by an earlier run")}


def test_a_run_whose_outputs_cannot_be_written_commits_nothing(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1, 2))
    settle(logs)
    failed = invoke(tmp_path, logs, "-f", "csv", "--events", "/dev/full")  # a device that is always full
    assert failed.exit_code == 3
    assert (
        failed.stderr == "logscan: error: cannot write '/dev/full': No space left on device (os error 28)\n"
    )
    assert read_history(tmp_path / "state.db") == []
    assert run(tmp_path)["requests"] == 2
