"""Polars summaries of the occurrences: counts by category and time window, shares, first and
last seen, the server/client split, and top endpoints, models and rules.

Occurrences are first reduced to a tally: counts per window, category, side, rule, endpoint,
model and suppress entry. Every summary is a sum over it, so parts of a scan are tallied apart,
in any process, and merged; memory then depends on how varied the 400s are, not how many.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

EVENT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "file": pl.String,
    "line": pl.Int64,
    "end_line": pl.Int64,
    "timestamp": pl.Datetime("us", "UTC"),
    "side": pl.String,
    "status": pl.Int32,
    "method": pl.String,
    "endpoint": pl.String,
    "model": pl.String,
    "client": pl.String,
    "format": pl.String,
    "category": pl.String,
    "rule_id": pl.String,
    "message": pl.String,
    # The suppress entry that silenced the occurrence; null for the ones that are counted.
    "suppressed_by": pl.String,
}
WINDOW_COLUMNS = ("window_start", "window_end", "category", "side", "count")
SUPPRESSED_COLUMNS = ("suppressed_by", "rule_id", "category", "count")
COVERAGE_COLUMNS = ("rule_id", "category", "hits")
# A tally counts occurrences per combination of these; every summary below is a sum over it.
TALLY_KEYS = ("window_start", "category", "side", "rule_id", "method", "endpoint", "model", "suppressed_by")
TALLY_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "window_start": EVENT_SCHEMA["timestamp"],
    **{key: pl.String for key in TALLY_KEYS[1:]},
    "count": pl.Int64,
    "first_seen": EVENT_SCHEMA["timestamp"],
    "last_seen": EVENT_SCHEMA["timestamp"],
}


@dataclass(frozen=True)
class Summary:
    total: int
    untimed: int  # occurrences whose record shows no timestamp: counted, but in no window
    classified: int
    server_unclassified: int  # server-side occurrences no rule explains (their cause is client-side)
    by_category: pl.DataFrame  # category, total, share, server, client, first_seen, last_seen
    windows: pl.DataFrame  # WINDOW_COLUMNS, long form; untimed occurrences have null windows
    top_endpoints: pl.DataFrame  # method, endpoint, count
    top_models: pl.DataFrame  # model, count
    rule_hits: pl.DataFrame  # rule_id, category, count


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


def empty_tally() -> pl.DataFrame:
    return pl.DataFrame(schema=TALLY_SCHEMA)


def tally(events: pl.DataFrame, window: str) -> pl.DataFrame:
    """The occurrences counted per time window, category, side, rule, endpoint, model and
    suppress entry, with the first and last time seen: small whatever the number of
    occurrences, and merged by ``merge_tallies``."""
    return events.group_by(
        pl.col("timestamp").dt.truncate(window).alias("window_start"), *TALLY_KEYS[1:]
    ).agg(
        count=pl.len().cast(pl.Int64),
        first_seen=pl.col("timestamp").min(),
        last_seen=pl.col("timestamp").max(),
    )


def merge_tallies(tallies: list[pl.DataFrame]) -> pl.DataFrame:
    return (
        pl.concat([empty_tally(), *tallies], how="vertical_relaxed")
        .group_by(TALLY_KEYS)
        .agg(pl.col("count").sum(), pl.col("first_seen").min(), pl.col("last_seen").max())
    )


_COUNTED = pl.col("suppressed_by").is_null()


def summarize(tally: pl.DataFrame, window: str, category_order: list[str], top: int) -> Summary:
    """The report's figures from a tally: suppressed occurrences are in none of them."""
    counted = tally.filter(_COUNTED)
    count = pl.col("count")
    total = int(counted.get_column("count").sum())
    order = {category: rank for rank, category in enumerate(category_order)}
    by_category = (
        counted.group_by("category")
        .agg(
            total=count.sum(),
            server=count.filter(pl.col("side") == "server").sum(),
            client=count.filter(pl.col("side") == "client").sum(),
            first_seen=pl.col("first_seen").min(),
            last_seen=pl.col("last_seen").max(),
        )
        .with_columns(
            share=pl.col("total") / max(total, 1),
            rank=pl.col("category").replace_strict(order, default=len(order), return_dtype=pl.Int64),
        )
        .sort("rank", "category")
        .select("category", "total", "share", "server", "client", "first_seen", "last_seen")
    )
    windows = (
        counted.group_by("window_start", "category", "side")
        .agg(count.sum())
        .with_columns(window_end=pl.col("window_start").dt.offset_by(window))
        .select(WINDOW_COLUMNS)
        .sort("window_start", "category", "side", nulls_last=True)
    )

    def total_where(condition: pl.Expr) -> int:
        return int(counted.filter(condition).get_column("count").sum())

    unclassified = pl.col("rule_id").is_null()
    return Summary(
        total=total,
        untimed=total_where(pl.col("window_start").is_null()),
        classified=total_where(~unclassified),
        server_unclassified=total_where(unclassified & (pl.col("side") == "server")),
        by_category=by_category,
        windows=windows,
        top_endpoints=_top(counted, ["method", "endpoint"], "endpoint", top),
        top_models=_top(counted, ["model"], "model", top),
        rule_hits=_top(counted, ["rule_id", "category"], "rule_id", None),
    )


def _top(tally: pl.DataFrame, keys: list[str], required: str, limit: int | None) -> pl.DataFrame:
    counted = (
        tally.filter(pl.col(required).is_not_null())
        .group_by(keys)
        .agg(pl.col("count").sum())
        .sort(["count", *keys], descending=[True] + [False] * len(keys))
    )
    return counted if limit is None else counted.head(limit)


def suppressed_counts(tally: pl.DataFrame) -> pl.DataFrame:
    """Suppressed occurrences counted per suppress entry, rule and category."""
    return (
        tally.filter(~_COUNTED)
        .group_by("suppressed_by", "rule_id", "category")
        .agg(pl.col("count").sum())
        .sort(["count", "suppressed_by", "rule_id"], descending=[True, False, False], nulls_last=True)
        .select(SUPPRESSED_COLUMNS)
    )


def rule_coverage(tally: pl.DataFrame, rules: list[tuple[str, str]]) -> pl.DataFrame:
    """Hits per loaded rule, given as (rule id, category) in priority order, including the rules
    that never fired (0 hits): most hits first, then in the order given. Suppressed
    occurrences are not hits."""
    loaded = pl.DataFrame(
        {"rule_id": [r[0] for r in rules], "category": [r[1] for r in rules], "order": range(len(rules))},
        schema={"rule_id": pl.String, "category": pl.String, "order": pl.Int64},
    )
    hits = (
        tally.filter(_COUNTED & pl.col("rule_id").is_not_null())
        .group_by("rule_id")
        .agg(hits=pl.col("count").sum())
    )
    return (
        loaded.join(hits, on="rule_id", how="left")
        .with_columns(pl.col("hits").fill_null(0).cast(pl.Int64))
        .sort(["hits", "order"], descending=[True, False])
        .select(COVERAGE_COLUMNS)
    )
