"""Interim: every record is its own request (replaced by the stitching and joining stage)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl


@dataclass(frozen=True)
class JoinOptions:
    match_window: timedelta = timedelta(seconds=3)
    stitch_records: int = 5
    stitch_gap: timedelta = timedelta(seconds=2)
    server_offsets: Mapping[str, timedelta] = field(default_factory=dict)
    default_server_offset: timedelta | None = None
    max_offset: timedelta = timedelta(hours=14)


@dataclass(frozen=True)
class ClockOffset:
    server_file: str
    reference_file: str | None
    offset: timedelta
    pairs: int
    given: bool = False


@dataclass(frozen=True)
class JoinStats:
    stitched_records: int = 0
    joined_pairs: int = 0
    ambiguous_pairs: int = 0
    unmatched_server: int = 0
    unmatched_client: int = 0


@dataclass(frozen=True)
class Joined:
    records: pl.DataFrame
    requests: pl.DataFrame
    offsets: list[ClockOffset]
    stats: JoinStats


def join(records: pl.DataFrame, options: JoinOptions) -> Joined:
    del options
    linked = records.sort("key").with_columns(
        request_id=pl.col("key").rank("dense").cast(pl.Int64) - 1,
        request_category=pl.col("category"),
        request_rule_id=pl.col("rule_id"),
        attribution=pl.lit("own"),
        final_category=pl.col("category"),
        matched_key=pl.lit(None, pl.Int64),
        corrected_timestamp=pl.col("timestamp"),
    )
    requests = linked.select(
        "request_id",
        "timestamp",
        "category",
        "rule_id",
        "endpoint",
        "method",
        "model",
        "address",
        sides=pl.col("side"),
        ollama="ollama",
        records=pl.lit(1, pl.Int64),
        has_server=pl.col("side") == "server",
        joined=pl.lit(value=False),
        ambiguous=pl.lit(value=False),
        latency="latency",
        hint=pl.lit(None, pl.String),
        representative_key="key",
    )
    return Joined(linked, requests, [], JoinStats())


def unmatched_server(joined: Joined) -> pl.DataFrame:
    server = joined.requests.filter(pl.col("has_server") & ~pl.col("joined"))
    return server.group_by("endpoint", "address").agg(
        count=pl.len(),
        latency=pl.col("latency").median(),
        hint=pl.col("hint").first(),
        first_seen=pl.col("timestamp").min(),
        last_seen=pl.col("timestamp").max(),
    )
