"""From 400 records to failed requests: stitch, correct clocks, join, attribute.

The units of the join are *stitched units* (the records of one request within one file). They
are linked in three one-to-one stages, each against what the earlier stages built:

1. other Ollama server records (slog errors) to GIN lines: written before the GIN line, on the
   same clock, so ``record - gin`` lies in [-window, slack];
2. proxy access lines to GIN lines: ``proxy - gin`` in [-slack, window];
3. client units to the server requests of stages 1-2 (a GIN line, or a proxy line that met none),
   ``client - server`` in [-slack, window].

A clean link joins two units into one *component* (causes flow across it); an ambiguous burst
pairs units in time order into one *request* only (counted once, no cause handed over).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from logscan.requests.attribution import attribute, summarise
from logscan.requests.clocks import clock_offsets
from logscan.requests.matching import StageMatch, match_one_to_one
from logscan.requests.model import Joined, JoinOptions, JoinStats, check_records
from logscan.requests.stitch import stitch_units

# Transport libraries name the client less well than the SDK whose error a unit also holds.
_GENERIC_CLIENTS = ["httpx", "requests"]


def join(records: pl.DataFrame, options: JoinOptions | None = None) -> Joined:
    """Group 400 records into requests and give each record its request's cause."""
    options = options or JoinOptions()
    check_records(records)
    records = records.with_columns(pl.col("timestamp").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    records = records.join(stitch_units(records, options), on="key")

    server_files = sorted(
        records.filter(pl.col("kind").is_in(["gin", "ollama"]))["file"].unique().to_list(),
    )
    raw_units = _units(records.with_columns(corrected=pl.col("timestamp")))
    offsets, reports = clock_offsets(raw_units, server_files, options)
    shift = pl.col("file").replace_strict(offsets, default=0, return_dtype=pl.Int64)
    records = records.with_columns(
        corrected_timestamp=pl.when(pl.col("side") == "server")
        .then(pl.col("timestamp") + pl.duration(microseconds=shift))
        .otherwise(pl.col("timestamp"))
    )
    units = _units(records.with_columns(corrected=pl.col("corrected_timestamp")))

    groups, links = _link(units, options)
    records = records.join(groups, on="unit")
    attributed = attribute(records)
    requests = summarise(attributed)
    stats = JoinStats(
        stitched_records=records.height - units.height,
        joined_pairs=links[0],
        ambiguous_pairs=links[1],
        unmatched_server=requests.filter(pl.col("sides") == "server").height,
        unmatched_client=requests.filter((pl.col("sides") == "client") & pl.col("ollama")).height,
    )
    output_columns = [
        *records.columns[: records.columns.index("unit")],
        "request_id",
        "request_category",
        "request_rule_id",
        "attribution",
        "final_category",
        "matched_key",
        "corrected_timestamp",
    ]
    return Joined(attributed.select(output_columns).sort("key"), requests, reports, stats)


def _units(records: pl.DataFrame) -> pl.DataFrame:
    first_by_record = pl.col("record_no")
    return (
        records.group_by("unit")
        .agg(
            type=pl.when((pl.col("side") == "client").any())
            .then(pl.lit("client"))
            .when((pl.col("kind") == "gin").any())
            .then(pl.lit("gin"))
            .when((pl.col("kind") == "proxy").any())
            .then(pl.lit("proxy"))
            .otherwise(pl.lit("server")),
            file=pl.col("file").first(),
            t=pl.col("corrected").min().dt.epoch("us"),
            endpoint=pl.col("endpoint").sort_by(first_by_record).drop_nulls().first(),
            family=pl.col("client")
            .sort_by(pl.col("client").is_in(_GENERIC_CLIENTS), first_by_record)
            .drop_nulls()
            .first(),
            agent=pl.col("user_agent").sort_by(first_by_record).drop_nulls().first(),
        )
        .rename({"unit": "id"})
        .sort("id")
    )


def _link(units: pl.DataFrame, options: JoinOptions) -> tuple[pl.DataFrame, tuple[int, int]]:
    """``unit`` → ``component`` (clean links) and ``request`` (clean and ambiguous links),
    ``ambiguous`` flag; and the number of clean and of ambiguous links."""

    def micros(span: timedelta) -> int:
        return int(span.total_seconds() * 1_000_000)

    window, slack = micros(options.match_window), micros(options.slack)
    groups = units.select(unit="id", component="id", request="id", ambiguous=pl.lit(value=False), type="type")
    of_type = {kind: units.filter(pl.col("type") == kind) for kind in ("gin", "proxy", "server", "client")}
    clean_links = ambiguous_links = 0

    def merge(match: StageMatch) -> None:
        nonlocal groups, clean_links, ambiguous_links
        groups = _relabel(_relabel(groups, match.clean, "component"), match.clean, "request")
        groups = _relabel(groups, match.paired, "request").with_columns(
            ambiguous=pl.col("ambiguous") | pl.col("unit").is_in(match.ambiguous.implode())
        )
        clean_links += match.clean.height
        ambiguous_links += match.paired.height

    merge(match_one_to_one(of_type["server"], of_type["gin"], -window, slack))
    merge(match_one_to_one(of_type["proxy"], of_type["gin"], -slack, window))
    merge(match_one_to_one(of_type["client"], _server_requests(units, groups), -slack, window))
    return groups.drop("type"), (clean_links, ambiguous_links)


def _server_requests(units: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """One row per request built so far that holds a GIN or proxy line, standing for it: its
    GIN line's unit (else its proxy line's), with the user agent any of its proxies showed."""
    members = groups.join(units.select(unit="id", t="t", endpoint="endpoint", agent="agent"), on="unit")
    return (
        members.filter(pl.col("type").is_in(["gin", "proxy"]))
        .group_by("request")
        .agg(
            pl.all().sort_by(pl.col("type") != "gin", "unit").first(),
            request_agent=pl.col("agent").drop_nulls().first(),
        )
        .select(id="unit", t="t", endpoint="endpoint", agent="request_agent")
    )


def _relabel(groups: pl.DataFrame, pairs: pl.DataFrame, column: str) -> pl.DataFrame:
    """Give each left unit of ``pairs`` the ``column`` label of its right unit. Left units of a
    stage have not been linked before, so no other unit carries their label."""
    if pairs.is_empty():
        return groups
    targets = pairs.join(groups.select(right="unit", target=column), on="right").select(
        unit="left", target="target"
    )
    return (
        groups.join(targets, on="unit", how="left")
        .with_columns(pl.coalesce("target", column).alias(column))
        .drop("target")
    )
