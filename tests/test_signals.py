"""A real `logscan scan` process, stopped in the middle of a scan large enough for worker
processes: by Ctrl-C (SIGINT to the whole process group, as a terminal sends it), by SIGTERM
(to the process, as `kill` sends it, or to the group, as systemd does), or by a worker killed
outright. Each time: the right exit code, one line on stderr, last night's report untouched,
and nothing left behind in TMPDIR or beside the report."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from logscan import workers

# GIN lines, one in five a 400: every 400 is an occurrence kept for --events, so the workers
# spill occurrences to TMPDIR while they scan.
_LINES_PER_BLOCK = 10_000
_WAIT_SECONDS = 60


def _block() -> bytes:
    return "".join(
        f"[GIN] 2025/05/07 - 06:{i % 60:02d}:{i % 60:02d} | {400 if i % 5 == 0 else 200} |"
        f'     213.546µs |       127.0.0.1 | POST     "/api/chat"\n'
        for i in range(_LINES_PER_BLOCK)
    ).encode()


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    block = _block()
    path = tmp_path_factory.mktemp("input") / "server.log"
    # Large enough that the scan is spread over worker processes (they start at 96 MiB).
    blocks = workers.PARALLEL_MIN_BYTES // len(block) + 10
    with path.open("wb") as stream:
        for _ in range(blocks):
            stream.write(block)
    return path


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    tmpdir: Path
    reports: Path

    def wait_until_workers_spill(self) -> list[int]:
        """The worker processes' ids, once at least one of them has spilled occurrences to
        disk: the scan is then well under way, with temporary files to clean up."""
        deadline = time.monotonic() + _WAIT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the scan ended before it could be stopped"
            spilled = list(self.tmpdir.glob("logscan-events-*/*.arrow"))
            found = _grandchildren(self.process.pid)
            if spilled and len(found) >= 2:
                return found
            time.sleep(0.02)
        raise AssertionError("the workers never spilled occurrences")

    def finish(self) -> tuple[int, str]:
        _, stderr = self.process.communicate(timeout=_WAIT_SECONDS)
        return self.process.returncode, stderr.decode()

    def leftovers(self) -> list[str]:
        return sorted(
            str(path.relative_to(base)) for base in (self.tmpdir, self.reports) for path in base.iterdir()
        )


def _grandchildren(pid: int) -> list[int]:
    """The workers: children of the forkserver, which is a child of logscan."""
    found: list[int] = []
    for child in _children(pid):
        found += _children(child)
    return found


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


LAST_NIGHT = "last night's report\n"


@pytest.fixture
def start(big_log: Path, tmp_path: Path) -> Iterator[Callable[[], Run]]:
    """Starts the scan; whatever the test's outcome, no process of it outlives the test."""
    started: list[Run] = []

    def start_one() -> Run:
        started.append(_start(big_log, tmp_path))
        return started[-1]

    yield start_one
    for run in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.process.pid, signal.SIGKILL)
        run.process.wait()


def _start(big_log: Path, tmp_path: Path) -> Run:
    tmpdir, reports = tmp_path / "tmp", tmp_path / "reports"
    tmpdir.mkdir()
    reports.mkdir()
    (reports / "report.csv").write_text(LAST_NIGHT)
    command = [
        sys.executable, "-m", "logscan", "scan", str(big_log), "--jobs", "2", "-f", "csv",
        "-o", str(reports / "report.csv"), "--events", str(reports / "events.csv"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmpdir)},
        # A process group of its own, so that a signal to the group reaches logscan, its
        # forkserver and its workers, as Ctrl-C in a terminal does.
        start_new_session=True,
    )
    return Run(process, tmpdir, reports)


@pytest.mark.parametrize(
    ("signal_number", "to_group", "exit_code", "line"),
    [
        (signal.SIGINT, True, 130, "logscan: interrupted\n"),
        (signal.SIGTERM, False, 143, "logscan: terminated\n"),
        (signal.SIGTERM, True, 143, "logscan: terminated\n"),
    ],
    ids=["ctrl-c", "kill", "systemd-stop"],
)
def test_a_signal_stops_the_scan_cleanly(
    start: Callable[[], Run], signal_number: int, to_group: bool, exit_code: int, line: str
) -> None:
    run = start()
    run.wait_until_workers_spill()
    (os.killpg if to_group else os.kill)(run.process.pid, signal_number)
    assert run.finish() == (exit_code, line)
    assert (run.reports / "report.csv").read_text() == LAST_NIGHT
    assert run.leftovers() == ["report.csv"]


def test_a_killed_worker_is_a_runtime_failure_not_a_traceback(start: Callable[[], Run]) -> None:
    run = start()
    worker = run.wait_until_workers_spill()[0]
    os.kill(worker, signal.SIGKILL)
    assert run.finish() == (
        3,
        "logscan: error: a worker process stopped unexpectedly (killed, or out of memory?)\n",
    )
    assert (run.reports / "report.csv").read_text() == LAST_NIGHT
    assert run.leftovers() == ["report.csv"]


def test_the_same_scan_left_alone_writes_both_files(start: Callable[[], Run], big_log: Path) -> None:
    """The runs above were stopped, not finished: left alone, this one finishes."""
    run = start()
    assert run.finish() == (0, "")
    assert run.leftovers() == ["events.csv", "report.csv"]
    # 2,000 400s in each block of 10,000 lines (every fifth line, from the first).
    occurrences = big_log.stat().st_size // len(_block()) * 2_000
    assert (run.reports / "report.csv").read_text() == (
        "window_start,window_end,category,ollama,requests,server_records,client_records\n"
        f"2025-05-07T06:00:00Z,2025-05-07T07:00:00Z,unclassified,true,{occurrences},{occurrences},0\n"
    )
