"""The state of incremental scans: real files in temporary folders, rotated the way logrotate
does it (rename, copytruncate, compression afterwards), and real SQLite state files."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_prom_state import version_2_state

from logscan.inputs import ReadPolicy, Source, opened
from logscan.state import (
    FORGET_AFTER_MISSING_RUNS,
    MAX_PENDING_RECORDS,
    SCHEMA_VERSION,
    CategoryCounts,
    FileRead,
    PlanReason,
    Run,
    StateDB,
    StateError,
    StateLockedError,
    StateSchemaError,
    read_history,
)

CHILD = Path(__file__).with_name("state_crash_child.py")
START = datetime(2026, 11, 1, 2, 15, tzinfo=UTC)


def lines(*numbers: int, prefix: str = "line") -> bytes:
    return b"".join(f"{prefix} {number}\n".encode() for number in numbers)


def read_planned(plan) -> tuple[list[str], int]:
    """What a scan reads of one plan: its lines, and the content offset reached."""
    if plan.reads_nothing:
        return [], plan.start
    with opened(Source(str(plan.path), plan.path), ReadPolicy(binary=True)) as found:
        # The stream may answer a read with fewer bytes than asked: read through a buffer.
        stream = io.BufferedReader(found.stream)
        skipped = stream.read(plan.start)
        assert len(skipped) == plan.start
        data = stream.read() if plan.end is None else stream.read(plan.end - plan.start)
    return data.decode().splitlines(), plan.start + len(data)


def scan(db: StateDB, paths: list[Path], run_number: int = 0) -> dict[str, list[str]]:
    """One incremental run: plan, read, commit. The lines read per file name."""
    plans = db.plan(paths)
    seen: dict[str, list[str]] = {}
    reads = []
    for plan in plans:
        read, end = read_planned(plan)
        seen[plan.path.name] = read
        reads.append(FileRead(plan, end))
    started = START + timedelta(days=run_number)
    total = sum(len(read) for read in seen.values())
    db.commit(Run(started, started + timedelta(seconds=3), reads, total, {"request_format": total}))
    return seen


def reasons(db: StateDB, paths: list[Path]) -> dict[str, str]:
    return {plan.path.name: str(plan.reason) for plan in db.plan(paths)}


@pytest.fixture
def state(tmp_path: Path):
    with StateDB.open(tmp_path / "state.db") as db:
        yield db


def test_a_new_file_is_read_whole_and_then_only_what_was_appended(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "server.log"
    log.write_bytes(lines(1, 2, 3))
    assert scan(state, [log]) == {"server.log": ["line 1", "line 2", "line 3"]}
    with log.open("ab") as out:
        out.write(lines(4, 5))
    assert reasons(state, [log]) == {"server.log": "continued"}
    assert scan(state, [log]) == {"server.log": ["line 4", "line 5"]}
    assert scan(state, [log]) == {"server.log": []}


def test_a_partial_last_line_waits_for_its_newline_and_is_never_split(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "server.log"
    log.write_bytes(lines(1) + b"line 2 sta")
    assert scan(state, [log]) == {"server.log": ["line 1"]}
    with log.open("ab") as out:
        out.write(b"rted")
    assert scan(state, [log]) == {"server.log": []}
    with log.open("ab") as out:
        out.write(b" here\n" + lines(3))
    assert scan(state, [log]) == {"server.log": ["line 2 started here", "line 3"]}


def test_rotation_by_rename_continues_the_old_file_and_reads_the_new_one_whole(
    tmp_path: Path, state: StateDB
) -> None:
    log, rotated = tmp_path / "server.log", tmp_path / "server.log.1"
    log.write_bytes(lines(1, 2))
    scan(state, [log])
    with log.open("ab") as out:  # written after the last run, before the rotation
        out.write(lines(3))
    os.rename(log, rotated)
    log.write_bytes(lines(4, 5))
    assert reasons(state, [log, rotated]) == {"server.log": "new", "server.log.1": "rotated"}
    assert scan(state, [log, rotated]) == {"server.log": ["line 4", "line 5"], "server.log.1": ["line 3"]}
    assert scan(state, [log, rotated]) == {"server.log": [], "server.log.1": []}


def test_copytruncate_continues_the_copy_and_reads_the_truncated_file_from_the_start(
    tmp_path: Path, state: StateDB
) -> None:
    log, copy = tmp_path / "server.log", tmp_path / "server.log.1"
    log.write_bytes(lines(1, 2, 3))
    scan(state, [log])
    with log.open("ab") as out:
        out.write(lines(4))
    shutil.copyfile(log, copy)
    with log.open("r+b") as out:
        out.truncate(0)
    assert reasons(state, [log, copy]) == {"server.log": "truncated", "server.log.1": "copied"}
    with log.open("ab") as out:
        out.write(lines(5))
    assert scan(state, [log, copy]) == {"server.log": ["line 5"], "server.log.1": ["line 4"]}
    with log.open("ab") as out:
        out.write(lines(6))
    assert reasons(state, [log, copy]) == {"server.log": "continued", "server.log.1": "continued"}
    assert scan(state, [log, copy]) == {"server.log": ["line 6"], "server.log.1": []}


def test_truncation_in_place_reads_from_the_start(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "server.log"
    log.write_bytes(lines(1, 2, 3, 4))
    scan(state, [log])
    inode = log.stat().st_ino
    with log.open("r+b") as out:
        out.truncate(0)
        out.write(lines(5))
    assert log.stat().st_ino == inode
    assert reasons(state, [log]) == {"server.log": "truncated"}
    assert scan(state, [log]) == {"server.log": ["line 5"]}


def test_the_same_inode_with_other_content_is_a_new_file_read_whole(tmp_path: Path, state: StateDB) -> None:
    # What inode reuse looks like: the inode known, the content not.
    log = tmp_path / "server.log"
    log.write_bytes(lines(1, 2))
    scan(state, [log])
    with log.open("r+b") as out:
        out.write(lines(7, 8, 9, prefix="other"))
    assert reasons(state, [log]) == {"server.log": "new"}
    assert scan(state, [log]) == {"server.log": ["other 7", "other 8", "other 9"]}


def test_a_rotated_file_compressed_later_continues_from_its_offset_of_decompressed_content(
    tmp_path: Path, state: StateDB
) -> None:
    log, first, second = tmp_path / "server.log", tmp_path / "server.log.1", tmp_path / "server.log.2.gz"
    log.write_bytes(lines(*range(1, 301)) + b"line 301 was cut")  # more than the fingerprint
    assert len(scan(state, [log])["server.log"]) == 300
    with log.open("ab") as out:
        out.write(b" short\n" + lines(302))
    os.rename(log, first)
    log.write_bytes(lines(1000))
    with first.open("ab") as out:  # the writer had it open still
        out.write(lines(303) + b"line 304 never ended")
    assert scan(state, [log, first]) == {
        "server.log": ["line 1000"],
        "server.log.1": ["line 301 was cut short", "line 302", "line 303"],
    }
    with first.open("rb") as plain, gzip.open(second, "wb") as packed:
        shutil.copyfileobj(plain, packed)
    first.unlink()
    assert reasons(state, [log, second]) == {"server.log": "continued", "server.log.2.gz": "compressed"}
    # Nothing appends to a compressed file: its last line is read whole, newline or not.
    assert scan(state, [log, second]) == {"server.log": [], "server.log.2.gz": ["line 304 never ended"]}
    assert scan(state, [log, second]) == {"server.log": [], "server.log.2.gz": []}


def test_an_empty_file_stays_one_known_file_until_it_gets_lines(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    assert reasons(state, [log]) == {"app.log": "new"}
    for _ in range(3):
        assert scan(state, [log]) == {"app.log": []}
    assert reasons(state, [log]) == {"app.log": "continued"}
    log.write_bytes(lines(1))
    assert scan(state, [log]) == {"app.log": ["line 1"]}
    with sqlite3.connect(state.path) as connection:
        assert connection.execute("SELECT offset FROM files").fetchall() == [(7,)]


def test_run_times_without_a_time_zone_are_refused(state: StateDB) -> None:
    with pytest.raises(ValueError, match="time zone"):
        state.commit(Run(datetime(2026, 11, 1), START, [], 0, {}))


@pytest.mark.parametrize(
    ("suffix", "pack"),
    [
        (".gz", gzip.compress),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
        (".zst", lambda data: zstandard.ZstdCompressor().compress(data)),
    ],
)
def test_every_compression_continues_where_the_plain_file_stopped(
    tmp_path: Path, state: StateDB, suffix: str, pack
) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(lines(1, 2) + b"line 3 half")
    scan(state, [log])
    content = log.read_bytes() + b" done\n" + lines(4)
    packed = tmp_path / f"app.log.2{suffix}"
    packed.write_bytes(pack(content))
    log.unlink()
    (plan,) = state.plan([packed])
    assert (plan.reason, plan.start, plan.end, plan.known_as) == (PlanReason.COMPRESSED, 14, None, str(log))
    assert scan(state, [packed]) == {packed.name: ["line 3 half done", "line 4"]}


def test_a_plan_knows_the_file_it_was_made_for(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "server.log"
    log.write_bytes(lines(1))
    (plan,) = state.plan([log])
    os.rename(log, tmp_path / "server.log.1")
    log.write_bytes(lines(2))
    with log.open("rb") as opened:
        assert not plan.is_same_file(os.fstat(opened.fileno()))
    with (tmp_path / "server.log.1").open("rb") as opened:
        assert plan.is_same_file(os.fstat(opened.fileno()))


def test_a_commit_takes_the_plans_of_the_last_plan_once(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(lines(1))
    (stale,) = state.plan([log])
    (plan,) = state.plan([log])
    state.commit(Run(START, START, [FileRead(plan, 7)], 1, {}))
    for reads in ([FileRead(plan, 7)], [FileRead(stale, 7)]):
        with pytest.raises(ValueError, match="each plan of the last plan"):
            state.commit(Run(START, START, reads, 1, {}))
    (again,) = state.plan([log])
    with pytest.raises(ValueError, match="once"):
        state.commit(Run(START, START, [FileRead(again, 7), FileRead(again, 7)], 1, {}))
    assert [run.total_requests for run in state.history()] == [0]


def test_a_short_file_whose_fingerprint_grows_is_still_known(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(lines(1))
    scan(state, [log])
    with log.open("ab") as out:
        out.write(lines(*range(2, 1001)))
    assert reasons(state, [log]) == {"app.log": "continued"}
    assert len(scan(state, [log])["app.log"]) == 999
    with gzip.open(tmp_path / "app.log.1.gz", "wb") as packed:
        packed.write(log.read_bytes())
    log.unlink()
    assert reasons(state, [tmp_path / "app.log.1.gz"]) == {"app.log.1.gz": "compressed"}


def test_a_hard_link_and_a_copy_kept_beside_its_original_are_duplicates_read_once(
    tmp_path: Path, state: StateDB
) -> None:
    log, link, packed = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "a.log.gz"
    log.write_bytes(lines(1, 2))
    os.link(log, link)
    assert reasons(state, [log, link]) == {"a.log": "new", "b.log": "duplicate"}
    assert scan(state, [log, link]) == {"a.log": ["line 1", "line 2"], "b.log": []}
    with gzip.open(packed, "wb") as out:
        out.write(log.read_bytes())
    plans = state.plan([log, packed])
    assert [(plan.path.name, plan.reason, plan.known_as) for plan in plans] == [
        ("a.log", PlanReason.CONTINUED, None),
        ("a.log.gz", PlanReason.DUPLICATE, str(log)),
    ]


def test_a_missing_file_is_kept_for_a_while_then_forgotten(tmp_path: Path, state: StateDB) -> None:
    log, other = tmp_path / "server.log.1", tmp_path / "server.log"
    log.write_bytes(lines(1, 2))
    other.write_bytes(lines(9))
    scan(state, [log, other])
    hidden = tmp_path / "elsewhere"
    os.rename(log, hidden)
    for _ in range(FORGET_AFTER_MISSING_RUNS - 1):
        assert scan(state, [other]) == {"server.log": []}
    os.rename(hidden, log)
    assert reasons(state, [log, other]) == {"server.log.1": "continued", "server.log": "continued"}
    assert scan(state, [log, other]) == {"server.log.1": [], "server.log": []}
    os.rename(log, hidden)
    for _ in range(FORGET_AFTER_MISSING_RUNS):
        scan(state, [other])
    with sqlite3.connect(state.path) as connection:
        assert connection.execute("SELECT path FROM files").fetchall() == [(str(other),)]
    os.rename(hidden, log)
    assert reasons(state, [log]) == {"server.log.1": "new"}


def test_an_unreadable_file_is_planned_with_its_reason(tmp_path: Path, state: StateDB) -> None:
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage that is not deflate")
    gone = tmp_path / "gone.log"
    plans = state.plan([broken, gone])
    assert [plan.reason for plan in plans] == [PlanReason.UNREADABLE, PlanReason.UNREADABLE]
    assert all(plan.error for plan in plans)
    assert "No such file" in (plans[1].error or "")


def test_fifos_and_devices_are_not_planned_and_a_symlink_is_its_target(
    tmp_path: Path, state: StateDB
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    log, link = tmp_path / "app-2026-11-01.log", tmp_path / "current.log"
    log.write_bytes(lines(1))
    link.symlink_to(log.name)
    plans = state.plan([fifo, Path("/dev/null"), link, log])
    assert [(plan.path.name, plan.reason, plan.known_as) for plan in plans] == [
        ("pipe", PlanReason.UNREADABLE, None),
        ("null", PlanReason.UNREADABLE, None),
        ("current.log", PlanReason.NEW, None),
        ("app-2026-11-01.log", PlanReason.DUPLICATE, str(link)),
    ]
    assert plans[0].error == "not a regular file: it has no place to continue from"
    assert scan(state, [link]) == {"current.log": ["line 1"]}
    renamed = tmp_path / "app-2026-11-02.log"
    renamed.write_bytes(lines(2))
    link.unlink()
    link.symlink_to(renamed.name)  # the link moves on to the next day's file
    assert reasons(state, [link, log]) == {"current.log": "new", "app-2026-11-01.log": "rotated"}


def test_commit_writes_offsets_history_and_pending_records_together(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(lines(1, 2, 3))
    (plan,) = state.plan([log])
    waiting = pl.DataFrame({"request_id": ["r1", "r2"], "line": [2, 3]})
    run = Run(
        START,
        START + timedelta(seconds=4),
        [FileRead(plan, plan.end or 0)],
        3,
        {"auth": 1, "unclassified": 2},
        first_event=(START - timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5))),
        last_event=START - timedelta(minutes=5),
        pending=waiting,
    )
    result = state.commit(run)
    assert (result.run_id, result.pending_kept, result.pending_dropped) == (1, 2, 0)
    assert state.pending().equals(waiting)
    (stored,) = state.history()
    assert (stored.files, stored.bytes, stored.lines, stored.total_requests) == (1, 21, 3, 3)
    assert stored.requests == {"auth": 1, "unclassified": 2}
    assert (stored.started_at, stored.first_event, stored.last_event) == (
        START,
        START - timedelta(hours=1),
        START - timedelta(minutes=5),
    )
    assert stored.first_event is not None
    assert stored.first_event.utcoffset() == timedelta(0)  # stored in UTC, whatever zone it came in
    scan(state, [log], 1)  # a run that leaves nothing waiting clears what was
    assert state.pending().height == 0
    assert [run.run_id for run in state.history()] == [2, 1]
    assert [run.run_id for run in state.history(limit=1)] == [2]


def test_pending_records_are_bounded_keeping_the_newest(tmp_path: Path, state: StateDB) -> None:
    many = pl.DataFrame({"n": range(MAX_PENDING_RECORDS + 25)})
    result = state.commit(Run(START, START, [], 0, {}, pending=many))
    assert (result.pending_kept, result.pending_dropped) == (MAX_PENDING_RECORDS, 25)
    assert state.pending().get_column("n").to_list() == list(range(25, MAX_PENDING_RECORDS + 25))
    assert state.history()[0].pending_dropped == 25


def test_a_failed_commit_changes_nothing(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(lines(1, 2))
    (plan,) = state.plan([log])
    with pytest.raises(ValueError, match="outside the planned"):
        state.commit(Run(START, START, [FileRead(plan, 99)], 2, {}))
    assert state.history() == []
    assert reasons(state, [log]) == {"app.log": "new"}


def test_a_second_run_fails_at_once_naming_the_process_holding_the_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from logscan.state import StateDB; db = StateDB.open({str(path)!r}); "
            "print('locked', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(StateLockedError) as caught:
            StateDB.open(path)
        assert caught.value.pid == holder.pid
        assert (
            str(caught.value)
            == f"{path}: in use by process {holder.pid} (another logscan run); not waiting for it"
        )
        assert read_history(path) == []  # the database stays readable meanwhile
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with StateDB.open(path) as db:  # a killed holder leaves no lock behind
        assert db.history() == []


def test_the_state_is_created_private_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateDB.open(path).close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state.db.lock").stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    StateDB.open(path).close()  # opening again migrates nothing and loses nothing


def test_a_state_from_a_newer_logscan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateDB.open(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateSchemaError, match=f"state schema version {SCHEMA_VERSION + 1} is newer"):
        StateDB.open(path)
    with pytest.raises(StateSchemaError):
        read_history(path)


def test_files_that_are_not_state_files_are_refused_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"not a database at all, but long enough to look like a header" * 20)
    with pytest.raises(StateError, match=r"notes\.txt: not a logscan state file \(file is not a database\)$"):
        StateDB.open(text)
    assert text.read_bytes() == b"not a database at all, but long enough to look like a header" * 20
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE accounts (id INTEGER)")
    with pytest.raises(StateError, match="other tables"):
        StateDB.open(foreign)
    with sqlite3.connect(foreign) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (0,)
    with pytest.raises(StateError, match="is a directory"):
        StateDB.open(tmp_path)
    with pytest.raises(StateError, match="no state file there"):
        read_history(tmp_path / "missing.db")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    writes=st.lists(
        st.lists(st.text(alphabet="ab \n", min_size=1, max_size=40), max_size=4),
        min_size=1,
        max_size=6,
    )
)
def test_lines_read_over_many_runs_are_every_complete_line_once_in_order(
    tmp_path_factory: pytest.TempPathFactory, writes: list[list[str]]
) -> None:
    folder = tmp_path_factory.mktemp("appends")
    log = folder / "app.log"
    log.write_bytes(b"")
    read: list[str] = []
    with StateDB.open(folder / "state.db") as db:
        for number, pieces in enumerate(writes):
            with log.open("ab") as out:
                for piece in pieces:
                    out.write(piece.encode())
            read.extend(scan(db, [log], number)["app.log"])
    complete = log.read_bytes()[: log.read_bytes().rfind(b"\n") + 1]
    assert read == complete.decode().splitlines()


class RotatingLog:
    """A log written in numbered lines and rotated as logrotate does it: ``server.log.1`` plain
    (delaycompress), older ones gzip-compressed, by rename or by copytruncate."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()
        self.active = folder / "server.log"
        self.active.write_bytes(b"")
        self.written = 0
        self.cut = b""  # the end of a line begun but not finished

    def write(self, count: int, *, stop_mid_line: bool) -> None:
        data = self.cut
        for _ in range(count):
            self.written += 1
            data += f"line {self.written}\n".encode()
        self.cut = b""
        if stop_mid_line:
            self.written += 1
            begun = f"line {self.written}\n".encode()
            data, self.cut = data + begun[:4], begun[4:]
        with self.active.open("ab") as out:
            out.write(data)

    def rotate(self, *, copytruncate: bool) -> None:
        self.write(0, stop_mid_line=False)  # the writer finishes its line before it lets go
        packed = sorted(self.folder.glob("server.log.*.gz"), key=lambda path: -int(path.name.split(".")[2]))
        for path in packed:
            os.rename(path, self.folder / f"server.log.{int(path.name.split('.')[2]) + 1}.gz")
        first = self.folder / "server.log.1"
        if first.exists():
            with first.open("rb") as plain, gzip.open(self.folder / "server.log.2.gz", "wb") as out:
                shutil.copyfileobj(plain, out)
            first.unlink()
        if copytruncate:
            shutil.copyfile(self.active, first)
            with self.active.open("r+b") as out:
                out.truncate(0)
        else:
            os.rename(self.active, first)
            self.active.write_bytes(b"")

    def files(self) -> list[Path]:
        return sorted(path for path in self.folder.iterdir() if path.name.startswith("server.log"))


operations = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("rotate"), st.booleans()),
        st.tuples(st.just("scan")),
    ),
    max_size=16,
)


@settings(max_examples=30, deadline=None)
@given(operations=operations)
# A freed inode reused at once by copytruncate's copy, while an empty file was known under it.
@example(operations=[("rotate", False), ("write", 1, False), ("scan",), ("rotate", True)])
def test_any_writes_rotations_and_runs_read_every_line_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, operations: list[tuple]
) -> None:
    folder = tmp_path_factory.mktemp("rotating")
    log = RotatingLog(folder / "logs")
    read: list[str] = []
    with StateDB.open(folder / "state.db") as db:
        for number, (name, *arguments) in enumerate(operations):
            if name == "write":
                log.write(arguments[0], stop_mid_line=arguments[1])
            elif name == "rotate":
                log.rotate(copytruncate=arguments[0])
            else:
                read.extend(
                    line for lines_read in scan(db, log.files(), number).values() for line in lines_read
                )
        log.write(0, stop_mid_line=False)
        read.extend(
            line for lines_read in scan(db, log.files(), len(operations)).values() for line in lines_read
        )
    assert sorted(read) == sorted(f"line {number}" for number in range(1, log.written + 1))


@pytest.mark.parametrize("kill_at", ["after-plan", "after-outputs", "in-commit", "at-commit", "after-commit"])
def test_a_run_killed_anywhere_loses_nothing_and_counts_nothing_twice(tmp_path: Path, kill_at: str) -> None:
    """Three nights, the second killed with SIGKILL at ``kill_at`` in the killed copy: the
    committed totals equal those of three uninterrupted nights."""

    def night(folder: Path, kill: str | None) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            str(CHILD),
            str(folder / "state.db"),
            str(folder / "logs"),
            str(folder / "report"),
        ]
        return subprocess.run(
            [*command, *([kill] if kill else [])], capture_output=True, text=True, check=False
        )

    for name, kill in (("killed", kill_at), ("uninterrupted", None)):
        folder = tmp_path / name
        logs = folder / "logs"
        logs.mkdir(parents=True)
        (logs / "server.log").write_bytes(lines(1, 2, 3) + b"line 4 ha")
        assert night(folder, None).returncode == 0
        with (logs / "server.log").open("ab") as out:
            out.write(b"lf\n" + lines(5, 6))
        if kill:
            killed = night(folder, kill)
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            # Read before any run rolls the killed one back: only what was committed shows.
            committed = [3, 3] if kill_at == "after-commit" else [3]
            assert [run.total_requests for run in read_history(folder / "state.db")] == committed
        os.rename(logs / "server.log", logs / "server.log.1")
        (logs / "server.log").write_bytes(lines(7, 8))
        finished = night(folder, None)
        assert finished.returncode == 0, finished.stderr

        history = read_history(folder / "state.db")
        # The uninterrupted copy has no second night; a kill after the commit loses nothing of it.
        committed_second_night = kill is not None and kill_at == "after-commit"
        assert [run.total_requests for run in history] == ([2, 3, 3] if committed_second_night else [5, 3])
        last_night = ["line 7", "line 8"] + (
            [] if committed_second_night else ["line 4 half", "line 5", "line 6"]
        )
        assert (folder / "report").read_text().splitlines() == last_night


def test_a_continued_file_keeps_counting_its_lines(tmp_path: Path, state: StateDB) -> None:
    log = tmp_path / "server.log"
    log.write_bytes(lines(1, 2, 3))
    (plan,) = state.plan([log])
    assert plan.lines_before == 0
    state.commit(Run(START, START, [FileRead(plan, plan.end or 0, 3)], 3, {}))
    with log.open("ab") as out:
        out.write(lines(4))
    os.rename(log, tmp_path / "server.log.1")
    (rotated,) = state.plan([tmp_path / "server.log.1"])
    assert (rotated.reason, rotated.start, rotated.lines_before) == (
        PlanReason.ROTATED,
        len(lines(1, 2, 3)),
        3,
    )
    # Nothing read: the count stays.
    state.commit(Run(START, START, [FileRead(rotated, rotated.start)], 0, {}))
    (again,) = state.plan([tmp_path / "server.log.1"])
    assert again.lines_before == 3


def test_a_version_1_state_is_upgraded_keeping_its_files_and_runs(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as connection:
        for statement in (
            "CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL, fingerprint BLOB NOT NULL,"
            " fingerprint_length INTEGER NOT NULL, device INTEGER NOT NULL, inode INTEGER NOT NULL,"
            " compression TEXT NOT NULL, size INTEGER NOT NULL, offset INTEGER NOT NULL,"
            " missing_runs INTEGER NOT NULL DEFAULT 0)",
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,"
            " first_event TEXT, last_event TEXT, files INTEGER NOT NULL, bytes INTEGER NOT NULL,"
            " lines INTEGER NOT NULL, pending_dropped INTEGER NOT NULL DEFAULT 0)",
            "CREATE TABLE run_requests (run_id INTEGER NOT NULL, category TEXT NOT NULL,"
            " requests INTEGER NOT NULL, PRIMARY KEY (run_id, category))",
            "CREATE TABLE pending (id INTEGER PRIMARY KEY CHECK (id = 1), records INTEGER NOT NULL,"
            " frame BLOB NOT NULL)",
            "INSERT INTO runs VALUES (1, '2026-11-01T02:15:00+00:00', '2026-11-01T02:16:00+00:00',"
            " NULL, NULL, 1, 10, 2, 0)",
            "INSERT INTO run_requests VALUES (1, 'auth', 2)",
            "PRAGMA user_version = 1",
        ):
            connection.execute(statement)
    connection.close()
    with StateDB.open(path) as db:
        assert [(run.run_id, dict(run.requests)) for run in db.history()] == [(1, {"auth": 2})]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert "lines" in [row[1] for row in connection.execute("PRAGMA table_info(files)")]
    connection.close()


def test_the_totals_add_up_every_committed_run(tmp_path: Path, state: StateDB) -> None:
    assert state.totals() == CategoryCounts()
    state.commit(
        Run(START, START, [], 0, {"auth": 2, "unclassified": 1},
            records={("auth", "client"): 4, ("unclassified", "server"): 1},
            other_requests={"unclassified": 3})
    )  # fmt: skip
    state.commit(Run(START, START, [], 0, {}))  # a run that found nothing adds nothing
    state.commit(
        Run(START, START, [], 0, {"unclassified": 2},
            records={("unclassified", "server"): 2, ("unclassified", "client"): 5},
            other_requests={"auth": 1})
    )  # fmt: skip
    assert state.totals() == CategoryCounts(
        requests={"auth": 2, "unclassified": 3},
        records={("auth", "client"): 4, ("unclassified", "server"): 3, ("unclassified", "client"): 5},
        other_requests={"auth": 1, "unclassified": 3},
    )


_CATEGORIES = st.sampled_from(["auth", "rate_limit", "unclassified", "team.queue"])
_COUNTS = st.integers(min_value=1, max_value=10**9)


@settings(max_examples=30, deadline=None)
@given(
    runs=st.lists(
        st.tuples(
            st.dictionaries(_CATEGORIES, _COUNTS),
            st.dictionaries(st.tuples(_CATEGORIES, st.sampled_from(["server", "client"])), _COUNTS),
            st.dictionaries(_CATEGORIES, _COUNTS),
        ),
        max_size=6,
    )
)
def test_the_totals_are_the_sums_of_any_runs(
    tmp_path_factory: pytest.TempPathFactory, runs: list[tuple[dict, dict, dict]]
) -> None:
    expected = [Counter(), Counter(), Counter()]
    with StateDB.open(tmp_path_factory.mktemp("state") / "state.db") as db:
        for requests, records, other in runs:
            db.commit(Run(START, START, [], 0, requests, records=records, other_requests=other))
            for total, counted in zip(expected, (requests, records, other), strict=True):
                total.update(counted)
        assert db.totals() == CategoryCounts(*map(dict, expected))


def test_counts_add_up_per_key() -> None:
    night = CategoryCounts({"auth": 1}, {("auth", "server"): 1}, {})
    assert night + CategoryCounts({"auth": 2, "rate_limit": 1}, {("auth", "client"): 3}, {"auth": 4}) == (
        CategoryCounts(
            {"auth": 3, "rate_limit": 1}, {("auth", "server"): 1, ("auth", "client"): 3}, {"auth": 4}
        )
    )


def test_a_version_2_state_is_upgraded_its_runs_counting_their_requests(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    version_2_state(path)
    with StateDB.open(path) as db:
        assert db.totals() == CategoryCounts(requests={"auth": 2, "unclassified": 6})
        assert [run.total_requests for run in db.history()] == [1, 7]
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"run_records", "run_other_requests", "objects"} <= tables
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (4,)
    connection.close()
