"""Where shards run: the local process pool (workers.py), or a Dask cluster, local or remote.

An executor maps a shard function over shards and hands the results back as they finish;
``map_reduce`` reduces them with the merge function it is given. Nothing here knows the
pipeline: the shard and merge functions are passed in. Dask is imported only when a Dask
executor is asked for, so that the rest of logscan starts without it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from logscan import __version__
from logscan.errors import ScanError, UsageError

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor  # the attribute imports multiprocessing

    import distributed

Item = TypeVar("Item")
Argument = TypeVar("Argument")
Result = TypeVar("Result")

# Up to this much input, Polars on one thread is faster than on its pool of one per core: a
# small scan runs some 400 queries of a few rows each, and handing each one to the pool costs
# more than sharing its work saves (measured on 2 cores: 64 KiB and 1 MiB of logs 5-8 %
# faster, a three-line file's pipeline a third faster on a busy machine).
ONE_THREAD_MAX_BYTES = 2**20
POLARS_THREADS_VARIABLE = "POLARS_MAX_THREADS"


def one_polars_thread_for_small_input(input_bytes: int | None) -> None:
    """Give Polars one thread when the input (``input_bytes``, None when not known) is small.
    Only before Polars is imported, since it reads the setting then, and never over the
    user's own setting."""
    if input_bytes is None or input_bytes > ONE_THREAD_MAX_BYTES:
        return
    if "polars" in sys.modules or POLARS_THREADS_VARIABLE in os.environ:
        return
    os.environ[POLARS_THREADS_VARIABLE] = "1"


LOCAL = "local"
DASK = "dask"
DASK_LOCAL_PREFIX = "dask-local:"
INSTALL_HINT = "install logscan with the dask extra (pip install 'logscan[dask]')"
# A scan's Dask tasks are named after it, so that they show up as such on the cluster's dashboard.
_TASK_PREFIX = "logscan-shard"


class ShardFailedError(Exception):
    """Shard ``number`` raised ``error`` where it ran."""

    def __init__(self, number: int, error: BaseException) -> None:
        super().__init__(number, error)
        self.number = number
        self.error = error


class Executor(Protocol):
    # Shards are sized so that this many workers are kept busy.
    workers: int
    # Whether the workers run on this machine, as this user: they may then read a file through
    # a descriptor this process holds (/proc/<pid>/fd) and leave records in its spill folder.
    shares_files: bool

    def submit_all(
        self, function: Callable[[Item, Argument], Result], items: Sequence[Item], argument: Argument
    ) -> Iterator[tuple[int, Result]]:
        """Submit ``function(item, argument)`` for every item now, and yield each item's number
        and result as it finishes; a failure raises ShardFailedError."""
        ...


def map_reduce(
    executor: Executor,
    function: Callable[[Item, Argument], Result],
    merge: Callable[[Sequence[Result]], Result],
    items: Sequence[Item],
    argument: Argument,
    *,
    on_done: Callable[[int, Result], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
    name_of: Callable[[Item], str] = str,
) -> Result:
    """``merge`` of ``function(item, argument)`` over ``items``, run by ``executor``.
    ``meanwhile`` runs here once every item is submitted; ``on_done`` sees each result as it
    comes in. A failing item stops the run with a ScanError naming it and its error."""
    completions = executor.submit_all(function, items, argument)
    if meanwhile is not None:
        meanwhile()
    results: list[Result] = []
    try:
        for number, result in completions:
            results.append(result)
            if on_done is not None:
                on_done(number, result)
    except ShardFailedError as failed:
        error = failed.error
        first_line = next(iter(str(error).splitlines()), "")
        raise ScanError(
            f"{name_of(items[failed.number])}: {type(error).__name__}{': ' if first_line else ''}{first_line}"
        ) from error
    return merge(results)


@dataclass
class LocalPool:
    """The worker processes of workers.py."""

    pool: ProcessPoolExecutor
    workers: int
    shares_files: bool = True

    def submit_all(
        self, function: Callable[[Item, Argument], Result], items: Sequence[Item], argument: Argument
    ) -> Iterator[tuple[int, Result]]:
        futures = {self.pool.submit(function, item, argument): number for number, item in enumerate(items)}
        return self._completed(futures)

    @staticmethod
    def _completed(futures: dict[Any, int]) -> Iterator[tuple[int, Any]]:
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenExecutor:
                raise  # the pool itself is gone (a worker killed): not one shard's doing
            except Exception as error:
                raise ShardFailedError(futures[future], error) from error
            yield futures[future], result


@dataclass
class InProcess:
    """Shards read one after the other in this process, the last planned first: a scan
    through it shows that its result does not depend on the order shards finish in."""

    workers: int = 1
    shares_files: bool = True

    def submit_all(
        self, function: Callable[[Item, Argument], Result], items: Sequence[Item], argument: Argument
    ) -> Iterator[tuple[int, Result]]:
        for number in reversed(range(len(items))):
            try:
                result = function(items[number], argument)
            except Exception as error:
                raise ShardFailedError(number, error) from error
            yield number, result


@dataclass
class DaskCluster:
    """The workers of a Dask distributed cluster, through ``client``."""

    client: distributed.Client
    workers: int
    shares_files: bool = False

    def submit_all(
        self, function: Callable[[Item, Argument], Result], items: Sequence[Item], argument: Argument
    ) -> Iterator[tuple[int, Result]]:
        import distributed  # noqa: PLC0415

        # Sent once, not with every task; under a key of this scan's own (a content hash would
        # give an equal argument of an earlier scan's key, which that scan's cancellation may
        # release while these tasks still wait for it).
        [shared] = self.client.scatter([argument], broadcast=False, hash=False)
        scan_id = uuid.uuid4().hex[:12]  # keys are unique per scan: Dask reuses the result of a known key
        keys = [f"{_TASK_PREFIX}-{scan_id}-{number}" for number in range(len(items))]
        futures = self.client.map(function, items, [shared] * len(items), key=keys)
        numbers = {future.key: number for number, future in enumerate(futures)}
        return self._completed(distributed.as_completed(futures), numbers, futures)

    def _completed(
        self, completions: Iterator[Any], numbers: dict[str, int], futures: list[Any]
    ) -> Iterator[tuple[int, Any]]:
        try:
            for future in completions:
                number = numbers[future.key]
                if future.status == "error":
                    raise ShardFailedError(number, future.exception())
                yield number, future.result()
        finally:
            # Stopped early (a failure, Ctrl-C): the cluster drops what is left of this scan.
            self.client.cancel(futures)


def check_spec(spec: str) -> str:
    """``spec`` if it names an executor (local, dask, dask-local:N), else a UsageError."""
    if spec in (LOCAL, DASK) or _local_workers(spec) is not None:
        return spec
    raise UsageError(f"--executor '{spec}' is not one of local, dask-local:N (N worker processes) or dask")


def _local_workers(spec: str) -> int | None:
    count = spec.removeprefix(DASK_LOCAL_PREFIX)
    if spec.startswith(DASK_LOCAL_PREFIX) and count.isdigit() and int(count) > 0:
        return int(count)
    return None


@contextlib.contextmanager
def opened(spec: str, scheduler: str | None) -> Iterator[DaskCluster | None]:
    """The executor ``spec`` names, ready for a scan and closed when the block ends: None for
    ``local`` (the scan picks its own worker processes), else a Dask cluster, started here
    (``dask-local:N``) or reached at ``scheduler``."""
    check_spec(spec)
    if spec == LOCAL:
        yield None
        return
    if spec == DASK and not scheduler:
        raise UsageError(
            "--executor dask needs the cluster's scheduler:"
            " --scheduler tcp://HOST:8786, or DASK_SCHEDULER_ADDRESS"
        )
    try:
        import distributed  # noqa: PLC0415
    except ImportError as error:
        raise UsageError(f"--executor {spec}: Dask is not installed here: {INSTALL_HINT}") from error
    with contextlib.ExitStack() as stack:
        local_workers = _local_workers(spec)
        if local_workers is not None:
            cluster = stack.enter_context(local_cluster(local_workers))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout="10s"))
            except (OSError, TimeoutError) as error:
                raise ScanError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from error
        yield prepared(client)


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[distributed.LocalCluster]:
    """A Dask cluster of ``workers`` processes on this machine, one thread each, for this run."""
    import logging  # noqa: PLC0415

    import distributed  # noqa: PLC0415

    with distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster


def prepared(client: distributed.Client) -> DaskCluster:
    """``client``'s cluster checked and set up for a scan: every worker runs this logscan's
    version, and Polars in each uses no more threads than its share of its machine's cores."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        raise ScanError(f"the Dask cluster at {client.scheduler.address} has no workers")
    versions = client.run(_worker_versions, on_error="return")
    problems = []
    for address, found in sorted(versions.items()):
        if isinstance(found, BaseException):
            problems.append(f"{address}: logscan cannot run there ({type(found).__name__}: {found})")
        elif found["logscan"] != __version__:
            problems.append(f"{address}: logscan {found['logscan']}")
    if problems:
        raise ScanError(
            f"every Dask worker needs logscan {__version__} (Python {_python()}), as here: "
            + "; ".join(problems)
        )
    threads_per_host: dict[str, int] = {}
    for address, worker in workers.items():
        host = worker.get("host") or address
        threads_per_host[host] = threads_per_host.get(host, 0) + worker["nthreads"]
    # Workers that join the cluster later keep Polars' default pool (one thread per core).
    client.run(_limit_polars_threads, threads_per_host)
    return DaskCluster(client, workers=sum(worker["nthreads"] for worker in workers.values()))


def _python() -> str:
    return ".".join(map(str, sys.version_info[:2]))


def _worker_versions() -> dict[str, str]:
    import logscan  # noqa: PLC0415

    return {"logscan": logscan.__version__, "python": _python()}


def _limit_polars_threads(threads_per_host: dict[str, int], dask_worker: Any) -> int | None:
    """In a worker: Polars' thread pool made the worker's share of its machine's cores, so that
    the workers of a machine do not oversubscribe them; the pool's size, or None when Polars
    was imported before (it reads POLARS_MAX_THREADS once) with a pool of its own. Dask hands
    the worker in as ``dask_worker``."""
    if "polars" in sys.modules:
        return None
    worker = dask_worker
    host = worker.address.split("://")[-1].rsplit(":", 1)[0]
    sharing = threads_per_host.get(host) or worker.state.nthreads or 1
    threads = max(1, (os.cpu_count() or 1) // sharing)
    os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
    return int(os.environ["POLARS_MAX_THREADS"])
