"""The category listing of rules/README.md: every category with the rules and messages it
holds, written from the rules themselves so that the README cannot drift from them.

``python -m logscan.ruledoc`` prints the listing; ``python -m logscan.ruledoc --write README``
replaces the listing between the README's markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from logscan.rules import UNCLASSIFIED, Condition, Group, Rule, RuleSet, load

BEGIN_MARKER = (
    "<!-- begin: category listing, written by `python -m logscan.ruledoc --write rules/README.md` -->"
)
END_MARKER = "<!-- end: category listing -->"


def category_listing(ruleset: RuleSet) -> str:
    """Markdown: for each category in report order, its title and explanation, then its rules
    (highest priority first), each with the messages it matches."""
    parts: list[str] = []
    for category in ruleset.categories.values():
        if category.id == UNCLASSIFIED:
            continue
        held = [rule for rule in ruleset.rules if rule.category == category.id]
        parts.append(f"### `{category.id}`: {category.title}\n")
        parts.append(f"{category.explanation}\n" if category.explanation else "")
        parts.append("\n".join(_rule_item(rule) for rule in held) + "\n" if held else "No rule.\n")
    parts.append(
        f"### `{UNCLASSIFIED}`\n\nA 400 that no rule explains: counted, never dropped, and grouped by "
        "message in the report.\n"
    )
    return "\n".join(part for part in parts if part)


def _rule_item(rule: Rule) -> str:
    counts = "counts without a status shown" if rule.implies_400 else "needs a 400 shown"
    messages = "; ".join(_group_text(group) for group in _match_groups(rule))
    return f"- **{rule.title}** (`{rule.id}`, priority {rule.priority}, {counts}): {messages}"


def _match_groups(rule: Rule) -> list[Group]:
    """The conditions as alternatives: each `any` group together with the `all` conditions."""
    if not rule.match.any:
        return [rule.match.all]
    return [(*rule.match.all, *group) for group in rule.match.any]


def _group_text(group: Group) -> str:
    return " with ".join(_condition_text(condition) for condition in group)


def _condition_text(condition: Condition) -> str:
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    shown = " or ".join(_code(str(value)) for value in values)
    where = "" if condition.field == "message" else f"{condition.field} "
    if condition.operator == "contains":
        return f"{where}{shown}"
    return f"{where}{condition.operator} {shown}"


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    padding = " " if fence == "``" else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def replace_listing(readme: str, listing: str) -> str:
    """The README text with the part between the markers replaced by ``listing``."""
    start = readme.index(BEGIN_MARKER) + len(BEGIN_MARKER)
    end = readme.index(END_MARKER, start)
    return f"{readme[:start]}\n\n{listing}\n{readme[end:]}"


def listing_in(readme: str) -> str:
    """The listing as the README holds it now."""
    start = readme.index(BEGIN_MARKER) + len(BEGIN_MARKER)
    return readme[start : readme.index(END_MARKER, start)].strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m logscan.ruledoc",
        description="Print or write the category listing of rules/README.md.",
    )
    parser.add_argument("--write", type=Path, metavar="README", help="replace the listing in this file")
    arguments = parser.parse_args(argv)
    listing = category_listing(load())
    if arguments.write is None:
        sys.stdout.write(listing)
        return 0
    readme = arguments.write.read_text(encoding="utf-8")
    arguments.write.write_text(replace_listing(readme, listing), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
