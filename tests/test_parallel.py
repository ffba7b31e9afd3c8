"""Ways of reading that must not change what a scan finds: worker processes (parts of a split
file put back together with the right line numbers, per-file figures added up), and small files
read together."""

import shutil
from pathlib import Path

import polars as pl
import pytest

from golden_cases import REPO
from logscan import scan, shards, workers


def test_parallel_scan_equals_sequential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    big = logs / "chatbot-many.log"
    big.write_text((REPO / "sample_logs/app/chatbot.log").read_text() * 40)
    for name in ("ollama/server.log", "ollama/server.log.1.gz", "app/worker.log", "app/jsonl.log"):
        shutil.copy(REPO / "sample_logs" / name, logs / Path(name).name)
    # Small enough that this input is split into parts and spread over two workers.
    monkeypatch.setattr(workers, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(shards, "MIN_PART_BYTES", 100_000)
    monkeypatch.setattr(shards, "MAX_PART_BYTES", 100_000)
    assert len(shards.plan(scan.sources.expand([str(logs)]), 2)) > 4
    spill = tmp_path / "spill"
    spill.mkdir()

    sequential = scan.run(scan.ScanOptions(paths=[str(logs)], jobs=1))
    parallel = scan.run(scan.ScanOptions(paths=[str(logs)], jobs=2))
    spilled = scan.run(scan.ScanOptions(paths=[str(logs)], jobs=2), spill_dir=spill)

    expected = sequential.events.collect()
    assert parallel.events.collect().equals(expected)
    assert spilled.events.collect().equals(expected)
    assert len(list(spill.iterdir())) > 4, "the workers' occurrences wait on disk"
    assert parallel.files == sequential.files
    assert parallel.summary.total == sequential.summary.total
    assert parallel.summary.records == sequential.summary.records == expected.height > 640
    assert expected.filter(pl.col("file") == str(big)).get_column("line").max() > 11_000
    assert parallel.summary.windows.equals(sequential.summary.windows)
    assert parallel.summary.by_category.equals(sequential.summary.by_category)
    assert parallel.coverage.equals(sequential.coverage)
    # Cluster examples point at the same lines, counted from the start of each file.
    assert parallel.clusters == sequential.clusters
    assert sequential.clusters.total > 0


def test_occurrences_are_not_kept_unless_asked() -> None:
    options = scan.ScanOptions(paths=[str(REPO / "sample_logs")], keep_events=False)
    result = scan.run(options)
    assert result.events is None
    # The records of tests/sample_expectations.json.
    assert sum(report.occurrences for report in result.files) == 129


def test_small_files_read_together_give_what_each_gives_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [str(REPO / "sample_logs"), str(REPO / "tests" / "shapes")]
    together = scan.run(scan.ScanOptions(paths=paths, jobs=1))
    monkeypatch.setattr(shards, "SMALL_FILE_BYTES", -1)
    alone = scan.run(scan.ScanOptions(paths=paths, jobs=1))
    assert sum(1 for path in scan.sources.expand(paths) if path.size and path.size > 0) > 50
    assert together.events.collect().equals(alone.events.collect())
    assert together.files == alone.files
    assert together.clusters == alone.clusters
