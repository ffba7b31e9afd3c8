"""Finding inputs, opening them (decompressing by magic bytes), and cutting them into blocks of
whole lines with 1-based line numbers. Nothing here interprets a line."""

from __future__ import annotations

import bz2
import glob
import io
import lzma
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import zstandard
from isal import igzip, isal_zlib

from logscan.errors import UsageError

if TYPE_CHECKING:
    import polars as pl

STDIN_NAME = "<stdin>"
DEFAULT_BLOCK_BYTES = 8 * 1024 * 1024

# Magic bytes rather than file names: rotated logs are often renamed (`server.log.1`) and
# compressed copies are not always suffixed.
_MAGIC_OPENERS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_REPLACEMENT_CHARACTER = "\ufffd".encode()
_READ_ERRORS = (
    OSError,  # gzip.BadGzipFile (a bad header or CRC) is one
    EOFError,
    ValueError,
    zlib.error,
    isal_zlib.IsalError,
    lzma.LZMAError,
    zstandard.ZstdError,
)
_COMPRESSED_PIECE_BYTES = 64 * 1024
_MAX_LINE_BYTES = 64 * 1024 * 1024
_MAX_SPLIT_LOOKAHEAD_LINES = 1000


@dataclass(frozen=True)
class Source:
    """One input: a file on disk, standard input, or bytes held in memory (for rule examples)."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    # A part of an uncompressed file, [start, end) in bytes, widened to whole lines: the lines
    # that begin inside it. Line numbers then count from the part's first line.
    start: int = 0
    end: int | None = None

    def __post_init__(self) -> None:
        # Bytes of a file name that are not UTF-8 come from the OS as lone surrogates, which no
        # output (nor Polars) can hold: the name shows them as \xNN; ``path`` keeps the bytes.
        shown = self.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        object.__setattr__(self, "name", shown)

    @property
    def size(self) -> int | None:
        if self.data is not None:
            return len(self.data)
        if self.path is None:
            return None
        try:
            return self.path.stat().st_size
        except OSError:
            return None


class SourceReadError(Exception):
    """One source could not be read (fully). The scan reports it and goes on."""

    def __init__(self, source: Source, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source.name}: {reason}")


@dataclass(frozen=True)
class LineBlock:
    """Consecutive whole lines of one source. ``lines`` is a String column; blank lines are
    null, so a row index always maps back to a line number."""

    first_line: int
    lines: pl.Series
    bytes_read: int
    compression: str
    # Lines with bytes that were not valid UTF-8 (or NUL), read with U+FFFD in their place.
    replaced_lines: int = 0


def expand(specs: Sequence[str]) -> list[Source]:
    """Turn command-line paths into sources: files, directories (recursive, hidden entries
    skipped), glob patterns, and ``-`` for standard input. Order is stable and duplicates are
    dropped, so a file named twice is read once."""
    sources: list[Source] = []
    seen: set[str] = set()

    def add(source: Source) -> None:
        key = str(source.path.resolve()) if source.path else source.name
        if key not in seen:
            seen.add(key)
            sources.append(source)

    for spec in specs:
        if spec == "-":
            add(Source(STDIN_NAME))
            continue
        path = Path(spec)
        if path.is_dir():
            for found in sorted(_walk(path)):
                add(Source(str(found), found))
        elif path.exists():
            add(Source(spec, path))
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            for directory in (Path(m) for m in matches if Path(m).is_dir()):
                files.extend(sorted(_walk(directory)))
            if not files:
                raise UsageError(f"no file matches the pattern '{spec}'")
            for found in files:
                add(Source(str(found), found))
        else:
            raise UsageError(f"path does not exist: '{spec}'")
    return sources


def _walk(directory: Path) -> Iterator[Path]:
    for entry in directory.rglob("*"):
        relative = entry.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if entry.is_file():
            yield entry


def _open_raw(source: Source) -> BinaryIO:
    if source.data is not None:
        return io.BytesIO(source.data)
    if source.path is None:
        return sys.stdin.buffer
    return open(source.path, "rb")


def open_decoded(source: Source) -> tuple[BinaryIO, str]:
    """Open a source as a UTF-8 byte stream; also name the compression found (or "none")."""
    try:
        raw = io.BufferedReader(_open_raw(source))  # type: ignore[arg-type]
        head = raw.peek(6)[:6]
    except OSError as error:
        raise SourceReadError(source, error.strerror or str(error)) from error
    compression = next((name for magic, name in _MAGIC_OPENERS if head.startswith(magic)), "none")
    stream: BinaryIO
    if compression == "gzip":
        # ISA-L inflates about 2.5 times as fast as zlib, with the same gzip file semantics.
        stream = igzip.IGzipFile(fileobj=raw)  # type: ignore[assignment]
    elif compression == "bzip2":
        stream = bz2.BZ2File(raw)  # type: ignore[assignment]
    elif compression == "xz":
        stream = lzma.LZMAFile(raw)  # type: ignore[assignment]  # noqa: SIM115
    elif compression == "zstd":
        stream = _ZstdReader(raw)  # type: ignore[assignment]
    else:
        stream = raw  # type: ignore[assignment]
    if compression != "none":
        stream = io.BufferedReader(stream)  # type: ignore[arg-type]
    try:
        head = stream.peek(2)[:2]  # type: ignore[attr-defined]
    except _READ_ERRORS as error:
        raise SourceReadError(source, f"read failed: {error}") from error
    if head in _UTF16_BOMS:
        # Windows tools write UTF-16; re-encode so everything downstream sees UTF-8.
        text = io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="")
        stream = _Utf8Reencoder(text)  # type: ignore[assignment]
    return stream, compression


class _ZstdReader(io.RawIOBase):
    """Frame-by-frame zstd decoding that notices a truncated last frame; the library's own
    stream reader ends silently there, which would lose lines without a word."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._frame = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame = False
        self._pending = b""
        self._offset = 0  # into _pending: what is before it was read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        while self._offset == len(self._pending):
            compressed = self._raw.read(_COMPRESSED_PIECE_BYTES)
            if not compressed:
                if self._in_frame:
                    raise zstandard.ZstdError("compressed data ends in the middle of a frame")
                return 0
            self._pending, self._offset = self._decode(compressed), 0
        size = min(len(buffer), len(self._pending) - self._offset)
        buffer[:size] = memoryview(self._pending)[self._offset : self._offset + size]
        self._offset += size
        return size

    def _decode(self, compressed: bytes) -> bytes:
        out = []
        while compressed:
            self._in_frame = True
            out.append(self._frame.decompress(compressed))
            if not self._frame.eof:
                break
            compressed = self._frame.unused_data
            self._frame = zstandard.ZstdDecompressor().decompressobj()
            self._in_frame = False
        return b"".join(out)


class _Utf8Reencoder(io.RawIOBase):
    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # Reading `size` characters yields up to 4 * size bytes, which is fine for block reads.
        return self._text.read(size if size > 0 else -1).encode("utf-8")


def read_blocks(source: Source, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[LineBlock]:
    """Yield blocks of whole lines. A read failure part-way (a truncated archive) raises
    SourceReadError after the lines read so far have been yielded."""
    stream, compression = open_decoded(source)
    carry = b""
    next_line = 1
    with stream:
        if source.end is not None:
            chunks = _range_chunks(stream, source.start, source.end, block_bytes)
        else:
            chunks = _chunks(source, stream, block_bytes, compressed=compression != "none")
        for chunk in chunks:
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < _MAX_LINE_BYTES:
                carry = data
                continue
            cut = cut or len(data)  # a "line" longer than any log line: cut it anyway
            # Chunks end at a line end (see _chunks): nothing to carry, and nothing to copy.
            carry, whole = (data[cut:], data[:cut]) if cut < len(data) else (b"", data)
            block = _to_block(whole, next_line, len(chunk), compression)
            next_line += block.lines.len()
            yield block
        if carry:
            yield _to_block(carry, next_line, 0, compression)


def _range_chunks(stream: BinaryIO, start: int, end: int, block_bytes: int) -> Iterator[bytes]:
    if start > 0:
        stream.seek(start - 1)
        if stream.read(1) != b"\n":
            stream.readline()  # the line under way at `start` belongs to the part before
    position = stream.tell()
    while position < end:
        chunk = stream.read(min(block_bytes, end - position))
        if not chunk:
            return
        if not chunk.endswith(b"\n"):
            # The line under way belongs to this part even where it runs past `end`.
            chunk += stream.readline(_MAX_LINE_BYTES)
        position += len(chunk)
        yield chunk


def split_points(path: Path, part_bytes: int, starts_record: Callable[[str], bool]) -> list[int]:
    """Offsets that cut a file into parts of about ``part_bytes``, each at the start of a line
    for which ``starts_record`` holds, so that no record is split between two parts (if none
    is found soon after the nominal offset, the file is not cut there)."""
    size = path.stat().st_size
    points = [0]
    with open(path, "rb") as stream:
        for nominal in range(part_bytes, size - part_bytes // 2, part_bytes):
            stream.seek(nominal)
            stream.readline()
            for _ in range(_MAX_SPLIT_LOOKAHEAD_LINES):
                at = stream.tell()
                line = stream.readline()
                if not line:
                    break
                if starts_record(line.decode("utf-8", "replace")):
                    if points[-1] < at:
                        points.append(at)
                    break
    return points


def _chunks(source: Source, stream: BinaryIO, block_bytes: int, *, compressed: bool) -> Iterator[bytes]:
    # A decompressor that fails part-way loses what it decoded in that call, so compressed
    # input is read in small pieces and what was decoded before a failure is still yielded.
    if compressed:
        # Its pieces are joined into each block, which holds the block twice for a moment.
        block_bytes //= 2
    piece_bytes = min(block_bytes, _COMPRESSED_PIECE_BYTES) if compressed else block_bytes
    pieces: list[bytes] = []
    size = 0
    block = b""
    while True:
        try:
            piece = stream.read(piece_bytes)
            if not piece:
                break
            size += len(piece)
            if size < block_bytes:
                pieces.append(piece)
                continue
            # `piece` let go, so that the block is referenced once and CPython extends it in
            # place below (a copy of the block costs a third of reading it).
            block, piece = (b"".join([*pieces, piece]) if pieces else piece), b""
            pieces.clear()
            if not block.endswith(b"\n"):
                # Blocks end at a line end: nothing is carried (and copied) into the next.
                block += stream.readline(_MAX_LINE_BYTES)
        except _READ_ERRORS as error:
            if block or pieces:
                yield b"".join([block, *pieces])
            raise SourceReadError(source, f"read failed: {error}") from error
        yield block
        block, size = b"", 0
    if pieces:
        yield b"".join(pieces)


def _to_block(data: bytes, first_line: int, bytes_read: int, compression: str) -> LineBlock:
    if first_line == 1:
        data = _without_bom(data)
    lines, replaced_lines = _decoded_lines(data)
    return LineBlock(first_line, lines, bytes_read, compression, replaced_lines)


def _without_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _decoded_lines(data: bytes) -> tuple[pl.Series, int]:
    """The lines of ``data``, and how many of them had bytes replaced by U+FFFD."""
    replaced = b"\x00" in data
    if replaced:
        # The line reader treats NUL as a field separator; NUL is never meaningful in a log line.
        data = data.replace(b"\x00", _REPLACEMENT_CHARACTER)
    # Imported here: worker processes are started before anything imports Polars (workers.py).
    import polars as pl  # noqa: PLC0415

    try:
        # Valid UTF-8 is the rule: checked in one pass, with nothing to replace or count.
        lines = _read_lines(data, "utf8")
    except pl.exceptions.ComputeError:
        lines, replaced = _read_lines(data, "utf8-lossy"), True
    return lines, int(lines.str.contains("\ufffd", literal=True).sum()) if replaced else 0


@dataclass(frozen=True)
class SmallFiles:
    """Whole small files read as one column of lines: one read for many files, which costs
    about what one read of a large file does. ``counts[i]`` lines come from the i-th file."""

    lines: pl.Series
    counts: list[int]
    replaced_lines: list[int]


def read_whole(source: Source) -> bytes:
    """All of an uncompressed source's bytes; SourceReadError if it cannot be read, or is
    compressed (a small archive may hold anything: it is read in blocks)."""
    stream, compression = open_decoded(source)
    with stream:
        if compression != "none":
            raise SourceReadError(source, f"{compression}-compressed")
        try:
            return stream.read()
        except _READ_ERRORS as error:
            raise SourceReadError(source, f"read failed: {error}") from error


def read_small_files(contents: Sequence[bytes]) -> SmallFiles:
    """The lines of several files' contents (as read_whole gives them), read together."""
    # A last line without a newline ends where its file does.
    whole = [_without_bom(data) for data in contents]
    whole = [data if not data or data.endswith(b"\n") else data + b"\n" for data in whole]
    counts = [data.count(b"\n") for data in whole]
    lines, replaced = _decoded_lines(b"".join(whole))
    per_file = [0] * len(whole)
    if replaced:
        hits = lines.str.contains("\ufffd", literal=True).fill_null(value=False)
        start = 0
        for number, count in enumerate(counts):
            per_file[number] = int(hits.slice(start, count).sum())
            start += count
    return SmallFiles(lines, counts, per_file)


def _read_lines(data: bytes, encoding: Literal["utf8", "utf8-lossy"]) -> pl.Series:
    import polars as pl  # noqa: PLC0415

    frame = pl.read_csv(
        data,
        has_header=False,
        separator="\x00",
        quote_char=None,
        schema={"line": pl.String},
        encoding=encoding,
        raise_if_empty=False,
    )
    return frame.get_column("line")
