"""What one input is, and opening it: through one descriptor, holes skipped, decompressed by
magic bytes, binary content told apart from text. Nothing here cuts lines."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from logscan import archives, compression
from logscan.errors import UsageError

if TYPE_CHECKING:
    from logscan.objectstore import RemoteObject

STDIN_NAME = "<stdin>"
# A file is binary, as grep decides, when its first block holds a NUL byte.
BINARY_PROBE_BYTES = 32 * 1024
# Per compressed file or archive member: a bomb stops here (8 GiB of zeros fit in 8 MB).
DEFAULT_MAX_DECOMPRESSED_BYTES = 4 * 1024**3
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class ReadPolicy:
    """How a scan treats what it finds."""

    follow_symlinks: bool = False  # links met inside folders (links named are always followed)
    binary: bool = False  # read binary files as text instead of skipping them
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES  # 0: no cap


@dataclass(frozen=True)
class Identity:
    """A file as the scan listed it: the same device and inode are the same file whatever its
    name is by now."""

    device: int
    inode: int
    size: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.device, self.inode)

    @classmethod
    def of(cls, status: os.stat_result) -> Identity:
        return cls(status.st_dev, status.st_ino, status.st_size)


@dataclass(frozen=True)
class Source:
    """One input: a file on disk, a member of an archive, standard input, or bytes held in
    memory (for rule examples); or a path that is reported instead of read (``skipped`` or
    ``unreadable`` says why)."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    # A part of an uncompressed file, [start, end) in bytes, widened to whole lines: the lines
    # that begin inside it. Line numbers then count from the part's first line.
    start: int = 0
    end: int | None = None
    member: str | None = None  # inside the archive at ``path``
    archive: str | None = None  # "zip" or "tar"
    identity: Identity | None = None  # as listed
    # A descriptor the scan holds open on the file (/proc/<pid>/fd/<n>): a part is read
    # through it, so that it is the file that was listed even once renamed or deleted.
    held_at: str | None = None
    named: bool = False  # given on the command line, not found in a folder
    skipped: str | None = None  # deliberately not read
    unreadable: str | None = None  # could not be read at all
    remote: RemoteObject | None = None  # an object in object storage (objectstore.py)

    def __post_init__(self) -> None:
        # Bytes of a file name that are not UTF-8 come from the OS as lone surrogates, which no
        # output (nor Polars) can hold: the name shows them as \xNN; ``path`` keeps the bytes.
        shown = self.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        object.__setattr__(self, "name", shown)

    @property
    def size(self) -> int | None:
        if self.data is not None:
            return len(self.data)
        if self.remote is not None:
            return self.remote.size
        if self.path is None or self.member is not None or self.skipped or self.unreadable:
            return None
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    @property
    def stored_bytes(self) -> int | None:
        """What the file holds on disk: a sparse file's holes are not read."""
        if self.data is not None or self.path is None or self.member is not None or self.size is None:
            return self.size
        try:
            status = self.path.stat()
        except OSError:
            return None
        return min(status.st_size, status.st_blocks * 512)


class SourceReadError(Exception):
    """One source could not be read (fully). The scan reports it and goes on."""

    def __init__(self, source: Source, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source.name}: {reason}")


class SkippedSourceError(SourceReadError):
    """A source deliberately not read (binary content, an archive not named as one...)."""


class FileReader(io.RawIOBase):
    """A regular file's bytes through one descriptor. Holes of a sparse file are skipped
    (SEEK_DATA), not read as zeros; a file that ends before ``expected_end`` (truncated while
    it is read) is noticed: ``shrunk`` is then by how many bytes."""

    def __init__(self, descriptor: int, expected_end: int, listed_size: int) -> None:
        self._descriptor = descriptor
        self._position = 0
        self._data_end = 0  # where the data under way ends (a hole, or the end of the file)
        self._expected_end = expected_end
        self._listed_size = listed_size
        self.hole_bytes = 0
        self.shrunk = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._descriptor

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._position = os.lseek(self._descriptor, offset, whence)
        self._data_end = self._position
        return self._position

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self._position >= self._data_end and not self._next_data():
            return 0
        wanted = min(len(buffer), self._data_end - self._position)
        size = os.preadv(self._descriptor, [memoryview(buffer)[:wanted]], self._position)
        if size == 0:
            self._at_end()
            return 0
        self._position += size
        return size

    def _next_data(self) -> bool:
        try:
            data = os.lseek(self._descriptor, self._position, os.SEEK_DATA)
            self._data_end = os.lseek(self._descriptor, data, os.SEEK_HOLE)
        except OSError as error:
            if error.errno == errno.ENXIO:  # only a hole, or nothing, from here on
                self._at_end()
                return False
            # No hole support here: all of it is data.
            data, self._data_end = self._position, sys.maxsize
        self.hole_bytes += data - self._position
        self._position = data
        return True

    def _at_end(self) -> None:
        size = os.fstat(self._descriptor).st_size
        if size > self._position:
            self.hole_bytes += size - self._position  # a hole at the end
            self._position = size
        if size < self._expected_end:
            self.shrunk = self._listed_size - size

    def close(self) -> None:
        if not self.closed:
            os.close(self._descriptor)
        super().close()


def open_file(source: Source) -> FileReader:
    """The source's file, opened once. A part is checked to be the file listed; one held open
    by the scan (``held_at``) is that file by construction, even renamed or deleted since."""
    assert source.path is not None
    target = source.held_at if source.held_at and os.path.exists(source.held_at) else source.path
    try:
        # Non-blocking, so that a FIFO put in the file's place does not hang the scan.
        descriptor = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        if error.errno == errno.ENOENT and source.identity is not None:
            raise SourceReadError(source, "vanished after it was listed (rotated or deleted)") from error
        raise SourceReadError(source, error.strerror or str(error)) from error
    status = os.fstat(descriptor)
    problem = None
    if not stat.S_ISREG(status.st_mode):
        problem = "not a regular file any more"
    elif source.end is not None and source.identity and Identity.of(status).key != source.identity.key:
        problem = "replaced by another file during the scan (rotated?): this part is not read"
    if problem:
        os.close(descriptor)
        raise SourceReadError(source, problem)
    os.set_blocking(descriptor, True)
    listed_size = source.identity.size if source.identity and source.end is not None else status.st_size
    expected_end = listed_size if source.end is None else min(source.end, listed_size)
    return FileReader(descriptor, expected_end, listed_size)


def _open_raw(source: Source, policy: ReadPolicy) -> tuple[BinaryIO, FileReader | None]:
    if source.data is not None:
        return io.BytesIO(source.data), None
    if source.remote is not None:
        return source.remote.open(source), None
    if source.path is None:
        return sys.stdin.buffer, None
    if source.member is not None:
        assert source.archive is not None
        identity = source.identity.inode if source.identity else 0
        try:
            member = archives.open_member(
                source.archive, source.path, source.member, identity, member_opener(source, policy)
            )
        except (*archives.ARCHIVE_ERRORS, *_DECODING_PROBLEMS) as error:
            raise SourceReadError(source, f"archive member not read: {error}") from error
        cap = policy.max_decompressed_bytes
        return compression.CappedReader(member, cap), None  # type: ignore[return-value]
    reader = open_file(source)
    return reader, reader  # type: ignore[return-value]


_DECODING_PROBLEMS = (*compression.DECODE_ERRORS, compression.DecodeError, compression.DecompressedCapError)


def member_opener(source: Source, policy: ReadPolicy | None = None) -> Callable[[], BinaryIO]:
    """Opens the archive at ``source.path`` decompressed, for reading its members."""
    cap = (policy or ReadPolicy()).max_decompressed_bytes

    def opener() -> BinaryIO:
        raw = open_file(Source(source.name, source.path))
        buffered = io.BufferedReader(raw)  # type: ignore[arg-type]
        kind = compression.compression_of(buffered.peek(compression.MAGIC_BYTES))
        return compression.decompressed(buffered, kind, cap)  # type: ignore[arg-type]

    return opener


@dataclass
class Opened:
    """A source opened for reading: its text as UTF-8 bytes, and what was found on the way."""

    stream: BinaryIO
    compression: str
    file: FileReader | None  # the file under it, when it is one
    decoded: BinaryIO  # the stream before any re-encoding: it knows why it ended, if early
    binary: bool = False

    def close(self) -> None:
        self.stream.close()


@contextlib.contextmanager
def opened(source: Source, policy: ReadPolicy) -> Iterator[Opened]:
    """``source`` open as a stream of UTF-8 bytes (decompressed, UTF-16 re-encoded)."""
    if source.unreadable:
        raise SourceReadError(source, source.unreadable)
    if source.skipped:
        raise SkippedSourceError(source, source.skipped)
    raw, file = _open_raw(source, policy)
    try:
        buffered = io.BufferedReader(raw, 2 * BINARY_PROBE_BYTES)  # type: ignore[arg-type]
        kind = compression.compression_of(buffered.peek(compression.MAGIC_BYTES))
        stream = compression.decompressed(buffered, kind, policy.max_decompressed_bytes)  # type: ignore[arg-type]
        head = _head(stream, BINARY_PROBE_BYTES)
    except OSError as error:
        raw.close()
        raise SourceReadError(source, error.strerror or str(error)) from error
    except _DECODING_PROBLEMS as error:
        raw.close()
        raise SourceReadError(source, f"read failed: {error}") from error
    result = Opened(stream, kind, file, stream)
    if head[:2] in _UTF16_BOMS:
        # Windows tools write UTF-16; re-encode so everything downstream sees UTF-8.
        text = io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="")
        result.stream = _Utf8Reencoder(text)  # type: ignore[assignment]
    else:
        result.binary = b"\x00" in head
    try:
        yield result
    finally:
        result.close()


def _head(stream: BinaryIO, size: int) -> bytes:
    """The first ``size`` bytes of a buffered stream (or all of it), without consuming them."""
    return stream.peek(size)[:size]  # type: ignore[attr-defined]


class _Utf8Reencoder(io.RawIOBase):
    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # Reading `size` characters yields up to 4 * size bytes, which is fine for block reads.
        return self._text.read(size if size > 0 else -1).encode("utf-8")

    def close(self) -> None:
        self._text.close()
        super().close()


_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2}
_SIZE_UNITS |= {"mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4}
_SIZE_UNITS |= {"tib": 1024**4}


def parse_size(text: str, option: str) -> int:
    """A byte count written as 4GiB, 500MB, 1e9 or 0."""
    number = text.strip().rstrip("bBiIkKmMgGtT")
    unit = text.strip()[len(number) :].lower()
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _SIZE_UNITS or value < 0:
        raise UsageError(f"{option} '{text}' is not a size such as 4GiB, 500MB or 0 (no cap)")
    return int(value * _SIZE_UNITS[unit])
