from pathlib import Path

import polars as pl
import pytest

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
    patterns: ['invalid']
  - id: tools
    category: unsupported_capability
    priority: 80
    patterns: ['does not support tools']
    implies_400: true
  - id: first.of.equals
    category: request_format
    priority: 50
    patterns: ['tie']
  - id: second.of.equals
    category: unsupported_capability
    priority: 50
    patterns: ['tie']
  - id: server.only
    category: unsupported_capability
    priority: 90
    side: server
    patterns: ['invalid']
  - id: lookaround
    category: unsupported_capability
    priority: 60
    patterns: ['(?<!not )supported only']
"""


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> rules.RuleSet:
    path: Path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(RULES)
    return rules.load([path], include_builtin=False)


def classified(ruleset: rules.RuleSet, *records: tuple[str, str, int | None]) -> list[tuple[str, str | None]]:
    frame = pl.DataFrame(
        {"text": [r[0] for r in records], "side": [r[1] for r in records], "status": [r[2] for r in records]},
        schema={"text": pl.String, "side": pl.String, "status": pl.Int32},
    )
    return classify.classify(frame, ruleset).select("category", "rule_id").rows()


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


def test_side_restricted_rules_only_see_their_side(ruleset: rules.RuleSet) -> None:
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
    assert classified(
        ruleset, ("images supported only as base64", "client", 400), ("not supported only", "client", 400)
    ) == [("unsupported_capability", "lookaround"), ("unclassified", None)]
