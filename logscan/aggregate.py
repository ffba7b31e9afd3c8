"""Polars summaries of the occurrence frame: counts by category and time window, shares,
first and last seen, the server/client split, and top endpoints, models and rules.

Every table here is a sum of counts, so shards of a scan can be summarised apart and merged.
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


@dataclass(frozen=True)
class Summary:
    total: int
    untimed: int  # occurrences whose record shows no timestamp: counted, but in no window
    classified: int
    by_category: pl.DataFrame  # category, total, share, server, client, first_seen, last_seen
    windows: pl.DataFrame  # WINDOW_COLUMNS, long form; untimed occurrences have null windows
    top_endpoints: pl.DataFrame  # method, endpoint, count
    top_models: pl.DataFrame  # model, count
    rule_hits: pl.DataFrame  # rule_id, category, count


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


def summarize(events: pl.DataFrame, window: str, category_order: list[str], top: int) -> Summary:
    total = events.height
    order = {category: rank for rank, category in enumerate(category_order)}
    by_category = (
        events.group_by("category")
        .agg(
            total=pl.len(),
            server=(pl.col("side") == "server").sum(),
            client=(pl.col("side") == "client").sum(),
            first_seen=pl.col("timestamp").min(),
            last_seen=pl.col("timestamp").max(),
        )
        .with_columns(
            share=pl.col("total") / max(total, 1),
            rank=pl.col("category").replace_strict(order, default=len(order), return_dtype=pl.Int64),
        )
        .sort("rank", "category")
        .select("category", "total", "share", "server", "client", "first_seen", "last_seen")
    )
    start = pl.col("timestamp").dt.truncate(window)
    windows = (
        events.group_by(window_start=start, category="category", side="side")
        .agg(count=pl.len())
        .with_columns(window_end=pl.col("window_start").dt.offset_by(window))
        .select(WINDOW_COLUMNS)
        .sort("window_start", "category", "side", nulls_last=True)
    )
    return Summary(
        total=total,
        untimed=events.get_column("timestamp").null_count(),
        classified=events.filter(pl.col("rule_id").is_not_null()).height,
        by_category=by_category,
        windows=windows,
        top_endpoints=_top(events, ["method", "endpoint"], "endpoint", top),
        top_models=_top(events, ["model"], "model", top),
        rule_hits=_top(events, ["rule_id", "category"], "rule_id", None),
    )


def _top(events: pl.DataFrame, keys: list[str], required: str, limit: int | None) -> pl.DataFrame:
    counted = (
        events.filter(pl.col(required).is_not_null())
        .group_by(keys)
        .agg(count=pl.len())
        .sort(["count", *keys], descending=[True] + [False] * len(keys))
    )
    return counted if limit is None else counted.head(limit)


def suppressed_counts(suppressed: pl.DataFrame) -> pl.DataFrame:
    """Suppressed occurrences counted per suppress entry, rule and category (mergeable sums)."""
    return (
        suppressed.group_by("suppressed_by", "rule_id", "category")
        .agg(count=pl.len())
        .sort(["count", "suppressed_by", "rule_id"], descending=[True, False, False], nulls_last=True)
        .select(SUPPRESSED_COLUMNS)
    )


def rule_coverage(events: pl.DataFrame, rules: list[tuple[str, str]]) -> pl.DataFrame:
    """Hits per loaded rule, given as (rule id, category) in priority order, including the rules
    that never fired (0 hits): most hits first, then in the order given."""
    loaded = pl.DataFrame(
        {"rule_id": [r[0] for r in rules], "category": [r[1] for r in rules], "order": range(len(rules))},
        schema={"rule_id": pl.String, "category": pl.String, "order": pl.Int64},
    )
    hits = events.filter(pl.col("rule_id").is_not_null()).group_by("rule_id").agg(hits=pl.len())
    return (
        loaded.join(hits, on="rule_id", how="left")
        .with_columns(pl.col("hits").fill_null(0).cast(pl.Int64))
        .sort(["hits", "order"], descending=[True, False])
        .select(COVERAGE_COLUMNS)
    )
