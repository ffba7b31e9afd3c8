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

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from logscan.requests.attribution import attribute, summarise
from logscan.requests.clocks import clock_offsets
from logscan.requests.encoding import as_strings, compact
from logscan.requests.matching import StageMatch, match_one_to_one
from logscan.requests.model import Joined, JoinOptions, JoinStats, check_records
from logscan.requests.stitch import stitch_units

# Transport libraries name the client less well than the SDK whose error a unit also holds.
_GENERIC_CLIENTS = ["httpx", "requests"]


def join(records: pl.DataFrame, options: JoinOptions | None = None) -> Joined:
    """Group 400 records into requests and give each record its request's cause."""
    options = options or JoinOptions()
    check_records(records)
    # Rows are worked on by position (0..n-1 in key order): ids that index columns directly.
    if not records["key"].is_sorted():
        records = records.sort("key")
    # Every column in one chunk, before columns are added: a column added to a frame whose
    # columns are cut into other chunks than its own makes a copy of every column.
    records = records.rechunk()
    timestamp = pl.col("timestamp")
    if records.schema["timestamp"].time_zone is None:  # type: ignore[union-attr]
        timestamp = timestamp.dt.replace_time_zone("UTC")  # zone-less times are already UTC
    work = (
        compact(records)
        .collect()
        .rechunk()  # a lazy query's result comes in a chunk per thread
        .with_columns(
            timestamp.dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
            pos=pl.int_range(pl.len(), dtype=pl.Int64),
        )
    )
    stitched = stitch_units(work.with_columns(key="pos"), options).sort("key")
    work = work.with_columns(unit=stitched["unit"])

    server_files = sorted(work.filter(pl.col("kind").is_in(["gin", "ollama"]))["file"].unique().to_list())
    units = _units(work)
    offsets, reports = clock_offsets(units, server_files, options)
    shift = pl.col("file").replace_strict(offsets, default=0, return_dtype=pl.Int64)
    work = work.with_columns(
        corrected_timestamp=pl.when(pl.col("side") == "server")
        .then(pl.col("timestamp") + pl.duration(microseconds=shift))
        .otherwise(pl.col("timestamp"))
    )
    # A unit lies in one file; only its server-side records move (a pasted file's client
    # records keep their clock), and a unit without client records has only server-side ones.
    units = units.with_columns(
        t=pl.when(pl.col("type") == "client").then(pl.col("t")).otherwise(pl.col("t") + shift)
    )

    labels, links = _link(units, work.height, options)
    # Two kinds of link the time windows cannot make, counted as clean links.
    copies = labels.union(_copied_lines(work))
    pasted = labels.union(_untimed_in_one_file(units, labels))
    links = (links[0] + copies + pasted, links[1])
    work = work.with_columns(
        component=pl.lit(labels.component).gather("unit"),
        request=pl.lit(labels.request).gather("unit"),
        ambiguous=pl.lit(labels.ambiguous).gather("unit"),
    )
    attributed = attribute(work)
    requests = summarise(attributed)
    stats = JoinStats(
        stitched_records=records.height - units.height,
        joined_pairs=links[0],
        ambiguous_pairs=links[1],
        unmatched_server=requests.filter(pl.col("sides") == "server").height,
        unmatched_client=requests.filter((pl.col("sides") == "client") & pl.col("ollama")).height,
    )
    added = attributed.select(
        "request_id",
        "request_category",
        "request_rule_id",
        "attribution",
        "final_category",
        "matched_key",
        "corrected_timestamp",
    )
    return Joined(records.hstack(as_strings(added)), requests, reports, stats)


def _units(records: pl.DataFrame) -> pl.DataFrame:
    """One row per stitched unit: its type, file, earliest time (Int64 µs), the first endpoint,
    client family and user agent its records show."""
    specific_client = pl.when(~pl.col("client").is_in(_GENERIC_CLIENTS)).then("client")
    return (
        records.select(
            "unit",
            "record_no",
            "side",
            "kind",
            "file",
            "timestamp",
            "endpoint",
            "client",
            "user_agent",
            "ollama",
        )
        .sort("unit", "record_no")
        .group_by("unit", maintain_order=True)
        .agg(
            type=pl.when((pl.col("side") == "client").any())
            .then(pl.lit("client"))
            .when((pl.col("kind") == "gin").any())
            .then(pl.lit("gin"))
            .when((pl.col("kind") == "proxy").any())
            .then(pl.lit("proxy"))
            .otherwise(pl.lit("server")),
            file=pl.col("file").first(),
            first_record=pl.col("record_no").first(),
            t=pl.col("timestamp").min().dt.epoch("us"),
            endpoint=pl.col("endpoint").first(ignore_nulls=True),
            family=pl.coalesce(
                specific_client.first(ignore_nulls=True), pl.col("client").first(ignore_nulls=True)
            ),
            agent=pl.col("user_agent").first(ignore_nulls=True),
            ollama=pl.col("ollama").any(),
        )
        .rename({"unit": "id"})
    )


@dataclass
class _Labels:
    """Per unit id (a position, so these are indexed by it): the component (clean links) and
    the request (clean and ambiguous links) it belongs to, and whether it was ambiguous."""

    component: pl.Series
    request: pl.Series
    ambiguous: pl.Series

    def merge(self, match: StageMatch) -> None:
        # Left units of a stage have not been linked before: no other unit carries their label.
        for pairs, columns in ((match.clean, ("component", "request")), (match.paired, ("request",))):
            if pairs.is_empty():
                continue
            for column in columns:
                labels: pl.Series = getattr(self, column)
                setattr(self, column, labels.scatter(pairs["left"], labels.gather(pairs["right"])))
        if match.ambiguous.len():
            self.ambiguous = self.ambiguous.scatter(match.ambiguous, values=True)

    def union(self, pairs: pl.DataFrame) -> int:
        """Put each left unit's component and request (with every unit they hold) into those
        of its right unit; return how many requests were merged into others."""
        merged = 0
        if pairs.is_empty():
            return merged
        for column in ("component", "request"):
            labels: pl.Series = getattr(self, column)
            moves = (
                pl.DataFrame({"old": labels.gather(pairs["left"]), "new": labels.gather(pairs["right"])})
                .filter(pl.col("old") != pl.col("new"))
                .group_by("old")
                .agg(pl.col("new").min())
            )
            setattr(self, column, labels.replace(moves["old"], moves["new"]))
            merged = moves.height
        return merged


def _copied_lines(records: pl.DataFrame) -> pl.DataFrame:
    """Pairs of units (left, right) holding the same GIN line in two files, as a server log
    and a paste of it into an issue do: GIN's second and latency with the address and path
    make a line no other request repeats."""
    same = ["timestamp", "latency", "address", "endpoint", "method"]
    gin = (
        records.select(*same, "kind", "pos", "unit", "file")
        .filter(
            (pl.col("kind") == "gin") & pl.col("timestamp").is_not_null() & pl.col("latency").is_not_null()
        )
        .sort("pos")
    )
    first = gin.group_by(same, maintain_order=True).agg(
        right=pl.col("unit").first(), origin=pl.col("file").first()
    )
    return (
        gin.join(first, on=same, nulls_equal=True)
        .filter(pl.col("file") != pl.col("origin"))
        .select(left="unit", right="right")
    )


def _untimed_in_one_file(units: pl.DataFrame, labels: _Labels) -> pl.DataFrame:
    """Pairs of units (left, right) for a file that holds both sides pasted together: a client
    unit without a time and a GIN unit of the same file and endpoint whose request has no
    client record, when the file holds exactly one of each for that endpoint (no time can
    tell them apart, so only a lone pair is joined)."""
    state = units.with_columns(request=labels.request.gather(units["id"]))
    client_requests = state.filter(pl.col("type") == "client").get_column("request").implode()
    candidates = state.filter(pl.col("endpoint").is_not_null())
    lone = ["file", "endpoint"]
    clients = candidates.filter((pl.col("type") == "client") & pl.col("t").is_null())
    servers = candidates.filter((pl.col("type") == "gin") & ~pl.col("request").is_in(client_requests))
    return (
        clients.filter(pl.len().over(lone) == 1)
        .select(*lone, left="id")
        .join(servers.filter(pl.len().over(lone) == 1).select(*lone, right="id"), on=lone)
        .select("left", "right")
    )


def _link(units: pl.DataFrame, count: int, options: JoinOptions) -> tuple[_Labels, tuple[int, int]]:
    """Labels of every unit, and the number of clean and of ambiguous links."""

    def micros(span: timedelta) -> int:
        return int(span.total_seconds() * 1_000_000)

    window, slack = micros(options.match_window), micros(options.slack)
    slice_rows = options.slice_rows
    everyone = pl.int_range(count, dtype=pl.Int64, eager=True)
    labels = _Labels(everyone, everyone.clone(), pl.repeat(value=False, n=count, eager=True))
    of_type = {kind: units.filter(pl.col("type") == kind) for kind in ("gin", "proxy", "server", "client")}
    # A client error that names no endpoint could be anything; it may only meet a server line
    # when it shows that it came from Ollama (the application's own 400s do not).
    callers = of_type["client"].filter(pl.col("endpoint").is_not_null() | pl.col("ollama"))
    stages = [
        lambda: match_one_to_one(of_type["server"], of_type["gin"], -window, slack, slice_rows),
        lambda: match_one_to_one(of_type["proxy"], of_type["gin"], -slack, window, slice_rows),
        lambda: match_one_to_one(callers, _server_requests(units, labels), -slack, window, slice_rows),
    ]
    clean_links = ambiguous_links = 0
    for stage in stages:
        match = stage()
        labels.merge(match)
        clean_links += match.clean.height
        ambiguous_links += match.paired.height
    return labels, (clean_links, ambiguous_links)


def _server_requests(units: pl.DataFrame, labels: _Labels) -> pl.DataFrame:
    """One row per request built so far that holds a GIN or proxy line, standing for it: its
    GIN line's unit (else its proxy line's), with the user agent any of its proxies showed."""
    members = units.filter(pl.col("type").is_in(["gin", "proxy"])).with_columns(
        request=pl.lit(labels.request).gather("id")
    )
    return (
        members.sort("request", pl.col("type") != "gin", "id")
        .group_by("request", maintain_order=True)
        .agg(
            pl.col("id", "t", "endpoint", "file", "first_record").first(),
            agent=pl.col("agent").first(ignore_nulls=True),
        )
        .drop("request")
    )
