"""Finding inputs: command-line paths turned into sources. Folders are walked without following
links (unless asked), and whatever cannot or should not be read (a missing path, a FIFO, a
link loop, a folder that cannot be listed) becomes a source that says why, so that the scan
reports it instead of stopping or hanging."""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from logscan import archives, compression
from logscan.inputs import STDIN_NAME, Identity, ReadPolicy, Source, member_opener

_LINK_NOT_FOLLOWED = "a symbolic link, not followed (--follow follows links)"


def expand(specs: Sequence[str], policy: ReadPolicy | None = None) -> list[Source]:
    """Turn command-line paths into sources: files, directories (recursive, hidden entries
    skipped), glob patterns, and ``-`` for standard input. Order is stable and duplicates are
    dropped, so a file named twice is read once. Members of .zip and .tar archives are sources
    of their own, named ``archive.zip:member.log``."""
    policy = policy or ReadPolicy()
    sources: list[Source] = []
    seen: set[object] = set()

    def add(source: Source) -> None:
        key = source.identity.key if source.identity else source.name
        if source.member is not None:
            key = (key, source.member)
        if key not in seen:
            seen.add(key)
            sources.append(source)

    for spec in specs:
        if spec == "-":
            add(Source(STDIN_NAME, named=True))
        elif os.path.lexists(spec):
            for source in _found(Path(spec), policy, named=True):
                add(source)
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                add(Source(spec, named=True, unreadable="no file matches the pattern"))
            for match in matches:
                for source in _found(Path(match), policy, named=True):
                    add(source)
        else:
            add(Source(spec, Path(spec), named=True, unreadable="No such file or directory"))
    return sources


def _found(path: Path, policy: ReadPolicy, *, named: bool) -> Iterator[Source]:
    """The sources at ``path``: a link named on the command line is followed, one met in a
    folder only with ``policy.follow_symlinks``."""
    name = str(path)
    try:
        link = path.is_symlink()
        if link and not named and not policy.follow_symlinks:
            yield Source(name, path, skipped=_LINK_NOT_FOLLOWED)
            return
        status = path.stat()
    except OSError as error:
        yield Source(name, path, named=named, unreadable=_reason(error))
        return
    if stat.S_ISDIR(status.st_mode):
        yield from _walk(path, policy, named=named, ancestors=frozenset())
    else:
        yield from _file(path, status, named=named)


def _file(path: Path, status: os.stat_result, *, named: bool) -> Iterator[Source]:
    name = str(path)
    if not stat.S_ISREG(status.st_mode):
        yield Source(name, path, named=named, skipped=f"{_special_kind(status.st_mode)}: not read")
        return
    identity = Identity.of(status)
    kind = archives.kind_of(path)
    if kind is None:
        yield Source(name, path, named=named, identity=identity)
        return
    opener = member_opener(Source(name, path, identity=identity))
    try:
        found = archives.members(kind, path, opener)
    except (*archives.ARCHIVE_ERRORS, *compression.DECODE_ERRORS, compression.DecodeError) as error:
        yield Source(name, path, named=named, identity=identity, unreadable=f"archive not read: {error}")
        return
    if not found:
        yield Source(name, path, named=named, identity=identity, skipped=f"a {kind} archive without files")
    for member in found:
        yield Source(
            f"{name}:{member.name}",
            path,
            member=member.name,
            archive=kind,
            identity=identity,
            skipped=member.skipped,
        )


def _walk(
    directory: Path, policy: ReadPolicy, *, named: bool, ancestors: frozenset[object]
) -> Iterator[Source]:
    """Everything under ``directory``, depth first in name order; hidden entries are left
    out. A folder already on the way down (a link loop) is reported, not entered again."""
    try:
        status = directory.stat()
        key = (status.st_dev, status.st_ino)
        if key in ancestors:
            yield Source(str(directory), directory, skipped="a symbolic link loop: not followed")
            return
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as error:
        yield Source(str(directory), directory, named=named, unreadable=f"folder not read: {_reason(error)}")
        return
    inside = ancestors | {key}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            if entry.is_symlink() and not policy.follow_symlinks:
                yield Source(
                    str(path), path, skipped="a symbolic link, not followed (--follow follows links)"
                )
                continue
            status = path.stat()
        except OSError as error:
            yield Source(str(path), path, unreadable=_reason(error))
            continue
        if stat.S_ISDIR(status.st_mode):
            yield from _walk(path, policy, named=False, ancestors=inside)
        else:
            yield from _file(path, status, named=False)


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (give it as - on standard input to read it)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symbolic link loop"
    return error.strerror or str(error)
