from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logscan import aggregate, cluster, rules


def masked(*messages: str) -> list[str]:
    return pl.select(cluster.mask_expr(pl.Series(messages, dtype=pl.String))).to_series().to_list()


@pytest.mark.parametrize(
    ("message", "template"),
    [
        (
            '[GIN] 2024/03/05 - 17:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"',
            '[GIN] <time> | 400 | <num>µs | <ip> | POST "<path>"',
        ),
        (
            "2025-05-07 07:14:04,512 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "
            '"HTTP/1.1 400 Bad Request"',
            '<time> INFO httpx: HTTP Request: POST <url> "HTTP/<num> 400 Bad Request"',
        ),
        (
            'ollama._types.ResponseError: model "llama3:70b" not found, try pulling it (status code: 400)',
            'ollama._types.ResponseError: model "<model>" not found, try pulling it (status code: 400)',
        ),
        (
            "ResponseError: registry.ollama.ai/library/qwen3:8b does not support tools code:400 INFO:httpx",
            "ResponseError: <model> does not support tools code:400 INFO:httpx",
        ),
        (
            "digest sha256:9f3c0aa1bbcc02 for req_01abc at 0x1F in /app/bot.py line 42 "
            "id 123e4567-e89b-12d3-a456-426614174000",
            "digest <id> for <id> at <id> in <path> line <num> id <id>",
        ),
        (
            # A JSON value is kept (it is the message); a short quoted word after a space is masked.
            """{"error":"unauthorized"} {'message': 'unauthorized'} invalid think value: "max" (must be x)""",
            """{"error":"unauthorized"} {'message': 'unauthorized'} invalid think value: "<*>" (must be x)""",
        ),
        ("a\n  multi-line\tmessage  ", "a multi-line message"),
    ],
)
def test_masking(message: str, template: str) -> None:
    assert masked(message) == [template]


def events(rows: list[tuple[str, str, datetime | None, str | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [
            {"file": "app.log", "line": n, "message": m, "side": side, "timestamp": t, "rule_id": rule}
            for n, (m, side, t, rule) in enumerate(rows, start=1)
        ],
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    return pl.concat([aggregate.empty_events(), frame], how="diagonal_relaxed")


def clustered(found: pl.DataFrame) -> cluster.Clusters:
    return cluster.cluster_templates(cluster.templates(found))


def at(minute: int) -> datetime:
    return datetime(2025, 6, 1, 12, minute, tzinfo=UTC)


def test_clusters_count_span_and_pick_two_distinct_examples() -> None:
    result = clustered(
        events(
            [
                ("ERROR queue rejected request 17 for tenant acme", "client", at(5), None),
                ("ERROR queue rejected request 17 for tenant acme", "client", at(1), None),
                ("ERROR queue rejected request 18 for tenant zeta", "client", at(9), None),
                ("ERROR widget blue is not in the catalogue", "client", None, None),
                ("ERROR queue rejected request 19 for tenant acme", "server", at(3), None),
                ("ERROR explained by a rule", "client", at(2), "some.rule"),
            ]
        )
    )
    assert result.unclustered == 0
    assert [(c.template, c.count, c.side, c.first_seen, c.last_seen) for c in result.clusters] == [
        # `acme`/`zeta` differ in one token of nine: merged, that token becomes <*>.
        ("ERROR queue rejected request <num> for tenant <*>", 4, "mixed", at(1), at(9)),
        ("ERROR widget blue is not in the catalogue", 1, "client", None, None),
    ]
    assert [(e.line, e.message) for e in result.clusters[0].examples] == [
        (1, "ERROR queue rejected request 17 for tenant acme"),
        (3, "ERROR queue rejected request 18 for tenant zeta"),
    ]
    assert result.total == 5


def test_different_messages_stay_apart() -> None:
    result = clustered(
        events(
            [
                ("chat failed: tenant budget exhausted", "client", None, None),
                ("chat failed: upstream model unavailable", "client", None, None),
                ("embed failed: tenant budget exhausted", "client", None, None),
            ]
        )
    )
    assert len(result.clusters) == 3


def test_rare_templates_beyond_the_limit_are_counted_not_clustered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "MAX_TEMPLATES", 2)
    rows = [
        (f"error {word} happened", "client", None, None)
        for word in ("alpha", "alpha", "beta", "gamma", "delta")
    ]
    result = clustered(events(rows))
    assert [c.count for c in result.clusters] == [2, 1]
    assert (result.unclustered, result.total) == (2, 5)


def test_no_unclassified_occurrences_no_clusters() -> None:
    assert clustered(events([("x", "client", None, "r")])).clusters == []


@pytest.mark.parametrize(
    ("template", "pattern"),
    [
        (
            "<time> ERROR chat failed: HTTP 400 <*> quota <num>",
            r"chat\s+failed:\s+HTTP\s+400\s+\S+\s+quota",
        ),
        (
            '[GIN] <time> | 400 | <num>µs | <ip> | POST "<path>"',
            r'\[GIN\]\s+.*?\s+\|\s+400\s+\|\s+.*?µs\s+\|\s+.*?\s+\|\s+POST\s+".*?"',
        ),
        ("<time> <num>", ""),
    ],
)
def test_pattern_from_template(template: str, pattern: str) -> None:
    assert cluster.pattern_from_template(template) == pattern


MESSAGE_PARTS = st.sampled_from(
    [
        "ERROR", "chat", "failed:", "HTTP", "400", "(status", "code:", "400)", '"quoted"', "'x'",
        "llama3:8b", "/api/chat", "http://h:1/x?y=1", "127.0.0.1", "2025-06-01 12:00:03,5", "12:00:03",
        "0x1F", "sha256:9f3c0aa1bbcc02", "req_01", "a.b", "[x]", "{y}", "$", "^", "+", "*", "?", "|",
        "\\", "\\\"v\\\"", "\u00b5s", "42", "3.14", "---", "\n", "  ",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(MESSAGE_PARTS, min_size=1, max_size=14).map(" ".join))
def test_a_stub_pattern_matches_the_message_it_came_from(message: str) -> None:
    [template] = masked(message)
    pattern = cluster.pattern_from_template(template)
    if not pattern:
        return  # nothing fixed to match: suggest gives no stub for such a message
    assert pl.Series([message]).str.contains(pattern).item(), (template, pattern)


def test_no_stub_for_a_message_with_too_little_fixed_text() -> None:
    quoted, plain = (
        cluster.Cluster(
            'ERROR "<*>" <num>', 3, None, None, "client", [cluster.ClusterExample("a", 1, 'ERROR "x" 1')]
        ),
        cluster.Cluster(
            "queue rejected <num>",
            2,
            None,
            None,
            "client",
            [cluster.ClusterExample("a", 2, "queue rejected 1")],
        ),
    )
    stubs, skipped = cluster.stubs_for([quoted, plain], rules.load().categories, set())
    assert [stub.id for stub in stubs] == ["local.queue-rejected"]
    assert skipped == [(quoted, "the message has too little fixed text to build a pattern from")]
    # "queue rejected" names no cause: the stub says so instead of guessing one.
    assert (
        "    category: unclassified    # the message names no cause: choose one of request_format,"
        in stubs[0].text
    )


def test_no_stub_for_access_or_status_lines() -> None:
    access = cluster.Cluster(
        '<time> INFO httpx: HTTP Request: POST <url> "HTTP/<num> 400 Bad Request"',
        8,
        None,
        None,
        "client",
        [
            cluster.ClusterExample(
                "a", 1, 'INFO httpx: HTTP Request: POST http://x/api/chat "HTTP/1.1 400 Bad Request"'
            )
        ],
        reasonless=True,
    )
    stubs, skipped = cluster.stubs_for([access], rules.load().categories, set())
    assert stubs == []
    assert skipped == [(access, cluster.REASONLESS_REASON)]


def test_traceback_frame_line_numbers_are_masked() -> None:
    assert masked('  File "/app/run.py", line 400, in run') == ['File "<path>", line <num>, in run']


@pytest.mark.parametrize(
    ("template", "category"),
    [
        ("ERROR gateway: rate limit exceeded for tenant <*>", "rate_limit"),
        ("prompt has <num> tokens, context is <num>", "context_or_options"),
        ("invalid token for user <*>", "auth"),
        ("the model <model> does not support embeddings", "unsupported_capability"),
        ("unknown model <model>", "invalid_model_name"),
        ("upstream proxy reset the connection", "server_misconfig"),
        # Nothing in the words names a cause: no guess, the stub asks the user to choose.
        ("frobnicator queue rejected request <num>", None),
        ("HTTP <num> 400 Bad Request", None),
    ],
)
def test_category_guesses(template: str, category: str | None) -> None:
    known = rules.load().categories
    assert cluster.guess_category(template, [c for c in known if c != "unclassified"]) == category


def test_yaml_strings_are_single_quoted_unless_unprintable() -> None:
    assert cluster.yaml_string("it's \\d") == "'it''s \\d'"
    assert cluster.yaml_string("bell\x07 é") == '"bell\\u0007 \\u00e9"'
