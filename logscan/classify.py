"""Applying rules to records: which records are 400 occurrences, and one category each.

Input is a frame of records with at least ``text``, ``side`` and ``status``; output keeps the
400 occurrences and adds ``category`` and ``rule_id``.
"""

from __future__ import annotations

import polars as pl

from logscan.rules import UNCLASSIFIED, Pattern, Rule, RuleSet

# A rule pattern that needs the `regex` package runs per record; this bounds a pathological
# pattern so it cannot hang a scan. A timed-out search counts as no match.
REGEX_TIMEOUT_SECONDS = 0.25


def _pattern_matches(text: pl.Expr, pattern: Pattern) -> pl.Expr:
    if pattern.engine == "polars":
        return text.str.contains(pattern.source)
    compiled = pattern.compiled
    assert compiled is not None

    def search(value: str | None) -> bool:
        if value is None:
            return False
        try:
            return compiled.search(value, timeout=REGEX_TIMEOUT_SECONDS) is not None
        except TimeoutError:
            return False

    return text.map_elements(search, return_dtype=pl.Boolean, skip_nulls=False)


def rule_matches(rule: Rule, text: pl.Expr, side: pl.Expr) -> pl.Expr:
    found = pl.any_horizontal([_pattern_matches(text, pattern) for pattern in rule.patterns])
    if rule.side != "any":
        found = found & (side == rule.side)
    return found.fill_null(value=False)


def classify(records: pl.DataFrame, ruleset: RuleSet) -> pl.DataFrame:
    """Keep the records that are 400 occurrences and give each exactly one category: that of
    the highest-priority matching rule, or ``unclassified``."""
    if records.is_empty():
        return records.with_columns(category=pl.lit(None, pl.String), rule_id=pl.lit(None, pl.String))
    text, side = pl.col("text"), pl.col("side")
    match_columns = {f"__rule_{i}": rule_matches(rule, text, side) for i, rule in enumerate(ruleset.rules)}
    matched = records.with_columns(**match_columns)

    implied = pl.any_horizontal(
        [pl.col(f"__rule_{i}") for i, rule in enumerate(ruleset.rules) if rule.implies_400]
        or [pl.lit(value=False)]
    )
    is_400 = (pl.col("status") == 400).fill_null(value=False) | (pl.col("status").is_null() & implied)

    category: pl.Expr = pl.lit(UNCLASSIFIED)
    rule_id: pl.Expr = pl.lit(None, pl.String)
    # Built from the lowest priority up, so the highest-priority match ends up outermost.
    for i, rule in reversed(list(enumerate(ruleset.rules))):
        hit = pl.col(f"__rule_{i}")
        category = pl.when(hit).then(pl.lit(rule.category)).otherwise(category)
        rule_id = pl.when(hit).then(pl.lit(rule.id)).otherwise(rule_id)

    return (
        matched.filter(is_400)
        .with_columns(status=pl.lit(400, pl.Int32), category=category, rule_id=rule_id)
        .drop(list(match_columns))
    )
