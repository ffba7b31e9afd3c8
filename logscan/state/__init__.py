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
    Of the file for plain files, of decompressed content for compressed ones, with the count
    of lines before them (``ReadPlan.lines_before``), so that a continued file's lines keep
    their numbers. A plain file is
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

Identity of an object (s3://bucket/key)
    An object is known by its URL with its ETag and size, as listed (see ``objects.py``): the
    same three are the object read last time, not read again; another ETag under a known key
    whose first bytes still have the stored fingerprint and which is longer is a growing log
    uploaded again, continued from its offset; other content under a known key is read whole.
    A known ETag and size under another key is a copy (a ``duplicate``, not read) or, when the
    old key is gone, the same object moved. Objects are committed with the files, in the same
    transaction.

Files that disappear are kept (a rotated file may come back compressed) and forgotten after
``FORGET_AFTER_MISSING_RUNS`` runs without them; so are objects no longer listed.

The history of runs is never pruned: each run's counts per cause category are kept, and
``StateDB.totals`` adds them up for counters that only grow from run to run.

The schema is described in ``storage.py``.
"""

from logscan.state.db import (
    FORGET_AFTER_MISSING_RUNS,
    MAX_PENDING_RECORDS,
    CategoryCounts,
    CommitResult,
    FileRead,
    Run,
    RunHistory,
    StateDB,
    read_history,
)
from logscan.state.files import FINGERPRINT_BYTES, PlanReason, ReadPlan
from logscan.state.objects import ObjectPlan
from logscan.state.storage import SCHEMA_VERSION, StateError, StateLockedError, StateSchemaError

__all__ = [
    "FINGERPRINT_BYTES",
    "FORGET_AFTER_MISSING_RUNS",
    "MAX_PENDING_RECORDS",
    "SCHEMA_VERSION",
    "CategoryCounts",
    "CommitResult",
    "FileRead",
    "ObjectPlan",
    "PlanReason",
    "ReadPlan",
    "Run",
    "RunHistory",
    "StateDB",
    "StateError",
    "StateLockedError",
    "StateSchemaError",
    "read_history",
]
