"""The state database of a run: ``StateDB`` (plan, commit, pending records, history) and the
history of runs read by others (``read_history``)."""

from __future__ import annotations

import io
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from logscan.state.files import KnownFile, PlanReason, ReadPlan, plan_reads, stored_path
from logscan.state.objects import KnownObject, ObjectPlan, plan_objects
from logscan.state.storage import (
    SCHEMA_VERSION,
    StateError,
    StateSchemaError,
    connect,
    lock,
    migrate,
    schema_version,
    transaction,
)

if TYPE_CHECKING:
    import polars as pl

    from logscan.inputs import Source

# A rotated file missing from a few runs (a glob that skipped it, a mount not there) is still
# known when it comes back, compressed or not; after a week of nightly runs it is gone.
FORGET_AFTER_MISSING_RUNS = 7
# Partners of a request arrive within seconds of each other, so records that waited a whole
# run are rarely joined; the bound keeps the state small however noisy a night was.
MAX_PENDING_RECORDS = 10_000

_Key = TypeVar("_Key")


@dataclass(frozen=True)
class FileRead:
    """What a run counted of one planned file (or object): its lines up to content offset
    ``end``, and how many lines of the file that is (0 when none was read: those before
    ``plan.start``)."""

    plan: ReadPlan | ObjectPlan
    end: int
    lines: int = 0
    # Read to its planned end. An object read part-way keeps its offset but not its ETag, so
    # that the next run continues it rather than take it for read.
    complete: bool = True


@dataclass(frozen=True)
class CategoryCounts:
    """What is counted per cause category: Ollama's failed requests, the 400 records they left
    per side (``(category, "server" | "client")``), and the 400s the applications answered
    themselves. Categories counted zero are left out."""

    requests: Mapping[str, int] = field(default_factory=dict)
    records: Mapping[tuple[str, str], int] = field(default_factory=dict)
    other_requests: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: CategoryCounts) -> CategoryCounts:
        return CategoryCounts(
            _added(self.requests, other.requests),
            _added(self.records, other.records),
            _added(self.other_requests, other.other_requests),
        )


def _added(first: Mapping[_Key, int], second: Mapping[_Key, int]) -> dict[_Key, int]:
    return {key: first.get(key, 0) + second.get(key, 0) for key in dict.fromkeys([*first, *second])}


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
    # Records that would have waited but were counted at once, over MAX_PENDING_RECORDS.
    pending_over_bound: int = 0
    records: Mapping[tuple[str, str], int] = field(default_factory=dict)  # per (category, side)
    other_requests: Mapping[str, int] = field(default_factory=dict)  # the applications' own 400s


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
    """What a commit stored: the run's id, the pending records kept and dropped over the
    bound, and the known files forgotten after too many runs without them."""

    run_id: int
    pending_kept: int
    pending_dropped: int
    files_forgotten: int


class StateDB:
    """An open, locked state file. Use as a context manager, or call ``close``."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock_fd: int) -> None:
        self.path = path
        self._connection = connection
        self._lock_fd = lock_fd
        self._planned: frozenset[ReadPlan | ObjectPlan] = frozenset()

    @classmethod
    def open(cls, path: Path | str) -> StateDB:
        """Lock the state at ``path`` (failing at once if another run holds it), then open it,
        creating or upgrading it as needed."""
        path = Path(path)
        lock_fd = lock(path)
        try:
            connection = connect(path, read_only=False)
            try:
                migrate(path, connection)
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
        rows = self._connection.execute(
            "SELECT id, path, fingerprint, fingerprint_length, device, inode, offset, lines FROM files"
            " ORDER BY offset DESC, id"
        )
        plans = plan_reads([KnownFile(*row) for row in rows], paths)
        self._planned = frozenset(plans)
        return plans

    def plan_objects(self, listed: Sequence[Source]) -> list[ObjectPlan]:
        """Where to start reading each listed object (``Source.remote``), and why; with
        ``plan``, before either's reads are committed."""
        rows = self._connection.execute(
            "SELECT id, url, etag, size, fingerprint, fingerprint_length, offset, lines"
            " FROM objects ORDER BY id"
        )
        plans = plan_objects([KnownObject(*row) for row in rows], listed)
        self._planned = self._planned | frozenset(plans)
        return plans

    def pending(self) -> pl.DataFrame:
        """The records the last run left waiting for a partner (an empty frame if none)."""
        import polars as pl  # noqa: PLC0415  # a run without pending records never needs it

        row = self._connection.execute("SELECT frame FROM pending WHERE id = 1").fetchone()
        return pl.read_ipc(io.BytesIO(row[0])) if row else pl.DataFrame()

    def history(self, limit: int | None = None) -> list[RunHistory]:
        """Stored runs, newest first."""
        return _history(self._connection, limit)

    def totals(self) -> CategoryCounts:
        """The counts of every stored run added up (runs stored before schema version 3 kept
        their requests only)."""
        connection = self._connection
        return CategoryCounts(
            requests=dict(
                connection.execute(
                    "SELECT category, SUM(requests) FROM run_requests GROUP BY category ORDER BY category"
                ).fetchall()
            ),
            records={
                (category, side): count
                for category, side, count in connection.execute(
                    "SELECT category, side, SUM(records) FROM run_records GROUP BY category, side"
                    " ORDER BY category, side DESC"
                )
            },
            other_requests=dict(
                connection.execute(
                    "SELECT category, SUM(requests) FROM run_other_requests GROUP BY category"
                    " ORDER BY category"
                ).fetchall()
            ),
        )

    def commit(self, run: Run) -> CommitResult:
        """Write every file's new offset, the pending records and the run's history row, in
        one transaction. ``run.files`` holds plans of this state's last ``plan``; a file
        planned but left out keeps its offset (it is read again next time) and counts as not
        seen."""
        plans = [read.plan for read in run.files]
        if len(set(plans)) < len(plans) or not set(plans) <= self._planned:
            raise ValueError("commit takes each plan of the last plan() once, and nothing else")
        for read in run.files:
            _check_read(read)
        for moment in (run.started_at, run.finished_at, run.first_event, run.last_event):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"run times must carry their time zone, not {moment.isoformat()}")
        pending_blob, kept, dropped = _pending_blob(run.pending)
        connection = self._connection
        with transaction(self.path, connection):
            files = [read for read in run.files if isinstance(read.plan, ReadPlan)]
            # Known objects first: one moved to another key frees its old key for a new one.
            objects = sorted(
                (read for read in run.files if isinstance(read.plan, ObjectPlan)),
                key=lambda read: read.plan.object_id is None,
            )
            forgotten = _age(connection, "files", {_store_file(connection, read) for read in files})
            forgotten += _age(connection, "objects", {_store_object(connection, read) for read in objects})
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
                    dropped + run.pending_over_bound,
                ),
            ).lastrowid
            connection.executemany(
                "INSERT INTO run_requests (run_id, category, requests) VALUES (?, ?, ?)",
                [(run_id, category, count) for category, count in sorted(run.requests.items())],
            )
            connection.executemany(
                "INSERT INTO run_records (run_id, category, side, records) VALUES (?, ?, ?, ?)",
                [(run_id, category, side, count) for (category, side), count in sorted(run.records.items())],
            )
            connection.executemany(
                "INSERT INTO run_other_requests (run_id, category, requests) VALUES (?, ?, ?)",
                [(run_id, category, count) for category, count in sorted(run.other_requests.items())],
            )
            connection.execute("DELETE FROM pending")
            if pending_blob is not None:
                connection.execute(
                    "INSERT INTO pending (id, records, frame) VALUES (1, ?, ?)", (kept, pending_blob)
                )
        assert run_id is not None
        self._planned = frozenset()  # the offsets have moved on: those plans are spent
        return CommitResult(run_id, kept, dropped, forgotten)


def read_history(path: Path | str, limit: int | None = None) -> list[RunHistory]:
    """The runs stored in the state at ``path``, newest first, read without taking the run
    lock (a run's commit is one transaction: this sees the state before it or after it)."""
    path = Path(path)
    if not path.is_file():
        raise StateError(f"{path}: no state file there")
    connection = connect(path, read_only=True)
    try:
        version = schema_version(path, connection)
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


def _check_read(read: FileRead) -> None:
    plan = read.plan
    name = plan.path if isinstance(plan, ReadPlan) else plan.url
    if plan.reads_nothing:
        if read.end != plan.start:
            raise ValueError(f"{name}: nothing was to be read, yet offset {read.end} is reported")
        return
    if read.end < plan.start or (plan.end is not None and read.end > plan.end):
        raise ValueError(f"{name}: offset {read.end} is outside the planned [{plan.start}, {plan.end}]")


def _age(connection: sqlite3.Connection, table: str, seen: set[int | None]) -> int:
    """One more run without each row of ``table`` (files or objects) not ``seen``; how many
    are forgotten for it."""
    missing = [(row[0],) for row in connection.execute(f"SELECT id FROM {table}") if row[0] not in seen]
    connection.executemany(f"UPDATE {table} SET missing_runs = missing_runs + 1 WHERE id = ?", missing)
    return connection.execute(
        f"DELETE FROM {table} WHERE missing_runs >= ?",
        (FORGET_AFTER_MISSING_RUNS,),
    ).rowcount


def _store_object(connection: sqlite3.Connection, read: FileRead) -> int | None:
    """Record how far one object was read; its row id (None for an object not stored)."""
    plan = read.plan
    assert isinstance(plan, ObjectPlan)
    if plan.reason in (PlanReason.DUPLICATE, PlanReason.UNREADABLE):
        return None
    values = (
        plan.url,
        plan.etag if read.complete else None,
        plan.size if read.complete else 0,
        plan.fingerprint,
        plan.fingerprint_length,
        read.end,
        max(read.lines, plan.lines_before),
    )
    # An object moved to another key takes its row along; the key it left is free for another.
    if plan.object_id is not None:
        connection.execute("DELETE FROM objects WHERE url = ? AND id != ?", (plan.url, plan.object_id))
    return _upsert(connection, "objects", _OBJECT_COLUMNS, values, plan.object_id)


_OBJECT_COLUMNS = ("url", "etag", "size", "fingerprint", "fingerprint_length", "offset", "lines")
_FILE_COLUMNS = (
    "path", "fingerprint", "fingerprint_length", "device", "inode", "compression", "size", "offset", "lines",
)  # fmt: skip


def _upsert(
    connection: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    values: tuple[object, ...],
    row_id: int | None,
) -> int | None:
    """A new row of ``table`` (files or objects) seen this run, or the known ``row_id``
    updated; the row's id."""
    if row_id is None:
        placeholders = ", ".join("?" * len(columns))
        return connection.execute(
            f"INSERT INTO {table} ({', '.join(columns)}, missing_runs) VALUES ({placeholders}, 0)", values
        ).lastrowid
    assignments = ", ".join(f"{column} = ?" for column in columns)
    connection.execute(f"UPDATE {table} SET {assignments}, missing_runs = 0 WHERE id = ?", (*values, row_id))
    return row_id


def _store_file(connection: sqlite3.Connection, read: FileRead) -> int | None:
    """Record how far one file was read; its row id (None for a file not stored)."""
    plan = read.plan
    assert isinstance(plan, ReadPlan)
    if plan.reason in (PlanReason.DUPLICATE, PlanReason.UNREADABLE):
        return None
    values = (
        stored_path(plan.path),
        plan.fingerprint,
        plan.fingerprint_length,
        plan.device,
        plan.inode,
        plan.compression,
        plan.size,
        read.end,
        max(read.lines, plan.lines_before),
    )
    return _upsert(connection, "files", _FILE_COLUMNS, values, plan.file_id)


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
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
