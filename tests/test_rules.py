from pathlib import Path

import pytest

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


def problems_of(*paths: Path) -> list[str]:
    with pytest.raises(RuleError) as raised:
        rules.load(paths, include_builtin=False)
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
    patterns: ['invalid character']
  - id: high
    category: request_format
    priority: 90
    patterns: ['(?i)unexpected eof', 'missing request body']
    implies_400: true
  - id: tie
    category: request_format
    patterns: ['(?<!not )valid']
""",
    )
    ruleset = rules.load([path], include_builtin=False)
    assert [rule.id for rule in ruleset.rules] == ["high", "low", "tie"]
    assert [p.engine for p in ruleset.rules[2].patterns] == ["regex"]
    assert ruleset.rules[0].implies_400
    assert ruleset.anchors == (
        "(?i:unexpected eof)",
        "invalid character",
        "missing request body",
        "valid",
    )


def test_every_problem_in_a_file_is_reported_with_its_place(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broken.yaml",
        CATEGORIES
        + """\
rules:
  - id: one
    category: request_format
    patterns: ['ok(']
    colour: red
  - id: two
    category: no_such_category
    priority: high
    patterns: ['fine']
  - id: one
    category: request_format
    patterns: []
  - id: three
    category: request_format
    patterns: ['x']
    side: both
    examples:
      - line: 'x 400'
        category: nope
""",
    )
    assert problems_of(path) == [
        f"{path}:7:20: regex does not compile: missing )",
        f"{path}:8:5: unknown key 'colour' (allowed: id, title, category, priority, patterns, side, implies_400, examples)",
        f"{path}:10:15: unknown category 'no_such_category'",
        f"{path}:11:15: 'priority' must be an integer, not a string",
        f"{path}:13:9: duplicate rule id 'one' (first at {path}:5:5)",
        f"{path}:15:15: 'patterns' must list at least one regex",
        f"{path}:19:11: 'side' must be one of client, server, any, not 'both'",
        f"{path}:22:19: unknown category 'nope'",
    ]


def test_invalid_yaml_names_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "rules:\n  - id: x\n    patterns: [unclosed\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:4:1: invalid YAML: ")


def test_missing_keys_wrong_shapes_and_tags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shape.yaml",
        """\
rule:
  - id: x
rules:
  - id: Bad Id
    category: request_format
  - just a string
  - id: tagged
    category: !!python/name:os.system request_format
    patterns: ['x']
""",
    )
    assert problems_of(path) == [
        f"{path}:1:1: unknown top-level key 'rule' (expected 'categories' or 'rules')",
        f"{path}:4:5: missing required key 'patterns'",
        f"{path}:4:9: invalid id 'Bad Id': use lowercase letters, digits, '.', '_' and '-'",
        f"{path}:5:15: unknown category 'request_format'",
        f"{path}:6:5: each entry of 'rules' must be a mapping",
        f"{path}:8:15: 'category': YAML tags are not allowed",
    ]


def test_user_rule_replaces_builtin_with_same_id(tmp_path: Path) -> None:
    builtin = rules.load()
    some_rule = builtin.rules[-1]
    path = write(
        tmp_path,
        "mine.yaml",
        f"""\
rules:
  - id: {some_rule.id}
    category: auth
    patterns: ['my own wording']
""",
    )
    mine = rules.load([path])
    replaced = next(rule for rule in mine.rules if rule.id == some_rule.id)
    assert replaced.category == "auth"
    assert len(mine.rules) == len(builtin.rules)


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
    ],
)
def test_anchor_derivation(pattern: str, anchors: tuple[str, ...] | None) -> None:
    derived = rules.derive_anchors(pattern)
    assert derived == anchors


def test_builtin_pack_loads() -> None:
    ruleset = rules.load()
    assert list(ruleset.categories)[:8] == [
        "request_format", "invalid_model_name", "unsupported_capability", "context_or_options",
        "rate_limit", "auth", "server_misconfig", "unclassified",
    ]  # fmt: skip
    assert all(rule.examples for rule in ruleset.rules)
