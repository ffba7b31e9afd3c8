"""Inputs cut into blocks of whole lines with 1-based line numbers, every byte read accounted
for. Finding inputs is in finding.py, opening them in inputs.py. Nothing here interprets a
line."""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from logscan import archives, compression, finding, objectstore
from logscan.inputs import (
    BINARY_PROBE_BYTES,
    STDIN_NAME,
    Identity,
    ReadPolicy,
    SkippedSourceError,
    Source,
    SourceReadError,
    open_file,
    opened,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "STDIN_NAME",
    "Identity",
    "ReadPolicy",
    "SkippedSourceError",
    "Source",
    "SourceReadError",
    "expand",
]

DEFAULT_BLOCK_BYTES = 8 * 1024 * 1024
# Lines are matched on their first this many bytes; the rest is read past, not kept, and the
# line is counted as cut. Lines in one block longer than this are cut the same way.
# 256 KiB is five times journald's longest line (LineMax) and sixteen times Docker's.
MAX_LINE_BYTES = 256 * 1024
# Rows per block: 8 MiB of typical lines are about 80,000 of them.
MAX_LINES_PER_BLOCK = 256 * 1024
_REPLACEMENT_CHARACTER = "\ufffd".encode()
_READ_ERRORS = (*compression.DECODE_ERRORS, *archives.ARCHIVE_ERRORS)
_MAX_SPLIT_LOOKAHEAD_LINES = 1000
_DEFAULT_POLICY = ReadPolicy()
_CAP_OPTION = "--max-decompressed raises the cap"
_BINARY_SKIPPED = "binary file (NUL bytes in its first 32 KiB): not read (--binary reads it)"


def expand(
    specs: Sequence[str], policy: ReadPolicy | None = None, storage_options: Mapping[str, Any] | None = None
) -> list[Source]:
    """The sources of command-line paths (see finding.expand), object-store URLs among them
    (s3://bucket/prefix/, listed with ``storage_options``: see objectstore.py)."""
    if not any(objectstore.is_remote(spec) for spec in specs):
        return finding.expand(specs, policy)
    found: list[Source] = []
    for spec in specs:
        if objectstore.is_remote(spec):
            found += objectstore.expand(spec, storage_options or {})
        else:
            found += finding.expand([spec], policy)
    # A file or object named twice is read once, as finding.expand does for local paths.
    seen: set[object] = set()
    unique = []
    for source in found:
        key = (source.identity.key if source.identity else source.name, source.member)
        if key not in seen:
            seen.add(key)
            unique.append(source)
    return unique


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
    cut_lines: int = 0  # lines longer than MAX_LINE_BYTES, of which the head is here


@dataclass
class ReadCounts:
    """What reading one source took in, filled while it is read (also when it fails)."""

    bytes: int = 0  # decompressed bytes read, the rest of cut lines and a binary probe included
    hole_bytes: int = 0  # of a sparse file, skipped without reading
    lines: int = 0  # counted in the bytes: newlines, and a last line without one
    cut_lines: int = 0
    replaced_lines: int = 0
    compression: str = "none"
    # A binary file's probe was read and counted, and its lines are not scanned.
    skipped_lines: int = 0


def read_blocks(
    source: Source,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    policy: ReadPolicy = _DEFAULT_POLICY,
    counts: ReadCounts | None = None,
) -> Iterator[LineBlock]:
    """Yield blocks of whole lines. A read failure part-way (a truncated archive, a file
    that shrank) raises SourceReadError after the lines read so far have been yielded; a
    source that is not read (binary, a FIFO...) raises SkippedSourceError."""
    counts = counts if counts is not None else ReadCounts()
    with opened(source, policy) as reading:
        counts.compression = reading.compression
        if reading.binary and not policy.binary:
            _count_probe(reading.stream, counts)
            raise SkippedSourceError(source, _BINARY_SKIPPED)
        stream = reading.stream
        if source.end is not None:
            chunks = _range_chunks(stream, source.start, source.end, block_bytes)
        else:
            if source.start:
                _skip_content(source, stream, source.start)
            chunks = _chunks(source, stream, block_bytes, compressed=reading.compression != "none")
        try:
            yield from _blocks(chunks, counts)
        finally:
            if reading.file is not None:
                counts.hole_bytes += reading.file.hole_bytes
        failure = compression.failure_under(reading.decoded)
        if isinstance(failure, compression.DecompressedCapError):
            raise SourceReadError(
                source,
                f"stopped after {failure.cap:,} decompressed bytes (--max-decompressed raises the cap)",
            )
        if failure is not None:
            raise SourceReadError(source, f"read failed: {failure}")
        if reading.file is not None and reading.file.shrunk:
            raise SourceReadError(source, f"shrank by {reading.file.shrunk:,} bytes while it was read")


def _count_probe(stream: BinaryIO, counts: ReadCounts) -> None:
    probe = stream.read(BINARY_PROBE_BYTES)
    counts.bytes += len(probe)
    counts.lines += _line_count(probe)
    counts.skipped_lines += _line_count(probe)


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _blocks(chunks: Iterator[bytes], counts: ReadCounts) -> Iterator[LineBlock]:
    """Whole lines out of chunks of bytes. A line longer than MAX_LINE_BYTES is handed on as
    its head at once; its rest is read past with a search for its end, never held."""
    carry = b""
    cutting = False  # the rest of a line too long, whose head was handed on, is under way
    next_line = 1
    for chunk in chunks:
        counts.bytes += len(chunk)
        if cutting:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            data, cutting = chunk[end + 1 :], False  # that line was counted with its head
        else:
            data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        # Chunks end at a line end (see _chunks): nothing to carry, and nothing to copy.
        whole, carry = (data[:cut], data[cut:]) if cut < len(data) else (data, b"")
        for number, (piece, newlines) in enumerate(_line_bounded(whole)):
            block = _to_block(piece, next_line, 0 if number else len(chunk), counts, newlines=newlines)
            next_line += block.lines.len()
            yield block
        if len(carry) > MAX_LINE_BYTES:
            head, carry, cutting = carry[:MAX_LINE_BYTES], b"", True
            block = _to_block(head, next_line, 0, counts, head_cut=True)
            next_line += block.lines.len()
            yield block
    if carry:
        yield _to_block(carry, next_line, 0, counts)


def _line_bounded(data: bytes) -> Iterator[tuple[bytes, int | None]]:
    """``data`` in pieces of whole lines of about MAX_LINES_PER_BLOCK lines: a block of empty
    lines would otherwise be millions of rows. Each piece comes with its count of newlines
    where it is known already (a count is a pass over the block: it is not made twice)."""
    if not data:
        return
    lines = data.count(b"\n")
    if lines <= MAX_LINES_PER_BLOCK:
        yield data, lines
        return
    step = max(1, len(data) * MAX_LINES_PER_BLOCK // lines)
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + step) + 1
        if end <= start:
            end = data.find(b"\n", start + step) + 1 or len(data)
        yield data[start:end], None
        start = end


def _range_chunks(stream: BinaryIO, start: int, end: int, block_bytes: int) -> Iterator[bytes]:
    if start > 0:
        stream.seek(start - 1)
        if stream.read(1) != b"\n":
            # The line under way at `start` belongs to the part before (split points are at
            # line starts, so this is only a short way).
            _read_past_line(stream)
    position = stream.tell()
    while position < end:
        chunk = stream.read(min(block_bytes, end - position))
        if not chunk:
            return
        if not chunk.endswith(b"\n"):
            # The line under way belongs to this part even where it runs past `end`.
            chunk += stream.readline(MAX_LINE_BYTES)
        position = stream.tell()
        yield chunk
        if not chunk.endswith(b"\n") and position >= end:
            # A line longer than MAX_LINE_BYTES runs on past the part: read to its end.
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                yield rest
            if rest:
                yield rest


def _skip_content(source: Source, stream: BinaryIO, count: int) -> None:
    """Read past the first ``count`` bytes of content (decompressed: a compressed file cannot
    seek), which an earlier scan read; a continued file starts at a line start."""
    left = count
    try:
        while left > 0:
            skipped = len(stream.read(min(left, 1024 * 1024)))
            if not skipped:
                break
            left -= skipped
    except _READ_ERRORS as error:
        raise SourceReadError(source, f"read failed before byte {count:,}: {error}") from error
    if left:
        raise SourceReadError(source, f"ends before byte {count:,}, where the last run stopped")


def _read_past_line(stream: BinaryIO) -> None:
    while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
        pass


def split_points(source: Source, part_bytes: int, starts_record: Callable[[str], bool]) -> list[int]:
    """Offsets that cut a file (or an object in object storage) into parts of about
    ``part_bytes``, each at the start of a line for which ``starts_record`` holds, so that no
    record is split between two parts (if none is found in the lines soon after the nominal
    offset, the file is not cut there). Holes are passed over, and a line is looked at only up
    to MAX_LINE_BYTES."""
    if source.remote is not None:
        # A few small ranged reads, one per cut.
        with source.remote.open(source, read_ahead=MAX_LINE_BYTES) as raw:
            stream = io.BufferedReader(raw)  # type: ignore[arg-type]
            size = source.remote.size
            return _record_starts(stream, size, part_bytes, starts_record, lambda nominal: nominal)
    reader = open_file(source)
    size = source.identity.size if source.identity else os.fstat(reader.fileno()).st_size

    def data_from(nominal: int) -> int | None:
        try:
            data = os.lseek(reader.fileno(), nominal, os.SEEK_DATA)
        except OSError:
            return None  # a hole to the end, or no data: nothing to cut
        return data if data < nominal + part_bytes else None

    with reader, open(reader.fileno(), "rb", closefd=False) as stream:
        return _record_starts(stream, size, part_bytes, starts_record, data_from)


def _record_starts(
    stream: BinaryIO,
    size: int,
    part_bytes: int,
    starts_record: Callable[[str], bool],
    data_from: Callable[[int], int | None],
) -> list[int]:
    """split_points over a seekable stream; ``data_from`` is where the data at or after a
    nominal offset begins (None: no cut there)."""
    points = [0]
    for nominal in range(part_bytes, size - part_bytes // 2, part_bytes):
        data = data_from(nominal)
        if data is None:
            continue
        stream.seek(data)
        if not stream.readline(MAX_LINE_BYTES).endswith(b"\n"):
            continue
        for _ in range(_MAX_SPLIT_LOOKAHEAD_LINES):
            at = stream.tell()
            line = stream.readline(MAX_LINE_BYTES)
            if not line.endswith(b"\n"):
                break
            if starts_record(line.decode("utf-8", "replace")):
                if points[-1] < at:
                    points.append(at)
                break
    return points


def _chunks(source: Source, stream: BinaryIO, block_bytes: int, *, compressed: bool) -> Iterator[bytes]:
    # A decompressing stream ends where it fails (compression.py keeps all it decoded) and
    # read_blocks reports why; a read that raises (a disk error) yields what came before.
    if compressed:
        # Its pieces are joined into each block, which holds the block twice for a moment.
        block_bytes //= 2
    piece_bytes = min(block_bytes, 64 * 1024) if compressed else block_bytes
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
                block += stream.readline(MAX_LINE_BYTES)
        except _READ_ERRORS as error:
            if block or pieces:
                yield b"".join([block, *pieces])
            raise SourceReadError(source, f"read failed: {error}") from error
        yield block
        block, size = b"", 0
    if pieces:
        yield b"".join(pieces)


def _to_block(
    data: bytes,
    first_line: int,
    bytes_read: int,
    counts: ReadCounts,
    *,
    head_cut: bool = False,
    newlines: int | None = None,
) -> LineBlock:
    """``data``'s lines; ``head_cut``: its first line is the head of a line already cut;
    ``newlines``: how many ``data`` holds, if already counted."""
    if first_line == 1:
        data = _without_bom(data)
    lines, replaced_lines = _decoded_lines(data)
    lines, cut_lines = _cut_long_lines(lines, head_cut) if len(data) > MAX_LINE_BYTES else (lines, 0)
    cut_lines += head_cut
    # A BOM holds no newline; a last line without one is a line too.
    counts.lines += _line_count(data) if newlines is None else newlines + (not data.endswith(b"\n"))
    counts.replaced_lines += replaced_lines
    counts.cut_lines += cut_lines
    return LineBlock(first_line, lines, bytes_read, counts.compression, replaced_lines, cut_lines)


def _cut_long_lines(lines: pl.Series, head_cut: bool) -> tuple[pl.Series, int]:
    """Lines of one block longer than MAX_LINE_BYTES (as text: replaced bytes may have made
    them longer) cut to their head, and how many of them were not cut before (``head_cut``:
    the first line was). There are at most a block's size over MAX_LINE_BYTES of them: only
    those are looked at one by one."""
    too_long = (lines.str.len_bytes() > MAX_LINE_BYTES).fill_null(value=False).arg_true()
    if too_long.is_empty():
        return lines, 0
    heads = [
        line.encode()[:MAX_LINE_BYTES].decode("utf-8", "ignore") for line in lines.gather(too_long).to_list()
    ]
    newly_cut = too_long.len() - int(head_cut and too_long[0] == 0)
    return lines.scatter(too_long, heads), newly_cut


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
    cut_lines: list[int]


def read_whole(source: Source, policy: ReadPolicy = _DEFAULT_POLICY) -> bytes:
    """All of a small uncompressed text source's bytes (small: no line is cut). Raises
    SourceReadError if it cannot be read, is compressed (a small archive may hold anything:
    it is read in blocks) or binary (its blocks say so)."""
    with opened(source, policy) as reading:
        if reading.compression != "none":
            raise SourceReadError(source, f"{reading.compression}-compressed")
        if reading.binary:
            raise SourceReadError(source, "binary")
        try:
            data = reading.stream.read()
        except _READ_ERRORS as error:
            raise SourceReadError(source, f"read failed: {error}") from error
        if reading.file is not None and (reading.file.shrunk or reading.file.hole_bytes):
            raise SourceReadError(source, "changed while it was read")
        return data


def read_small_files(contents: Sequence[bytes]) -> SmallFiles:
    """The lines of several files' contents (as read_whole gives them), read together."""
    # A last line without a newline ends where its file does.
    whole = [_without_bom(data) for data in contents]
    whole = [data if not data or data.endswith(b"\n") else data + b"\n" for data in whole]
    counts = [data.count(b"\n") for data in whole]
    lines, replaced = _decoded_lines(b"".join(whole))
    replaced_per_file = cut_per_file = [0] * len(whole)
    if replaced:
        replaced_per_file = _per_file(lines.str.contains("\ufffd", literal=True), counts)
    if max(map(len, whole), default=0) > MAX_LINE_BYTES:
        too_long = lines.str.len_bytes() > MAX_LINE_BYTES
        cut_per_file = _per_file(too_long, counts)
        lines, _ = _cut_long_lines(lines, head_cut=False)
    return SmallFiles(lines, counts, replaced_per_file, cut_per_file)


def _per_file(hits: pl.Series, counts: list[int]) -> list[int]:
    """How many rows ``hits`` marks in each file's ``counts[i]`` rows."""
    hits = hits.fill_null(value=False)
    starts = itertools.accumulate(counts, initial=0)
    return [int(hits.slice(start, count).sum()) for start, count in zip(starts, counts, strict=False)]


# Polars decompresses what starts with these (gzip, zlib, zstd magic bytes), even as text.
_POLARS_MAGIC = (b"\x1f\x8b", b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x28\xb5\x2f\xfd")


def _read_lines(data: bytes, encoding: Literal["utf8", "utf8-lossy"]) -> pl.Series:
    import polars as pl  # noqa: PLC0415

    if data.startswith(_POLARS_MAGIC):
        return _read_lines(b"\n" + data, encoding).slice(1)

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


def hold(source: Source) -> tuple[Source, Callable[[], None]]:
    """``source`` with a descriptor held open on it (and how to close it), for worker
    processes to read its parts through (Linux: /proc/<pid>/fd/<n>): a rename or an unlink
    during the scan then changes nothing of what they read."""
    reader = open_file(source)
    held_at = f"/proc/{os.getpid()}/fd/{reader.fileno()}"
    if not os.path.exists(held_at):
        reader.close()
        return source, lambda: None
    status = os.fstat(reader.fileno())
    return Source(
        source.name, source.path, identity=Identity.of(status), held_at=held_at, named=source.named
    ), reader.close
