"""The map and the reduce of a scan (logscan/shards.py): what a scan finds does not depend on
how its input is cut into shards, on the order the shards finish in, nor on the partials
having travelled as bytes (as they do from a Dask worker)."""

import json
import pickle
import random
import shutil
from pathlib import Path

import polars as pl
import pytest

from golden_cases import REPO
from logscan import executors, scan, shards, sources
from logscan.scanoptions import TimeBounds

COPIES = 40
_EXPECTED = json.loads((REPO / "tests" / "sample_expectations.json").read_text())
# The records of sample_logs and of COPIES more of app/chatbot.log, counted by hand.
RECORDS = len(_EXPECTED["occurrences"]) + COPIES * sum(
    sum(side.values()) for side in _EXPECTED["files"]["app/chatbot.log"].values()
)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sample_logs, and a plain file large enough to be cut into parts."""
    folder = tmp_path_factory.mktemp("logs") / "sample_logs"
    shutil.copytree(REPO / "sample_logs", folder)
    (folder / "app" / "chatbot-many.log").write_text(
        (REPO / "sample_logs/app/chatbot.log").read_text() * COPIES
    )
    return folder


def _with_part_bytes(monkeypatch: pytest.MonkeyPatch, part_bytes: int) -> None:
    monkeypatch.setattr(shards, "MIN_PART_BYTES", part_bytes)
    monkeypatch.setattr(shards, "MAX_PART_BYTES", part_bytes)


@pytest.mark.parametrize(("part_bytes", "shard_count"), [(1 << 30, 1), (700_000, 2), (180_000, 7)])
def test_the_result_does_not_depend_on_the_shards(
    logs: Path, monkeypatch: pytest.MonkeyPatch, part_bytes: int, shard_count: int
) -> None:
    options = scan.ScanOptions(paths=[str(logs)], jobs=1)
    sequential = scan.run(options)
    _with_part_bytes(monkeypatch, part_bytes)
    planned = shards.plan(sources.expand([str(logs)]), 1)
    assert len(planned) == shard_count
    # The last shard planned is read first.
    sharded = scan.run(options, executor=executors.InProcess())

    expected = sequential.events.collect()
    assert expected.height == RECORDS
    assert sharded.events.collect().equals(expected)
    assert sharded.files == sequential.files
    assert sharded.summary.windows.equals(sequential.summary.windows)
    assert sharded.summary.by_category.equals(sequential.summary.by_category)
    assert sharded.summary.total == sequential.summary.total
    assert sharded.clusters == sequential.clusters


def test_a_large_file_is_cut_into_parts_at_record_starts(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_part_bytes(monkeypatch, 200_000)
    planned = shards.plan(sources.expand([str(logs)]), 1)
    parts = [shard for shard in planned if shard.part_numbers != (0,) * len(shard.parts)]
    big = str(logs / "app" / "chatbot-many.log")
    numbered = [(shard.parts[0].name, shard.part_numbers) for shard in planned if shard.parts[0].name == big]
    assert numbered == [(big, (number,)) for number in range(5)]
    assert len(parts) == 4  # the parts after the first
    text = Path(big).read_bytes()
    for shard in planned:
        part = shard.parts[0]
        if part.name == big and part.start:
            # Each part starts on a line that starts a record (a timestamp), after a newline.
            assert text[part.start - 1 : part.start] == b"\n"
            assert text[part.start : part.start + 4] == b"2025"


def test_partials_merge_alike_in_any_order_and_after_pickling(
    logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_part_bytes(monkeypatch, 200_000)
    options = scan.ScanOptions(paths=[str(logs)], jobs=1)
    planned = shards.plan(sources.expand([str(logs)]), 1)
    shard_options = shards.ShardOptions(options, TimeBounds.of(options), spill_dir=None)
    partials = [shards.scan_shard(shard, shard_options) for shard in planned]

    in_order = shards.merge(partials)
    expected = shards.event_frames_of(in_order.events).collect()
    assert expected.height == RECORDS
    assert [report.name for report in in_order.reports] == [
        source.name for source in sources.expand([str(logs)])
    ]
    shuffled = partials.copy()
    random.Random(14).shuffle(shuffled)
    assert len(partials) == 6
    for order in (partials[::-1], partials[3:] + partials[:3], shuffled):
        merged = shards.merge(order)
        assert merged.reports == in_order.reports
        assert shards.event_frames_of(merged.events).collect().equals(expected)
    travelled = [pickle.loads(pickle.dumps(partial)) for partial in reversed(partials)]
    assert all(isinstance(frame, pl.DataFrame) for partial in travelled for frame in partial.events)
    assert shards.event_frames_of(shards.merge(travelled).events).collect().equals(expected)
    # A record keeps its line in its file, whichever part it was read in.
    big = expected.filter(pl.col("file") == str(logs / "app" / "chatbot-many.log"))
    assert big.get_column("line").is_sorted() and big.get_column("line").max() > 11_000


def test_merging_nothing_gives_an_empty_partial() -> None:
    merged = shards.merge([])
    assert (merged.reports, merged.counted, merged.indexes) == ([], 0, ())
    assert shards.event_frames_of(merged.events).collect().is_empty()


def test_a_shard_names_its_files() -> None:
    parts = tuple(sources.Source(f"log{number}.log", data=b"") for number in range(5))
    assert shards.Shard((0, 1, 2, 3, 4), parts, (0,) * 5).names == "log0.log, log1.log, log2.log and 2 more"
    assert shards.Shard((0,), parts[:1], (0,)).names == "log0.log"


def test_shards_for_a_cluster_grow_larger(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = sources.expand([str(logs)])
    # About 1.2 MB in all: one shard of the least size (32 MiB), whatever the number of workers.
    assert len(shards.plan(listed, 64, remote=True)) == len(shards.plan(listed, 64)) == 1
    # An input large enough for shards of the largest size: those of a cluster are larger.
    monkeypatch.setattr(shards, "MIN_PART_BYTES", 1)
    monkeypatch.setattr(shards, "MAX_PART_BYTES", 100_000)
    monkeypatch.setattr(shards, "REMOTE_PART_BYTES", 180_000)
    assert len(shards.plan(listed, 1)) == 12
    assert len(shards.plan(listed, 1, remote=True)) == 7
    assert all(
        source.held_at is None for shard in shards.plan(listed, 1, remote=True) for source in shard.parts
    )
