"""The scan on a real Dask cluster (a LocalCluster of 2 worker processes, one for the module):
the same report and events as the local scan, from files and from a bucket, split into many
shards or not; failures named; every worker checked for logscan's version; Polars' threads
per worker bounded."""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import distributed
import polars as pl
import pytest
from click.testing import CliRunner
from s3server import S3Store, s3_store

import logscan
from golden_cases import REPO
from logscan import executors, scan, shards, workers
from logscan.cli import main
from logscan.errors import ScanError

__all__ = ["s3_store"]  # the session's S3 server, a fixture

SAMPLE_LOGS = REPO / "sample_logs"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with executors.local_cluster(2) as cluster, distributed.Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def cluster(client: distributed.Client) -> executors.DaskCluster:
    return executors.prepared(client)


def _scan_both_ways(paths: list[str], executor_options: list[str], tmp_path: Path, *options: str):
    """The local scan's and the cluster's results (stdout, stderr, exit code, events)."""
    found = []
    for where, extra in (("local", []), ("cluster", executor_options)):
        events = tmp_path / f"{where}-events.csv"
        result = invoke("scan", *paths, "-f", "csv", "--events", str(events), *options, *extra)
        found.append((result.stdout, result.stderr, result.exit_code, events.read_text()))
    return found


def test_dask_local_gives_what_the_local_scan_gives(tmp_path: Path) -> None:
    local, on_cluster = _scan_both_ways([f"{SAMPLE_LOGS}/"], ["--executor", "dask-local:2"], tmp_path)
    assert on_cluster == local
    assert local[2] == 0 and local[0].count("\n") > 10


def test_many_shards_on_a_cluster_give_what_the_local_scan_gives(
    cluster: executors.DaskCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLE_LOGS, logs)
    (logs / "app" / "chatbot-many.log").write_text((SAMPLE_LOGS / "app" / "chatbot.log").read_text() * 40)
    # Shards are planned here, in the driver: small ones, so that this input makes several.
    monkeypatch.setattr(shards, "MIN_PART_BYTES", 180_000)
    monkeypatch.setattr(shards, "REMOTE_PART_BYTES", 180_000)
    monkeypatch.setenv("COLUMNS", "300")  # the progress line is cut to the terminal's width
    address = cluster.client.scheduler.address
    local, on_cluster = _scan_both_ways(
        [str(logs)], ["--executor", "dask", "--scheduler", address, "--progress"], tmp_path
    )
    assert on_cluster[0] == local[0]
    assert on_cluster[3] == local[3]
    assert on_cluster[2] == local[2] == 0
    # The progress line counts the shards done, 7 in all (see test_shards.py).
    last = on_cluster[1].rsplit("\r", 1)[1]
    assert re.search(r" 28/28 files 7/7 shards [\d,]+ 400s ", last), last


def test_a_bucket_on_a_cluster_gives_what_the_local_scan_gives(
    cluster: executors.DaskCluster, s3_store: S3Store, tmp_path: Path
) -> None:
    url = s3_store.upload(SAMPLE_LOGS, s3_store.prefix())
    address = cluster.client.scheduler.address
    [local] = _scan_both_ways([f"{SAMPLE_LOGS}/"], [], tmp_path)[:1]
    events = tmp_path / "bucket-events.csv"
    result = invoke(
        "scan", url, "-f", "csv", "--events", str(events), "--executor", "dask", "--scheduler", address,
        *s3_store.cli_options,
    )  # fmt: skip
    assert (result.stdout, result.stderr, result.exit_code) == local[:3]
    assert events.read_text().replace(url, f"{SAMPLE_LOGS}/") == local[3]


def test_a_damaged_file_on_a_cluster_is_named_as_locally(
    cluster: executors.DaskCluster, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(SAMPLE_LOGS / "ollama" / "server.log", logs / "server.log")
    whole = (SAMPLE_LOGS / "ollama" / "server.log.1.gz").read_bytes()
    (logs / "server.log.1.gz").write_bytes(whole[: len(whole) // 2])
    options = ["--executor", "dask", "--scheduler", cluster.client.scheduler.address]
    local, on_cluster = _scan_both_ways(
        [str(logs / "server.log"), str(logs / "server.log.1.gz")], options, tmp_path
    )
    assert on_cluster == local
    # Named on the command line: exit 2, as grep does, after the rest is scanned.
    assert (
        local[1]
        == f"logscan: warning: {logs}/server.log.1.gz: read failed: compressed data ends early (the file is truncated)\n"
    )
    assert local[2] == 2


def test_a_failing_shard_is_named_with_its_error(cluster: executors.DaskCluster) -> None:
    """The same failure, on the cluster, in the local pool and in this process."""
    items = [(7, 2), (1, 0), (9, 3)]
    expected = "item (1, 0): ZeroDivisionError: integer division or modulo by zero"
    with workers.start(2) as pool:
        for executor in (cluster, executors.LocalPool(pool, 2), executors.InProcess()):
            with pytest.raises(ScanError) as failed:
                executors.map_reduce(
                    executor, _floor_divided, sorted, items, None, name_of=lambda item: f"item {item}"
                )
            assert str(failed.value) == expected
            assert executors.map_reduce(executor, _floor_divided, sorted, [(7, 2), (9, 3)], None) == [3, 3]


def _floor_divided(pair: tuple[int, int], _unused: None) -> int:
    return pair[0] // pair[1]


def test_every_worker_must_run_this_version(
    client: distributed.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executors, "__version__", "0.0.0")
    with pytest.raises(ScanError) as failed:
        executors.prepared(client)
    addresses = sorted(client.scheduler_info(n_workers=-1)["workers"])
    python = ".".join(map(str, sys.version_info[:2]))
    assert str(failed.value) == (
        f"every Dask worker needs logscan 0.0.0 (Python {python}), as here: "
        + "; ".join(f"{address}: logscan {logscan.__version__}" for address in addresses)
    )


def test_polars_threads_per_worker_share_the_cores(cluster: executors.DaskCluster) -> None:
    scan.run(scan.ScanOptions(paths=[str(SAMPLE_LOGS)]), executor=cluster)
    threads = cluster.client.run(_polars_threads)
    expected = int(os.environ.get("POLARS_MAX_THREADS") or max(1, (os.cpu_count() or 1) // 2))
    assert list(threads.values()) == [expected, expected]


def _polars_threads() -> int:
    return pl.thread_pool_size()


def test_executor_options_are_checked() -> None:
    result = invoke("scan", str(SAMPLE_LOGS), "--executor", "dask")
    assert result.exit_code == 2
    assert result.stderr == (
        "logscan: error: --executor dask needs the cluster's scheduler: --scheduler tcp://HOST:8786,"
        " or DASK_SCHEDULER_ADDRESS\n"
    )
    result = invoke("scan", str(SAMPLE_LOGS), "--executor", "dask-local:0")
    assert result.exit_code == 2
    assert result.stderr == (
        "logscan: error: --executor 'dask-local:0' is not one of local, dask-local:N (N worker processes) or dask\n"
    )


def test_help_does_not_import_dask_nor_fsspec() -> None:
    code = (
        "import sys\nfrom logscan.cli import main\n"
        "try:\n    main(['scan', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(name for name in ('distributed', 'dask', 'fsspec', 's3fs', 'polars') if name in sys.modules))"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.splitlines()[-1] == "[]"
    assert "--executor local|dask-local:N|dask" in printed
