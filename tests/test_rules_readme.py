"""The YAML and TOML examples in rules/README.md are real: they load, and their examples pass. Its
listing of the built-in categories is the one the rules give."""

import dataclasses
import re
from pathlib import Path

import click
import pytest

from logscan import config, ruledoc, rules, ruletools
from logscan.cli import main, scan
from logscan.cli_common import config_keys

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
    keys = config_keys(click.Context(scan, parent=click.Context(main)))
    assert config.load(directory=tmp_path, keys=keys).values == {
        "paths": ("/var/log/ollama", "/var/log/myapp"),
        "rules": (tmp_path / "ops/logscan-rules/",),
        "window": "1h",
        "report-tz": "Europe/Berlin",
        "since": "yesterday",
        "until": "today",
        "format": "markdown",
        "output": "/srv/reports/400s.md",
        "events": "/srv/reports/400-events.csv",
        "jobs": 2,
        "fail-above": 50,
        "fail-on": ("auth=5",),
        "quiet": True,
    }


def test_the_category_listing_in_the_readme_is_what_the_rules_give() -> None:
    listing = ruledoc.listing_in(README.read_text())
    assert listing == ruledoc.category_listing(rules.load()), (
        "rules/README.md's category listing is out of date: run python -m logscan.ruledoc --write rules/README.md"
    )


def test_the_listing_names_every_builtin_rule_under_its_category() -> None:
    listing = ruledoc.category_listing(rules.load())
    sections = dict(re.findall(r"^### `([a-z_]+)`[^\n]*\n(.*?)(?=^### |\Z)", listing, flags=re.M | re.S))
    for rule in rules.load().rules:
        assert f"(`{rule.id}`, priority {rule.priority}," in sections[rule.category], rule.id
    missing_body = (
        "- **Missing request body** (`ollama.body.missing`, priority 75, counts without a status shown):"
        " `missing request body`\n"
    )
    assert missing_body in sections["request_format"]


def test_a_rule_left_out_is_missing_from_the_listing() -> None:
    builtin = rules.load()
    [dropped] = [rule for rule in builtin.rules if rule.id == "ollama.model.manifest_listing"]
    fewer = dataclasses.replace(builtin, rules=tuple(rule for rule in builtin.rules if rule is not dropped))
    assert dropped.id not in ruledoc.category_listing(fewer)
    assert ruledoc.category_listing(fewer) != ruledoc.listing_in(README.read_text())


def test_writing_the_listing_fills_the_section_between_the_markers(tmp_path: Path) -> None:
    readme = README.read_text()
    emptied = tmp_path / "README.md"
    emptied.write_text(ruledoc.replace_listing(readme, ""))
    assert ruledoc.listing_in(emptied.read_text()) == "\n"
    assert ruledoc.main(["--write", str(emptied)]) == 0
    assert emptied.read_text() == readme
