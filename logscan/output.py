"""Where reports go, written without harm to what is there.

A regular file, or a path that does not exist yet, is written atomically: into a temporary
file beside it, renamed into place only once complete, so a reader never sees half a report
and a failed run leaves last night's report as it was. Anything else is written in place,
never replaced: a character device (``/dev/null``), a FIFO, or a file descriptor
(``-``, ``/dev/stdout``, ``/dev/fd/N``). A symlink is followed, and its target written.

Every check is made by :func:`prepare`, before any input is read, so a report that cannot be
written fails the run at once instead of after a long scan.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from logscan.errors import UsageError

STDOUT = "-"
STDOUT_FD = 1
STDOUT_KEY = f"fd:{STDOUT_FD}"
Producer = Callable[[BinaryIO], None]

# Paths that name a descriptor this process already holds; /dev/stdout and /dev/stderr are
# symlinks to the first form on Linux.
_DESCRIPTOR_PATH = re.compile(r"/proc/(?:self|(?P<pid>\d+))/fd/(?P<fd>\d+)|/dev/fd/(?P<dev_fd>\d+)")
_MAX_SYMLINK_HOPS = 40


class Output:
    """One prepared destination. ``write`` produces the content; ``commit`` makes it the
    destination's; leaving the ``with`` block without committing discards it."""

    def __init__(self, shown: str) -> None:
        self.shown = shown  # as the user named it, for messages
        # What two outputs must not share: the file an atomic write replaces, or stdout.
        self.key: str | None = None

    def write(self, produce: Producer) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Nothing to do for outputs written in place: they hold their content already."""

    def discard(self) -> None:
        """Nothing to undo for outputs written in place."""

    def __enter__(self) -> Output:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.discard()


class _Descriptor(Output):
    """A file descriptor the process holds: stdout, stderr or another one it inherited."""

    def __init__(self, shown: str, fd: int) -> None:
        super().__init__(shown)
        self.fd = fd
        self.key = f"fd:{fd}"

    def write(self, produce: Producer) -> None:
        # The streams Python (or a test runner) holds for 1 and 2, so that what was printed
        # before stays in order.
        standard = {1: sys.stdout, 2: sys.stderr}.get(self.fd)
        if standard is not None:
            standard.flush()
            with _broken_pipe_named(standard.buffer):
                produce(standard.buffer)
                standard.buffer.flush()
            return
        with os.fdopen(os.dup(self.fd), "wb") as stream, _broken_pipe_named(stream):
            produce(stream)


class _InPlace(Output):
    """A character device or a FIFO: opened for writing as it is, never created or truncated."""

    def write(self, produce: Producer) -> None:
        with (
            os.fdopen(os.open(self.shown, os.O_WRONLY | os.O_NOCTTY), "wb") as stream,
            _broken_pipe_named(stream),
        ):
            produce(stream)


@contextlib.contextmanager
def _broken_pipe_named(stream: BinaryIO) -> Iterator[None]:
    """A write that failed because the reader of a pipe or FIFO went away raises
    BrokenPipeError: Polars, writing to the descriptor itself, reports it as a bare OSError."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as error:
        if _reader_gone(stream):
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)) from error
        raise


def _reader_gone(stream: BinaryIO) -> bool:
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
    except (OSError, ValueError, AttributeError):  # a stream without a descriptor (tests)
        return False
    # The write end of a pipe whose read end is closed polls as an error.
    return any(events & select.POLLERR for _, events in poller.poll(0))


class _Atomic(Output):
    """A regular file, or a new one: a temporary file beside it, renamed over it on commit."""

    def __init__(self, shown: str, target: str, existing: os.stat_result | None) -> None:
        super().__init__(shown)
        self.target = target
        self.key = target
        self.temporary: str | None = None
        self.mode, self.owner = _ownership(existing)
        # Proof that the folder takes a new file, made now and undone at once: a temporary
        # file kept through a long scan would be left behind by a SIGKILL or the OOM killer.
        handle, probe = self._temporary_file()
        os.close(handle)
        os.unlink(probe)

    def _temporary_file(self) -> tuple[int, str]:
        directory, name = os.path.split(self.target)
        try:
            return tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        except OSError as error:
            raise _cannot_write(self.shown, error.strerror or str(error)) from error

    def write(self, produce: Producer) -> None:
        handle, self.temporary = self._temporary_file()
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(handle, self.mode)
            if self.owner is not None:
                # Only root may give a file away; otherwise the report is ours.
                with contextlib.suppress(PermissionError):
                    os.fchown(handle, *self.owner)
            produce(stream)
            stream.flush()
            # On disk before the rename: after a crash the name holds the old report or the
            # new one, never an empty file.
            os.fsync(handle)

    def commit(self) -> None:
        if self.temporary is not None:
            os.replace(self.temporary, self.target)
            self.temporary = None

    def discard(self) -> None:
        if self.temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temporary)
            self.temporary = None


def _ownership(existing: os.stat_result | None) -> tuple[int, tuple[int, int] | None]:
    """The mode and owner a plain ``open`` would leave the report with: the replaced file's,
    or for a new file 0666 less the umask (mkstemp makes it 0600) and our own."""
    if existing is None:
        # Read while no other thread runs: setting the umask to read it is process-wide.
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask, None
    owner = (existing.st_uid, existing.st_gid)
    return stat.S_IMODE(existing.st_mode) & 0o777, owner if owner != (os.geteuid(), os.getegid()) else None


def prepare(spec: str) -> Output:
    """The destination ``spec`` names, checked now: raises UsageError naming it when it
    cannot be written (a missing folder, no permission, a folder, a block device...)."""
    fd = STDOUT_FD if spec == STDOUT else _descriptor(spec)
    if fd is not None:
        if fd > 2 and not _is_open(fd):
            raise _cannot_write(spec, "no such open file descriptor")
        return _Descriptor(spec, fd)
    if not spec or spec.endswith(os.sep):
        raise _cannot_write(spec, "a file name is needed")
    _refuse_planted_symlinks(spec)
    try:
        found = os.stat(spec)
    except FileNotFoundError:
        return _new_file(spec)
    except OSError as error:
        raise _cannot_write(spec, error.strerror or str(error)) from error
    if stat.S_ISREG(found.st_mode):
        if not os.access(spec, os.W_OK):
            raise _cannot_write(spec, "permission denied")
        return _Atomic(spec, os.path.realpath(spec), found)
    if stat.S_ISCHR(found.st_mode) or stat.S_ISFIFO(found.st_mode):
        if not os.access(spec, os.W_OK):
            raise _cannot_write(spec, "permission denied")
        return _InPlace(spec)
    kind = "a folder" if stat.S_ISDIR(found.st_mode) else "neither a file, a FIFO nor a character device"
    raise _cannot_write(spec, f"it is {kind}")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _new_file(spec: str) -> Output:
    # A dangling symlink creates its target, as `>` in a shell does.
    target = os.path.realpath(spec)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise _cannot_write(spec, f"folder '{folder}' does not exist")
    return _Atomic(spec, target, None)


def _descriptor(spec: str) -> int | None:
    """The descriptor ``spec`` names (``/dev/stdout``, ``/dev/fd/3``, ``/proc/self/fd/1``).
    Links are followed one hop at a time: resolved all the way, a descriptor's path turns into
    a pipe's name or the file behind it, which must not be replaced."""
    for path in _link_chain(spec):
        match = _DESCRIPTOR_PATH.fullmatch(path)
        if match and (match["pid"] is None or int(match["pid"]) == os.getpid()):
            return int(match["fd"] or match["dev_fd"])
    return None


def _refuse_planted_symlinks(spec: str) -> None:
    """Refuses a symlink that another user put in a sticky, world-writable folder (``/tmp``),
    as the kernel does with fs.protected_symlinks: a link from /tmp/report.csv to a file of
    root's would otherwise have root's cron job overwrite it. Needed here because the atomic
    write resolves links itself (to rename beside the target), which the kernel cannot check."""
    for path in _link_chain(spec):
        try:
            link = os.lstat(path)
            folder = os.stat(os.path.dirname(path))
        except OSError:
            return
        shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
        if stat.S_ISLNK(link.st_mode) and shared and link.st_uid not in (os.geteuid(), folder.st_uid):
            raise _cannot_write(
                spec, f"'{path}' is another user's symlink in a shared folder (sticky, world-writable)"
            )


def _link_chain(spec: str) -> Iterator[str]:
    """``spec`` made absolute, then each path its symlink leads to, hop by hop, up to the
    first that is not a symlink."""
    path = os.path.abspath(spec)
    for _ in range(_MAX_SYMLINK_HOPS):
        yield path
        if not os.path.islink(path):
            return
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))


def _cannot_write(spec: str, reason: str) -> UsageError:
    return UsageError(f"cannot write '{spec}': {reason}")
