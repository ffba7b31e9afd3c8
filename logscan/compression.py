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
_OUTPUT_PER_CALL = 1024 * 1024
_MIN_PIECE_BYTES = 1024
_MAX_PIECE_BYTES = 256 * 1024


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


class DecompressingReader(io.RawIOBase):
    """Concatenated members (gzip, bzip2, xz) or frames (zstd) of one compression, decoded a
    piece at a time. On damage, the member is decoded again from its start up to the piece
    that failed, then that piece one byte at a time, so that what the decoder delivers before
    the damage is kept (as zcat and zstdcat keep it); this needs a seekable input, else up to
    one piece's output is lost. After ``cap`` bytes of output (0: no cap) the reader raises
    DecompressedCapError."""

    def __init__(self, raw: BinaryIO, compression: str, cap: int = 0) -> None:
        self._raw = raw
        self._new_decoder = _DECODERS[compression]
        self._decoder = self._new_decoder()
        self._cap = cap
        self._piece_bytes = _MIN_PIECE_BYTES
        self._offset = raw.tell() if raw.seekable() else 0  # of the next compressed byte
        self._member_start = self._offset
        self._started = False  # the current member has consumed input
        self._pending = b""
        self._given = 0  # into _pending
        self._failure: Exception | None = None
        self.decompressed = 0
        self.compressed_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        # The buffer is filled (not only topped up from one piece), so that a peek at the
        # start sees a whole probe's worth.
        filled = 0
        while filled < len(buffer):
            if self._given == len(self._pending):
                if self._failure is not None:
                    if filled:
                        break
                    failure, self._failure = self._failure, None
                    raise failure
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
                self._failure = DecodeError("compressed data ends early (the file is truncated)")
                return True
            return False
        self.compressed_read += len(piece)
        piece_start, self._offset = self._offset, self._offset + len(piece)
        out: list[bytes] = []
        try:
            self._decode_into(piece, piece_start, out)
        except DECODE_ERRORS as error:
            out += self._replayed_before_damage(piece_start, len(piece))
            self._failure = DecodeError(str(error) or type(error).__name__)
        self._deliver(b"".join(out))
        return True

    def _decode_into(self, piece: bytes, piece_start: int, out: list[bytes]) -> None:
        while piece:
            self._started = True
            decoded = self._decoder.decompress(piece)
            out.append(decoded)
            self._adapt(len(piece), len(decoded))
            if not self._decoder.eof:
                return
            rest = self._decoder.unused_data
            if rest and not rest.strip(b"\x00"):
                return  # zero padding after the last member (tape blocks), as gzip ignores it
            self._member_start = piece_start + len(piece) - len(rest)
            piece_start = self._member_start
            self._decoder, self._started, piece = self._new_decoder(), False, rest

    def _adapt(self, fed: int, decoded: int) -> None:
        wanted = fed * _OUTPUT_PER_CALL // max(decoded, 1)
        self._piece_bytes = max(_MIN_PIECE_BYTES, min(_MAX_PIECE_BYTES, wanted))

    def _replayed_before_damage(self, piece_start: int, piece_bytes: int) -> list[bytes]:
        """What the failed member decodes to between the start of the failed piece and the
        damage: the member decoded again, then that piece fed one byte at a time."""
        if not self._raw.seekable():
            return []
        start = max(piece_start, self._member_start)
        decoder = self._new_decoder()
        recovered: list[bytes] = []
        try:
            self._raw.seek(self._member_start)
            position = self._member_start
            while position < start:
                decoder.decompress(self._raw.read(min(self._piece_bytes, start - position)))
                position = self._raw.tell()
            for byte in self._raw.read(piece_start + piece_bytes - start):
                recovered.append(decoder.decompress(bytes((byte,))))
        except DECODE_ERRORS:
            pass
        return recovered

    def _deliver(self, data: bytes) -> None:
        if self._cap and self.decompressed + len(data) > self._cap:
            data = data[: self._cap - self.decompressed]
            self._failure = DecompressedCapError(self._cap)
        self.decompressed += len(data)
        self._pending, self._given = data, 0


class CappedReader(io.RawIOBase):
    """A stream that raises DecompressedCapError after ``cap`` bytes (0: no cap): for
    archive members, which their archive decompresses."""

    def __init__(self, stream: BinaryIO, cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self._cap and self._read >= self._cap:
            if self._stream.read(1):
                raise DecompressedCapError(self._cap)
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
