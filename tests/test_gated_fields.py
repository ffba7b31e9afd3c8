"""The occurrence fields that run only on records holding their literals (the model, GIN's
latency, whether an access record carries a reason) are those the extractions give on every
record, and the request's method and endpoint, extracted once, are those of the two
expressions."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logscan import fields, formats, reading

FRAGMENTS = [
    '[GIN] 2024/03/05 - 17:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"',
    '[GIN] 2024/05/07 - 06:59:38 | 400 |        2m15s |       127.0.0.1 | POST     "/api/chat"',
    '10.0.3.17 - - [07/May/2025:08:59:38 +0200] "POST /api/chat HTTP/1.1" 400 81 "-" "ollama-python/0.4.8"',
    'INFO:     172.18.0.1:53422 - "POST /ollama/api/chat HTTP/1.1" 400 Bad Request',
    'HTTP Request: POST http://localhost:11434/api/show "HTTP/1.1 400 Bad Request"',
    "HTTP/1.1 400 Bad Request",
    "status: 400",
    "registry.ollama.ai/library/gemma2:2b does not support tools (status code: 400)",
    '"llama3:8b" does not support thinking',
    "raw mode does not support template, system, or context",
    '{"model": "qwen2.5:7b", "error": "invalid"}',
    'model="ollama/llama3.1:8b"',
    "chat(model=model)",
    'File "/app/.venv/lib/ollama/_client.py", line 342, in chat',
    "url: 'http://localhost:11434/v1/chat/completions'",
    '"endpoint": "/api/generate",',
    "error: invalid character 'x'",
    "   ",
]


def records_of(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"text": texts, "message": texts, "first_line": [t.split("\n")[0] for t in texts]})


texts = st.lists(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4).map("\n".join),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(texts=texts)
def test_gated_extractions_give_what_the_extractions_give_on_every_record(texts: list[str]) -> None:
    records = records_of(texts)
    text, message, first = pl.col("text"), pl.col("message"), pl.col("first_line")
    model = fields.normalised_model(formats.model_expr(message, text))
    assert (
        reading._only_where(records, text.str.contains_any(list(formats.MODEL_LITERALS)), model).to_list()
        == records.select(model).to_series().to_list()
    )
    gated_latency = reading._only_where(
        records, first.str.contains(fields.GIN_LITERAL, literal=True), fields.latency_expr(first)
    )
    assert gated_latency.to_list() == records.select(fields.latency_expr(first)).to_series().to_list()
    reasonless = reading._only_where(
        records, fields.access_or_status_only(text), fields.shows_no_reason(text)
    )
    assert (
        reasonless.fill_null(value=False).to_list()
        == records.select(fields.reasonless_expr(text)).to_series().to_list()
    )


def test_a_gated_field_is_null_where_the_gate_is_shut_and_found_where_it_is_open() -> None:
    records = records_of([FRAGMENTS[0], FRAGMENTS[6], FRAGMENTS[1]])
    first = pl.col("first_line")
    latency = reading._only_where(
        records, first.str.contains(fields.GIN_LITERAL, literal=True), fields.latency_expr(first)
    )
    assert latency.to_list() == [pytest.approx(213.546e-6), None, 135.0]


@settings(max_examples=100, deadline=None)
@given(texts=texts)
def test_the_request_struct_holds_the_method_and_endpoint(texts: list[str]) -> None:
    records = records_of(texts).with_columns(request=formats.request_expr(pl.col("text")))
    method, endpoint = formats.method_and_endpoint(pl.col("text"))
    expected = records.select(method=method, endpoint=endpoint)
    found = records.select(
        method=pl.col("request").struct.field("method"), endpoint=pl.col("request").struct.field("endpoint")
    )
    assert found.equals(expected)
