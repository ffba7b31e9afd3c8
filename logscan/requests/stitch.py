"""Records of one file that belong to one request: an access or status line and the error
record next to it, or a traceback that re-raises the error just logged.

Each record points at most at one *anchor*, a reason-carrying record of the same file:

- a reasonless record (httpx ``HTTP Request:`` line, ``HTTP/1.1 400`` status line) at the next
  400 record of its file when that one carries a reason;
- a reasonless proxy access line (uvicorn, nginx) at the previous 400 record when that one
  carries a reason, since the access line is written after the handler logged its error;
- a reason record at the previous 400 record when that one carries the same reason and
  category: a re-raise. A reasonless record between them marks a new request, so it breaks
  the chain.

Both records must be within ``stitch_records`` records and ``stitch_gap`` of each other (an
untimed record stitches on adjacency alone) and show the same endpoint where both show one.
GIN lines never stitch: in a file that holds both sides they meet the client records through the
join across sides.
"""

from __future__ import annotations

import polars as pl

from logscan.requests.model import JoinOptions


def stitch_units(records: pl.DataFrame, options: JoinOptions) -> pl.DataFrame:
    """``key`` → ``unit``: the key of the first reason record a record is stitched to (its own
    key when it stands alone)."""
    gap = int(options.stitch_gap.total_seconds() * 1_000_000)
    optional = [name for name in ("header",) if name in records.columns]
    candidates = (
        records.select(*_COMPARED, "kind", *optional)
        .filter(pl.col("kind") != "gin")
        .sort("file", "record_no")
    )

    def near(offset: int) -> pl.Expr:
        # One shift over the whole sorted frame; a neighbour in another file does not count.
        other = {name: pl.col(name).shift(offset) for name in _COMPARED}
        distance = (pl.col("record_no") - other["record_no"]).abs()
        apart = (pl.col("timestamp") - other["timestamp"]).dt.total_microseconds().abs()
        return (
            (other["file"] == pl.col("file"))
            & ~other["reasonless"]
            & (distance <= options.stitch_records)
            & (apart <= gap).fill_null(value=True)
            & (pl.col("endpoint") == other["endpoint"]).fill_null(value=True)
        ), other

    following, after = near(-1)
    preceding, before = near(1)
    is_proxy = pl.col("kind") == "proxy"
    forward = pl.col("reasonless") & ~is_proxy & following & (after["side"] == pl.col("side"))
    backward = pl.col("reasonless") & is_proxy & preceding
    # A re-raise is logged by another statement (another first line) with the same error;
    # the same line again is the same failure happening again.
    other_statement = (
        pl.col("header").shift(1).ne_missing(pl.col("header")) if "header" in candidates.columns else True
    )
    reraise = (
        ~pl.col("reasonless")
        & preceding
        & (before["side"] == pl.col("side"))
        & (before["reason"] == pl.col("reason"))
        & (before["category"] == pl.col("category"))
        & other_statement
    ).fill_null(value=False)
    anchors = candidates.select(
        "key",
        anchor=pl.when(forward.fill_null(value=False))
        .then(after["key"])
        .when(backward.fill_null(value=False) | reraise)
        .then(before["key"])
        .otherwise(pl.col("key")),
    )
    units = _roots(anchors)
    gin = records.filter(pl.col("kind") == "gin").select("key", unit=pl.col("key"))
    return pl.concat([units, gin])


_COMPARED = ("key", "file", "record_no", "timestamp", "reasonless", "endpoint", "side", "reason", "category")


def _roots(anchors: pl.DataFrame) -> pl.DataFrame:
    """Follow anchor pointers to their roots by pointer doubling (log of the chain length).

    Reasonless records only point at reason records, and reason records only at earlier ones,
    so the pointers form a forest and this ends.
    """
    parents = anchors.rename({"anchor": "unit"})
    while True:
        grand = parents.join(parents.select(unit="key", grand="unit"), on="unit", how="left")
        if grand.filter(pl.col("grand") != pl.col("unit")).is_empty():
            return parents
        parents = grand.select("key", unit="grand")
