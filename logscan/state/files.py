"""File identity for incremental scans: what each current file is (by fingerprint and inode,
see the package docstring) and where reading it starts and ends. Files only; no database."""

from __future__ import annotations

import hashlib
import lzma
import os
import stat
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import zstandard
from isal.isal_zlib import IsalError

from logscan.compression import failure_under
from logscan.inputs import ReadPolicy, Source, SourceReadError, opened

FINGERPRINT_BYTES = 4096
_TAIL_SEARCH_BYTES = 64 * 1024
_OBSERVE_ATTEMPTS = 3
# What a decompressor may raise on a broken archive, past the checks made on opening.
HEAD_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    lzma.LZMAError,
    zlib.error,
    IsalError,
    zstandard.ZstdError,
)


class PlanReason(StrEnum):
    NEW = "new"
    CONTINUED = "continued"
    ROTATED = "rotated"  # same file, new name
    TRUNCATED = "truncated"
    COPIED = "copied"
    COMPRESSED = "compressed"  # a compressed copy of a known file
    DUPLICATE = "duplicate"  # the same content as another file of this run
    REPLACED = "replaced"  # an object under a known key with other content
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
    lines_before: int = 0  # lines of the content before ``start``: the first read is line + 1

    @property
    def reads_nothing(self) -> bool:
        return self.reason in (PlanReason.DUPLICATE, PlanReason.UNREADABLE) or self.start == self.end

    def is_same_file(self, status: os.stat_result) -> bool:
        """Whether an opened file (its ``os.fstat``) is the one planned, not a file rotated
        into its name since."""
        return (status.st_dev, status.st_ino) == (self.device, self.inode)


@dataclass(frozen=True)
class KnownFile:
    """A file as the state knows it from the last run that saw it."""

    file_id: int
    path: str
    fingerprint: bytes
    fingerprint_length: int
    device: int
    inode: int
    offset: int
    lines: int = 0  # before ``offset``


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

    def __init__(self, known: Sequence[KnownFile]) -> None:
        self._by_inode: dict[tuple[int, int], list[KnownFile]] = {}
        self._by_fingerprint: dict[tuple[int, bytes], list[KnownFile]] = {}
        for entry in known:
            self._by_inode.setdefault((entry.device, entry.inode), []).append(entry)
            self._by_fingerprint.setdefault((entry.fingerprint_length, entry.fingerprint), []).append(entry)
        # A fingerprint taken of a short file covers fewer bytes: hash each length once per file.
        self._lengths = sorted({length for length, _digest in self._by_fingerprint})
        self._claimed: set[int] = set()

    def same_inode(self, seen: _Observed) -> list[KnownFile]:
        return self._by_inode.get((seen.device, seen.inode), [])

    def same_file(self, seen: _Observed) -> list[KnownFile]:
        """Known files of this inode whose content this one starts with. Not an empty one:
        its inode alone would decide, and a freed inode is soon reused (by a copy of another
        known file, say, which must continue that file's offset)."""
        return [k for k in self.same_inode(seen) if self._starts(seen, k)]

    def same_content(self, seen: _Observed) -> list[KnownFile]:
        """Known files, under any inode, whose content this one starts with (an empty
        fingerprint says nothing about the content, and matches nothing)."""
        found: list[KnownFile] = []
        for length in self._lengths:
            if 0 < length <= len(seen.head):
                found.extend(self._by_fingerprint.get((length, seen.fingerprint(length)), []))
        return sorted(found, key=lambda k: (-k.offset, k.file_id))

    @staticmethod
    def _starts(seen: _Observed, known: KnownFile) -> bool:
        length = known.fingerprint_length
        return 0 < length <= len(seen.head) and seen.fingerprint(length) == known.fingerprint

    def claim(self, candidates: list[KnownFile]) -> KnownFile | None:
        entry = next((k for k in candidates if k.file_id not in self._claimed), None)
        if entry is not None:
            self._claimed.add(entry.file_id)
        return entry


def plan_reads(known_files: Sequence[KnownFile], paths: Sequence[Path | str]) -> list[ReadPlan]:
    """Where to start reading each of ``paths`` (in their order), and why, given the files
    the state knows."""
    known = _KnownFiles(known_files)
    observed = [_observe(Path(path)) for path in paths]
    plans: dict[int, ReadPlan] = {
        number: ReadPlan(Path(paths[number]), PlanReason.UNREADABLE, error=seen)
        for number, seen in enumerate(observed)
        if isinstance(seen, str)
    }
    readable = [(number, seen) for number, seen in enumerate(observed) if not isinstance(seen, str)]
    by_path = {seen.path: seen for _, seen in readable}
    # The same file under its inode first, so that a copy cannot claim a file still there.
    for number, seen in readable:
        entry = known.claim(known.same_file(seen))
        if entry is None:
            continue
        if seen.compression == "none" and seen.size < entry.offset:
            plans[number] = _plan(seen, PlanReason.TRUNCATED, 0, entry)
        else:
            moved = entry.path != stored_path(seen.path)
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
            # Another file of this run took the known file: this one is a duplicate only if it
            # holds what that one holds, not merely the same short start (a file that was a
            # few bytes long when last seen).
            ids = {k.file_id for k in matching}
            twin = next(plan for plan in plans.values() if plan.file_id in ids)
            if by_path[twin.path].head == seen.head:
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
        # An empty file known under this inode: its row is reused, whatever it holds now (it
        # is read from 0 either way), so that an empty log does not leave a row per run.
        empty = known.claim([k for k in known.same_inode(seen) if k.fingerprint_length == 0])
        if empty is not None and not seen.head:
            moved = empty.path != stored_path(seen.path)
            reason = PlanReason.ROTATED if moved else PlanReason.CONTINUED
        else:
            reason = PlanReason.TRUNCATED if shrunk else PlanReason.NEW
        plans[number] = planned[(seen.device, seen.inode)] = _plan(seen, reason, 0, empty)
    return [plans[number] for number in range(len(observed))]


def _observe(path: Path) -> _Observed | str:
    """Identity and first content bytes of one file, or why they cannot be had."""
    for _attempt in range(_OBSERVE_ATTEMPTS):
        try:
            before = os.stat(path)
            if not stat.S_ISREG(before.st_mode):
                # A FIFO or a device has no offsets to come back to (and opening a FIFO waits).
                return "not a regular file: it has no place to continue from"
            with opened(Source(str(path), path), ReadPolicy(binary=True)) as found:
                head, compression = read_head(found.stream), found.compression
                # A damaged archive ends its stream early; a fingerprint needs its first bytes.
                damage = failure_under(found.decoded)
                if damage is not None and len(head) < FINGERPRINT_BYTES:
                    return f"read failed: {damage}"
            after = os.stat(path)
        except SourceReadError as error:
            return error.reason
        except HEAD_READ_ERRORS as error:  # gone, or a broken archive
            return f"read failed: {error}"
        # A file rotated into this name while it was read is looked at again.
        if (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino):
            return _Observed(path, after.st_dev, after.st_ino, after.st_size, compression, head)
    return "replaced while being read, again and again"


def read_head(stream: BinaryIO) -> bytes:
    parts: list[bytes] = []
    wanted = FINGERPRINT_BYTES
    while wanted > 0:
        part = stream.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def _plan(
    seen: _Observed, reason: PlanReason, start: int, entry: KnownFile | None, known_as: str | None = None
) -> ReadPlan:
    if reason == PlanReason.DUPLICATE:
        end: int | None = start
    elif seen.compression == "none":
        end = _last_line_end(seen.path, start, seen.size)
    else:
        end = None
    if known_as is None and entry is not None and entry.path != stored_path(seen.path):
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
        lines_before=entry.lines if entry is not None and start > 0 else 0,
    )


def stored_path(path: Path) -> str:
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
