"""The compiled rule model: what a rule file means once it is read, validated and compiled.

Conditions keep their compiled pattern (for the `regex` engine) and the literals every text
they accept contains, from which the scan's prefilter and the per-rule gating in
``classify.py`` are built. Nothing here reads files: ``rulefile.py`` reads YAML safely,
``ruleschema.py`` turns it into this model, ``rulecache.py`` keeps compiled packs, and
``rules.py`` puts them together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from re import _parser as re_parser  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import polars as pl

from logscan.errors import Problem

if TYPE_CHECKING:
    import regex

Engine = Literal["polars", "regex"]
RULE_FILE_SUFFIXES = (".yaml", ".yml")
# A pack of 5,000 rules written out in full takes about 1 MiB.
MAX_FILE_BYTES = 8 * 2**20
UNCLASSIFIED = "unclassified"
NO_OCCURRENCE = "none"
DEFAULT_PRIORITY = 50
SEVERITIES = ("low", "medium", "high")
DEFAULT_SEVERITY = "medium"
_MIN_ANCHOR_LENGTH = 3
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

# The fields a condition can test, and the record column each one reads. `line` is the record's
# text (its first line and every line the prefilter picked); `message` is the picked lines only.
FIELD_COLUMNS: dict[str, str] = {
    "message": "message",
    "line": "text",
    "endpoint": "endpoint",
    "method": "method",
    "model": "model",
    "status": "status",
    "side": "side",
    "format": "format",
    "client": "client",
}
NUMBER_FIELDS = frozenset({"status"})
# Conditions on these fields give the prefilter its literals: a line that holds one of them
# becomes part of its record's `message` and `line`.
TEXT_FIELDS = frozenset({"message", "line"})
STRING_OPERATORS = ("regex", "contains", "equals", "startswith", "in")
NUMBER_OPERATORS = ("equals", "in", "gt", "lt")
BLOCKS = ("all", "any", "none")
SIDES = ("client", "server")
# Fields a rule's `extract` may fill on the occurrences it classifies.
EXTRACTABLE_FIELDS = ("model", "endpoint", "method", "client")


@dataclass(frozen=True)
class Place:
    """Where something was written: 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def problem(self, message: str) -> Problem:
        return Problem(self.file, self.line, self.column, message)


@dataclass(frozen=True)
class Category:
    id: str
    title: str
    explanation: str
    remediation: str  # one line: printed under the counts
    steps: tuple[str, ...] = ()  # concrete remediation steps: printed by --explain
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Example:
    text: str
    category: str  # a category id, or NO_OCCURRENCE
    place: Place

    @property
    def where(self) -> str:
        return str(self.place)


class Anchor(NamedTuple):
    """A literal that every text a condition accepts contains."""

    text: str
    ignore_case: bool = False

    @property
    def pattern(self) -> str:
        """The literal as a regex fragment, for the prefilter."""
        escaped = escape_literal(self.text)
        return f"(?i:{escaped})" if self.ignore_case else escaped


@dataclass(frozen=True)
class Condition:
    """One test of one field: ``message regex 'x'``, ``status gt 399``..."""

    field: str
    operator: str
    value: str | int | tuple[str | int, ...]
    place: Place
    engine: Engine = "polars"
    # Literals of which every matching text contains one; None when the field is not a text
    # field or no literal of useful length could be derived.
    literals: tuple[Anchor, ...] | None = None

    @cached_property
    def compiled(self) -> regex.Pattern[str] | None:
        """The pattern compiled for the `regex` engine (None for the Rust one). Compiled on
        first use, not at load: most scans never search with the `regex` engine, and then
        need not import it. The loader has compiled it once already, so it compiles."""
        if self.engine != "regex":
            return None
        import regex  # noqa: PLC0415

        return regex.compile(str(self.value))

    @property
    def column(self) -> str:
        return FIELD_COLUMNS[self.field]

    @property
    def anchors(self) -> tuple[str, ...] | None:
        """The literals as regex fragments."""
        return None if self.literals is None else tuple(a.pattern for a in self.literals)

    def describe(self) -> str:
        value = self.value
        shown = "[" + ", ".join(map(quote, value)) + "]" if isinstance(value, tuple) else quote(value)
        return f"{self.field} {self.operator} {shown}"


# A conjunction: every condition of the group must hold.
Group = tuple[Condition, ...]


@dataclass(frozen=True)
class Match:
    all: Group = ()  # every one must hold
    any: tuple[Group, ...] = ()  # at least one group must hold (when there are any)
    none: tuple[Group, ...] = ()  # no group may hold

    def conditions(self) -> Iterator[Condition]:
        yield from self.all
        for group in (*self.any, *self.none):
            yield from group

    @property
    def engine(self) -> Engine:
        return "regex" if any(c.engine == "regex" for c in self.conditions()) else "polars"

    def required_literals(self) -> tuple[Anchor, ...] | None:
        """Literals of which the text of every record this match accepts holds one, or None
        when the match does not require any: from one condition of `all` (the most specific),
        else from one condition of each `any` group."""

        def most_specific(group: Group) -> tuple[Anchor, ...] | None:
            anchored = [c.literals for c in group if c.literals]
            return max(anchored, key=lambda found: min(len(a.text) for a in found), default=None)

        required = most_specific(self.all)
        if required is not None or not self.any:
            return required
        per_group = [most_specific(group) for group in self.any]
        if any(found is None for found in per_group):
            return None
        return tuple(a for found in per_group for a in found or ())


@dataclass(frozen=True)
class Extraction:
    """A regex searched in the record text whose named groups fill occurrence fields."""

    pattern: str
    groups: tuple[str, ...]  # the named groups, each one of EXTRACTABLE_FIELDS
    place: Place


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    category: str
    priority: int
    severity: str
    match: Match
    implies_400: bool
    examples: tuple[Example, ...]
    place: Place
    order: int  # load order, the tie-breaker between equal priorities
    builtin: bool = False
    extract: tuple[Extraction, ...] = ()
    explain: str = ""
    remediation: str = ""
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return str(self.place)

    @property
    def engine(self) -> Engine:
        return self.match.engine


@dataclass(frozen=True)
class Suppression:
    """Known noise: occurrences it matches are counted as suppressed, not in the category totals."""

    id: str
    rule_id: str | None  # suppress what this rule classified...
    match: Match | None  # ...or what these conditions match
    reason: str
    place: Place


@dataclass(frozen=True)
class RuleSet:
    categories: dict[str, Category]
    # Highest priority first; among equals, the rule loaded first.
    rules: tuple[Rule, ...]
    suppressions: tuple[Suppression, ...] = ()

    @cached_property
    def gates(self) -> Gates:
        """Which rules a record may match, by the literals its text holds."""
        return Gates.of(self.rules)

    def prefilter(self, extra: Iterable[str] = ()) -> LiteralSearch:
        """A search for the literals of every condition (and ``extra``): the lines holding
        one make up a record's ``message``."""
        matches = [rule.match for rule in self.rules] + [s.match for s in self.suppressions if s.match]
        found = {a for match in matches for c in match.conditions() for a in c.literals or ()}
        return LiteralSearch.of([*found, *(Anchor(text) for text in extra)])

    def implied(self, extra: Iterable[str] = ()) -> LiteralSearch:
        """A search for the literals of the rules whose match makes a record a 400 with no
        status shown (and ``extra``)."""
        found = {
            a
            for rule in self.rules
            if rule.implies_400
            for c in rule.match.conditions()
            for a in c.literals or ()
        }
        return LiteralSearch.of([*found, *(Anchor(text) for text in extra)])

    def category(self, category_id: str) -> Category:
        return self.categories.get(category_id) or Category(category_id, category_id, "", "")

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


@dataclass(frozen=True)
class Gates:
    """The rules (by index) that require a literal, by literal. A record whose text holds none
    of a rule's required literals cannot match it, so the rule is not tried there; with
    thousands of rules, one Aho-Corasick search for all literals finds what each record may
    match. Literals are searched as written (``exact``) or ASCII-case-insensitively
    (``folded``, lowercase); a rule requiring a case-insensitive literal that is not ASCII
    (or one spanning lines) is ``ungated``: tried everywhere, like a rule that requires no
    literal."""

    exact: tuple[str, ...]
    exact_rules: tuple[tuple[int, ...], ...]
    folded: tuple[str, ...]
    folded_rules: tuple[tuple[int, ...], ...]
    ungated: frozenset[int]

    @classmethod
    def of(cls, rules: Sequence[Rule]) -> Gates:
        exact: dict[str, list[int]] = {}
        folded: dict[str, list[int]] = {}
        ungated = set()
        for index, rule in enumerate(rules):
            required = rule.match.required_literals()
            # A literal across lines may join two lines of `message` that `text` keeps apart.
            if required is None or any(
                (a.ignore_case and not a.text.isascii()) or "\n" in a.text for a in required
            ):
                ungated.add(index)
                continue
            for anchor in required:
                if anchor.ignore_case:
                    folded.setdefault(anchor.text.lower(), []).append(index)
                else:
                    exact.setdefault(anchor.text, []).append(index)
        return cls(
            tuple(exact),
            tuple(tuple(dict.fromkeys(v)) for v in exact.values()),
            tuple(folded),
            tuple(tuple(dict.fromkeys(v)) for v in folded.values()),
            frozenset(ungated),
        )


# Characters that match an ASCII letter case-insensitively in the Rust and `regex` engines
# (KELVIN SIGN, LATIN SMALL LETTER LONG S) but not in an ASCII-only literal search.
FOLDING_TO_ASCII = ("\u212a", "\u017f")
# Up to this many literals are searched with one Rust regex, the fastest on a column; more
# with Aho-Corasick, whose cost does not grow with their number (a regex of thousands of
# alternatives compiles slowly, runs slowly and can pass the engine's size limit).
_LITERALS_PER_REGEX = 200


@dataclass(frozen=True)
class LiteralSearch:
    """Which lines hold one of many literals."""

    anchors: tuple[Anchor, ...]

    @classmethod
    def of(cls, anchors: Iterable[Anchor]) -> LiteralSearch:
        return cls(tuple(sorted(set(anchors))))

    def hits(self, lines: pl.Series) -> pl.Series:
        if self.anchors and len(self.anchors) <= _LITERALS_PER_REGEX:
            return lines.str.contains("|".join(a.pattern for a in self.anchors)).fill_null(value=False)
        found = pl.Series([False], dtype=pl.Boolean).new_from_index(0, lines.len())
        exact = [a.text for a in self.anchors if not a.ignore_case]
        folded = [a for a in self.anchors if a.ignore_case and a.text.isascii()]
        unicode = [a.pattern for a in self.anchors if a.ignore_case and not a.text.isascii()]
        if exact:
            found = found | lines.str.contains_any(exact).fill_null(value=False)
        if folded:
            found = found | lines.str.contains_any([a.text for a in folded], ascii_case_insensitive=True)
            found = found.fill_null(value=False)
            # The rare line with a letter that folds to ASCII is searched as the regex engines
            # would search it.
            odd = (lines.str.contains_any(list(FOLDING_TO_ASCII)).fill_null(value=False) & ~found).arg_true()
            if odd.len():
                odd_hits = _regex_hits(lines.gather(odd), [a.pattern for a in folded], found.gather(odd))
                found = found.scatter(odd, odd_hits)
        return _regex_hits(lines, unicode, found)


def _regex_hits(lines: pl.Series, patterns: Sequence[str], found: pl.Series) -> pl.Series:
    """``found``, or-ed with whether each line matches one of ``patterns``."""
    for start in range(0, len(patterns), _LITERALS_PER_REGEX):
        chunk = "|".join(patterns[start : start + _LITERALS_PER_REGEX])
        found = found | lines.str.contains(chunk).fill_null(value=False)
    return found


def quote(value: str | int) -> str:
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


def compile_regex(source: str) -> tuple[Engine, regex.Pattern[str] | None, str, int]:
    """Pick the engine for a pattern: the Rust engine in Polars when it accepts the pattern
    (vectorised), else the `regex` package (look-around, backreferences).
    Returns (engine, compiled pattern for `regex`, error, error offset)."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(source)
    except pl.exceptions.PolarsError:
        import regex  # noqa: PLC0415

        try:
            compiled = regex.compile(source)
        except regex.error as error:
            return "regex", None, str(error).split(" at position")[0], error.pos or 0
        return "regex", compiled, "", 0
    return "polars", None, "", 0


# Characters with a meaning in a regex outside a character class, in both engines.
_REGEX_META = frozenset("\\.+*?()|[]{}^$")


def escape_literal(text: str) -> str:
    """``text`` as a regex matching itself, escaping only what must be escaped so the pattern
    stays readable (both the Rust engine and Python accept it)."""
    return "".join("\\" + char if char in _REGEX_META else char for char in text)


def literal_anchors(literals: Iterable[str | int]) -> tuple[Anchor, ...] | None:
    """The anchors of a condition that holds only where one of ``literals`` occurs."""
    texts = [str(literal) for literal in literals]
    if not texts or min(map(len, texts)) < _MIN_ANCHOR_LENGTH:
        return None
    return tuple(Anchor(text) for text in texts)


def derive_literals(source: str) -> tuple[Anchor, ...] | None:
    """Literal strings of which every match of ``source`` contains at least one; None if none
    of useful length can be derived."""
    try:
        parsed = re_parser.parse(source)
    except (re.error, RecursionError, OverflowError):
        return None
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    literals = _required_literals(list(parsed))
    if not literals or min(map(len, literals)) < _MIN_ANCHOR_LENGTH:
        return None
    return tuple(Anchor(literal, ignore_case) for literal in literals)


def derive_anchors(source: str) -> tuple[str, ...] | None:
    """`derive_literals` as regex fragments for the prefilter."""
    literals = derive_literals(source)
    return None if literals is None else tuple(a.pattern for a in literals)


def _required_literals(items: list[Any]) -> tuple[str, ...]:
    """Strings of which every match of the parsed sequence contains one: the best of its
    literal runs, required groups and alternations (best = longest shortest member)."""
    options: list[tuple[str, ...]] = []
    run = ""
    for op, argument in items:
        if op is re_parser.LITERAL:
            run += chr(argument)
            continue
        if op is re_parser.AT:  # zero-width: does not break a run
            continue
        if run:
            options.append((run,))
            run = ""
        if op is re_parser.BRANCH:
            branches = [_required_literals(list(branch)) for branch in argument[1]]
            if all(branches):
                options.append(tuple(literal for branch in branches for literal in branch))
        elif op is re_parser.SUBPATTERN and not argument[1] and not argument[2]:
            options.append(_required_literals(list(argument[3])))
        elif op in (re_parser.MAX_REPEAT, re_parser.MIN_REPEAT) and argument[0] >= 1:
            options.append(_required_literals(list(argument[2])))
    if run:
        options.append((run,))
    usable = [option for option in options if option]
    return max(usable, key=lambda option: (min(map(len, option)), -len(option)), default=())


def positive_examples(rule: Rule) -> list[Example]:
    return [example for example in rule.examples if example.category not in (NO_OCCURRENCE, UNCLASSIFIED)]


def describe_match(match: Match) -> list[str]:
    """The conditions of a match as lines for people, one block per line group."""
    lines: list[str] = []
    if match.all:
        lines += ["all of:", *(f"  {c.describe()}" for c in match.all)]
    for block, groups in (("any", match.any), ("none", match.none)):
        if groups:
            lines.append("any of:" if block == "any" else "none of:")
            lines += [f"  {' and '.join(c.describe() for c in group)}" for group in groups]
    return lines
