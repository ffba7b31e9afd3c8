"""How a run ends becomes its exit code, in one place: domain errors, signals (128 + the
signal's number after cleaning up), a reader gone from stdout, and exceptions logscan did not
raise on purpose (one line asking for a report, never a traceback and exit 1). And how the
program's process ends once the exit code is known (``run_and_exit``)."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any, NoReturn

import click

from logscan import sanitize
from logscan.cli_common import fail
from logscan.errors import ExitCode, Interrupted, ScanError

DEBUG_VARIABLE = "LOGSCAN_DEBUG"  # set to 1: an internal error prints its traceback too


_STOP_SIGNALS = {
    signal.SIGINT: ("interrupted", ExitCode.INTERRUPTED),
    signal.SIGTERM: ("terminated", ExitCode.TERMINATED),
}


@contextlib.contextmanager
def _stopping_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted, so the run unwinds: workers stop, temporary files
    and folders are removed. A second signal is ignored, so that it cannot cut that short."""

    def stop(signal_number: int, _frame: FrameType | None) -> None:
        for ignored in _STOP_SIGNALS:
            signal.signal(ignored, signal.SIG_IGN)
        raise Interrupted(*_STOP_SIGNALS[signal.Signals(signal_number)])

    try:
        previous = {number: signal.signal(number, stop) for number in _STOP_SIGNALS}
    except ValueError:  # not the main thread (an embedding program): its handlers stay
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class MainGroup(click.Group):
    """The command group, and the one place where the way a run ends becomes its exit code:
    a signal exits 128 + its number after cleaning up, and an exception logscan did not
    raise on purpose is one line asking for a report, never a traceback and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        with _stopping_on_signals():
            try:
                return super().invoke(ctx)
            except Interrupted as stop:
                _stop(stop.reason, stop.exit_code)
            except KeyboardInterrupt:
                _stop("interrupted", ExitCode.INTERRUPTED)
            except BrokenPipeError:
                _stdout_gone()
            except (click.ClickException, click.exceptions.Exit, click.Abort):
                raise
            except Exception as error:  # the last resort: every other exception is handled above
                if _is_broken_pool(error):
                    fail(ScanError("a worker process stopped unexpectedly (killed, or out of memory?)"))
                _internal_error(error)


def _is_broken_pool(error: Exception) -> bool:
    """Whether ``error`` says a worker process died. Asked of the module only if a pool was
    ever made, so that a run in one process does not import multiprocessing at all."""
    process = sys.modules.get("concurrent.futures.process")
    return process is not None and isinstance(error, process.BrokenProcessPool)


def _stop(reason: str, exit_code: ExitCode) -> NoReturn:
    click.echo(f"logscan: {reason}", err=True)
    sys.exit(int(exit_code))


def _stdout_gone() -> NoReturn:
    # Python would flush stdout again at exit and fail again; point it at /dev/null first.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(int(ExitCode.BROKEN_PIPE))


def _internal_error(error: Exception) -> NoReturn:
    if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
        traceback.print_exception(error, file=sys.stderr)
    # The first line only: some libraries' messages go on for a page (the traceback has it all).
    first_line = next(iter(str(error).splitlines()), "")
    description = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    click.echo(
        f"logscan: internal error: {sanitize.terminal(description)}; please report"
        f" (set {DEBUG_VARIABLE}=1 for the traceback)",
        err=True,
    )
    sys.exit(int(ExitCode.RUNTIME_FAILURE))


# The status Python exits with when it cannot flush stdout at exit.
_UNFLUSHED_STATUS = 120


def run_and_exit(command: click.Command) -> NoReturn:
    """Run ``command`` as the program, then end the process at once.

    Python's own exit takes every module and object apart one by one: with Polars loaded,
    some 40 ms, a tenth of a scan of a small file. There is nothing left for it to do that
    the operating system does not: reports are committed and files closed by then. So the
    atexit handlers run, stdout and stderr are flushed (failing that, the status is 120, as
    Python's), and the process ends with ``os._exit``; unless a thread other than the main
    one still runs (a Dask client's, say), which Python's exit waits for as usual.

    Until the work starts (see ``started_up``) the garbage collector is off: imports make
    tens of thousands of objects that live as long as the process, and collecting among them
    over and over costs some 20 ms of a small scan, for no garbage."""
    gc.disable()
    try:
        command.main(prog_name="logscan")
        status: object = 0
    except SystemExit as stop:
        status = stop.code
    if threading.active_count() > 1:
        sys.exit(status)
    code = _exit_code(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            code = _UNFLUSHED_STATUS if stream is sys.stdout else code
    os._exit(code)


def started_up() -> None:
    """The program has imported what it needs and starts its work: collect garbage from now
    on, leaving out the objects made so far (modules, options, rules), which live as long as
    the process. Only after run_and_exit turned the collector off (not in a host program)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _exit_code(status: object) -> int:
    """The process's status for ``sys.exit(status)``, as Python gives it: None is 0, an
    integer itself, anything else is printed on stderr and is 1."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(status, file=sys.stderr)
    return 1
