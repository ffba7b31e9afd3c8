import time
from pathlib import Path

import polars as pl
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from logscan import classify, rules

RULES = """\
categories:
  - id: request_format
    title: Bad request format
  - id: unsupported_capability
    title: Unsupported capability
rules:
  - id: generic.invalid
    category: request_format
    priority: 10
    match: {message: {contains: invalid}}
  - id: tools
    category: unsupported_capability
    priority: 80
    match: {message: {contains: 'does not support tools'}}
    implies_400: true
  - id: first.of.equals
    category: request_format
    priority: 50
    match: {message: {contains: tie}}
  - id: second.of.equals
    category: unsupported_capability
    priority: 50
    match: {message: {contains: tie}}
  - id: server.only
    category: unsupported_capability
    priority: 90
    match:
      all:
        - message: {contains: invalid}
        - side: {equals: server}
  - id: lookaround
    category: unsupported_capability
    priority: 60
    match: {message: {regex: '(?<!not )supported only'}}
"""

# Rules over every field and operator, and the any/none blocks.
FIELD_RULES = """\
categories:
  - id: request_format
    title: Bad request format
rules:
  - id: embed.endpoint
    category: request_format
    priority: 90
    match:
      all:
        - endpoint: {startswith: /api/embed}
        - method: {in: [POST, PUT]}
      none:
        - model: {equals: nomic-embed-text}
  - id: status.range
    category: request_format
    priority: 80
    match:
      all:
        - status: {gt: 399}
        - status: {lt: 401}
        - client: {equals: openai}
  - id: by.format
    category: request_format
    priority: 70
    match:
      all:
        - format: {equals: plain}
      any:
        - line: {regex: '(?m)^Traceback'}
        - message: {contains: 'wrapped error'}
"""


def load(tmp_path_factory: pytest.TempPathFactory, text: str) -> rules.RuleSet:
    path: Path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(text)
    return rules.load([path], include_builtin=False)


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> rules.RuleSet:
    return load(tmp_path_factory, RULES)


def records(*rows: dict[str, object]) -> pl.DataFrame:
    schema = {
        "text": pl.String, "message": pl.String, "side": pl.String, "status": pl.Int32,
        "method": pl.String, "endpoint": pl.String, "model": pl.String, "client": pl.String,
        "format": pl.String,
    }  # fmt: skip
    # A record's message defaults to its whole text, as for a one-line record.
    filled = [
        {key: row.get(key, row["text"] if key == "message" else None) for key in schema} for row in rows
    ]
    return pl.DataFrame(filled, schema=schema)


def classified(ruleset: rules.RuleSet, *rows: tuple[str, str, int | None]) -> list[tuple[str, str | None]]:
    frame = records(*({"text": text, "side": side, "status": status} for text, side, status in rows))
    return classify.classify(frame.drop("message"), ruleset).select("category", "rule_id").rows()


def test_highest_priority_wins_and_unmatched_400s_are_unclassified(ruleset: rules.RuleSet) -> None:
    assert classified(
        ruleset,
        ("invalid x does not support tools", "client", 400),
        ("invalid body", "client", 400),
        ("something new", "client", 400),
    ) == [
        ("unsupported_capability", "tools"),
        ("request_format", "generic.invalid"),
        ("unclassified", None),
    ]


def test_ties_go_to_the_rule_loaded_first(ruleset: rules.RuleSet) -> None:
    assert classified(ruleset, ("a tie", "client", 400)) == [("request_format", "first.of.equals")]


def test_side_conditions_only_see_their_side(ruleset: rules.RuleSet) -> None:
    assert classified(ruleset, ("invalid", "server", 400), ("invalid", "client", 400)) == [
        ("unsupported_capability", "server.only"),
        ("request_format", "generic.invalid"),
    ]


def test_implied_400_only_without_another_status(ruleset: rules.RuleSet) -> None:
    assert classified(
        ruleset,
        ("llava does not support tools", "client", None),
        ("llava does not support tools", "client", 500),
        ("invalid body", "client", None),
        ("invalid body", "client", 404),
    ) == [("unsupported_capability", "tools")]


def test_lookaround_patterns_run_on_the_regex_engine(ruleset: rules.RuleSet) -> None:
    assert ruleset.rule("lookaround").engine == "regex"  # type: ignore[union-attr]
    assert classified(
        ruleset, ("images supported only as base64", "client", 400), ("not supported only", "client", 400)
    ) == [("unsupported_capability", "lookaround"), ("unclassified", None)]


def test_message_and_line_are_different_fields(tmp_path_factory: pytest.TempPathFactory) -> None:
    ruleset = load(
        tmp_path_factory,
        """\
categories: [{id: request_format, title: Bad request format}]
rules:
  - id: in.message
    category: request_format
    match: {message: {contains: 'queue rejected'}}
""",
    )
    frame = records(
        {
            "text": "ERROR bot\nqueue rejected (status code: 400)",
            "message": "queue rejected (status code: 400)",
        },
        {"text": "queue rejected\nstatus code: 400", "message": "status code: 400"},
    ).with_columns(status=pl.lit(400, pl.Int32))
    assert classify.classify(frame, ruleset).get_column("rule_id").to_list() == ["in.message", None]


def test_every_field_and_operator(tmp_path_factory: pytest.TempPathFactory) -> None:
    ruleset = load(tmp_path_factory, FIELD_RULES)
    frame = records(
        {"text": "x", "status": 400, "endpoint": "/api/embed", "method": "POST", "model": "bge-m3"},
        {"text": "x", "status": 400, "endpoint": "/api/embed", "method": "POST", "model": "nomic-embed-text"},
        {"text": "x", "status": 400, "endpoint": "/api/embeddings", "method": "GET"},
        {"text": "x", "status": 400, "client": "openai"},
        {"text": "x", "status": 400, "client": "httpx"},
        {
            "text": "Traceback (most recent call last):\nE: x",
            "message": "E: x",
            "status": 400,
            "format": "plain",
        },
        {"text": "x wrapped error", "message": "x wrapped error", "status": 400, "format": "plain"},
        {"text": "x wrapped error", "message": "x wrapped error", "status": 400, "format": "python-logging"},
    )
    assert classify.classify(frame, ruleset).get_column("rule_id").to_list() == [
        "embed.endpoint",
        None,  # the `none` block leaves nomic-embed-text out
        None,  # a GET is not in the list
        "status.range",
        None,
        "by.format",
        "by.format",
        None,
    ]


def test_the_winning_rule_extracts_fields(tmp_path_factory: pytest.TempPathFactory) -> None:
    ruleset = load(
        tmp_path_factory,
        """\
categories: [{id: request_format, title: Bad request format}]
rules:
  - id: named
    category: request_format
    priority: 60
    match: {message: {contains: 'is invalid'}}
    extract:
      - 'name "(?P<model>[^"]+)" is invalid'
      - 'at (?P<endpoint>/\\S+) by (?P<method>[A-Z]+)'
  - id: other
    category: request_format
    match: {message: {contains: 'name'}}
    extract: ['name "(?P<model>[^"]+)"']
""",
    )
    frame = records(
        {"text": 'name "my model" is invalid at /api/copy by POST', "status": 400, "model": "generic"},
        {"text": "name is invalid", "status": 400, "model": "generic"},
        {"text": 'name "kept" here', "status": 400},
    )
    assert classify.classify(frame, ruleset).select("rule_id", "model", "endpoint", "method").rows() == [
        ("named", "my model", "/api/copy", "POST"),
        ("named", "generic", None, None),  # the groups found nothing: what the record showed stays
        ("other", "kept", None, None),
    ]


def test_suppressed_occurrences_are_marked_not_dropped(tmp_path_factory: pytest.TempPathFactory) -> None:
    ruleset = load(
        tmp_path_factory,
        RULES
        + """\
suppress:
  - rule: generic.invalid
  - id: probe
    match: {message: {regex: '(?<!real )healthcheck'}}
""",
    )
    assert (
        classify.classify(
            records(
                {"text": "invalid body", "status": 400},
                {"text": "healthcheck: bad request", "status": 400},
                {"text": "real healthcheck failed", "status": 400},
                {"text": "a tie", "status": 400},
            ),
            ruleset,
        )
        .select("category", "rule_id", "suppressed_by")
        .rows()
    ) == [
        ("request_format", "generic.invalid", "rule:generic.invalid"),
        ("unclassified", None, "probe"),
        ("unclassified", None, None),
        ("request_format", "first.of.equals", None),
    ]


CATASTROPHIC = """\
categories: [{id: request_format, title: Bad request format}]
rules:
  - id: slow
    category: request_format
    match:
      all:
        - message: {contains: 'status code'}
        - message: {regex: '(a|a)+(?=b)\\1'}
"""


def test_a_catastrophic_pattern_times_out_and_the_rest_goes_on(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ruleset = load(tmp_path_factory, CATASTROPHIC)
    slow_text = "status code: 400 " + "a" * 60  # about 2**60 ways to fail without the timeout
    frame = records(
        *({"text": slow_text, "status": 400} for _ in range(6)),
        {"text": "status code: 400 aab", "status": 400},
    )
    guard = classify.RegexGuard(timeout_seconds=0.05, max_timeouts=2)
    started = time.perf_counter()
    found = classify.classify(frame, ruleset, guard).get_column("rule_id").to_list()
    elapsed = time.perf_counter() - started
    assert found == [None] * 6 + [None]
    assert elapsed < 5, f"a timed-out pattern must not hang the scan ({elapsed:.1f} s)"
    [report] = guard.reports
    assert (report.rule_id, report.timed_out, report.skipped) == ("slow", 2, 5)
    assert report.where.endswith("rules.yaml:8:28")
    assert str(report) == (
        f"rule slow: pattern at {report.where} timed out on 2 records (0.05 s each) and was skipped"
        " on 5 more; those records count as not matching it"
    )


def test_a_regex_search_only_runs_where_the_rest_of_the_rule_holds(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ruleset = load(tmp_path_factory, CATASTROPHIC)
    guard = classify.RegexGuard(timeout_seconds=0.05)
    # No 'status code' literal: the vectorised condition fails, so the slow search never runs.
    frame = records({"text": "HTTP 400 " + "a" * 60, "status": 400})
    assert classify.classify(frame, ruleset, guard).get_column("rule_id").to_list() == [None]
    assert guard.reports == []


def test_no_records_gives_the_output_columns() -> None:
    empty = classify.classify(pl.DataFrame(), rules.RuleSet({}, ()))
    assert empty.columns == ["category", "rule_id", "suppressed_by"]


def test_required_literals_come_from_all_else_from_every_any_group(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ruleset = load(tmp_path_factory, FIELD_RULES)
    required = {rule.id: rule.match.required_literals() for rule in ruleset.rules}
    # No text condition at all: nothing is required, the rule is tried on every record.
    assert required["embed.endpoint"] is None
    assert required["status.range"] is None
    # One literal from each `any` group: every match holds one of them.
    assert required["by.format"] == (rules.Anchor("Traceback"), rules.Anchor("wrapped error"))
    generic = load(tmp_path_factory, RULES).rule("server.only")
    assert generic is not None and generic.match.required_literals() == (rules.Anchor("invalid"),)


# --- many rules ------------------------------------------------------------------------------

WORDS = ("quota", "schema", "token", "payload", "shard", "cursor", "prompt", "upload")


def many_rules(count: int) -> str:
    """``count`` rules, each on a code of its own, some case-insensitive, some on the regex
    engine, priorities repeating so that ties and batches of rules both matter."""
    out = ["rules:"]
    for n in range(count):
        code = f"{WORDS[n % len(WORDS)]}-E{n:04d}"
        if n % 5 == 0:
            condition = f"{{regex: '(?i){code} failed'}}"
        elif n % 7 == 0:
            condition = f"{{regex: '(?<!no ){code}'}}"
        else:
            condition = f"{{contains: '{code}'}}"
        category = ("auth", "rate_limit", "request_format")[n % 3]
        out.append(
            f"  - id: r{n:04d}\n    category: {category}\n    priority: {n % 9}\n"
            f"    match: {{message: {condition}}}"
        )
    return "\n".join(out) + "\n"


def expected_winner(ruleset: rules.RuleSet, text: str) -> str | None:
    """The first rule, in priority order, whose condition holds: the contract, tried rule by
    rule with Python's own regex engine."""
    for rule in ruleset.rules:
        [condition] = rule.match.all
        if condition.operator == "contains":
            hit = str(condition.value) in text
        else:
            hit = regex.search(str(condition.value), text) is not None
        if hit:
            return rule.id
    return None


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> rules.RuleSet:
    return load(tmp_path_factory, many_rules(700))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 699), st.sampled_from(["", " failed", " FAILED"]), st.booleans()),
            max_size=3,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_with_hundreds_of_rules_each_record_gets_the_first_rule_that_holds(
    many: rules.RuleSet, picks: list[list[tuple[int, str, bool]]]
) -> None:
    texts = []
    for parts in picks:
        words = []
        for n, tail, negated in parts:
            code = f"{WORDS[n % len(WORDS)]}-E{n:04d}"
            words.append(("no " if negated else "") + (code.upper() if tail == " FAILED" else code) + tail)
        texts.append("ERROR " + "; ".join(words) + " (status code: 400)")
    found = classify.classify(records(*({"text": t, "status": 400} for t in texts)), many)
    assert found.get_column("rule_id").to_list() == [expected_winner(many, t) for t in texts]


def test_a_case_insensitive_literal_also_gates_on_letters_that_fold_to_ascii(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ruleset = load(
        tmp_path_factory,
        "rules:\n  - id: kill\n    category: auth\n    match: {message: {regex: '(?i)kill switch'}}\n",
    )
    assert ruleset.gates.folded == ("kill switch",)
    # U+212A KELVIN SIGN matches k case-insensitively, in the Rust engine as in `regex`.
    texts = ["KILL SWITCH (status code: 400)", "\u212aill switch (status code: 400)", "kil switch 400"]
    found = classify.classify(records(*({"text": t, "status": 400} for t in texts)), ruleset)
    assert found.get_column("rule_id").to_list() == ["kill", "kill", None]


def test_a_regex_engine_rule_is_tried_on_the_same_records_whatever_their_order(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ruleset = load(
        tmp_path_factory,
        """\
rules:
  - id: literal.first
    category: auth
    priority: 90
    match: {message: {contains: 'token expired'}}
  - id: backreference
    category: rate_limit
    match: {line: {regex: '(\\w{3,})-\\1'}}
""",
    )
    assert ruleset.rule("backreference").engine == "regex"
    texts = [
        "token expired (status code: 400)",
        "retry-retry (status code: 400)",
        "plain (status code: 400)",
        "token expired again-again (status code: 400)",
    ]
    outcomes = []
    for order in (texts, texts[::-1], texts[1:] + texts[:1]):
        guard = classify.RegexGuard()
        found = classify.classify(records(*({"text": t, "status": 400} for t in order)), ruleset, guard)
        outcomes.append(dict(zip(order, found.get_column("rule_id").to_list(), strict=True)))
    assert outcomes[0] == {
        texts[0]: "literal.first",
        texts[1]: "backreference",
        texts[2]: None,
        texts[3]: "literal.first",
    }
    assert outcomes[1] == outcomes[0] and outcomes[2] == outcomes[0]
