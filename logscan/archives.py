"""Members of .zip and .tar archives (any compression), streamed, never extracted to disk."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_TAR_SUFFIXES = (".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".tzst", ".tar.gz", ".tar.bz2", ".tar.xz")
_TAR_SUFFIXES += (".tar.zst", ".tar.zstd")
ARCHIVE_ERRORS = (OSError, EOFError, ValueError, tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile)


@dataclass(frozen=True)
class Member:
    name: str
    # Why the member is not read (a link, a device...); None for a regular file.
    skipped: str | None = None


def kind_of(path: Path) -> str | None:
    """ "zip" or "tar" when the file name says it is an archive, else None."""
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(_TAR_SUFFIXES):
        return "tar"
    return None


def members(kind: str, path: Path, opener: Callable[[], BinaryIO]) -> list[Member]:
    """The members of an archive, in archive order (directories left out). ``opener`` gives
    the archive decompressed (tar) or raw (zip)."""
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            return [
                Member(info.filename, None if not info.flag_bits & 0x1 else "encrypted: not read")
                for info in archive.infolist()
                if not info.is_dir()
            ]
    found: list[Member] = []
    with opener() as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if info.isdir():
                continue
            found.append(Member(info.name, None if info.isfile() else f"{_tar_type(info)} in the archive"))
    return found


def _tar_type(info: tarfile.TarInfo) -> str:
    if info.issym() or info.islnk():
        return "a link"
    if info.isdev() or info.isfifo():
        return "a device or FIFO"
    return "not a regular file"


class _MemberStream(io.RawIOBase):
    """A member's bytes; closing it closes only what ``closers`` name (a tar stays open behind
    its member, so that the next member, read next, continues from here instead of
    decompressing from the start)."""

    def __init__(self, stream: BinaryIO, *closers: Callable[[], None]) -> None:
        self._stream = stream
        self._closers = closers

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            for close in self._closers:
                close()
        super().close()


def _zip_member(path: Path, name: str) -> BinaryIO:
    archive = zipfile.ZipFile(path)
    try:
        member = archive.open(name)
    except BaseException:
        archive.close()
        raise
    return _MemberStream(member, member.close, archive.close)  # type: ignore[arg-type, return-value]


@dataclass
class _TarCursor:
    key: tuple[str, int]  # the archive's path, and how it was opened (its identity)
    stream: BinaryIO
    archive: tarfile.TarFile
    entries: Iterator[tarfile.TarInfo]

    def close(self) -> None:
        self.archive.close()
        self.stream.close()


_cursor: list[_TarCursor] = []


def open_member(kind: str, path: Path, name: str, identity: int, opener: Callable[[], BinaryIO]) -> BinaryIO:
    """A stream of one member's bytes. Members of a tar are found by reading on from the
    member read last, when it comes before (so reading members in order reads the archive
    once), else from the start."""
    if kind == "zip":
        return _zip_member(path, name)
    key = (str(path), identity)
    for attempt in range(2):
        if not _cursor or _cursor[0].key != key or attempt:
            close_cursor()
            stream = opener()
            # Kept open past this call: the next member is read on from here.
            archive = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115
            _cursor.append(_TarCursor(key, stream, archive, iter(archive)))
        cursor = _cursor[0]
        for info in cursor.entries:
            if info.name == name and info.isfile():
                extracted = cursor.archive.extractfile(info)
                assert extracted is not None
                return _MemberStream(extracted)  # type: ignore[arg-type, return-value]
    raise FileNotFoundError(f"no member {name} in the archive")


def close_cursor() -> None:
    while _cursor:
        _cursor.pop().close()
