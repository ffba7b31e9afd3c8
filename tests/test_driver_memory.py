"""What the process that joins the records holds: the workers are gone once their shards are in,
and the per-request figures come out the same whether the join hands its names over as
categories (as it does, to keep them small) or as strings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden_cases import REPO
from logscan import aggregate, scan, shards, workers

CLIENTS = [None, "httpx", "requests", "openai", "ollama-python"]
AGENTS = [None, "python-httpx", "python-requests", "curl"]


def test_workers_handed_in_are_stopped_once_their_shards_are_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "chatbot-many.log").write_text((REPO / "sample_logs/app/chatbot.log").read_text() * 40)
    shutil.copy(REPO / "sample_logs/ollama/server.log", logs / "server.log")
    monkeypatch.setattr(workers, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(shards, "MIN_PART_BYTES", 100_000)
    monkeypatch.setattr(shards, "MAX_PART_BYTES", 100_000)
    alone = scan.run(scan.ScanOptions(paths=[str(logs)], jobs=1))
    with workers.start(2) as pool:
        pids = {pool.submit(os.getpid).result() for _ in range(4)}
        assert pids and os.getpid() not in pids
        spread = scan.run(scan.ScanOptions(paths=[str(logs)], jobs=2), pool=pool)
        # Still inside the caller's block: the workers have exited and been reaped already.
        assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
        with pytest.raises(RuntimeError, match="shutdown"):
            pool.submit(os.getpid)
    assert spread.summary.total == alone.summary.total > 0
    assert spread.tally.sort(pl.all()).equals(alone.tally.sort(pl.all()))


def test_request_figures_of_a_few_requests_counted_by_hand() -> None:
    records = pl.DataFrame(
        {
            "request_id": [0, 0, 0, 1, 1, 2, 3],
            "side": ["client", "client", "server", "client", "server", "server", "client"],
            "client": ["httpx", "openai", None, None, None, None, "requests"],
            "user_agent": [None, None, "python-httpx", None, "python-httpx", None, "curl"],
        }
    )
    expected = pl.DataFrame(
        {
            "request_id": [0, 1, 2, 3],
            "server_records": [1, 1, 1, 0],
            "client_records": [2, 1, 0, 1],
            # an SDK over its transport; a proxy's agent named as its library; none; a transport
            "client": ["openai", "httpx", None, "requests"],
        }
    )
    assert aggregate.request_figures(records).equals(expected)


@st.composite
def joined_records(draw: st.DrawFn) -> pl.DataFrame:
    count = draw(st.integers(min_value=1, max_value=40))
    requests = draw(st.lists(st.integers(0, 8), min_size=count, max_size=count))
    return pl.DataFrame(
        {
            "request_id": requests,
            "side": draw(st.lists(st.sampled_from(["client", "server"]), min_size=count, max_size=count)),
            "client": draw(st.lists(st.sampled_from(CLIENTS), min_size=count, max_size=count)),
            "user_agent": draw(st.lists(st.sampled_from(AGENTS), min_size=count, max_size=count)),
        },
        schema={"request_id": pl.Int64, "side": pl.String, "client": pl.String, "user_agent": pl.String},
    )


@settings(max_examples=200, deadline=None)
@given(joined_records())
def test_request_figures_do_not_depend_on_how_names_are_encoded(records: pl.DataFrame) -> None:
    as_categories = records.with_columns(pl.col("side", "client", "user_agent").cast(pl.Categorical))
    figures = aggregate.request_figures(records)
    assert aggregate.request_figures(as_categories).equals(figures)
    assert figures.schema["client"] == pl.String
    assert figures["server_records"].sum() + figures["client_records"].sum() == records.height
