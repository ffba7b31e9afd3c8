"""Polars summaries of the failed requests: counts by category and time window, shares, first
and last seen, the records each request left on either side, and top endpoints, models,
clients and rules.

Requests are first reduced to a tally: counts per window, category, rule, endpoint, model,
client and whether the 400 is Ollama's. Every summary is a sum over it, so tallies of separate runs or
parts add up; memory then depends on how varied the 400s are, not how many.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from logscan import timestamps

_TIME = pl.Datetime("us", "UTC")
# One row per 400 record, as the scan finds it (before requests are joined).
EVENT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "file": pl.String,
    "record_no": pl.Int64,
    "line": pl.Int64,
    "end_line": pl.Int64,
    "timestamp": _TIME,
    "side": pl.String,
    "kind": pl.String,
    "status": pl.Int32,
    "method": pl.String,
    "endpoint": pl.String,
    "model": pl.String,
    "client": pl.String,
    "address": pl.String,
    "user_agent": pl.String,
    "latency": pl.Float64,
    "format": pl.String,
    "category": pl.String,
    "rule_id": pl.String,
    "reasonless": pl.Boolean,
    "reason": pl.String,
    "header": pl.String,
    "ollama": pl.Boolean,
    "message": pl.String,
    # The suppress entry that silenced the record; null for the ones that are counted.
    "suppressed_by": pl.String,
}
WINDOW_COLUMNS = (
    "window_start", "window_end", "category", "ollama", "requests", "server_records", "client_records",
)  # fmt: skip
SUPPRESSED_COLUMNS = ("suppressed_by", "rule_id", "category", "count")
COVERAGE_COLUMNS = ("rule_id", "category", "hits")
# A tally counts requests per combination of these; every summary below is a sum over it.
TALLY_KEYS = ("window_start", "category", "rule_id", "method", "endpoint", "model", "client", "ollama")
TALLY_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "window_start": _TIME,
    **{key: pl.String for key in TALLY_KEYS[1:-1]},
    "ollama": pl.Boolean,
    "requests": pl.Int64,
    "server_records": pl.Int64,
    "client_records": pl.Int64,
    "first_seen": _TIME,
    "last_seen": _TIME,
}
_SUMS = ("requests", "server_records", "client_records")
# Transport libraries name the caller less well than an SDK whose record the request also left.
_TRANSPORT_CLIENTS = ("httpx", "requests")
# User agents (product tokens) of the transport libraries, named as their records name them.
_AGENT_FAMILIES = {"python-httpx": "httpx", "python-requests": "requests"}


@dataclass(frozen=True)
class Summary:
    """The report's figures. Requests are Ollama's failed requests; the 400s an application
    answered itself are counted apart, in ``other``."""

    total: int  # failed requests (the headline)
    server_records: int  # 400 records they left in server-side logs (Ollama, proxies)
    client_records: int  # ... and in application logs
    untimed: int  # requests none of whose records shows a timestamp: counted, in no window
    classified: int  # requests with a cause
    by_category: pl.DataFrame  # category, requests, share, server_records, client_records, first/last seen
    # WINDOW_COLUMNS, long form, Ollama's requests and the others; untimed ones have null windows
    windows: pl.DataFrame
    top_endpoints: pl.DataFrame  # method, endpoint, requests
    top_models: pl.DataFrame  # model, requests
    top_clients: pl.DataFrame  # client, requests, share (of all requests)
    no_endpoint: int  # requests that showed no endpoint
    no_model: int  # requests that showed no model
    no_client: int  # requests that showed no client
    rule_hits: pl.DataFrame  # rule_id, category, requests
    other: pl.DataFrame  # the applications' own 400s: category, method, endpoint, requests, records
    other_total: int

    @property
    def records(self) -> int:
        return self.server_records + self.client_records


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


def empty_tally() -> pl.DataFrame:
    return pl.DataFrame(schema=TALLY_SCHEMA)


def window_start(times: pl.Expr, window: str, zone: str = "UTC") -> pl.Expr:
    """The start of the window each UTC time falls in, as a UTC time, with the windows cut in
    ``zone``: a 1d window starts at that zone's midnight, so a DST day's window is 23 or 25
    hours long."""
    minutes = timestamps.fixed_offset_minutes(zone)
    if zone == "UTC" or minutes == 0:
        return times.dt.truncate(window)
    if minutes is not None:  # Polars has no fixed-offset zones: shift, cut, shift back
        shift = pl.duration(minutes=minutes)
        return (times + shift).dt.truncate(window) - shift
    return times.dt.convert_time_zone(zone).dt.truncate(window).dt.convert_time_zone("UTC")


def window_end(starts: pl.Expr, window: str, zone: str = "UTC") -> pl.Expr:
    """The end of the windows that start at ``starts`` (UTC times), calendar-aware in ``zone``:
    the day that starts at midnight ends at the next midnight."""
    if timestamps.fixed_offset_minutes(zone) is not None or zone == "UTC":
        return starts.dt.offset_by(window)
    return starts.dt.convert_time_zone(zone).dt.offset_by(window).dt.convert_time_zone("UTC")


def request_figures(records: pl.DataFrame) -> pl.DataFrame:
    """Per request of the joined ``records`` (one row per record, in scan order, with
    ``request_id``, ``side``, ``client`` and ``user_agent``): the records it left on each side
    and its ``client``, the calling library or application: an SDK's name when one of its
    records shows one, else a transport library's (httpx, requests), else the product token of
    the user agent a proxy saw (python-httpx as httpx); null when none shows."""
    # Names are picked per request in the dtype they come in (categories from the join) and
    # made strings after: a string per record would be the largest thing here.
    client = pl.col("client")
    return (
        records.group_by("request_id", maintain_order=True)
        .agg(
            server_records=(pl.col("side") == "server").sum().cast(pl.Int64),
            client_records=(pl.col("side") == "client").sum().cast(pl.Int64),
            sdk=client.filter(~client.is_in(_TRANSPORT_CLIENTS)).first(ignore_nulls=True),
            any_client=client.first(ignore_nulls=True),
            agent=pl.col("user_agent").first(ignore_nulls=True),
        )
        .select(
            "request_id",
            "server_records",
            "client_records",
            client=pl.coalesce(
                pl.col("sdk").cast(pl.String),
                pl.col("any_client").cast(pl.String),
                pl.col("agent").cast(pl.String).replace(_AGENT_FAMILIES),
            ),
        )
    )


def tally(requests: pl.DataFrame, window: str, zone: str = "UTC") -> pl.DataFrame:
    """Requests (one row each, with ``timestamp``, ``category``, ``rule_id``, ``method``,
    ``endpoint``, ``model``, ``client``, ``ollama``, ``server_records`` and ``client_records``)
    counted per time window (cut in ``zone``), category, rule, endpoint, model, client and
    Ollama-or-not, with the first and last time seen; merged by ``merge_tallies`` (of tallies
    cut in the same zone). Requests without a ``client`` column showed none."""
    starts = window_start(pl.col("timestamp"), window, zone).alias("window_start")
    if "client" not in requests.columns:
        requests = requests.with_columns(client=pl.lit(None, pl.String))
    return (
        requests.group_by(starts, *TALLY_KEYS[1:])
        .agg(
            requests=pl.len().cast(pl.Int64),
            server_records=pl.col("server_records").sum().cast(pl.Int64),
            client_records=pl.col("client_records").sum().cast(pl.Int64),
            first_seen=pl.col("timestamp").min(),
            last_seen=pl.col("timestamp").max(),
        )
        .cast(TALLY_SCHEMA)  # type: ignore[arg-type]
    )


def merge_tallies(tallies: list[pl.DataFrame]) -> pl.DataFrame:
    return (
        pl.concat([empty_tally(), *tallies], how="vertical_relaxed")
        .group_by(TALLY_KEYS)
        .agg(*(pl.col(name).sum() for name in _SUMS), pl.col("first_seen").min(), pl.col("last_seen").max())
    )


# Empty windows are shown up to this many (a day of 10 s windows): past it, a gap is a hole.
MAX_EMPTY_WINDOWS = 8640


def summarize(
    tally: pl.DataFrame,
    window: str,
    category_order: list[str],
    top: int,
    span: tuple[datetime, datetime] | None = None,
    zone: str = "UTC",
) -> Summary:
    """The report's figures from a tally (its windows cut in ``zone``). Given the ``span`` a
    scan was bounded to (--since and --until), its windows without a 400 are rows of zeros, so
    that a gap shows."""
    ollama = tally.filter(pl.col("ollama"))
    other = tally.filter(~pl.col("ollama"))
    total = _sum(ollama, "requests")
    order = {category: rank for rank, category in enumerate(category_order)}
    by_category = (
        ollama.group_by("category")
        .agg(
            *(pl.col(name).sum() for name in _SUMS),
            first_seen=pl.col("first_seen").min(),
            last_seen=pl.col("last_seen").max(),
        )
        .with_columns(
            share=pl.col("requests") / max(total, 1),
            rank=pl.col("category").replace_strict(order, default=len(order), return_dtype=pl.Int64),
        )
        .sort("rank", "category")
        .select(
            "category", "requests", "share", "server_records", "client_records", "first_seen", "last_seen"
        )
    )
    # Every 400, Ollama's and the applications' own, so that a CSV of windows loses none.
    windows = (
        tally.group_by("window_start", "category", "ollama")
        .agg(*(pl.col(name).sum() for name in _SUMS))
        .with_columns(window_end=window_end(pl.col("window_start"), window, zone))
        .select(WINDOW_COLUMNS)
    )
    if span is not None:
        windows = pl.concat([windows, _empty_windows(windows, window, zone, *span)])
    windows = windows.sort(
        "window_start", "ollama", "category", descending=[False, True, False], nulls_last=True
    )
    return Summary(
        total=total,
        server_records=_sum(ollama, "server_records"),
        client_records=_sum(ollama, "client_records"),
        untimed=_sum(ollama.filter(pl.col("window_start").is_null()), "requests"),
        classified=_sum(ollama.filter(pl.col("category") != "unclassified"), "requests"),
        by_category=by_category,
        windows=windows,
        top_endpoints=_top(ollama, ["method", "endpoint"], "endpoint", top),
        top_models=_top(ollama, ["model"], "model", top),
        top_clients=_top(ollama, ["client"], "client", top).with_columns(
            share=pl.col("requests") / max(total, 1)
        ),
        no_endpoint=_sum(ollama.filter(pl.col("endpoint").is_null()), "requests"),
        no_model=_sum(ollama.filter(pl.col("model").is_null()), "requests"),
        no_client=_sum(ollama.filter(pl.col("client").is_null()), "requests"),
        rule_hits=_top(ollama, ["rule_id", "category"], "rule_id", None),
        other=other.group_by("category", "method", "endpoint")
        .agg(
            pl.col("requests").sum(), records=pl.col("server_records").sum() + pl.col("client_records").sum()
        )
        .sort(["requests", "category", "endpoint"], descending=[True, False, False], nulls_last=True),
        other_total=_sum(other, "requests"),
    )


def _empty_windows(
    windows: pl.DataFrame, window: str, zone: str, since: datetime, until: datetime
) -> pl.DataFrame:
    """A row of zeros (no category) for each window of [since, until) that holds no 400 of
    Ollama's (the table shows those alone)."""
    first, last = (
        pl.DataFrame({"t": [since, until - timedelta(microseconds=1)]}, schema={"t": _TIME})
        .select(window_start(pl.col("t"), window, zone))
        .to_series()
    )
    every = _window_starts_between(first, last, window, zone)
    if every.len() > MAX_EMPTY_WINDOWS:
        return windows.clear()
    seen = (
        windows.filter(pl.col("window_start").is_not_null() & pl.col("ollama"))
        .select("window_start")
        .unique()
    )
    missing = every.to_frame().cast({"window_start": _TIME}).join(seen, on="window_start", how="anti")
    return missing.select(
        "window_start",
        window_end=window_end(pl.col("window_start"), window, zone),
        category=pl.lit(None, pl.String),
        ollama=pl.lit(value=True),
        **{name: pl.lit(0, pl.Int64) for name in _SUMS},
    ).select(WINDOW_COLUMNS)


def _window_starts_between(first: datetime, last: datetime, window: str, zone: str) -> pl.Series:
    """The window starts from ``first`` to ``last`` (UTC times), stepped in ``zone`` (a day is
    23 to 25 hours long there)."""
    minutes = timestamps.fixed_offset_minutes(zone)
    stepped_in = "UTC" if zone == "UTC" or minutes is not None else zone
    every = pl.datetime_range(
        first.astimezone(timestamps.tzinfo_of(stepped_in)),
        last.astimezone(timestamps.tzinfo_of(stepped_in)),
        interval=window,
        eager=True,
        time_zone=stepped_in,
    )
    return every.dt.convert_time_zone("UTC").cast(_TIME).alias("window_start")


def _sum(frame: pl.DataFrame, column: str) -> int:
    return int(frame.get_column(column).sum()) if frame.height else 0


def _top(tally: pl.DataFrame, keys: list[str], required: str, limit: int | None) -> pl.DataFrame:
    counted = (
        tally.filter(pl.col(required).is_not_null())
        .group_by(keys)
        .agg(pl.col("requests").sum())
        .sort(["requests", *keys], descending=[True] + [False] * len(keys), nulls_last=True)
    )
    return counted if limit is None else counted.head(limit)


def suppressed_counts(records: pl.DataFrame) -> pl.DataFrame:
    """Suppressed records counted per suppress entry, rule and category."""
    return (
        records.filter(pl.col("suppressed_by").is_not_null())
        .group_by("suppressed_by", "rule_id", "category")
        .agg(count=pl.len().cast(pl.Int64))
        .sort(["count", "suppressed_by", "rule_id"], descending=[True, False, False], nulls_last=True)
        .select(SUPPRESSED_COLUMNS)
    )


def rule_coverage(tally: pl.DataFrame, rules: list[tuple[str, str]]) -> pl.DataFrame:
    """Requests per loaded rule, given as (rule id, category) in priority order, including the
    rules that never fired (0 hits): most hits first, then in the order given."""
    loaded = pl.DataFrame(
        {"rule_id": [r[0] for r in rules], "category": [r[1] for r in rules], "order": range(len(rules))},
        schema={"rule_id": pl.String, "category": pl.String, "order": pl.Int64},
    )
    hits = (
        tally.filter(pl.col("rule_id").is_not_null()).group_by("rule_id").agg(hits=pl.col("requests").sum())
    )
    return (
        loaded.join(hits, on="rule_id", how="left")
        .with_columns(pl.col("hits").fill_null(0).cast(pl.Int64))
        .sort(["hits", "order"], descending=[True, False])
        .select(COVERAGE_COLUMNS)
    )
