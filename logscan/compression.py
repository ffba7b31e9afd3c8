"""Decompression by magic bytes, incremental, so that damage loses nothing the decoder had
already delivered, and capped, so that a compressed bomb cannot run for an hour."""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

import zstandard
from isal import isal_zlib

# Magic bytes rather than file names: rotated logs are often renamed (`server.log.1`) and
# compressed copies are not always suffixed.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
MAGIC_BYTES = max(len(magic) for magic, _ in MAGIC)
DECODE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    isal_zlib.IsalError,
    lzma.LZMAError,
    zstandard.ZstdError,
)
# Compressed bytes fed to the decoder per call adapt so that each call yields about this much:
# a bomb's first call must not inflate a gigabyte at once.
# A piece grows at most twofold per call, up to a size whose worst ratio still bounds the output
# of one call: about 1:1000 for deflate (64 MiB), 1:32000 for zstd's RLE blocks (128 MiB).
_OUTPUT_PER_CALL = 1024 * 1024
_MIN_PIECE_BYTES = 256
_MAX_PIECE_BYTES = {"gzip": 64 * 1024, "bzip2": 1024, "xz": 16 * 1024, "zstd": 4 * 1024}


class Decoder(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes) -> bytes: ...


_DECODERS: dict[str, Callable[[], Decoder]] = {
    # ISA-L inflates about 2.5 times as fast as zlib, with the same gzip semantics.
    "gzip": lambda: isal_zlib.decompressobj(31),  # type: ignore[no-any-return]
    "bzip2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
    "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),  # type: ignore[return-value]
}


# Decoders that deliver what each input byte decodes to at once, for replaying damage: ISA-L
# holds some output back until it has more input.
_REPLAY_DECODERS: dict[str, Callable[[], Decoder]] = {**_DECODERS, "gzip": lambda: zlib.decompressobj(31)}


def compression_of(head: bytes) -> str:
    """The compression whose magic bytes ``head`` starts with, or "none"."""
    return next((name for magic, name in MAGIC if head.startswith(magic)), "none")


class DecodeError(Exception):
    """Compressed data is damaged or ends early. Everything decoded before is delivered."""


class DecompressedCapError(Exception):
    """More than the allowed number of bytes came out of one compressed input."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        super().__init__(f"{cap} bytes")


class _EndsOnFailure(io.RawIOBase):
    """A stream that ends where reading fails, and keeps the failure in ``failure``: a
    buffered reader above it would drop what it had gathered for a read that raises."""

    failure: Exception | None = None

    def readable(self) -> bool:
        return True


class DecompressingReader(_EndsOnFailure):
    """Concatenated members (gzip, bzip2, xz) or frames (zstd) of one compression, decoded a
    piece at a time. On damage, the member is decoded again from its start up to the piece
    that failed, then that piece one byte at a time, so that what the decoder delivers before
    the damage is kept (as zcat and zstdcat keep it); this needs a seekable input, else up to
    one piece's output is lost. After ``cap`` bytes of output (0: no cap) the stream ends with
    DecompressedCapError as its ``failure``."""

    def __init__(self, raw: BinaryIO, compression: str, cap: int = 0) -> None:
        self._raw = raw
        self._new_replay_decoder = _REPLAY_DECODERS[compression]
        # Without a way back to replay damage, a decoder that holds nothing back (a pipe is
        # read at zlib's speed, which keeps a truncated stream's last lines).
        self._new_decoder = _DECODERS[compression] if raw.seekable() else self._new_replay_decoder
        self._max_piece_bytes = _MAX_PIECE_BYTES[compression]
        self._decoder = self._new_decoder()
        self._cap = cap
        self._piece_bytes = _MIN_PIECE_BYTES
        self._offset = raw.tell() if raw.seekable() else 0  # of the next compressed byte
        self._member_start = self._offset
        self._started = False  # the current member has consumed input
        self._member_out = 0  # bytes the current member has decoded to
        self._last_piece_start = self._offset
        self._pending = b""
        self._given = 0  # into _pending
        self._failure: Exception | None = None
        self.decompressed = 0
        self.compressed_read = 0

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        # The buffer is filled (not only topped up from one piece), so that a peek at the
        # start sees a whole probe's worth.
        filled = 0
        while filled < len(buffer):
            if self._given == len(self._pending):
                if self._failure is not None:
                    self.failure = self._failure
                    break
                if not self._refill():
                    break
                continue
            size = min(len(buffer) - filled, len(self._pending) - self._given)
            buffer[filled : filled + size] = memoryview(self._pending)[self._given : self._given + size]
            self._given += size
            filled += size
        return filled

    def _refill(self) -> bool:
        """Decode the next piece into _pending; False at the end of the input."""
        piece = self._raw.read(self._piece_bytes)
        if not piece:
            if self._started and not self._decoder.eof:
                # A decoder may hold back output it has not yet confirmed: recover that too.
                self._deliver(self._recovered(self._last_piece_start, self._offset))
                self._failure = DecodeError("compressed data ends early (the file is truncated)")
                return True
            return False
        self.compressed_read += len(piece)
        piece_start, self._offset = self._offset, self._offset + len(piece)
        self._last_piece_start = piece_start
        out: list[bytes] = []
        try:
            self._decode_into(piece, piece_start, out)
        except DECODE_ERRORS as error:
            out.append(self._recovered(piece_start, self._offset))
            self._failure = DecodeError(str(error) or type(error).__name__)
        self._deliver(b"".join(out))
        return True

    def _decode_into(self, piece: bytes, piece_start: int, out: list[bytes]) -> None:
        while piece:
            self._started = True
            decoded = self._decoder.decompress(piece)
            out.append(decoded)
            self._member_out += len(decoded)
            self._adapt(len(piece), len(decoded))
            if not self._decoder.eof:
                return
            rest = self._decoder.unused_data
            if rest and not rest.strip(b"\x00"):
                return  # zero padding after the last member (tape blocks), as gzip ignores it
            self._member_start = piece_start + len(piece) - len(rest)
            piece_start = self._member_start
            self._decoder, self._started, piece = self._new_decoder(), False, rest
            self._member_out = 0

    def _adapt(self, fed: int, decoded: int) -> None:
        if fed < _MIN_PIECE_BYTES:
            return  # the end of a member: too little to tell its ratio
        wanted = min(fed * _OUTPUT_PER_CALL // max(decoded, 1), 2 * self._piece_bytes)
        self._piece_bytes = max(_MIN_PIECE_BYTES, min(self._max_piece_bytes, wanted))

    def _recovered(self, byte_wise_from: int, end: int) -> bytes:
        """What the current member decodes to up to ``end`` (where it failed) beyond what was
        delivered of it: the member decoded again from its start, from ``byte_wise_from`` on
        one byte at a time, so that nothing the decoder gives before the damage is lost."""
        if not self._raw.seekable():
            return b""
        decoder = self._new_replay_decoder()
        already = self._member_out
        recovered: list[bytes] = []

        def take(decoded: bytes) -> None:
            nonlocal already
            if already >= len(decoded):
                already -= len(decoded)
            else:
                recovered.append(decoded[already:])
                already = 0

        byte_wise_from = max(byte_wise_from, self._member_start)
        try:
            self._raw.seek(self._member_start)
            position = self._member_start
            while position < byte_wise_from:
                take(decoder.decompress(self._raw.read(min(self._piece_bytes, byte_wise_from - position))))
                position = self._raw.tell()
            for byte in self._raw.read(end - byte_wise_from):
                take(decoder.decompress(bytes((byte,))))
        except DECODE_ERRORS:
            pass
        return b"".join(recovered)

    def _deliver(self, data: bytes) -> None:
        if self._cap and self.decompressed + len(data) > self._cap:
            data = data[: self._cap - self.decompressed]
            self._failure = DecompressedCapError(self._cap)
        self.decompressed += len(data)
        self._pending, self._given = data, 0


class CappedReader(_EndsOnFailure):
    """A stream that ends after ``cap`` bytes (0: no cap), with DecompressedCapError as its
    ``failure`` if there was more: for archive members, which their archive decompresses."""

    def __init__(self, stream: BinaryIO, cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self._read = 0

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self._cap and self._read >= self._cap:
            if self._stream.read(1):
                self.failure = DecompressedCapError(self._cap)
            return 0
        wanted = len(buffer) if not self._cap else min(len(buffer), self._cap - self._read)
        data = self._stream.read(wanted)
        buffer[: len(data)] = data
        self._read += len(data)
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def decompressed(raw: BinaryIO, compression: str, cap: int = 0) -> BinaryIO:
    """``raw`` decoded (``compression`` as compression_of names it), buffered."""
    if compression == "none":
        return raw
    return io.BufferedReader(DecompressingReader(raw, compression, cap), 256 * 1024)  # type: ignore[return-value]


def failure_under(stream: BinaryIO) -> Exception | None:
    """Why a stream from `decompressed` (or a capped member under it) ended early, if it did."""
    while stream is not None:
        if isinstance(stream, _EndsOnFailure) and stream.failure is not None:
            return stream.failure
        stream = getattr(stream, "raw", None) or getattr(stream, "_stream", None)  # type: ignore[assignment]
    return None
