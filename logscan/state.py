"""The state of incremental scans (``--state FILE``): which bytes of which files were counted,
the records still waiting for a join partner, and the history of runs. The only room that
opens the database.

A run goes: ``StateDB.open(path)`` (takes the lock), ``plan(paths)`` (where to start reading
each file, and why), read and write the outputs, then ``commit(run)``, which writes every
file's new offset, the pending records and the run's history row in ONE transaction. A run
killed at any point before that transaction ends leaves the state as the previous run left
it, so the next run reads the same lines again: nothing is lost, nothing is counted twice.

Identity of a file
    A file is known by its *fingerprint* (sha256 of the first ``FINGERPRINT_BYTES`` of its
    content, decompressed) together with its device and inode; never by its name alone, nor
    by its inode alone, nor by timestamps. Both are re-checked on every run:

    - same inode, same fingerprint: the file read last time (``continued``, or ``rotated``
      when its name changed: logrotate's rename);
    - same inode, content now shorter than the offset reached: ``truncated`` (copytruncate or
      truncation in place), read from 0;
    - other inode, same fingerprint: a copy of a known file, continued from its offset
      (``copied``: copytruncate's copy; ``compressed``: ``server.log.1`` become
      ``server.log.2.gz``, whose offset counts decompressed bytes);
    - anything else is ``new``, read from 0 (same inode but another fingerprint is inode
      reuse: a new file, never a reason to skip its first bytes);
    - a second current file matching a known file claimed already (a hard link, a copy kept
      beside its original) is a ``duplicate`` and is not read: its lines are the other's.

    A fingerprint taken while a file was shorter than ``FINGERPRINT_BYTES`` covers what there
    was; it is compared with the same number of bytes of the current content and grows with
    the file.

Offsets
    Of the file for plain files, of decompressed content for compressed ones. A plain file is
    read up to its last newline only: a last line still being written waits for the next run
    and is never split. A compressed file is complete (nothing appends to it), so it is read
    to its end, last line included.

Lock
    A run holds an exclusive ``flock`` on the sidecar file ``<state>.lock`` (holding the pid of
    its owner) from ``open`` to ``close``; a second run fails at once with ``StateLockedError``.
    A sidecar rather than a long ``BEGIN EXCLUSIVE``: the kernel drops the lock when its
    process dies (kill -9 included), the error can name the pid holding it, and the database
    itself stays readable (``read_history``) while a run is going. The lock file is left in
    place: deleting it would let two runs lock two different files.

Files that disappear are kept (a rotated file may come back compressed) and forgotten after
``FORGET_AFTER_MISSING_RUNS`` runs without them.

Schema (``PRAGMA user_version`` = ``SCHEMA_VERSION``; migrations upgrade older files, a newer
one is refused with ``StateSchemaError``)::

    files(id, path, fingerprint BLOB, fingerprint_length, device, inode, compression,
          size, offset, missing_runs)
        one row per known file: its identity, its on-disk size and the content offset
        counted up to at the last run, and how many runs in a row have not seen it
    runs(id, started_at, finished_at, first_event, last_event, files, bytes, lines,
         pending_dropped)
        one row per committed run: times ISO 8601 UTC (event times may be NULL), the input
        figures, and the pending records dropped over the bound
    run_requests(run_id, category, requests)
        that run's failed requests per cause category
    pending(id = 1, records, frame BLOB)
        records waiting for a join partner, a Polars frame as Arrow IPC bytes
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from logscan.errors import ExitCode, LogscanError
from logscan.sources import Source, SourceReadError, open_decoded

if TYPE_CHECKING:
    import polars as pl

SCHEMA_VERSION = 1
FINGERPRINT_BYTES = 4096
# A rotated file missing from a few runs (a glob that skipped it, a mount not there) is still
# known when it comes back, compressed or not; after a week of nightly runs it is gone.
FORGET_AFTER_MISSING_RUNS = 7
# Partners of a request arrive within seconds of each other, so records that waited a whole
# run are rarely joined; the bound keeps the state small however noisy a night was.
MAX_PENDING_RECORDS = 10_000
_TAIL_SEARCH_BYTES = 64 * 1024
_OBSERVE_ATTEMPTS = 3


class StateError(LogscanError):
    """The state file cannot be used (not a state database, unreadable, corrupt)."""

    exit_code = ExitCode.RUNTIME_FAILURE


class StateLockedError(StateError):
    """Another run holds the state's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        owner = f"process {pid}" if pid else "another process"
        super().__init__(f"{path}: in use by {owner} (another logscan run); not waiting for it")


class StateSchemaError(StateError):
    """The state file was written by a newer logscan."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version
        super().__init__(
            f"{path}: state schema version {version} is newer than this logscan understands "
            f"({SCHEMA_VERSION}); use a newer logscan or another --state file"
        )


class PlanReason(StrEnum):
    NEW = "new"
    CONTINUED = "continued"
    ROTATED = "rotated"  # same file, new name
    TRUNCATED = "truncated"
    COPIED = "copied"
    COMPRESSED = "compressed"  # a compressed copy of a known file
    DUPLICATE = "duplicate"  # the same content as another file of this run
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class ReadPlan:
    """Where to read one current file: content offsets ``[start, end)``; ``end`` is None for
    a compressed file, read to its end. ``known_as`` is the name it had in the state, when it
    had another."""

    path: Path
    reason: PlanReason
    start: int = 0
    end: int | None = None
    compression: str = "none"
    known_as: str | None = None
    error: str | None = None
    device: int = 0
    inode: int = 0
    size: int = 0
    fingerprint: bytes = b""
    fingerprint_length: int = 0
    file_id: int | None = None  # the state's row for this file, None for a new one

    @property
    def reads_nothing(self) -> bool:
        return self.reason in (PlanReason.DUPLICATE, PlanReason.UNREADABLE) or self.start == self.end

    def is_same_file(self, status: os.stat_result) -> bool:
        """Whether an opened file (its ``os.fstat``) is the one planned, not a file rotated
        into its name since."""
        return (status.st_dev, status.st_ino) == (self.device, self.inode)


@dataclass(frozen=True)
class FileRead:
    """What a run counted of one planned file: its lines up to content offset ``end``."""

    plan: ReadPlan
    end: int


@dataclass(frozen=True)
class Run:
    """One finished run, as committed: what was read, and what was found in it."""

    started_at: datetime
    finished_at: datetime
    files: Sequence[FileRead]
    lines: int
    requests: Mapping[str, int]  # failed requests per cause category
    first_event: datetime | None = None
    last_event: datetime | None = None
    # Records waiting for a join partner, oldest first; None keeps none.
    pending: pl.DataFrame | None = None


@dataclass(frozen=True)
class RunHistory:
    """One stored run."""

    run_id: int
    started_at: datetime
    finished_at: datetime
    first_event: datetime | None
    last_event: datetime | None
    files: int
    bytes: int
    lines: int
    requests: Mapping[str, int] = field(default_factory=dict)
    pending_dropped: int = 0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@dataclass(frozen=True)
class CommitResult:
    run_id: int
    pending_kept: int
    pending_dropped: int
    files_forgotten: int


@dataclass(frozen=True)
class _KnownFile:
    file_id: int
    path: str
    fingerprint: bytes
    fingerprint_length: int
    device: int
    inode: int
    offset: int


@dataclass(frozen=True)
class _Observed:
    path: Path
    device: int
    inode: int
    size: int
    compression: str
    head: bytes

    def fingerprint(self, length: int | None = None) -> bytes:
        return hashlib.sha256(self.head[: len(self.head) if length is None else length]).digest()


class _KnownFiles:
    """The files of the state, indexed by inode and by fingerprint, and which of them a plan
    has claimed already (each known file goes to one current file at most)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        rows = connection.execute(
            "SELECT id, path, fingerprint, fingerprint_length, device, inode, offset FROM files"
            " ORDER BY offset DESC, id"
        )
        self._by_inode: dict[tuple[int, int], list[_KnownFile]] = {}
        self._by_fingerprint: dict[tuple[int, bytes], list[_KnownFile]] = {}
        for row in rows:
            entry = _KnownFile(*row)
            self._by_inode.setdefault((entry.device, entry.inode), []).append(entry)
            self._by_fingerprint.setdefault((entry.fingerprint_length, entry.fingerprint), []).append(entry)
        # A fingerprint taken of a short file covers fewer bytes: hash each length once per file.
        self._lengths = sorted({length for length, _digest in self._by_fingerprint})
        self._claimed: set[int] = set()

    def same_inode(self, seen: _Observed) -> list[_KnownFile]:
        return self._by_inode.get((seen.device, seen.inode), [])

    def same_file(self, seen: _Observed) -> list[_KnownFile]:
        """Known files of this inode whose content this one starts with (an empty one too:
        under the same inode, it can only have grown)."""
        return [
            k
            for k in self.same_inode(seen)
            if k.fingerprint == seen.fingerprint(k.fingerprint_length)
            and k.fingerprint_length <= len(seen.head)
        ]

    def same_content(self, seen: _Observed) -> list[_KnownFile]:
        """Known files, under any inode, whose content this one starts with (an empty
        fingerprint says nothing about the content, and matches nothing here)."""
        found: list[_KnownFile] = []
        for length in self._lengths:
            if 0 < length <= len(seen.head):
                found.extend(self._by_fingerprint.get((length, seen.fingerprint(length)), []))
        return sorted(found, key=lambda k: (-k.offset, k.file_id))

    def claim(self, candidates: list[_KnownFile]) -> _KnownFile | None:
        entry = next((k for k in candidates if k.file_id not in self._claimed), None)
        if entry is not None:
            self._claimed.add(entry.file_id)
        return entry


class StateDB:
    """An open, locked state file. Use as a context manager, or call ``close``."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock_fd: int) -> None:
        self.path = path
        self._connection = connection
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, path: Path | str) -> StateDB:
        """Lock the state at ``path`` (failing at once if another run holds it), then open it,
        creating or upgrading it as needed."""
        path = Path(path)
        lock_fd = _lock(path)
        try:
            connection = _connect(path, read_only=False)
            try:
                _migrate(path, connection)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(path, connection, lock_fd)

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._lock_fd < 0:
            return
        self._connection.close()
        os.close(self._lock_fd)  # releases the lock
        self._lock_fd = -1

    def plan(self, paths: Sequence[Path | str]) -> list[ReadPlan]:
        """Where to start reading each of ``paths`` (in their order), and why."""
        known = _KnownFiles(self._connection)
        observed = [_observe(Path(path)) for path in paths]
        plans: dict[int, ReadPlan] = {
            number: ReadPlan(Path(paths[number]), PlanReason.UNREADABLE, error=seen)
            for number, seen in enumerate(observed)
            if isinstance(seen, str)
        }
        readable = [(number, seen) for number, seen in enumerate(observed) if not isinstance(seen, str)]
        # The same file under its inode first, so that a copy cannot claim a file still there.
        for number, seen in readable:
            entry = known.claim(known.same_file(seen))
            if entry is None:
                continue
            if seen.compression == "none" and seen.size < entry.offset:
                plans[number] = _plan(seen, PlanReason.TRUNCATED, 0, entry)
            else:
                moved = entry.path != _stored_path(seen.path)
                plans[number] = _plan(
                    seen, PlanReason.ROTATED if moved else PlanReason.CONTINUED, entry.offset, entry
                )
        # Copies, compressed or not, continue from the offset of the file they copy.
        for number, seen in readable:
            if number in plans:
                continue
            matching = known.same_content(seen)
            entry = known.claim(matching)
            if entry is not None:
                copy = PlanReason.COPIED if seen.compression == "none" else PlanReason.COMPRESSED
                plans[number] = _plan(seen, copy, entry.offset, entry)
            elif matching:
                ids = {k.file_id for k in matching}
                twin = next(plan for plan in plans.values() if plan.file_id in ids)
                plans[number] = _plan(seen, PlanReason.DUPLICATE, 0, None, known_as=str(twin.path))
        planned = {(p.device, p.inode): p for p in plans.values() if p.reason != PlanReason.UNREADABLE}
        for number, seen in readable:
            if number in plans:
                continue
            twin = planned.get((seen.device, seen.inode))
            if twin is not None:  # a hard link to a file of this run
                plans[number] = _plan(seen, PlanReason.DUPLICATE, 0, None, known_as=str(twin.path))
                continue
            shrunk = seen.compression == "none" and any(seen.size < k.offset for k in known.same_inode(seen))
            plans[number] = planned[(seen.device, seen.inode)] = _plan(
                seen, PlanReason.TRUNCATED if shrunk else PlanReason.NEW, 0, None
            )
        return [plans[number] for number in range(len(observed))]

    def pending(self) -> pl.DataFrame:
        """The records the last run left waiting for a partner (an empty frame if none)."""
        import polars as pl  # noqa: PLC0415  # a run without pending records never needs it

        row = self._connection.execute("SELECT frame FROM pending WHERE id = 1").fetchone()
        return pl.read_ipc(io.BytesIO(row[0])) if row else pl.DataFrame()

    def history(self, limit: int | None = None) -> list[RunHistory]:
        """Stored runs, newest first."""
        return _history(self._connection, limit)

    def commit(self, run: Run) -> CommitResult:
        """Write every file's new offset, the pending records and the run's history row, in
        one transaction. Files planned but missing from ``run.files`` keep their old state
        (they are read again next time)."""
        for read in run.files:
            _check_read(read)
        for moment in (run.started_at, run.finished_at, run.first_event, run.last_event):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"run times must carry their time zone, not {moment.isoformat()}")
        pending_blob, kept, dropped = _pending_blob(run.pending)
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            seen = {_store_file(connection, read) for read in run.files}
            missing = [(row[0],) for row in connection.execute("SELECT id FROM files") if row[0] not in seen]
            connection.executemany("UPDATE files SET missing_runs = missing_runs + 1 WHERE id = ?", missing)
            forgotten = connection.execute(
                "DELETE FROM files WHERE missing_runs >= ?", (FORGET_AFTER_MISSING_RUNS,)
            ).rowcount
            run_id = connection.execute(
                "INSERT INTO runs (started_at, finished_at, first_event, last_event, files, bytes,"
                " lines, pending_dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _time_text(run.started_at),
                    _time_text(run.finished_at),
                    _time_text(run.first_event),
                    _time_text(run.last_event),
                    len(run.files),
                    sum(read.end - read.plan.start for read in run.files),
                    run.lines,
                    dropped,
                ),
            ).lastrowid
            connection.executemany(
                "INSERT INTO run_requests (run_id, category, requests) VALUES (?, ?, ?)",
                [(run_id, category, count) for category, count in sorted(run.requests.items())],
            )
            connection.execute("DELETE FROM pending")
            if pending_blob is not None:
                connection.execute(
                    "INSERT INTO pending (id, records, frame) VALUES (1, ?, ?)", (kept, pending_blob)
                )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        assert run_id is not None
        return CommitResult(run_id, kept, dropped, forgotten)


def read_history(path: Path | str, limit: int | None = None) -> list[RunHistory]:
    """The runs stored in the state at ``path``, newest first, read without taking the run
    lock (a run's commit is one transaction: this sees the state before it or after it)."""
    path = Path(path)
    if not path.is_file():
        raise StateError(f"{path}: no state file there")
    connection = _connect(path, read_only=True)
    try:
        version = _schema_version(path, connection)
        if version > SCHEMA_VERSION:
            raise StateSchemaError(path, version)
        if version == 0:
            return []  # created, never committed to
        if version < SCHEMA_VERSION:
            raise StateError(f"{path}: state schema version {version} is older; a scan with it upgrades it")
        return _history(connection, limit)
    finally:
        connection.close()


def _history(connection: sqlite3.Connection, limit: int | None) -> list[RunHistory]:
    rows = connection.execute(
        "SELECT id, started_at, finished_at, first_event, last_event, files, bytes, lines,"
        " pending_dropped FROM runs ORDER BY id DESC LIMIT ?",
        (-1 if limit is None else limit,),
    ).fetchall()
    requests: dict[int, dict[str, int]] = {row[0]: {} for row in rows}
    if rows:
        for run_id, category, count in connection.execute(
            "SELECT run_id, category, requests FROM run_requests WHERE run_id >= ? ORDER BY category",
            (rows[-1][0],),
        ):
            if run_id in requests:
                requests[run_id][category] = count
    return [
        RunHistory(
            run_id=run_id,
            started_at=datetime.fromisoformat(started),
            finished_at=datetime.fromisoformat(finished),
            first_event=_parse_time(first),
            last_event=_parse_time(last),
            files=files,
            bytes=size,
            lines=lines,
            requests=requests[run_id],
            pending_dropped=dropped,
        )
        for run_id, started, finished, first, last, files, size, lines, dropped in rows
    ]


def _observe(path: Path) -> _Observed | str:
    """Identity and first content bytes of one file, or why they cannot be had."""
    for _attempt in range(_OBSERVE_ATTEMPTS):
        try:
            before = os.stat(path)
            stream, compression = open_decoded(Source(str(path), path))
            with stream:
                head = _read_head(stream)
            after = os.stat(path)
        except SourceReadError as error:
            return error.reason
        except (OSError, EOFError, ValueError) as error:  # gone, a broken archive
            return f"read failed: {error}"
        # A file rotated into this name while it was read is looked at again.
        if (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino):
            return _Observed(path, after.st_dev, after.st_ino, after.st_size, compression, head)
    return "replaced while being read, again and again"


def _read_head(stream: io.BufferedIOBase | object) -> bytes:
    parts: list[bytes] = []
    wanted = FINGERPRINT_BYTES
    while wanted > 0:
        part = stream.read(wanted)  # type: ignore[attr-defined]
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def _plan(
    seen: _Observed, reason: PlanReason, start: int, entry: _KnownFile | None, known_as: str | None = None
) -> ReadPlan:
    if reason == PlanReason.DUPLICATE:
        end: int | None = start
    elif seen.compression == "none":
        end = _last_line_end(seen.path, start, seen.size)
    else:
        end = None
    if known_as is None and entry is not None and entry.path != _stored_path(seen.path):
        known_as = entry.path
    return ReadPlan(
        path=seen.path,
        reason=reason,
        start=start,
        end=end,
        compression=seen.compression,
        known_as=known_as,
        device=seen.device,
        inode=seen.inode,
        size=seen.size,
        fingerprint=seen.fingerprint(),
        fingerprint_length=len(seen.head),
        file_id=None if entry is None else entry.file_id,
    )


def _stored_path(path: Path) -> str:
    # Absolute, so that a run from another working directory still finds its files by name.
    return os.path.abspath(path)


def _last_line_end(path: Path, start: int, size: int) -> int:
    """The offset just after the last newline in ``[start, size)``, or ``start`` if none."""
    try:
        with open(path, "rb") as stream:
            position = size
            while position > start:
                chunk_start = max(start, position - _TAIL_SEARCH_BYTES)
                stream.seek(chunk_start)
                newline = stream.read(position - chunk_start).rfind(b"\n")
                if newline >= 0:
                    return chunk_start + newline + 1
                position = chunk_start
    except OSError:
        pass  # the read that follows reports it
    return start


def _check_read(read: FileRead) -> None:
    plan = read.plan
    if plan.reads_nothing:
        if read.end != plan.start and plan.reason != PlanReason.UNREADABLE:
            raise ValueError(f"{plan.path}: nothing was to be read, yet offset {read.end} is reported")
        return
    if read.end < plan.start or (plan.end is not None and read.end > plan.end):
        raise ValueError(f"{plan.path}: offset {read.end} is outside the planned [{plan.start}, {plan.end}]")


def _store_file(connection: sqlite3.Connection, read: FileRead) -> int | None:
    """Record how far one file was read; its row id (None for a file not stored)."""
    plan = read.plan
    if plan.reason in (PlanReason.DUPLICATE, PlanReason.UNREADABLE):
        return None
    values = (
        _stored_path(plan.path),
        plan.fingerprint,
        plan.fingerprint_length,
        plan.device,
        plan.inode,
        plan.compression,
        plan.size,
        read.end,
    )
    if plan.file_id is None:
        return connection.execute(
            "INSERT INTO files (path, fingerprint, fingerprint_length, device, inode, compression,"
            " size, offset, missing_runs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            values,
        ).lastrowid
    else:
        connection.execute(
            "UPDATE files SET path = ?, fingerprint = ?, fingerprint_length = ?, device = ?, inode = ?,"
            " compression = ?, size = ?, offset = ?, missing_runs = 0 WHERE id = ?",
            (*values, plan.file_id),
        )
        return plan.file_id


def _pending_blob(pending: pl.DataFrame | None) -> tuple[bytes | None, int, int]:
    """Arrow IPC bytes of the newest ``MAX_PENDING_RECORDS`` records, how many were kept, and
    how many were dropped over the bound."""
    if pending is None or pending.height == 0:
        return None, 0, 0
    dropped = max(0, pending.height - MAX_PENDING_RECORDS)
    kept = pending.tail(MAX_PENDING_RECORDS)
    buffer = io.BytesIO()
    kept.write_ipc(buffer, compression="zstd")
    return buffer.getvalue(), kept.height, dropped


def _time_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    try:
        # No symlink followed: a root cron job must not be steered into truncating another file.
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise StateError(f"{lock_path}: cannot open the lock file: {error.strerror or error}") from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = _lock_owner(fd)
        os.close(fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise StateLockedError(path, holder) from error
        raise StateError(f"{lock_path}: cannot lock: {error.strerror or error}") from error
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _lock_owner(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if path.is_dir():
        raise StateError(f"{path}: is a directory, not a state file")
    try:
        if read_only:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        else:
            if not path.exists():
                # Pending records quote log lines: the state is readable by its owner only.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
            # Transactions are begun and committed explicitly (isolation_level None).
            connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            connection.execute("PRAGMA journal_mode = DELETE")
            connection.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise StateError(f"{path}: not a logscan state file ({error})") from error
        raise StateError(f"{path}: cannot open the state: {error}") from error
    except OSError as error:
        raise StateError(f"{path}: cannot open the state: {error.strerror or error}") from error
    return connection


def _schema_version(path: Path, connection: sqlite3.Connection) -> int:
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise StateError(f"{path}: not a logscan state file ({error})") from error
    if version == 0 and tables:
        raise StateError(f"{path}: not a logscan state file (an SQLite database with other tables)")
    return version


def _create_v1(connection: sqlite3.Connection) -> None:
    # Statement by statement: executescript would commit the migration's transaction first.
    statements = (
        """CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            fingerprint BLOB NOT NULL,
            fingerprint_length INTEGER NOT NULL,
            device INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            compression TEXT NOT NULL,
            size INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            missing_runs INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX files_by_inode ON files (device, inode)",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            first_event TEXT,
            last_event TEXT,
            files INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            lines INTEGER NOT NULL,
            pending_dropped INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE run_requests (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            category TEXT NOT NULL,
            requests INTEGER NOT NULL,
            PRIMARY KEY (run_id, category)
        )""",
        """CREATE TABLE pending (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            records INTEGER NOT NULL,
            frame BLOB NOT NULL
        )""",
    )
    for statement in statements:
        connection.execute(statement)


# MIGRATIONS[n] upgrades a state of schema version n to n + 1 (0: an empty file).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_create_v1,)
assert len(MIGRATIONS) == SCHEMA_VERSION


def _migrate(path: Path, connection: sqlite3.Connection) -> None:
    version = _schema_version(path, connection)
    if version > SCHEMA_VERSION:
        raise StateSchemaError(path, version)
    for step in range(version, SCHEMA_VERSION):
        try:
            connection.execute("BEGIN IMMEDIATE")
            MIGRATIONS[step](connection)
            connection.execute(f"PRAGMA user_version = {step + 1}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
