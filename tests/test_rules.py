from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logscan import rules
from logscan.errors import RuleError

CATEGORIES = """\
categories:
  - id: request_format
    title: Bad request format
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(*paths: Path, include_builtin: bool = False) -> list[str]:
    with pytest.raises(RuleError) as raised:
        rules.load(paths, include_builtin=include_builtin)
    return [str(problem) for problem in raised.value.problems]


def test_a_valid_file_loads_compiled_and_ordered(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        CATEGORIES
        + """\
rules:
  - id: low
    category: request_format
    match: {message: {contains: 'invalid character'}}
  - id: high
    title: Missing or cut body
    category: request_format
    priority: 90
    severity: high
    implies_400: true
    match:
      any:
        - message: {regex: '(?i)unexpected eof'}
        - message: {contains: 'missing request body'}
      none:
        - line: {startswith: 'level=WARN'}
    explain: The body was empty or cut.
    remediation: Send the whole body.
    references: ['https://example.org/a']
    tags: [body, json]
  - id: tie
    category: request_format
    match:
      all:
        - message: {regex: '(?<!not )valid'}
        - status: {in: [400, 422]}
        - endpoint: {startswith: /api/}
""",
    )
    ruleset = rules.load([path], include_builtin=False)
    assert [(r.id, r.priority, r.order, r.engine) for r in ruleset.rules] == [
        ("high", 90, 2, "polars"),
        ("low", 50, 1, "polars"),
        ("tie", 50, 3, "regex"),
    ]
    high = ruleset.rules[0]
    assert (high.title, high.severity, high.implies_400) == ("Missing or cut body", "high", True)
    assert (high.explain, high.remediation, high.references, high.tags) == (
        "The body was empty or cut.",
        "Send the whole body.",
        ("https://example.org/a",),
        ("body", "json"),
    )
    assert [c.describe() for group in high.match.any for c in group] == [
        "message regex '(?i)unexpected eof'",
        "message contains 'missing request body'",
    ]
    assert [c.describe() for c in ruleset.rules[2].match.all] == [
        "message regex '(?<!not )valid'",
        "status in [400, 422]",
        "endpoint startswith '/api/'",
    ]
    assert ruleset.rules[1].title == "low"  # the title defaults to the id
    # Literals of conditions on message/line in every block feed the prefilter; other fields do not.
    assert ruleset.prefilter().anchors == (
        rules.Anchor("invalid character"),
        rules.Anchor("level=WARN"),
        rules.Anchor("missing request body"),
        rules.Anchor("unexpected eof", ignore_case=True),
        rules.Anchor("valid"),
    )


def test_shorthand_match_is_one_all_condition(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        CATEGORIES
        + """\
rules:
  - id: short
    category: request_format
    match: {message: {contains: 'x y z'}, side: {equals: client}}
  - id: long
    category: request_format
    match:
      all:
        - {message: {contains: 'x y z'}, side: {equals: client}}
""",
    )
    short, long = rules.load([path], include_builtin=False).rules
    assert (
        [c.describe() for c in short.match.all]
        == [c.describe() for c in long.match.all]
        == [
            "message contains 'x y z'",
            "side equals 'client'",
        ]
    )
    assert short.match.any == short.match.none == ()


def test_every_problem_in_a_file_is_reported_with_its_place(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broken.yaml",
        CATEGORIES
        + """\
rules:
  - id: one
    category: request_format
    match: {message: {regex: 'ok('}}
    colour: red
  - id: two
    category: no_such_category
    priority: high
    match: {message: {contains: fine}}
  - id: one
    category: request_format
    match: {}
  - id: three
    category: request_format
    severity: urgent
    match:
      all:
        - side: {equals: client}
      sometimes: []
    examples:
      - line: 'x 400'
        category: nope
  - id: four
    category: request_format
    match:
      any:
        - message: 'bare string'
        - message: {in: []}
        - 'not a mapping'
        - status: {equals: 400, contains: '4'}
    extract:
      - '(?P<tenant>\\w+)'
      - 'no groups'
      - '(?<=x)(?P<model>y)'
""",
    )
    assert problems_of(path) == [
        f"{path}:7:34: regex does not compile: missing )",
        f"{path}:8:5: unknown key 'colour' (allowed: id, title, category, priority, severity, match, implies_400, extract, explain, remediation, references, tags, examples)",
        f"{path}:10:15: unknown category 'no_such_category'",
        f"{path}:11:15: 'priority' must be an integer, not a string",
        f"{path}:13:9: duplicate rule id 'one' (first at {path}:5:5)",
        f"{path}:15:12: 'match' has no conditions",
        f"{path}:18:15: 'severity' must be one of low, medium, high, not 'urgent'",
        f"{path}:22:7: 'match' holds either all/any/none blocks or field conditions, not both ('sometimes')",
        f"{path}:25:19: unknown category 'nope'",
        f"{path}:30:20: 'message' needs an operator mapping such as {{contains: '...'}} or {{regex: '...'}}",
        f"{path}:31:25: 'in' must be a non-empty list, each entry a string",
        f"{path}:32:11: each entry of 'any' must be a mapping such as {{message: {{contains: '...'}}}}",
        f"{path}:33:33: unknown operator 'contains' for number field 'status' (operators: equals, in, gt, lt)",
        f"{path}:35:10: extract regex needs named groups among model, endpoint, method, client (unknown: tenant)",
        f'{path}:36:10: extract regex needs named groups among model, endpoint, method, client, e.g. (?P<model>[^\\s"]+)',
        f"{path}:37:10: extract regex must compile for the Rust engine (no look-around or backreferences)",
    ]


def test_conditions_are_checked_field_by_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fields.yaml",
        CATEGORIES
        + """\
rules:
  - id: fields
    category: request_format
    match:
      all:
        - side: {equals: both}
        - status: {gt: '399'}
        - endpoint: {gt: 3}
        - colour: {equals: red}
        - model: {equals: ''}
        - client: {in: [1, 2]}
""",
    )
    assert problems_of(path) == [
        f"{path}:9:26: side is 'client' or 'server', not 'both'",
        f"{path}:10:24: 'gt' on 'status' must be an integer, not a string",
        f"{path}:11:22: unknown operator 'gt' for text field 'endpoint' (operators: regex, contains, equals, startswith, in)",
        f"{path}:12:11: unknown field 'colour' (fields: message, line, endpoint, method, model, status, side, format, client)",
        f"{path}:13:27: 'equals' needs a non-empty string",
        f"{path}:14:24: 'in' must be a non-empty list, each entry a string",
    ]


def test_invalid_yaml_names_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "rules:\n  - id: x\n    match: [unclosed\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:4:1: invalid YAML: ")


def test_missing_keys_and_wrong_shapes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shape.yaml",
        """\
rule:
  - id: x
rules:
  - id: Bad Id
    category: nonsense
  - just a string
  - id: listed
    category: [request_format]
    match: {message: {contains: [x]}}
""",
    )
    assert problems_of(path) == [
        f"{path}:1:1: unknown top-level key 'rule' (expected 'categories', 'rules' or 'suppress')",
        f"{path}:4:5: missing required key 'match'",
        f"{path}:4:9: invalid id 'Bad Id': use lowercase letters, digits, '.', '_' and '-'",
        f"{path}:5:15: unknown category 'nonsense'",
        f"{path}:6:5: each entry of 'rules' must be a mapping",
        f"{path}:8:15: 'category' must be a string, not a list",
        f"{path}:9:33: 'contains' on 'message' must be a string, not a list",
    ]


def test_a_tag_refuses_the_whole_file_before_anything_is_built(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tagged.yaml",
        "rules:\n  - id: x\n    category: request_format\n"
        "    match: {message: {contains: !!python/name:os.system x}}\n",
    )
    assert problems_of(path) == [
        f"{path}:4:33: YAML tags are not allowed ('!!python/name:os.system'): a rule file is plain data"
    ]


def test_the_first_schema_gets_a_hint_per_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "old.yaml",
        CATEGORIES
        + """\
rules:
  - id: old
    category: request_format
    patterns: ['missing request body']
    side: client
""",
    )
    assert problems_of(path) == [
        f"{path}:5:5: missing required key 'match'",
        f"{path}:7:5: 'patterns' is the old form: list the regexes under 'match', e.g. match: {{any: [{{message: {{regex: '...'}}}}]}}",
        f"{path}:8:5: 'side' is now a condition in 'match': side: {{equals: client}}",
    ]


def test_suppress_entries_load_and_are_checked(tmp_path: Path) -> None:
    good = write(
        tmp_path,
        "good.yaml",
        CATEGORIES
        + """\
rules:
  - id: noisy
    category: request_format
    match: {message: {contains: 'noisy thing'}}
suppress:
  - rule: noisy
    reason: load test
  - id: probe
    match: {message: {contains: 'healthcheck-probe'}}
""",
    )
    ruleset = rules.load([good], include_builtin=False)
    assert [(s.id, s.rule_id, s.reason, s.match is not None) for s in ruleset.suppressions] == [
        ("rule:noisy", "noisy", "load test", False),
        ("probe", None, "", True),
    ]
    assert rules.Anchor("healthcheck-probe") in ruleset.prefilter().anchors
    bad = write(
        tmp_path,
        "bad.yaml",
        CATEGORIES
        + """\
suppress:
  - rule: nobody
  - rule: noisy
    match: {message: {contains: x}}
  - reason: neither
  - match: {}
""",
    )
    assert problems_of(good, bad) == [
        f"{bad}:5:5: suppress: unknown rule id 'nobody'",
        f"{bad}:6:5: a suppress entry needs exactly one of 'rule' or 'match'",
        f"{bad}:8:5: a suppress entry needs exactly one of 'rule' or 'match'",
        f"{bad}:9:12: 'match' has no conditions",
    ]


def test_user_rule_replaces_builtin_with_same_id_and_takes_its_own_place(tmp_path: Path) -> None:
    builtin = rules.load()
    some_rule = builtin.rules[-1]
    path = write(
        tmp_path,
        "mine.yaml",
        f"""\
rules:
  - id: {some_rule.id}
    category: auth
    priority: {some_rule.priority}
    match: {{message: {{contains: 'my own wording'}}}}
""",
    )
    mine = rules.load([path])
    replaced = mine.rule(some_rule.id)
    assert replaced is not None
    assert (replaced.category, replaced.builtin, replaced.place.file) == ("auth", False, str(path))
    assert len(mine.rules) == len(builtin.rules)
    # Loaded after every built-in rule, it loses ties to all of them.
    assert replaced.order == len(builtin.rules) + 1
    assert mine.rules[-1].id == some_rule.id


def test_two_user_files_may_not_share_an_id(tmp_path: Path) -> None:
    text = (
        CATEGORIES
        + "rules:\n  - id: same\n    category: request_format\n    match: {message: {contains: abc}}\n"
    )
    first, second = write(tmp_path, "a.yaml", text), write(tmp_path, "b.yaml", text)
    assert problems_of(first, second) == [f"{second}:5:9: duplicate rule id 'same' (first at {first}:5:5)"]


@pytest.mark.parametrize(
    ("pattern", "anchors"),
    [
        ("does not support (tools|insert)", ("does not support ",)),
        # Python's parser factors the common "i" out of the branches; the rest still anchors.
        ("illegal base64 data|invalid image input", ("llegal base64 data", "nvalid image input")),
        (r"(?i)rate.?limit", ("(?i:limit)",)),
        (r"\d+ of \w+", (" of ",)),
        (r"(a|b)c", None),
        (r"(?:status code|HTTP code):? 400", ("status code", "HTTP code")),
        (r"json: cannot unmarshal \w+ into", ("json: cannot unmarshal ",)),
        (r"a\.b\(c", (r"a\.b\(c",)),
    ],
)
def test_anchor_derivation(pattern: str, anchors: tuple[str, ...] | None) -> None:
    assert rules.derive_anchors(pattern) == anchors


def test_literal_escaping_is_minimal_and_round_trips() -> None:
    literal = 'error: {"a": [1]} costs $5 (or 5.0) | a+b? ^x-y#z'
    escaped = rules.escape_literal(literal)
    assert escaped == 'error: \\{"a": \\[1\\]\\} costs \\$5 \\(or 5\\.0\\) \\| a\\+b\\? \\^x-y#z'
    import polars as pl  # noqa: PLC0415

    assert pl.Series([literal, literal[1:]]).str.contains(f"^{escaped}$").to_list() == [True, False]


def test_builtin_pack_loads() -> None:
    ruleset = rules.load()
    assert list(ruleset.categories)[:8] == [
        "request_format", "invalid_model_name", "unsupported_capability", "context_or_options",
        "rate_limit", "auth", "server_misconfig", "unclassified",
    ]  # fmt: skip
    assert all(rule.examples for rule in ruleset.rules)
    assert all(category.steps for category in ruleset.categories.values())
    assert {rule.engine for rule in ruleset.rules} == {"polars"}
    assert all(rule.builtin and rule.severity in rules.SEVERITIES for rule in ruleset.rules)


LETTERS = st.sampled_from(list("abkKsS -\u212a\u017fé\u00c9"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.text(LETTERS, min_size=3, max_size=5), st.booleans()), min_size=1, max_size=40),
    st.lists(st.text(LETTERS, max_size=30), min_size=1, max_size=20),
)
def test_a_search_for_many_literals_finds_what_one_regex_would(
    literals: list[tuple[str, bool]], lines: list[str]
) -> None:
    # Padded past the size where the search switches from one regex to Aho-Corasick.
    padding = [rules.Anchor(f"zz-padding-{n:04d}") for n in range(250)]
    anchors = [rules.Anchor(text, ignore_case) for text, ignore_case in literals]
    search = rules.LiteralSearch.of([*anchors, *padding])
    assert len(search.anchors) > 200
    column = pl.Series(lines, dtype=pl.String)
    one_regex = column.str.contains("|".join(a.pattern for a in anchors))
    assert search.hits(column).to_list() == one_regex.to_list()
