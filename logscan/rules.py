"""Rule files: the declared schema, loading with file:line:column errors, compiling once.

A rule file is YAML with two optional top-level keys, ``categories`` and ``rules``; the schema
is documented in ``rules/README.md``. Every problem found in every file is collected and raised
together as one ``RuleError``, sorted by file and position.
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
    where: str  # file:line:column of the rule
    order: int  # load order, the tie-breaker between equal priorities


@dataclass(frozen=True)
class RuleSet:
    categories: dict[str, Category]
    # Highest priority first; among equals, the rule loaded first.
    rules: tuple[Rule, ...]

    @property
    def anchors(self) -> tuple[str, ...]:
        found = {a for rule in self.rules for p in rule.patterns for a in p.anchors or ()}
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
    id of a built-in rule replaces it; any other duplicate id is an error. Files are read in
    order (built-in files by name, then user paths as given), which is the tie-break order."""
    files: list[tuple[Path, bool]] = []
    if include_builtin:
        files += [(p, True) for p in rule_files(builtin_rules_dir())]
    for path in user_paths:
        files += [(p, False) for p in rule_files(path)]

    problems: list[Problem] = []
    documents = [(_FileReader(path, problems), builtin) for path, builtin in files]
    loaded = [(reader, reader.load(), builtin) for reader, builtin in documents]
    categories: dict[str, Category] = {}
    for reader, document, _ in loaded:
        if document is not None:
            categories.update((c.id, c) for c in reader.categories(document))
    categories.setdefault(UNCLASSIFIED, Category(UNCLASSIFIED, "Unclassified", "", ""))

    rules: dict[str, Rule] = {}
    first_seen: dict[str, tuple[str, bool]] = {}
    for reader, document, builtin in loaded:
        if document is None:
            continue
        for draft in reader.rules(document, set(categories)):
            earlier = first_seen.get(draft.id)
            if earlier is not None and not (earlier[1] and not builtin):
                problems.append(draft.problem(f"duplicate rule id '{draft.id}' (first at {earlier[0]})"))
                continue
            first_seen[draft.id] = (draft.where, builtin)
            if draft.rule is not None:
                rules[draft.id] = replace(draft.rule, order=len(first_seen))
    if problems:
        file_order = {str(path): index for index, (path, _) in enumerate(files)}
        problems.sort(key=lambda p: (file_order.get(p.file, len(file_order)), p.line, p.column))
        raise RuleError(problems)
    ordered = sorted(rules.values(), key=lambda rule: (-rule.priority, rule.order))
    return RuleSet(categories, tuple(ordered))


@dataclass
class _RuleDraft:
    id: str
    where: str
    problem: Callable[[str], Problem]
    rule: Rule | None  # None when the rule has problems of its own


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
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


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

    def report(self, position: tuple[int, int], message: str) -> None:
        line, column = position
        self.problems.append(Problem(str(self.path), line + 1, column + 1, message))

    def load(self) -> CommentedMap | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            self.report((0, 0), f"cannot read rule file: {error}")
            return None
        try:
            document = self._yaml.load(text)
        except MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            position = (mark.line, mark.column) if mark else (0, 0)
            self.report(position, f"invalid YAML: {error.problem or error.context}")
            return None
        if document is None:
            return None
        if not isinstance(document, CommentedMap):
            self.report((0, 0), "a rule file must be a mapping with 'categories' and/or 'rules'")
            return None
        for key in document:
            if key not in ("categories", "rules"):
                self.report(
                    document.lc.key(key),
                    f"unknown top-level key '{key}' (expected 'categories' or 'rules')",
                )
        return document

    def _items(self, parent: CommentedMap, key: str) -> Iterable[CommentedMap]:
        if key not in parent:
            return
        items = parent[key]
        if not isinstance(items, CommentedSeq):
            self.report(parent.lc.value(key), f"'{key}' must be a list")
            return
        for index, item in enumerate(items):
            if isinstance(item, CommentedMap):
                yield item
            else:
                self.report(items.lc.item(index), f"each entry of '{key}' must be a mapping")

    def _fields(self, node: CommentedMap, schema: dict[str, type], required: Sequence[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in node.items():
            expected = schema.get(key)
            if expected is None:
                allowed = ", ".join(schema)
                self.report(node.lc.key(key), f"unknown key '{key}' (allowed: {allowed})")
                continue
            position = node.lc.value(key)
            if isinstance(value, TaggedScalar) or getattr(getattr(value, "tag", None), "value", None):
                self.report(position, f"'{key}': YAML tags are not allowed")
            elif expected is str and isinstance(value, str):
                values[key] = str(value)
            elif expected is int and isinstance(value, int) and not isinstance(value, bool):
                values[key] = int(value)
            elif (expected is bool and isinstance(value, bool)) or (
                expected is list and isinstance(value, CommentedSeq)
            ):
                values[key] = value
            else:
                self.report(position, f"'{key}' must be {_TYPE_NAMES[expected]}, not {_yaml_type(value)}")
        for key in required:
            if key not in node:
                self.report((node.lc.line, node.lc.col), f"missing required key '{key}'")
        return values

    def _valid_id(self, node: CommentedMap, value: str) -> bool:
        if _ID_PATTERN.match(value):
            return True
        self.report(
            node.lc.value("id"),
            f"invalid id '{value}': use lowercase letters, digits, '.', '_' and '-'",
        )
        return False

    def categories(self, document: CommentedMap) -> Iterable[Category]:
        for node in self._items(document, "categories"):
            values = self._fields(node, _CATEGORY_KEYS, ("id", "title"))
            if "id" in values and "title" in values and self._valid_id(node, values["id"]):
                yield Category(
                    values["id"],
                    values["title"],
                    values.get("explanation", "").strip(),
                    values.get("remediation", "").strip(),
                )

    def rules(self, document: CommentedMap, known_categories: set[str]) -> Iterable[_RuleDraft]:
        for node in self._items(document, "rules"):
            before = len(self.problems)
            values = self._fields(node, _RULE_KEYS, ("id", "category", "patterns"))
            if "id" in values:
                self._valid_id(node, values["id"])
            side = values.get("side", "any")
            if side not in _SIDES:
                self.report(
                    node.lc.value("side"),
                    f"'side' must be one of {', '.join(_SIDES)}, not '{side}'",
                )
            category = values.get("category")
            if category is not None and category not in known_categories:
                self.report(node.lc.value("category"), f"unknown category '{category}'")
            patterns = self._patterns(node, values.get("patterns"))
            examples = self._examples(values.get("examples"), known_categories)
            if "id" not in values:
                continue
            where = f"{self.path}:{node.lc.line + 1}:{node.lc.col + 1}"
            rule = None
            if len(self.problems) == before:
                rule = Rule(
                    id=values["id"],
                    title=values.get("title", values["id"]),
                    category=values["category"],
                    priority=values.get("priority", DEFAULT_PRIORITY),
                    patterns=tuple(patterns),
                    side=side,
                    implies_400=values.get("implies_400", False),
                    examples=tuple(examples),
                    where=where,
                    order=0,
                )
            id_line, id_column = node.lc.value("id")
            yield _RuleDraft(
                values["id"],
                where,
                lambda message, line=id_line, column=id_column: Problem(
                    str(self.path), line + 1, column + 1, message
                ),
                rule,
            )

    def _patterns(self, node: CommentedMap, items: CommentedSeq | None) -> list[Pattern]:
        if items is None:
            return []
        if not items:
            self.report(node.lc.value("patterns"), "'patterns' must list at least one regex")
        compiled = []
        for index, item in enumerate(items):
            line, column = items.lc.item(index)
            if not isinstance(item, str) or not item:
                self.report((line, column), "each pattern must be a non-empty string")
                continue
            quote_width = 1 if getattr(item, "style", None) in ("'", '"') else 0
            pattern, error, offset = compile_pattern(str(item))
            if pattern is None:
                self.report((line, column + quote_width + offset), f"regex does not compile: {error}")
            else:
                compiled.append(pattern)
        return compiled

    def _examples(self, items: CommentedSeq | None, known_categories: set[str]) -> list[Example]:
        if items is None:
            return []
        examples = []
        for item in self._items(CommentedMap(examples=items), "examples"):
            values = self._fields(item, _EXAMPLE_KEYS, ("line", "category"))
            if "line" not in values or "category" not in values:
                continue
            if values["category"] not in known_categories | {NO_OCCURRENCE}:
                self.report(item.lc.value("category"), f"unknown category '{values['category']}'")
            where = f"{self.path}:{item.lc.line + 1}:{item.lc.col + 1}"
            examples.append(Example(values["line"], values["category"], where))
        return examples


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
    except pl.exceptions.PolarsError:
        try:
            compiled = regex.compile(source)
        except regex.error as error:
            return None, str(error).split(" at position")[0], error.pos or 0
        return Pattern(source, "regex", anchors, compiled), "", 0
    return Pattern(source, "polars", anchors), "", 0


def derive_anchors(source: str) -> tuple[str, ...] | None:
    """Literal strings of which every match of ``source`` contains at least one, as regex
    fragments for the prefilter; None if none of useful length can be derived."""
    try:
        parsed = re_parser.parse(source)
    except re.error:
        return None
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    literals = _required_literals(list(parsed))
    if not literals or min(map(len, literals)) < _MIN_ANCHOR_LENGTH:
        return None
    escaped = (re.escape(literal).replace("\\ ", " ") for literal in literals)
    return tuple(f"(?i:{e})" if ignore_case else e for e in escaped)


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
