"""Applying rules to records: which records are 400 occurrences, and one category each.

Input is a frame of records with the columns rules read (``text``, ``message``, ``side``,
``status``, ``method``, ``endpoint``, ``model``, ``client``, ``format``; missing ones are taken
as empty). Output keeps the 400 occurrences and adds ``category``, ``rule_id`` and
``suppressed_by`` (the suppress entry that silenced the occurrence, else null); a winning rule's
``extract`` fills ``model``, ``endpoint``, ``method`` or ``client``.

A pack may hold thousands of rules, so a record is only tried against the rules whose required
literals its text holds (found for all rules at once with Aho-Corasick, see ``Gates``), and
rules are tried in batches, highest priority first, each batch on the records no earlier batch
took. Every condition is a vectorised Polars expression, except a ``regex`` the Rust engine
rejects: that one runs with the ``regex`` package, row by row, on every record where its
rule's literals occur, its rule's vectorised ``all`` conditions hold and its own literals
occur, unless a higher-priority rule took the record; and under a ``RegexGuard`` so a
pathological pattern cannot hang a scan (after a few timeouts it is skipped for the rest of
the scan, so which records it skips then depends on their order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from logscan.rules import (
    FIELD_COLUMNS,
    FOLDING_TO_ASCII,
    NUMBER_FIELDS,
    UNCLASSIFIED,
    Condition,
    Gates,
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
    frame = _with_rule_fields(records)
    rules = ruleset.rules
    candidates = _candidates(frame, ruleset.gates)
    # Rules that imply a 400 must be tried before the non-400 records can be dropped.
    no_status = frame.get_column("status").is_null()
    implying = [i for i, rule in enumerate(rules) if rule.implies_400]
    implied = pl.Series([False] * frame.height, dtype=pl.Boolean)
    if implying and no_status.any():
        rows = no_status.arg_true()
        found = _first_match(frame, rows, implying, candidates, ruleset, guard)
        implied = implied.scatter(rows, found.is_not_null())
    is_400 = (frame.get_column("status") == 400).fill_null(value=False) | implied
    rows = is_400.arg_true()
    winner = _first_match(frame, rows, range(len(rules)), candidates, ruleset, guard)
    categories = pl.Series([rule.category for rule in rules], dtype=pl.String)
    rule_ids = pl.Series([rule.id for rule in rules], dtype=pl.String)
    frame = frame.filter(is_400).with_columns(
        status=pl.lit(400, pl.Int32),
        category=pl.lit(categories).gather(winner).fill_null(UNCLASSIFIED),
        rule_id=pl.lit(rule_ids).gather(winner),
    )
    frame = _apply_extractions(frame, rules)
    return _mark_suppressed(frame, ruleset, guard)


# Rules are tried this many at a time, highest priority first, each batch on the records it
# may match that no earlier batch took: a handful of Polars queries per thousand rules.
RULES_PER_BATCH = 128


def _candidates(frame: pl.DataFrame, gates: Gates) -> dict[int, pl.Series]:
    """For each rule gated by literals, the rows whose text holds one of them (rules with no
    such row are left out). One Aho-Corasick pass per kind of literal finds them all."""
    text = pl.coalesce("text", "message")
    pairs = []
    for literals, rules, ignore_case in (
        (gates.exact, gates.exact_rules, False),
        (gates.folded, gates.folded_rules, True),
    ):
        if not literals:
            continue
        found = text.str.extract_many(list(literals), ascii_case_insensitive=ignore_case, overlapping=True)
        hits = (
            frame.select(row=pl.int_range(pl.len(), dtype=pl.UInt32), literal=found)
            .explode("literal")
            .drop_nulls()
        )
        if ignore_case:
            hits = hits.with_columns(pl.col("literal").str.to_lowercase())
            folding = frame.select(text.str.contains_any(list(FOLDING_TO_ASCII)).fill_null(value=False))
            odd_rows = folding.to_series().arg_true().cast(pl.UInt32)
            if odd_rows.len():
                everywhere = pl.DataFrame({"row": odd_rows}).join(
                    pl.DataFrame({"literal": list(literals)}), how="cross"
                )
                hits = pl.concat([hits, everywhere])
        owners = pl.DataFrame(
            {"literal": list(literals), "rule": [list(r) for r in rules]},
            schema={"literal": pl.String, "rule": pl.List(pl.UInt32)},
        )
        pairs.append(hits.join(owners, on="literal").explode("rule").select("rule", "row"))
    if not pairs:
        return {}
    by_rule = pl.concat(pairs).unique().sort("rule", "row").group_by("rule", maintain_order=True).agg("row")
    return dict(zip(by_rule.get_column("rule").to_list(), by_rule.get_column("row"), strict=True))


def _first_match(
    frame: pl.DataFrame,
    rows: pl.Series,
    rule_indexes: Iterable[int],
    candidates: dict[int, pl.Series],
    ruleset: RuleSet,
    guard: RegexGuard,
) -> pl.Series:
    """For each of ``rows`` (of ``frame``), the index of the first rule among
    ``rule_indexes`` (in priority order) that matches it, or null."""
    rows = rows.cast(pl.UInt32)
    winner = pl.Series([None] * rows.len(), dtype=pl.UInt32)
    position = pl.Series(range(rows.len()), dtype=pl.UInt32)  # of each row in `rows`
    open_rows = pl.DataFrame({"row": rows, "position": position})
    ungated = ruleset.gates.ungated
    order = list(rule_indexes)
    for start in range(0, len(order), RULES_PER_BATCH):
        if open_rows.is_empty():
            break
        batch = order[start : start + RULES_PER_BATCH]
        if any(i in ungated for i in batch):
            part = open_rows
        else:
            wanted = [candidates[i] for i in batch if i in candidates]
            if not wanted:
                continue
            part = open_rows.filter(pl.col("row").is_in(pl.concat(wanted).unique().implode()))
            if part.is_empty():
                continue
        sub = frame[part.get_column("row")]
        tests: list[pl.Expr] = []
        searched: dict[str, pl.Series] = {}
        for i in batch:
            rule = ruleset.rules[i]
            allowed = None if i in ungated else candidates.get(i)
            if allowed is None and i not in ungated:
                continue  # no row holds the rule's literals
            # Vectorised tests are as cheap on every row of the batch, and cannot hold where the
            # rule's literals do not occur; a regex-engine search only runs where they do.
            searched_rows = allowed is not None and rule.engine == "regex"
            on_rows = part.get_column("row").is_in(allowed.implode()) if searched_rows else None
            columns = _MatchColumns(sub, guard, rule.id, f"__rule_{i}", on_rows)
            tests.append(pl.when(columns.matches(rule.match)).then(pl.lit(i, pl.UInt32)))
            searched |= columns.columns
        if not tests:
            continue
        found = sub.with_columns(*searched.values()).select(pl.coalesce(tests)).to_series()
        took = found.is_not_null()
        winner = winner.scatter(part.get_column("position").filter(took), found.filter(took))
        open_rows = open_rows.filter(
            ~pl.col("position").is_in(part.get_column("position").filter(took).implode())
        )
    return winner


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

    def __init__(
        self,
        frame: pl.DataFrame,
        guard: RegexGuard,
        owner: str,
        prefix: str,
        allowed: pl.Series | None = None,
    ) -> None:
        self.frame = frame
        self.guard = guard
        self.owner = owner
        self.prefix = prefix
        # The rows the match may hold on at all (its required literals occur); None: all.
        self.allowed = allowed
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
        name = f"{self.prefix}_regex_{len(self.columns)}"
        # `with_columns`, not `select`: a gate that is a literal (a rule with no vectorised
        # condition and no literal) must cover every row, not become a one-row column.
        searchable = self.frame.with_columns((gate & _anchor_expr(condition)).alias(name)).get_column(name)
        if self.allowed is not None:
            searchable = searchable & self.allowed
        candidates = searchable.arg_true()
        values = self.frame.get_column(condition.column).cast(pl.String).gather(candidates)
        found = pl.Series(name, [False] * self.frame.height, dtype=pl.Boolean)
        if candidates.len():
            hits = self.guard.search(condition, self.owner, values)
            found = found.scatter(candidates, pl.Series(hits, dtype=pl.Boolean))
        self.columns[name] = found
        return pl.col(name)


def _apply_extractions(frame: pl.DataFrame, rules: Iterable[Rule]) -> pl.DataFrame:
    """Let the winning rule's `extract` groups fill fields; where a group found nothing, the
    value the format gave stays."""
    winners = set(frame.get_column("rule_id").drop_nulls().unique().to_list())
    by_field: dict[str, list[pl.Expr]] = {}
    for rule in rules:
        if rule.id not in winners:
            continue
        for extraction in rule.extract:
            groups = pl.col("text").str.extract_groups(extraction.pattern)
            for name in extraction.groups:
                # Earlier extractions of a rule win over later ones, as written.
                found = pl.when(pl.col("rule_id") == rule.id).then(groups.struct.field(name))
                by_field.setdefault(name, []).append(found)
    if not by_field:
        return frame
    return frame.with_columns(
        pl.coalesce(*expressions, pl.col(name)).alias(name) for name, expressions in by_field.items()
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
