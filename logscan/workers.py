"""Worker processes for inputs too large for one core.

Importing Polars takes a quarter of a second; workers are started before the parent imports
it, so that their imports overlap with the parent's instead of following them. So nothing
here, nor in what it imports, imports Polars.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from logscan.sources import Source

# Below this much input, worker processes cost more to start than they save.
PARALLEL_MIN_BYTES = 96 * 1024 * 1024
COMPRESSION_RATIO_GUESS = 8


def estimated_size(source: Source) -> int:
    # Logs compress about tenfold; a guess is enough to decide whether workers pay off.
    compressed = source.name.endswith((".gz", ".bz2", ".xz", ".zst"))
    return (source.size or 0) * (COMPRESSION_RATIO_GUESS if compressed else 1)


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


def start(workers: int) -> ProcessPoolExecutor:
    """``workers`` processes, already importing the pipeline when this returns."""
    # forkserver, not fork: Polars' thread pool does not survive a fork.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
    # The processes start at the first submit, and take the environment they see then.
    with _one_polars_thread():
        for _ in range(workers):
            pool.submit(_import_pipeline)
    return pool


def _import_pipeline() -> None:
    import logscan.scan  # noqa: F401, PLC0415


@contextlib.contextmanager
def _one_polars_thread() -> Iterator[None]:
    """One Polars thread per worker (Polars reads this when it is imported): as many workers
    as cores keep the cores busy; more threads than cores only contend, and each costs memory."""
    name = "POLARS_MAX_THREADS"
    before = os.environ.get(name)
    os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
