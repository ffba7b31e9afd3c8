"""Every built-in rule's examples, run through the same pipeline a scan uses."""

import pytest

from logscan import rules, scan

BUILTIN = rules.load()
EXAMPLES = [
    pytest.param(rule, example, id=f"{rule.id}[{index}]")
    for rule in BUILTIN.rules
    for index, example in enumerate(rule.examples)
]


@pytest.mark.parametrize(("rule", "example"), EXAMPLES)
def test_example_gets_its_declared_category(rule: rules.Rule, example: rules.Example) -> None:
    events = scan.scan_text(example.text, BUILTIN)
    if example.category == rules.NO_OCCURRENCE:
        assert events.height == 0, f"{example.where}: expected no 400, got {events.rows(named=True)}"
        return
    assert events.height == 1, f"{example.where}: expected one 400, got {events.height}"
    assert events.item(0, "category") == example.category, (
        f"{example.where}: got {events.item(0, 'category')} from rule {events.item(0, 'rule_id')}"
    )


def test_every_rule_has_a_positive_example() -> None:
    without = [r.id for r in BUILTIN.rules if not any(e.category == r.category for e in r.examples)]
    assert without == []
