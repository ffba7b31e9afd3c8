"""Worker processes for inputs too large for one core.

Importing Polars takes a quarter of a second; workers are started before the parent imports
it, so that their imports overlap with the parent's instead of following them. So nothing
here, nor in what it imports, imports Polars.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from logscan import allocator
from logscan.sources import Source

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# Below this much input, worker processes cost more to start than they save.
PARALLEL_MIN_BYTES = 96 * 1024 * 1024
COMPRESSION_RATIO_GUESS = 8
# How long stopped workers get to exit before the parent goes on cleaning up without them.
_STOP_WAIT_SECONDS = 5.0


def estimated_size(source: Source) -> int:
    # Logs compress about tenfold; a guess is enough to decide whether workers pay off. The
    # holes of a sparse file are not read: what it holds on disk is what costs.
    if source.end is not None:  # a part, e.g. what is new in a file since the last --state run
        return source.end - source.start
    compressed = source.name.endswith((".gz", ".bz2", ".xz", ".zst"))
    return (source.stored_bytes or 0) * (COMPRESSION_RATIO_GUESS if compressed else 1)


def count(sources_list: Sequence[Source], jobs: int) -> int:
    """How many processes should scan: ``jobs`` (0: one per core) when the input is large
    and on disk, else 1 (this process alone)."""
    jobs = jobs or os.cpu_count() or 1
    on_disk = all(source.path is not None and source.data is None for source in sources_list)
    if jobs <= 1 or not on_disk:
        return 1
    return jobs if sum(estimated_size(source) for source in sources_list) >= PARALLEL_MIN_BYTES else 1


@contextlib.contextmanager
def started(sources_list: Sequence[Source], jobs: int) -> Iterator[ProcessPoolExecutor | None]:
    """The workers a scan of ``sources_list`` should use, started now; None if it should run
    in this process alone. They stop when the block ends."""
    workers = count(sources_list, jobs)
    if workers <= 1:
        yield None
        return
    with start(workers) as pool:
        yield pool


@functools.cache
def _pool_class() -> type[ProcessPoolExecutor]:
    # Made when workers are first started: a scan in one process imports no multiprocessing.
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    class _Pool(ProcessPoolExecutor):
        """A process pool that, left by an exception (Ctrl-C, SIGTERM, an error), stops its
        workers at once instead of waiting for their tasks to finish."""

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> bool | None:
            if exc_type is None:
                return super().__exit__(exc_type, exc, traceback)
            self.stop()
            return None

        def stop(self) -> None:
            # The executor has no public way to end its processes before Python 3.14
            # (terminate_workers); its own table of them is the only handle.
            processes = list((self._processes or {}).values())
            self.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                # SIGTERM keeps its default action in workers: they end without a word.
                process.terminate()
            for process in processes:
                process.join(_STOP_WAIT_SECONDS)

    return _Pool


def start(workers: int) -> ProcessPoolExecutor:
    """``workers`` processes, already importing the pipeline when this returns."""
    import multiprocessing  # noqa: PLC0415

    # forkserver, not fork: Polars' thread pool does not survive a fork.
    pool = _pool_class()(
        workers, mp_context=multiprocessing.get_context("forkserver"), initializer=_leave_interrupts_to_parent
    )
    # The processes start at the first submit, and take the environment they see then.
    with _worker_environment():
        for _ in range(workers):
            pool.submit(_import_pipeline)
    return pool


def _leave_interrupts_to_parent() -> None:
    # Ctrl-C reaches every process of the terminal's foreground group. The parent alone acts
    # on it (it stops the workers, see _Pool): a worker would only print its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _import_pipeline() -> None:
    import logscan.scan  # noqa: F401, PLC0415


# Read by Polars when it is imported, so set while the workers start.
_WORKER_ENVIRONMENT = {
    # As many workers as cores keep the cores busy; more threads than cores only contend, and
    # each thread costs memory.
    "POLARS_MAX_THREADS": "1",
    # For workers of a program other than logscan's own (which sets these for itself too).
    allocator.VARIABLE: allocator.SETTINGS,
}


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """The environment workers start in; settings of the user's own are kept."""
    added = [name for name in _WORKER_ENVIRONMENT if name not in os.environ]
    os.environ.update({name: _WORKER_ENVIRONMENT[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            del os.environ[name]
