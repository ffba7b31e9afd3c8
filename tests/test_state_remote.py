"""`--state` beyond local files read here: on a Dask cluster (the module's LocalCluster of 2
worker processes), and over objects in a bucket of the session's real S3 server (nightly
runs that read only new objects). Every count is of GIN lines written here, one failed
request each."""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest
from click.testing import CliRunner
from s3server import S3Store, s3_store
from test_state_scan import gin, settle

from logscan import executors, shards
from logscan.cli import main

__all__ = ["s3_store"]  # the session's S3 server, a fixture


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with executors.local_cluster(2) as cluster, distributed.Client(cluster) as client:
        yield client.scheduler.address


def scan(state: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["scan", "--state", str(state), "-f", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def counted(report: dict[str, Any]) -> tuple[int, list[tuple[str, int, str | None]]]:
    """The requests counted, and each input's lines read and incremental note."""
    return report["requests"], [(Path(f["name"]).name, f["lines"], f["incremental"]) for f in report["files"]]


def offsets(state: Path) -> list[tuple[str, int, int]]:
    with sqlite3.connect(state) as connection:
        return connection.execute("SELECT path, offset, lines FROM files ORDER BY path").fetchall()


def test_state_on_a_cluster_continues_each_file_as_the_local_run_does(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    server = logs / "server.log"
    server.write_text(gin(*range(3000)))
    (logs / "server.log.1.gz").write_bytes(gzip.compress(gin(*range(5000, 5010)).encode()))
    # Small shards planned here, in the driver, so that the growing file is cut into parts.
    monkeypatch.setattr(shards, "MIN_PART_BYTES", 60_000)
    monkeypatch.setattr(shards, "REMOTE_PART_BYTES", 60_000)
    cluster = ("--executor", "dask", "--scheduler", scheduler)
    runs: dict[str, list[tuple[int, list[tuple[str, int, str | None]]]]] = {"local": [], "cluster": []}
    for night in range(3):
        if night:
            with server.open("a") as log:
                log.write(gin(*range(3000 * night, 3000 * night + 1000 * night)))
        settle(logs)
        runs["local"].append(counted(scan(tmp_path / "local.db", str(logs))))
        runs["cluster"].append(counted(scan(tmp_path / "cluster.db", str(logs), *cluster)))
    assert runs["cluster"] == runs["local"]
    assert runs["local"] == [
        (3010, [("server.log", 3000, None), ("server.log.1.gz", 10, None)]),
        (
            1000,
            [
                ("server.log", 1000, "continued from line 3,001"),
                ("server.log.1.gz", 0, "nothing new since the last run"),
            ],
        ),
        (
            2000,
            [
                ("server.log", 2000, "continued from line 4,001"),
                ("server.log.1.gz", 0, "nothing new since the last run"),
            ],
        ),
    ]
    assert offsets(tmp_path / "cluster.db") == offsets(tmp_path / "local.db")
    assert [lines for _path, _offset, lines in offsets(tmp_path / "local.db")] == [6000, 10]
    assert offsets(tmp_path / "local.db")[0][1] == server.stat().st_size


def test_state_on_dask_local_equals_the_local_run(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "server.log").write_text(gin(1, 2, 3))
    settle(logs)
    first = [counted(scan(tmp_path / f"{where}.db", str(logs), *extra)) for where, extra in _EXECUTORS]
    with (logs / "server.log").open("a") as log:
        log.write(gin(4, 5))
    settle(logs)
    second = [counted(scan(tmp_path / f"{where}.db", str(logs), *extra)) for where, extra in _EXECUTORS]
    assert first == [(3, [("server.log", 3, None)])] * 2
    assert second == [(2, [("server.log", 2, "continued from line 4")])] * 2
    assert offsets(tmp_path / "dask.db") == offsets(tmp_path / "local.db")


_EXECUTORS = (("local", ()), ("dask", ("--executor", "dask-local:2")))


def test_nightly_runs_over_a_bucket_read_only_new_objects(s3_store: S3Store, tmp_path: Path) -> None:
    prefix = s3_store.prefix()
    bucket = s3_store.filesystem()
    url = f"s3://{prefix}/"
    state = tmp_path / "state.db"

    def night() -> tuple[int, list[tuple[str, int, str | None]]]:
        return counted(scan(state, url, *s3_store.cli_options))

    bucket.pipe(f"{prefix}/a.log", gin(1, 2, 3).encode())
    bucket.pipe(f"{prefix}/b.log", gin(4, 5).encode())
    assert night() == (5, [("a.log", 3, None), ("b.log", 2, None)])

    # A copy of a known object, a growing log uploaded again, and a new object.
    bucket.pipe(f"{prefix}/a-copy.log", gin(1, 2, 3).encode())
    bucket.pipe(f"{prefix}/b.log", gin(4, 5, 6, 7).encode())
    bucket.pipe(f"{prefix}/c.log", gin(9).encode())
    assert night() == (
        3,
        [
            ("a-copy.log", 0, f"the same object as {url}a.log, read under that name"),
            ("a.log", 0, "nothing new since the last run"),
            ("b.log", 2, "continued from line 3"),
            ("c.log", 1, None),
        ],
    )

    # Other content under a known key is read whole; the rest has nothing new.
    bucket.pipe(f"{prefix}/c.log", gin(20, 21).encode())
    assert night() == (
        2,
        [
            ("a-copy.log", 0, f"the same object as {url}a.log, read under that name"),
            ("a.log", 0, "nothing new since the last run"),
            ("b.log", 0, "nothing new since the last run"),
            ("c.log", 2, "replaced by other content since the last run: read from its start"),
        ],
    )
    with sqlite3.connect(state) as connection:
        stored = connection.execute("SELECT url, size, offset, lines FROM objects ORDER BY url").fetchall()
    sizes = {
        name: len(gin(*numbers).encode())
        for name, numbers in (("a", (1, 2, 3)), ("b", (4, 5, 6, 7)), ("c", (20, 21)))
    }
    assert stored == [
        (f"{url}{name}.log", size, size, lines)
        for (name, size), lines in zip(sizes.items(), (3, 4, 2), strict=True)
    ]
