"""The YAML and TOML examples in rules/README.md are real: they load, and their examples pass."""

import re
from pathlib import Path

import pytest

from logscan import config, rules, ruletools

README = Path(__file__).resolve().parent.parent / "rules" / "README.md"
BLOCKS = re.findall(r"```(yaml|toml)\n(.*?)```", README.read_text(), flags=re.DOTALL)
RULE_FILES = [text for kind, text in BLOCKS if kind == "yaml" and re.match(r"(rules|suppress):", text)]


def test_the_readme_has_the_examples_this_test_expects() -> None:
    assert len(RULE_FILES) == 2  # the suppress example and the worked example
    assert sum(1 for kind, _ in BLOCKS if kind == "toml") == 1


@pytest.mark.parametrize(
    ("text", "user_rules", "suppressions"),
    [(RULE_FILES[0], [], ["rule:gateway.rate_limit", "healthcheck-probe"]),
     (RULE_FILES[1], ["acme.gateway.tenant_throttled"], [])],
    ids=["suppress", "worked-example"],
)  # fmt: skip
def test_a_rule_file_from_the_readme_loads_and_its_examples_pass(
    text: str, user_rules: list[str], suppressions: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(text)
    ruleset = rules.load([path])
    assert [rule.id for rule in ruletools.user_rules(ruleset)] == user_rules
    assert [entry.id for entry in ruleset.suppressions] == suppressions
    results = ruletools.run_examples(ruleset, ruletools.user_rules(ruleset))
    assert len(results) == 2 * len(user_rules)
    assert [r.problem() for r in results if not r.passed] == []


def test_the_config_example_from_the_readme_loads(tmp_path: Path) -> None:
    [toml] = [text for kind, text in BLOCKS if kind == "toml"]
    (tmp_path / "ops" / "logscan-rules").mkdir(parents=True)
    (tmp_path / "logscan.toml").write_text(toml)
    assert config.load(directory=tmp_path).values == {
        "rules": [tmp_path / "ops/logscan-rules/"],
        "no-builtin-rules": False,
        "window": "15m",
        "assume-tz": "Europe/Berlin",
        "format": "table",
        "table-style": "github",
        "top": 10,
    }
