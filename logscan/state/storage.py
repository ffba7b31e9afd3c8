"""Opening a state file: the run lock, the SQLite connection, the schema and its migrations.

Schema (``PRAGMA user_version`` = ``SCHEMA_VERSION``; migrations upgrade older files, a newer
one is refused with ``StateSchemaError``)::

    files(id, path, fingerprint BLOB, fingerprint_length, device, inode, compression,
          size, offset, missing_runs, lines)
        one row per known file: its identity, its on-disk size, the content offset counted
        up to at the last run and the lines before it (so that a continued file's lines keep
        their numbers), and how many runs in a row have not seen it
    runs(id, started_at, finished_at, first_event, last_event, files, bytes, lines,
         pending_dropped)
        one row per committed run: times ISO 8601 UTC (event times may be NULL), the input
        figures, and the pending records dropped over the bound
    run_requests(run_id, category, requests)
        that run's failed requests per cause category
    run_records(run_id, category, side, records)
        the 400 records those requests left, per category and side (server or client)
    run_other_requests(run_id, category, requests)
        the 400s the applications answered themselves, per category
    pending(id = 1, records, frame BLOB)
        records waiting for a join partner, a Polars frame as Arrow IPC bytes
    objects(id, url UNIQUE, etag, size, fingerprint BLOB, fingerprint_length, offset, lines,
            missing_runs)
        one row per known object in object storage (version 4): its URL (bucket and key),
        ETag and size as listed, the fingerprint of its first bytes (decompressed), the
        content offset counted up to and the lines before it, and how many runs in a row
        have not listed it
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from logscan.errors import ExitCode, LogscanError

SCHEMA_VERSION = 4


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


def lock(path: Path) -> int:
    """Take the run lock of the state at ``path``: the open lock file, held until closed."""
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


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
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


def schema_version(path: Path, connection: sqlite3.Connection) -> int:
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


def _add_line_counts(connection: sqlite3.Connection) -> None:
    # Version 1 did not count lines: its files' later lines are numbered from their offset on.
    connection.execute("ALTER TABLE files ADD COLUMN lines INTEGER NOT NULL DEFAULT 0")


def _add_record_counts(connection: sqlite3.Connection) -> None:
    # Runs stored before version 3 kept their requests alone: they add nothing to these tables,
    # so the totals of records and other 400s count from the upgrade on.
    connection.execute(
        """CREATE TABLE run_records (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            category TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('server', 'client')),
            records INTEGER NOT NULL,
            PRIMARY KEY (run_id, category, side)
        )"""
    )
    connection.execute(
        """CREATE TABLE run_other_requests (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            category TEXT NOT NULL,
            requests INTEGER NOT NULL,
            PRIMARY KEY (run_id, category)
        )"""
    )


def _add_objects(connection: sqlite3.Connection) -> None:
    connection.execute(
        """CREATE TABLE objects (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            etag TEXT,
            size INTEGER NOT NULL,
            fingerprint BLOB NOT NULL,
            fingerprint_length INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            lines INTEGER NOT NULL,
            missing_runs INTEGER NOT NULL DEFAULT 0
        )"""
    )
    connection.execute("CREATE INDEX objects_by_etag ON objects (etag, size)")


# MIGRATIONS[n] upgrades a state of schema version n to n + 1 (0: an empty file).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_v1,
    _add_line_counts,
    _add_record_counts,
    _add_objects,
)
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(path: Path, connection: sqlite3.Connection) -> None:
    version = schema_version(path, connection)
    if version > SCHEMA_VERSION:
        raise StateSchemaError(path, version)
    for step in range(version, SCHEMA_VERSION):
        with transaction(path, connection):
            MIGRATIONS[step](connection)
            connection.execute(f"PRAGMA user_version = {step + 1}")


@contextlib.contextmanager
def transaction(path: Path, connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed whole, or rolled back whole (on any exception, and by
    SQLite itself from its journal when the process dies inside it)."""
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("COMMIT")
    except BaseException as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise StateError(f"{path}: cannot write the state: {error}") from error
        raise
