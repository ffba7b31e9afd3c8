"""Rule files: the declared schema, loading with file:line:column errors, compiling once.

A rule file is YAML with two optional top-level keys, ``categories`` and ``rules``; the schema
is documented in ``rules/README.md``. Every problem found in every file is collected and raised
together as one ``RuleError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from re import _parser as re_parser  # type: ignore[attr-defined]
from typing import Any, Literal

import polars as pl
import regex
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError

from logscan.errors import Problem, RuleError

Engine = Literal["polars", "regex"]
RULE_FILE_SUFFIXES = (".yaml", ".yml")
UNCLASSIFIED = "unclassified"
NO_OCCURRENCE = "none"
DEFAULT_PRIORITY = 50
_MIN_ANCHOR_LENGTH = 3
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Category:
    id: str
    title: str
    explanation: str
    remediation: str


@dataclass(frozen=True)
class Example:
    text: str
    category: str  # a category id, or NO_OCCURRENCE
    where: str


@dataclass(frozen=True)
class Pattern:
    source: str
    engine: Engine
    # Literal fragments (as regex) of which every match contains at least one; None when none
    # could be derived, so the pattern only sees lines other anchors select.
    anchors: tuple[str, ...] | None
    compiled: regex.Pattern[str] | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    category: str
    priority: int
    patterns: tuple[Pattern, ...]
    side: Literal["client", "server", "any"]
    implies_400: bool
    examples: tuple[Example, ...]
    where: str  # file:line:column of the rule's first key
    order: int  # load order, the tie-breaker between equal priorities


@dataclass(frozen=True)
class RuleSet:
    categories: dict[str, Category]
    # Highest priority first; among equals, the rule loaded first.
    rules: tuple[Rule, ...]

    @property
    def anchors(self) -> tuple[str, ...]:
        found = {anchor for rule in self.rules for p in rule.patterns for anchor in p.anchors or ()}
        return tuple(sorted(found))

    def category(self, category_id: str) -> Category:
        return self.categories.get(category_id) or Category(category_id, category_id, "", "")


def builtin_rules_dir() -> Path:
    installed = Path(__file__).parent / "rules"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "rules"


def rule_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in RULE_FILE_SUFFIXES and p.is_file())
    return [path]


def load(user_paths: Sequence[Path] = (), *, include_builtin: bool = True) -> RuleSet:
    """Load the built-in pack (unless excluded) and then the user's files. A user rule with the
    id of a built-in rule replaces it; any other duplicate id is an error."""
    files: list[tuple[Path, bool]] = []
    if include_builtin:
        files += [(p, True) for p in rule_files(builtin_rules_dir())]
    for path in user_paths:
        files += [(p, False) for p in rule_files(path)]

    problems: list[Problem] = []
    categories: dict[str, Category] = {}
    drafts: list[_RuleDraft] = []
    for path, builtin in files:
        reader = _FileReader(path, problems)
        document = reader.load()
        if document is None:
            continue
        for category in reader.categories(document):
            categories[category.id] = category
        for draft in reader.rules(document):
            draft.builtin = builtin
            drafts.append(draft)
    categories.setdefault(UNCLASSIFIED, Category(UNCLASSIFIED, "Unclassified", "", ""))

    rules: dict[str, Rule] = {}
    first_seen: dict[str, _RuleDraft] = {}
    for order, draft in enumerate(drafts):
        earlier = first_seen.get(draft.rule.id)
        if earlier is not None and not (earlier.builtin and not draft.builtin):
            problems.append(draft.problem(f"duplicate rule id '{draft.rule.id}' (first at {earlier.rule.where})"))
            continue
        first_seen[draft.rule.id] = draft
        for category_id, problem in draft.category_refs:
            if category_id not in categories and category_id != NO_OCCURRENCE:
                problems.append(problem(f"unknown category '{category_id}'"))
        rules[draft.rule.id] = replace(draft.rule, order=order)
    if problems:
        raise RuleError(problems)
    ordered = sorted(rules.values(), key=lambda rule: (-rule.priority, rule.order))
    return RuleSet(categories, tuple(ordered))


@dataclass
class _RuleDraft:
    rule: Rule
    problem: Callable[[str], Problem]
    category_refs: list[tuple[str, Callable[[str], Problem]]]
    builtin: bool = False


_CATEGORY_KEYS = {"id": str, "title": str, "explanation": str, "remediation": str}
_RULE_KEYS = {
    "id": str,
    "title": str,
    "category": str,
    "priority": int,
    "patterns": list,
    "side": str,
    "implies_400": bool,
    "examples": list,
}
_EXAMPLE_KEYS = {"line": str, "category": str}
_SIDES = ("client", "server", "any")


@dataclass
class _FileReader:
    path: Path
    problems: list[Problem]
    _yaml: YAML = field(init=False)

    def __post_init__(self) -> None:
        # The round-trip loader keeps line and column of every node and never builds objects
        # from tags; tagged values are rejected below.
        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True

    def report(self, line0: int, column0: int, message: str) -> Problem:
        problem = Problem(str(self.path), line0 + 1, column0 + 1, message)
        self.problems.append(problem)
        return problem

    def at(self, line0: int, column0: int) -> Callable[[str], Problem]:
        def make(message: str) -> Problem:
            return Problem(str(self.path), line0 + 1, column0 + 1, message)

        return make

    def load(self) -> CommentedMap | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            self.report(0, 0, f"cannot read rule file: {error}")
            return None
        try:
            document = self._yaml.load(text)
        except MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line, column = (mark.line, mark.column) if mark else (0, 0)
            self.report(line, column, f"invalid YAML: {error.problem or error.context}")
            return None
        if document is None:
            return None
        if not isinstance(document, CommentedMap):
            self.report(0, 0, "a rule file must be a mapping with 'categories' and/or 'rules'")
            return None
        for key in document:
            if key not in ("categories", "rules"):
                line, column = document.lc.key(key)
                self.report(line, column, f"unknown top-level key '{key}' (expected 'categories' or 'rules')")
        return document

    def _items(self, document: CommentedMap, key: str) -> Iterable[tuple[CommentedMap, int]]:
        if key not in document:
            return
        items = document[key]
        if not isinstance(items, CommentedSeq):
            line, column = document.lc.value(key)
            self.report(line, column, f"'{key}' must be a list")
            return
        for index, item in enumerate(items):
            if isinstance(item, CommentedMap):
                yield item, index
            else:
                line, column = items.lc.item(index)
                self.report(line, column, f"each entry of '{key}' must be a mapping")

    def _fields(self, node: CommentedMap, schema: dict[str, type], required: Sequence[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in node.items():
            line, column = node.lc.key(key)
            expected = schema.get(key)
            if expected is None:
                known = ", ".join(schema)
                self.report(line, column, f"unknown key '{key}' (allowed: {known})")
                continue
            line, column = node.lc.value(key)
            if isinstance(value, TaggedScalar) or getattr(getattr(value, "tag", None), "value", None):
                self.report(line, column, f"'{key}': YAML tags are not allowed")
                continue
            if expected is str and isinstance(value, str):
                values[key] = str(value)
            elif expected is int and isinstance(value, int) and not isinstance(value, bool):
                values[key] = int(value)
            elif expected is bool and isinstance(value, bool):
                values[key] = value
            elif expected is list and isinstance(value, CommentedSeq):
                values[key] = value
            else:
                self.report(line, column, f"'{key}' must be {_TYPE_NAMES[expected]}, not {_yaml_type(value)}")
        for key in required:
            if key not in node:
                self.report(node.lc.line, node.lc.col, f"missing required key '{key}'")
        return values

    def categories(self, document: CommentedMap) -> Iterable[Category]:
        for node, _ in self._items(document, "categories"):
            values = self._fields(node, _CATEGORY_KEYS, ("id", "title"))
            if "id" in values and "title" in values and self._valid_id(node, values["id"]):
                yield Category(
                    values["id"],
                    values["title"],
                    values.get("explanation", "").strip(),
                    values.get("remediation", "").strip(),
                )

    def _valid_id(self, node: CommentedMap, value: str) -> bool:
        if _ID_PATTERN.match(value):
            return True
        line, column = node.lc.value("id")
        self.report(line, column, f"invalid id '{value}': use lowercase letters, digits, '.', '_' and '-'")
        return False

    def rules(self, document: CommentedMap) -> Iterable[_RuleDraft]:
        for node, _ in self._items(document, "rules"):
            before = len(self.problems)
            values = self._fields(node, _RULE_KEYS, ("id", "category", "patterns"))
            if "id" in values:
                self._valid_id(node, values["id"])
            side = values.get("side", "any")
            if side not in _SIDES:
                line, column = node.lc.value("side")
                self.report(line, column, f"'side' must be one of {', '.join(_SIDES)}, not '{side}'")
            patterns = self._patterns(node, values.get("patterns"))
            examples = self._examples(node, values.get("examples"))
            if len(self.problems) > before:
                continue
            where = f"{self.path}:{node.lc.line + 1}:{node.lc.col + 1}"
            rule = Rule(
                id=values["id"],
                title=values.get("title", values["id"]),
                category=values["category"],
                priority=values.get("priority", DEFAULT_PRIORITY),
                patterns=tuple(patterns),
                side=side,
                implies_400=values.get("implies_400", False),
                examples=tuple(example for example, _ in examples),
                where=where,
                order=0,
            )
            refs = [(rule.category, self.at(*node.lc.value("category")))]
            refs += [(example.category, problem) for example, problem in examples]
            yield _RuleDraft(rule, self.at(*node.lc.value("id")), refs)

    def _patterns(self, node: CommentedMap, items: CommentedSeq | None) -> list[Pattern]:
        if items is None:
            return []
        if not items:
            self.report(*node.lc.value("patterns"), "'patterns' must list at least one regex")
        compiled = []
        for index, item in enumerate(items):
            line, column = items.lc.item(index)
            if not isinstance(item, str) or not item:
                self.report(line, column, "each pattern must be a non-empty string")
                continue
            quote_width = 1 if getattr(item, "style", None) in ("'", '"') else 0
            pattern, error, position = compile_pattern(str(item))
            if pattern is None:
                self.report(line, column + quote_width + position, f"regex does not compile: {error}")
            else:
                compiled.append(pattern)
        return compiled

    def _examples(
        self, node: CommentedMap, items: CommentedSeq | None
    ) -> list[tuple[Example, Callable[[str], Problem]]]:
        examples = []
        for item, index in self._items({"examples": items} if items is not None else {}, "examples"):  # type: ignore[arg-type]
            values = self._fields(item, _EXAMPLE_KEYS, ("line", "category"))
            if "line" in values and "category" in values:
                line, column = item.lc.line, item.lc.col
                where = f"{self.path}:{line + 1}:{column + 1}"
                examples.append(
                    (Example(values["line"], values["category"], where), self.at(*item.lc.value("category")))
                )
            del index
        return examples


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


def _yaml_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, CommentedMap):
        return "a mapping"
    if isinstance(value, CommentedSeq):
        return "a list"
    return "null" if value is None else type(value).__name__


def compile_pattern(source: str) -> tuple[Pattern | None, str, int]:
    """Compile for the Rust engine in Polars when it accepts the pattern (vectorised), else for
    the `regex` package (look-around, backreferences). Returns (pattern, error, error offset)."""
    anchors = derive_anchors(source)
    try:
        pl.Series([""], dtype=pl.String).str.contains(source)
    except pl.exceptions.PolarsError as rust_error:
        try:
            compiled = regex.compile(source)
        except regex.error as error:
            return None, str(error).split(" at position")[0], error.pos or 0
        except Exception:  # noqa: BLE001 - any failure here means the pattern is unusable
            return None, _first_line(str(rust_error)), 0
        return Pattern(source, "regex", anchors, compiled), "", 0
    return Pattern(source, "polars", anchors), "", 0


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip().startswith("error")), text)


def derive_anchors(source: str) -> tuple[str, ...] | None:
    """Literal strings of which every match of ``source`` contains at least one, as regex
    fragments for the prefilter. One per top-level alternative; None if any alternative has no
    literal of useful length (then the pattern cannot be prefiltered on its own)."""
    try:
        parsed = re_parser.parse(source)
    except re.error:
        return None
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    anchors = []
    for branch in _top_level_branches(list(parsed)):
        literal = _longest_literal(branch)
        if len(literal) < _MIN_ANCHOR_LENGTH:
            return None
        escaped = re.escape(literal).replace("\\ ", " ")
        anchors.append(f"(?i:{escaped})" if ignore_case else escaped)
    return tuple(anchors)


def _top_level_branches(items: list[Any]) -> list[list[Any]]:
    if len(items) == 1:
        op, argument = items[0]
        if op is re_parser.BRANCH:
            return [list(branch) for branch in argument[1]]
        if op is re_parser.SUBPATTERN and not argument[1] and not argument[2]:
            return _top_level_branches(list(argument[3]))
    return [items]


def _longest_literal(items: list[Any]) -> str:
    best, run = "", ""
    for op, argument in items:
        if op is re_parser.LITERAL:
            run += chr(argument)
            continue
        if op is re_parser.AT:
            continue
        best = max(best, run, key=len)
        run = ""
        if op is re_parser.SUBPATTERN and not argument[1] and not argument[2]:
            inner = list(argument[3])
            if len(_top_level_branches(inner)) == 1:
                best = max(best, _longest_literal(inner), key=len)
    return max(best, run, key=len)
