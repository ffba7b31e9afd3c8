"""`--state` beyond local files read here: on a Dask cluster (the module's LocalCluster of 2
worker processes), and over objects in a bucket of the session's real S3 server (nightly
runs that read only new objects). Every count is of GIN lines written here, one failed
request each."""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import distributed
import pytest
from click.testing import CliRunner
from s3server import S3Store, s3_store
from test_state_scan import gin, settle

from logscan import executors, shards, sources
from logscan.cli import main
from logscan.incremental import IncrementalScan
from logscan.inputs import ReadPolicy, Source
from logscan.objectstore import RemoteObject
from logscan.scanoptions import ScanOptions
from logscan.state import FORGET_AFTER_MISSING_RUNS, FileRead, PlanReason, Run, StateDB

__all__ = ["s3_store"]  # the session's S3 server, a fixture

START = datetime(2025, 5, 8, 2, 0, tzinfo=UTC)


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


def nightly(
    s3_store: S3Store, state: Path
) -> tuple[str, Any, str, Callable[[], tuple[int, list[tuple[str, int, str | None]]]]]:
    """A prefix of its own in the bucket, the bucket, the prefix's URL, and a nightly run over
    it with ``state``."""
    prefix = s3_store.prefix()
    url = f"s3://{prefix}/"
    return prefix, s3_store.filesystem(), url, lambda: counted(scan(state, url, *s3_store.cli_options))


def test_nightly_runs_over_a_bucket_read_only_new_objects(s3_store: S3Store, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    prefix, bucket, url, night = nightly(s3_store, state)

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


def test_a_growing_compressed_object_is_continued_and_a_moved_one_is_not_read_again(
    s3_store: S3Store, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    prefix, bucket, url, night = nightly(s3_store, state)

    bucket.pipe(f"{prefix}/server.log.gz", gzip.compress(gin(1, 2).encode()))
    bucket.pipe(f"{prefix}/old.log", gin(30, 31, 32).encode())
    assert night() == (5, [("old.log", 3, None), ("server.log.gz", 2, None)])

    # Offsets of a compressed object count its decompressed bytes.
    bucket.pipe(f"{prefix}/server.log.gz", gzip.compress(gin(1, 2, 3, 4, 5).encode()))
    bucket.copy(f"{prefix}/old.log", f"{prefix}/archived/old.log")
    bucket.rm_file(f"{prefix}/old.log")
    assert night() == (
        3,
        [
            ("old.log", 0, f"was {url}old.log, nothing new since the last run"),
            ("server.log.gz", 3, "continued from line 3"),
        ],
    )
    with sqlite3.connect(state) as connection:
        stored = connection.execute("SELECT url, offset, lines FROM objects ORDER BY url").fetchall()
    assert stored == [
        (f"{url}archived/old.log", len(gin(30, 31, 32).encode()), 3),
        (f"{url}server.log.gz", len(gin(1, 2, 3, 4, 5).encode()), 5),
    ]


def test_objects_no_longer_listed_are_forgotten_after_a_week_of_runs(
    s3_store: S3Store, tmp_path: Path
) -> None:
    prefix = s3_store.prefix()
    bucket = s3_store.filesystem()
    state = tmp_path / "state.db"
    bucket.pipe(f"{prefix}/kept.log", gin(1).encode())
    bucket.pipe(f"{prefix}/gone.log", gin(2).encode())
    scan(state, f"s3://{prefix}/", *s3_store.cli_options)
    bucket.rm_file(f"{prefix}/gone.log")
    missing = []
    for _night in range(FORGET_AFTER_MISSING_RUNS):
        scan(state, f"s3://{prefix}/", *s3_store.cli_options)
        with sqlite3.connect(state) as connection:
            missing.append(
                connection.execute("SELECT url, missing_runs FROM objects ORDER BY url").fetchall()
            )
    gone, kept = f"s3://{prefix}/gone.log", f"s3://{prefix}/kept.log"
    assert missing[0] == [(gone, 1), (kept, 0)]
    assert missing[-2] == [(gone, FORGET_AFTER_MISSING_RUNS - 1), (kept, 0)]
    assert missing[-1] == [(kept, 0)]


def test_state_over_a_bucket_on_a_cluster_equals_the_local_run(
    scheduler: str, s3_store: S3Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = s3_store.prefix()
    bucket = s3_store.filesystem()
    url = f"s3://{prefix}/"
    monkeypatch.setattr(shards, "MIN_PART_BYTES", 60_000)
    monkeypatch.setattr(shards, "REMOTE_PART_BYTES", 60_000)
    cluster = ("--executor", "dask", "--scheduler", scheduler)
    found: dict[str, list[tuple[int, list[tuple[str, int, str | None]]]]] = {"local": [], "cluster": []}
    for night, lines in enumerate((2000, 3000)):
        bucket.pipe(f"{prefix}/server.log", gin(*range(lines)).encode())
        bucket.pipe(f"{prefix}/small.log", gin(9000 + night).encode())
        for where, extra in (("local", ()), ("cluster", cluster)):
            found[where].append(counted(scan(tmp_path / f"{where}.db", url, *s3_store.cli_options, *extra)))
    assert (
        found["cluster"]
        == found["local"]
        == [
            (2001, [("server.log", 2000, None), ("small.log", 1, None)]),
            (
                1001,
                [
                    ("server.log", 1000, "continued from line 2,001"),
                    ("small.log", 1, "replaced by other content since the last run: read from its start"),
                ],
            ),
        ]
    )
    with sqlite3.connect(tmp_path / "local.db") as local, sqlite3.connect(tmp_path / "cluster.db") as remote:
        rows = [
            c.execute("SELECT url, offset, lines FROM objects ORDER BY url").fetchall()
            for c in (local, remote)
        ]
    assert rows[0] == rows[1]
    assert rows[0][0] == (f"{url}server.log", len(gin(*range(3000)).encode()), 3000)


def _listed(url: str, content: bytes, etag: str | None) -> Source:
    """An object as listed, its content held here (read as the object's would be)."""
    return Source(url, data=content, remote=RemoteObject(url, len(content), etag))


def test_objects_are_planned_by_key_etag_size_and_first_bytes(tmp_path: Path) -> None:
    log = gin(1, 2).encode()
    longer = gin(1, 2, 3).encode()
    with StateDB.open(tmp_path / "state.db") as db:
        first = db.plan_objects([_listed("s3://b/a.log", log, "e1"), _listed("s3://b/n.log", log, None)])
        assert [(plan.reason, plan.start, plan.end) for plan in first] == [
            (PlanReason.NEW, 0, None),
            (PlanReason.NEW, 0, None),
        ]
        db.commit(Run(START, START, [FileRead(plan, len(log), 2) for plan in first], 4, {}))
        again = db.plan_objects(
            [
                _listed("s3://b/a.log", longer, "e2"),
                _listed("s3://b/copy.log", log, "e1"),
                _listed("s3://b/n.log", log, None),
            ]
        )
    assert [(plan.reason, plan.start, plan.end, plan.lines_before, plan.known_as) for plan in again] == [
        (PlanReason.CONTINUED, len(log), len(longer), 2, None),
        # a.log's old ETag under another key, a.log itself having moved on: read it, not a copy
        (PlanReason.NEW, 0, None, 0, None),
        # No ETag: the same size and first bytes are the same object.
        (PlanReason.CONTINUED, len(log), len(log), 2, None),
    ]


def test_an_object_not_read_to_its_end_is_read_the_next_night(s3_store: S3Store, tmp_path: Path) -> None:
    prefix, bucket, url, night = nightly(s3_store, tmp_path / "state.db")
    bucket.pipe(f"{prefix}/a.log", gin(1, 2).encode())
    listed = sources.expand([url], ReadPolicy(), s3_store.storage_options)
    run = IncrementalScan.open(tmp_path / "state.db")
    with run.db:
        planned = run.plan(listed)
        bucket.pipe(f"{prefix}/a.log", gin(1, 2, 3).encode())
        result = run.scan(ScanOptions(paths=(), jobs=1), planned)
        assert [(report.lines, report.error) for report in result.files] == [
            (0, "replaced since it was listed (another size or ETag): not read")
        ]
        # Back as it was listed (the same ETag): still never read.
        bucket.pipe(f"{prefix}/a.log", gin(1, 2).encode())
        run.commit()
    assert night() == (2, [("a.log", 2, None)])
    assert night() == (0, [("a.log", 0, "nothing new since the last run")])
