"""The request join in bounded memory: compact records and candidates searched slice by slice
give exactly the requests of the join done in one piece on the records as the formats wrote them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logscan import cluster
from logscan.requests import Joined, JoinOptions, compact, join
from logscan.requests.model import INPUT_COLUMNS

SCHEMA = {name: dtype or pl.Datetime("us", "UTC") for name, dtype in INPUT_COLUMNS.items()}
BASE = datetime(2025, 5, 7, 9, 0, 0, tzinfo=UTC)
FILES = ["ollama/server.log", "ollama/other.log", "app/api.log", "app/worker.log", "nginx/access.log"]
KINDS = {"server": ["gin", "gin", "proxy", "ollama"], "client": ["client"]}
ADDED = ["request_id", "request_category", "request_rule_id", "attribution", "final_category", "matched_key"]


@st.composite
def crowded_records(draw: st.DrawFn) -> pl.DataFrame:
    """Records of a few files packed into a few seconds: most have several candidates, so the
    join meets bursts, rivals and rows that show no endpoint."""
    count = draw(st.integers(min_value=0, max_value=60))
    span = draw(st.sampled_from([2.0, 8.0, 40.0]))
    rows = []
    for key in range(count):
        side = draw(st.sampled_from(["server", "client"]))
        seconds = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=span, allow_nan=False)))
        category = draw(st.sampled_from(["unclassified", "request_format", "auth"]))
        rows.append(
            {
                "key": key * 3,
                "file": draw(st.sampled_from(FILES)),
                "record_no": key,
                "line": key + 1,
                "timestamp": None if seconds is None else BASE + timedelta(seconds=seconds),
                "side": side,
                "kind": draw(st.sampled_from(KINDS[side])),
                "reasonless": draw(st.booleans()),
                "endpoint": draw(st.sampled_from([None, "/api/chat", "/api/chat", "/api/embed"])),
                "client": draw(st.sampled_from([None, "ollama-python", "openai", "requests"])),
                "user_agent": draw(st.sampled_from([None, "ollama-python", "openai", "curl"])),
                "latency": draw(st.sampled_from([None, 0.0002, 4.0])),
                "category": category,
                "rule_id": None if category == "unclassified" else category,
                "reason": draw(st.sampled_from([None, "x", "y"])),
                "ollama": draw(st.booleans()),
            }
        )
    return pl.DataFrame(rows, schema=SCHEMA)


def same_join(one: Joined, other: Joined) -> None:
    assert other.requests.equals(one.requests)
    assert other.records.select("key", *ADDED).equals(one.records.select("key", *ADDED))
    assert other.stats == one.stats
    assert other.offsets == one.offsets


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_records(), st.integers(min_value=1, max_value=7))
def test_a_join_in_slices_gives_the_requests_of_one_in_one_piece(records: pl.DataFrame, rows: int) -> None:
    whole = join(records, JoinOptions(min_offset_pairs=1, slice_rows=1_000_000))
    sliced = join(records, JoinOptions(min_offset_pairs=1, slice_rows=rows))
    same_join(whole, sliced)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_records())
def test_compact_records_join_as_the_records_themselves(records: pl.DataFrame) -> None:
    encoded = compact(records).collect()
    assert encoded.schema["reason"] == pl.UInt64
    assert encoded.schema["file"] == pl.Categorical
    # No reason stays no reason: a null must not hash to a value that two records share.
    assert encoded["reason"].null_count() == records["reason"].null_count()
    same_join(join(records, JoinOptions(min_offset_pairs=1)), join(encoded, JoinOptions(min_offset_pairs=1)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_records(), st.integers(min_value=1, max_value=5))
def test_records_in_many_chunks_join_as_in_one(records: pl.DataFrame, chunk_rows: int) -> None:
    # As the spill is read back: a chunk per batch. The join puts each column in one chunk.
    chunked = pl.concat(
        [records.slice(start, chunk_rows) for start in range(0, records.height, chunk_rows)] or [records],
        rechunk=False,
    )
    joined = join(chunked, JoinOptions(min_offset_pairs=1))
    same_join(join(records, JoinOptions(min_offset_pairs=1)), joined)
    assert set(joined.records.n_chunks("all")) == {1}


def test_the_requests_leave_the_join_as_strings() -> None:
    records = pl.DataFrame(
        [
            {"key": 0, "file": "app/api.log", "record_no": 0, "line": 1, "timestamp": BASE, "side": "client",
             "kind": "client", "reasonless": False, "endpoint": "/api/chat", "category": "request_format",
             "rule_id": "unmarshal", "reason": "json: cannot unmarshal", "ollama": True},
        ],
        schema=SCHEMA,
    )  # fmt: skip
    joined = join(compact(records).collect())
    assert joined.requests.select("category", "rule_id", "endpoint").rows() == [
        ("request_format", "unmarshal", "/api/chat")
    ]
    assert joined.requests.schema["endpoint"] == pl.String
    assert joined.records.schema["final_category"] == pl.String


MESSAGES = [
    "ollama._types.ResponseError: json: cannot unmarshal string into Go value of type int (status code: 400)",
    "ollama._types.ResponseError: json: cannot unmarshal string into Go value of type bool (status code: 400)",
    '[GIN] 2025/05/07 - 09:00:05 | 400 |     412.3µs |   10.0.0.7 | POST     "/api/chat"',
    '[GIN] 2025/05/07 - 09:00:09 | 400 |    1.2041s |  10.0.0.12 | POST     "/api/embed"',
    'HTTP Request: POST http://10.0.0.5:11434/api/chat "HTTP/1.1 400 Bad Request"',
    None,
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(MESSAGES), st.sampled_from(["client", "server", None])), max_size=30),
    st.integers(min_value=1, max_value=5),
)
def test_templates_in_slices_are_the_templates_of_one_piece(
    rows: list[tuple[str | None, str | None]], size: int
) -> None:
    events = pl.DataFrame(
        {
            "file": [f"log{index % 3}" for index in range(len(rows))],
            "line": list(range(1, len(rows) + 1)),
            "timestamp": [BASE + timedelta(seconds=index) for index in range(len(rows))],
            "side": [side for _, side in rows],
            "reasonless": [index % 2 == 0 for index in range(len(rows))],
            "message": [message for message, _ in rows],
            "rule_id": pl.Series([None] * len(rows), dtype=pl.String),
        },
        schema_overrides={"side": pl.String, "message": pl.String},
    )
    whole = cluster.cluster_templates(cluster.templates(events, slice_rows=1_000))
    sliced = cluster.cluster_templates(cluster.templates(events, slice_rows=size))
    assert sliced == whole
    assert whole.total == len(rows)
