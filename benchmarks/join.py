#!/usr/bin/env python3
"""Time the request join on a million server 400 lines against a million client records.

The input is generated as the pipeline would hand it over: one Ollama server log of GIN 400
lines whose clock runs hours behind, and client records spread over a few application logs,
one per failed request, on a few endpoints. Requests arrive at random (exponential gaps) with
some bursts (a request following the one before within 300 ms, on the same endpoint), which
no one can pair with certainty. Each client record logs 2-80 ms after its GIN line.

Printed: time of ``join`` (median of ``--repeat`` runs), peak RSS of the process while joining,
the offset found, and how the GIN lines were attributed, checked against the generator's truth
(a wrong attribution is a GIN line given the cause of a client record of another request).

Usage::

    python benchmarks/join.py                       # 1,000,000 requests over 60 days
    python benchmarks/join.py --requests 100000 --days 6 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from logscan.requests import JoinOptions, join
from logscan.requests.model import INPUT_COLUMNS

SERVER_BEHIND = dt.timedelta(hours=3, seconds=7)
ENDPOINTS = ["/api/chat", "/api/generate", "/v1/chat/completions", "/api/embed"]
CLIENT_FILES = ["app/api.log", "app/worker.log", "bot/bot.log", "web/node.log"]
CATEGORIES = ["request_format", "unsupported_capability", "context_or_options", "invalid_model_name"]
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BURST_SHARE = 0.02


def uniform(seed: int) -> pl.Expr:
    """A uniform number in [0, 1) per row, from a hash of its index."""
    return pl.int_range(pl.len(), dtype=pl.UInt64).hash(seed) / float(2**64)


def generate(requests: int, days: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The records frame, and the truth: each request's GIN key and client key."""
    mean_gap_us = days * 86_400e6 / requests
    # A request that opens a burst is followed by 1-3 more within 300 ms on the same endpoint.
    truth = (
        pl.DataFrame({"request": pl.int_range(requests, eager=True)})
        .with_columns(
            gap=pl.when(uniform(1) < BURST_SHARE)
            .then(uniform(2) * 300_000)
            .otherwise(-(1 - uniform(3)).log() * mean_gap_us),
            in_burst=uniform(1) < BURST_SHARE,
            endpoint_pick=(uniform(4) * uniform(4) * len(ENDPOINTS)).floor().cast(pl.Int64),
        )
        .with_columns(
            burst=(~pl.col("in_burst")).cum_sum(),
            instant=pl.lit(START) + pl.duration(microseconds=pl.col("gap").cum_sum().cast(pl.Int64)),
        )
        .with_columns(
            endpoint=pl.col("endpoint_pick").first().over("burst").replace_strict(range(4), ENDPOINTS),
            client_delay=pl.duration(microseconds=(2_000 + uniform(5) * 78_000).cast(pl.Int64)),
            client_file=(uniform(6) * len(CLIENT_FILES))
            .floor()
            .cast(pl.Int64)
            .replace_strict(range(4), CLIENT_FILES),
            category=(uniform(7) * len(CATEGORIES))
            .floor()
            .cast(pl.Int64)
            .replace_strict(range(4), CATEGORIES),
        )
    )
    server = truth.select(
        key=pl.col("request"),
        file=pl.lit("ollama/server.log"),
        record_no=pl.col("request") * 3,
        line=pl.col("request") * 3 + 1,
        timestamp=(pl.col("instant") - SERVER_BEHIND).dt.truncate("1s"),
        side=pl.lit("server"),
        kind=pl.lit("gin"),
        reasonless=pl.lit(value=True),
        endpoint="endpoint",
        method=pl.lit("POST"),
        address=pl.lit("127.0.0.1"),
        latency=pl.when(pl.col("endpoint") == "/api/embed").then(2.5).otherwise(0.0003),
        category=pl.lit("unclassified"),
        ollama=pl.lit(value=True),
    )
    client = truth.select(
        key=pl.col("request") + requests,
        file="client_file",
        record_no=pl.col("request") * 8,
        line=pl.col("request") * 9 + 1,
        timestamp=pl.col("instant") + pl.col("client_delay"),
        side=pl.lit("client"),
        kind=pl.lit("client"),
        reasonless=pl.lit(value=False),
        endpoint="endpoint",
        method=pl.lit("POST"),
        client=pl.when(pl.col("client_file") == "web/node.log")
        .then(pl.lit("ollama-js"))
        .otherwise(pl.lit("ollama-python")),
        category="category",
        rule_id="category",
        reason="category",
        ollama=pl.lit(value=True),
    )
    schema = {name: dtype or pl.Datetime("us", "UTC") for name, dtype in INPUT_COLUMNS.items()}
    records = pl.concat([server, client], how="diagonal").select(
        [
            pl.col(name).cast(dtype)
            if name in server.columns or name in client.columns
            else pl.lit(None, dtype).alias(name)
            for name, dtype in schema.items()
        ]
    )
    return records, truth.select(gin_key="request", client_key=pl.col("request") + requests)


def reset_peak_rss() -> bool:
    """Linux lets a process reset its peak RSS (VmHWM) by writing 5 to clear_refs."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    load_before = f"{os.getloadavg()[0]:.2f}"
    started = time.perf_counter()
    records, truth = generate(args.requests, args.days)
    input_mib = records.estimated_size() / 2**20
    print(
        f"generated {records.height:,} records ({args.requests:,} GIN lines, {args.requests:,} client records, "
        f"{input_mib:,.0f} MiB) over {args.days:g} days in {time.perf_counter() - started:.1f} s"
    )
    times, cpu_times = [], []
    peak_reset = reset_peak_rss()
    for _ in range(args.repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        joined = join(records, JoinOptions())
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    peak = peak_rss_mib()
    runs = ", ".join(f"{wall:.2f} s ({cpu:.2f} s CPU)" for wall, cpu in zip(times, cpu_times, strict=True))
    print(
        f"join: median {statistics.median(times):.2f} s wall, {statistics.median(cpu_times):.2f} s CPU "
        f"of {args.repeat} runs ({runs}); load average {load_before} before, "
        f"{os.getloadavg()[0]:.2f} after, {os.cpu_count()} cores"
    )
    print(
        f"peak RSS while joining: {peak:,.0f} MiB{'' if peak_reset else ' (whole process: peak could not be reset)'}"
    )
    for offset in joined.offsets:
        print(f"offset: {offset.describe()} (true: {SERVER_BEHIND})")
    gins = joined.records.filter(pl.col("kind") == "gin").join(truth, left_on="key", right_on="gin_key")
    tally = (
        gins.group_by("attribution")
        .agg(lines=pl.len(), wrong=(pl.col("matched_key") != pl.col("client_key")).sum())
        .sort("attribution")
    )
    for attribution, lines, wrong in tally.rows():
        share = lines / gins.height
        wrong_text = f", {wrong:,} given another request's cause" if attribution == "joined" else ""
        print(f"GIN lines {attribution}: {lines:,} ({share:.1%}){wrong_text}")
    print(f"requests: {joined.requests.height:,} (true: {args.requests:,}); stats: {joined.stats}")


if __name__ == "__main__":
    main()
