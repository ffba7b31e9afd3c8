"""The records of the join in few bytes: what matching compares, not the text itself.

The join only tests a reason or a first line for equality with a neighbour's, so those become
64-bit hashes (a null stays null: no reason is not a reason); the names a log repeats on every
line (file, endpoint, model, client, kind...) become categories, four bytes a row, sorting and
comparing as their strings do. A million records then take tens of megabytes, not hundreds.
"""

from __future__ import annotations

import polars as pl

# Compared for equality only.
HASHED = ("reason", "header")
# Few distinct values, many rows.
REPEATED = (
    "file", "side", "kind", "endpoint", "method", "model", "client", "address", "user_agent", "category",
    "rule_id",
)  # fmt: skip


def compact(records: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``records`` with the columns above encoded (those already encoded are left as they are)."""
    lazy = records.lazy()
    schema = lazy.collect_schema()
    hashed = [
        pl.when(pl.col(name).is_not_null()).then(pl.col(name).hash(seed=0x1F00))
        for name in HASHED
        if schema.get(name) == pl.String
    ]
    repeated = [pl.col(name).cast(pl.Categorical) for name in REPEATED if schema.get(name) == pl.String]
    return lazy.with_columns(hashed + repeated) if hashed or repeated else lazy


def as_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Categories back to strings, for what leaves the join."""
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))
