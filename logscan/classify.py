"""Applying rules to records: which records are 400 occurrences, and one category each.

Input is a frame of records with the columns rules read (``text``, ``message``, ``side``,
``status``, ``method``, ``endpoint``, ``model``, ``client``, ``format``; missing ones are taken
as empty). Output keeps the 400 occurrences and adds ``category``, ``rule_id`` and
``suppressed_by`` (the suppress entry that silenced the occurrence, else null); a winning rule's
``extract`` fills ``model``, ``endpoint``, ``method`` or ``client``.

Every condition is a vectorised Polars expression, except a ``regex`` the Rust engine rejects:
that one runs with the ``regex`` package, row by row, but only on rows where it can still
matter (the rule's other ``all`` conditions hold and the pattern's literals occur), and under a
``RegexGuard`` so a pathological pattern cannot hang a scan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from logscan.rules import (
    FIELD_COLUMNS,
    NUMBER_FIELDS,
    UNCLASSIFIED,
    Condition,
    Group,
    Match,
    Rule,
    RuleSet,
)

# Each search of a `regex`-engine pattern gets this long; a search that runs out counts as no
# match and is reported.
REGEX_TIMEOUT_SECONDS = 0.25
# After this many timeouts a pattern is skipped for the rest of the scan, so one bad rule
# costs at most about MAX_TIMEOUTS_PER_PATTERN * REGEX_TIMEOUT_SECONDS.
MAX_TIMEOUTS_PER_PATTERN = 3

OUTPUT_COLUMNS = ("category", "rule_id", "suppressed_by")


@dataclass
class RegexTimeout:
    """A `regex`-engine pattern that ran out of time: what, where, and how often."""

    rule_id: str  # the rule, or the suppress entry, the pattern belongs to
    pattern: str
    where: str  # file:line:column of the pattern
    timeout_seconds: float
    timed_out: int = 0  # searches that ran out of time
    skipped: int = 0  # rows not searched because the pattern had used up its timeouts

    def __str__(self) -> str:
        text = (
            f"rule {self.rule_id}: pattern at {self.where} timed out on {self.timed_out} record"
            f"{'' if self.timed_out == 1 else 's'} ({self.timeout_seconds:g} s each)"
        )
        if self.skipped:
            text += f" and was skipped on {self.skipped} more"
        return text + "; those records count as not matching it"


@dataclass
class RegexGuard:
    """Runs `regex`-engine patterns with a timeout per search and a budget of timeouts per
    pattern. One guard lives for a whole scan, so the budget spans all its blocks."""

    timeout_seconds: float = REGEX_TIMEOUT_SECONDS
    max_timeouts: int = MAX_TIMEOUTS_PER_PATTERN
    timeouts: dict[str, RegexTimeout] = field(default_factory=dict)

    def search(self, condition: Condition, owner: str, values: Iterable[str | None]) -> list[bool]:
        compiled = condition.compiled
        assert compiled is not None, "only regex-engine conditions are searched here"
        key = str(condition.place)
        found: list[bool] = []
        for value in values:
            report = self.timeouts.get(key)
            if value is None:
                found.append(False)
            elif report is not None and report.timed_out >= self.max_timeouts:
                report.skipped += 1
                found.append(False)
            else:
                try:
                    found.append(compiled.search(value, timeout=self.timeout_seconds) is not None)
                except TimeoutError:
                    report = self.timeouts.setdefault(
                        key, RegexTimeout(owner, str(condition.value), key, self.timeout_seconds)
                    )
                    report.timed_out += 1
                    found.append(False)
        return found

    @property
    def reports(self) -> list[RegexTimeout]:
        return list(self.timeouts.values())


def classify(records: pl.DataFrame, ruleset: RuleSet, guard: RegexGuard | None = None) -> pl.DataFrame:
    """Keep the records that are 400 occurrences and give each exactly one category: that of
    the highest-priority matching rule (the rule loaded first among equals), or
    ``unclassified``. Then mark the occurrences a suppress entry silences."""
    if records.is_empty():
        return records.with_columns(pl.lit(None, pl.String).alias(name) for name in OUTPUT_COLUMNS)
    guard = guard or RegexGuard()
    frame = _with_rule_fields(records).with_row_index("__order")
    # Most rules require one of a few literals in the record's text. One search for all of
    # them sets apart the records no such rule can match (often most of them: access lines,
    # bare status lines); those are tested against the other rules only.
    required = {i: rule.match.required_anchors() for i, rule in enumerate(ruleset.rules)}
    gated = {i for i, anchors in required.items() if anchors is not None}
    literals = sorted({a for anchors in required.values() for a in anchors or ()})
    if literals:
        text = pl.coalesce("text", "message")
        has_literal = frame.select(text.str.contains("|".join(literals)).fill_null(value=False)).to_series()
        parts = [(frame.filter(has_literal), set()), (frame.filter(~has_literal), gated)]
    else:
        parts = [(frame, set())]
    found = [_classify(part, ruleset, guard, skipped) for part, skipped in parts if not part.is_empty()]
    frame = pl.concat(found, how="vertical_relaxed").sort("__order").drop("__order")
    frame = _apply_extractions(frame, ruleset.rules)
    return _mark_suppressed(frame, ruleset, guard)


def _classify(frame: pl.DataFrame, ruleset: RuleSet, guard: RegexGuard, skipped: set[int]) -> pl.DataFrame:
    """The 400s of ``frame`` with their category and rule, leaving out the ``skipped`` rules
    (by index), which cannot match there."""
    rules = [(i, rule) for i, rule in enumerate(ruleset.rules) if i not in skipped]
    # Rules that imply a 400 must be known before the non-400 records can be dropped; every
    # other rule is only evaluated on the 400s.
    implying = [(i, rule) for i, rule in rules if rule.implies_400]
    frame = _add_rule_columns(frame, implying, guard)
    implied = pl.any_horizontal([pl.col(_rule_column(i)) for i, _ in implying] or [pl.lit(value=False)])
    is_400 = (pl.col("status") == 400).fill_null(value=False) | (pl.col("status").is_null() & implied)
    frame = frame.filter(is_400)
    others = [(i, rule) for i, rule in rules if not rule.implies_400]
    frame = _add_rule_columns(frame, others, guard)

    category: pl.Expr = pl.lit(UNCLASSIFIED)
    rule_id: pl.Expr = pl.lit(None, pl.String)
    # Built from the lowest priority up, so the highest-priority match ends up outermost.
    for i, rule in reversed(rules):
        hit = pl.col(_rule_column(i))
        category = pl.when(hit).then(pl.lit(rule.category)).otherwise(category)
        rule_id = pl.when(hit).then(pl.lit(rule.id)).otherwise(rule_id)
    temporary = [c for c in frame.columns if c.startswith("__rule")]
    frame = frame.with_columns(status=pl.lit(400, pl.Int32), category=category, rule_id=rule_id)
    return frame.drop(temporary)


def _rule_column(index: int) -> str:
    return f"__rule_{index}"


def _with_rule_fields(records: pl.DataFrame) -> pl.DataFrame:
    """Add the fields conditions read that the caller did not supply: empty, except that a
    record without a separate ``message`` is all message."""
    missing = []
    for name in FIELD_COLUMNS.values():
        if name in records.columns:
            continue
        if name == "message" and "text" in records.columns:
            missing.append(pl.col("text").alias("message"))
        else:
            dtype = pl.Int32 if name in {FIELD_COLUMNS[f] for f in NUMBER_FIELDS} else pl.String
            missing.append(pl.lit(None, dtype).alias(name))
    return records.with_columns(missing) if missing else records


def condition_expr(condition: Condition) -> pl.Expr:
    """A vectorised test for a condition on the Rust engine; null fields never match."""
    column = pl.col(condition.column)
    value = condition.value
    operator = condition.operator
    if operator == "regex":
        found = column.str.contains(str(value))
    elif operator == "contains":
        found = column.str.contains(str(value), literal=True)
    elif operator == "startswith":
        found = column.str.starts_with(str(value))
    elif operator == "equals":
        found = column == value
    elif operator == "in":
        found = column.is_in(list(value) if isinstance(value, tuple) else [value])
    elif operator == "gt":
        found = column > value
    elif operator == "lt":
        found = column < value
    else:  # pragma: no cover - the loader only lets known operators through
        raise ValueError(f"unknown operator {operator}")
    return found.fill_null(value=False)


def _anchor_expr(condition: Condition) -> pl.Expr:
    """True where the condition's literals occur: elsewhere a regex-engine search cannot match."""
    if not condition.anchors:
        return pl.lit(value=True)
    return pl.col(condition.column).str.contains("|".join(condition.anchors)).fill_null(value=False)


class _MatchColumns:
    """Turns the conditions of one match into boolean columns of a frame: expressions for the
    Rust engine, searched Series for the `regex` engine."""

    def __init__(self, frame: pl.DataFrame, guard: RegexGuard, owner: str, prefix: str) -> None:
        self.frame = frame
        self.guard = guard
        self.owner = owner
        self.prefix = prefix
        self.columns: dict[str, pl.Series] = {}

    def matches(self, match: Match) -> pl.Expr:
        vectorised_all = [condition_expr(c) for c in match.all if c.engine == "polars"]
        # A regex-engine search only runs where the cheap part of the rule already holds.
        gate = pl.all_horizontal(vectorised_all) if vectorised_all else pl.lit(value=True)
        every = self._group(match.all, gate)
        found = every
        if match.any:
            found = found & pl.any_horizontal([self._group(group, gate) for group in match.any])
        if match.none:
            found = found & ~pl.any_horizontal([self._group(group, gate) for group in match.none])
        return found

    def _group(self, group: Group, gate: pl.Expr) -> pl.Expr:
        tests = [condition_expr(c) if c.engine == "polars" else self._searched(c, gate) for c in group] or [
            pl.lit(value=True)
        ]
        return pl.all_horizontal(tests)

    def _searched(self, condition: Condition, gate: pl.Expr) -> pl.Expr:
        name = f"{self.prefix}_{len(self.columns)}"
        candidates = self.frame.select(gate & _anchor_expr(condition)).to_series().arg_true()
        values = self.frame.get_column(condition.column).cast(pl.String).gather(candidates)
        found = pl.Series(name, [False] * self.frame.height, dtype=pl.Boolean)
        if candidates.len():
            hits = self.guard.search(condition, self.owner, values)
            found = found.scatter(candidates, pl.Series(hits, dtype=pl.Boolean))
        self.columns[name] = found
        return pl.col(name)


def _add_rule_columns(frame: pl.DataFrame, rules: list[tuple[int, Rule]], guard: RegexGuard) -> pl.DataFrame:
    if frame.is_empty() or not rules:
        return frame.with_columns(pl.lit(value=False).alias(_rule_column(i)) for i, _ in rules)
    expressions = {}
    searched: dict[str, pl.Series] = {}
    for i, rule in rules:
        columns = _MatchColumns(frame, guard, rule.id, f"__rule_{i}_regex")
        expressions[_rule_column(i)] = columns.matches(rule.match)
        searched |= columns.columns
    return frame.with_columns(*searched.values()).with_columns(**expressions)


def _apply_extractions(frame: pl.DataFrame, rules: Iterable[Rule]) -> pl.DataFrame:
    """Let the winning rule's `extract` groups fill fields; where a group found nothing, the
    value the format gave stays."""
    by_field: dict[str, pl.Expr] = {}
    for rule in rules:
        for extraction in rule.extract:
            groups = pl.col("text").str.extract_groups(extraction.pattern)
            for name in extraction.groups:
                found = pl.when(pl.col("rule_id") == rule.id).then(groups.struct.field(name))
                # Earlier extractions of a rule win over later ones, as written.
                by_field[name] = pl.coalesce(by_field[name], found) if name in by_field else found
    if not by_field:
        return frame
    return frame.with_columns(
        pl.coalesce(expression, pl.col(name)).alias(name) for name, expression in by_field.items()
    )


def _mark_suppressed(frame: pl.DataFrame, ruleset: RuleSet, guard: RegexGuard) -> pl.DataFrame:
    """Name the first suppress entry that matches each occurrence (null when none does)."""
    suppressed_by: pl.Expr = pl.lit(None, pl.String)
    searched: dict[str, pl.Series] = {}
    for index, suppression in reversed(list(enumerate(ruleset.suppressions))):
        if suppression.rule_id is not None:
            matches = pl.col("rule_id") == suppression.rule_id
        else:
            assert suppression.match is not None
            columns = _MatchColumns(frame, guard, f"suppress {suppression.id}", f"__suppress_{index}")
            matches = columns.matches(suppression.match)
            searched |= columns.columns
        suppressed_by = (
            pl.when(matches.fill_null(value=False)).then(pl.lit(suppression.id)).otherwise(suppressed_by)
        )
    return (
        frame.with_columns(*searched.values()).with_columns(suppressed_by=suppressed_by).drop(list(searched))
    )
