"""Worker processes give the same result as one process: parts of a split file are put back
together with the right line numbers, and per-file figures add up."""

import shutil
from pathlib import Path

import polars as pl
import pytest

from golden_cases import REPO
from logscan import scan


def test_parallel_scan_equals_sequential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "chatbot-many.log"
    big.write_text((REPO / "sample_logs/app/chatbot.log").read_text() * 40)
    for name in ("ollama/server.log", "ollama/server.log.1.gz", "app/worker.log"):
        shutil.copy(REPO / "sample_logs" / name, tmp_path / Path(name).name)
    # Small enough that this input is split into parts and spread over two workers.
    monkeypatch.setattr(scan, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(scan, "PART_BYTES", 100_000)
    assert len(scan._tasks(scan.sources.expand([str(tmp_path)]), scan.ScanOptions(paths=()))) > 4

    sequential = scan.run(scan.ScanOptions(paths=[str(tmp_path)], jobs=1))
    parallel = scan.run(scan.ScanOptions(paths=[str(tmp_path)], jobs=2))

    order = ["file", "line"]
    assert parallel.events.sort(order).equals(sequential.events.sort(order))
    assert parallel.files == sequential.files
    assert parallel.summary.total == sequential.summary.total > 640
    assert parallel.events.filter(pl.col("file") == str(big)).get_column("line").max() > 11_000
