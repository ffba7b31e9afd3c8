"""Rule files: the declared schema, loading with file:line:column errors, compiling once.

A rule file is YAML with up to three top-level keys, ``categories``, ``rules`` and ``suppress``;
the schema is documented in ``rules/README.md``. Every problem found in every file is collected
and raised together as one ``RuleError``, sorted by file and position.

A rule's ``match`` is a set of conditions over named fields of a record. Each condition compiles
to a vectorised Polars expression, except a ``regex`` that the Rust engine in Polars rejects
(look-around, backreferences): that one runs with the ``regex`` package, on candidate rows only
(see ``classify.py``). Checking a rule's examples needs the scan pipeline, which this module
must not import; ``rulecheck.py`` does it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from re import _parser as re_parser  # type: ignore[attr-defined]
from typing import Any, Literal

import polars as pl
import regex
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError

from logscan import __version__
from logscan.errors import Problem, RuleError

Engine = Literal["polars", "regex"]
RULE_FILE_SUFFIXES = (".yaml", ".yml")
UNCLASSIFIED = "unclassified"
NO_OCCURRENCE = "none"
DEFAULT_PRIORITY = 50
SEVERITIES = ("low", "medium", "high")
DEFAULT_SEVERITY = "medium"
_MIN_ANCHOR_LENGTH = 3
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

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


@dataclass(frozen=True)
class Condition:
    """One test of one field: ``message regex 'x'``, ``status gt 399``..."""

    field: str
    operator: str
    value: str | int | tuple[str | int, ...]
    place: Place
    engine: Engine = "polars"
    compiled: regex.Pattern[str] | None = None  # set for the `regex` engine only
    # Literal fragments (as regex) of which every matching text contains one; None when the
    # field is not a text field or no literal of useful length could be derived.
    anchors: tuple[str, ...] | None = None

    @property
    def column(self) -> str:
        return FIELD_COLUMNS[self.field]

    def describe(self) -> str:
        value = self.value
        shown = "[" + ", ".join(map(_quote, value)) + "]" if isinstance(value, tuple) else _quote(value)
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

    def anchors(self) -> tuple[str, ...]:
        return tuple(a for c in self.conditions() for a in c.anchors or ())

    def required_anchors(self) -> tuple[str, ...] | None:
        """Literals of which the text of every record this match accepts holds one, or None
        when the match does not require any: from one condition of `all` (the most specific),
        else from one condition of each `any` group."""

        def most_specific(group: Group) -> tuple[str, ...] | None:
            anchored = [c.anchors for c in group if c.anchors]
            return max(anchored, key=lambda anchors: min(map(len, anchors)), default=None)

        required = most_specific(self.all)
        if required is not None or not self.any:
            return required
        per_group = [most_specific(group) for group in self.any]
        if any(anchors is None for anchors in per_group):
            return None
        return tuple(a for anchors in per_group for a in anchors or ())


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

    @property
    def anchors(self) -> tuple[str, ...]:
        found = {a for rule in self.rules for a in rule.match.anchors()}
        found |= {a for s in self.suppressions if s.match for a in s.match.anchors()}
        return tuple(sorted(found))

    @property
    def implied_anchors(self) -> tuple[str, ...]:
        """Anchors of the rules whose match makes a record a 400 with no status shown."""
        return tuple(sorted({a for rule in self.rules if rule.implies_400 for a in rule.match.anchors()}))

    def category(self, category_id: str) -> Category:
        return self.categories.get(category_id) or Category(category_id, category_id, "", "")

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


def builtin_rules_dir() -> Path:
    installed = Path(__file__).parent / "rules"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "rules"


def rule_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in RULE_FILE_SUFFIXES and p.is_file())
    return [path]


def load(user_paths: Sequence[Path] = (), *, include_builtin: bool = True) -> RuleSet:
    """Load the built-in pack and then the user's files. ``include_builtin=False`` leaves the
    built-in *rules* out; the built-in categories stay, since reports and user rules rely on
    them. A user rule with the id of a built-in rule replaces it; any other duplicate id is an
    error. Files are read in order (built-in files by name, then user paths as given), which is
    the tie-break order. A pack compiled before from the very same files comes from the cache."""
    files: list[tuple[Path, bool]] = [(p, True) for p in rule_files(builtin_rules_dir())]
    for path in user_paths:
        files += [(p, False) for p in rule_files(path)]
    cache = _PackCache.of(files, include_builtin)
    ruleset = cache.read() if cache else None
    if ruleset is None:
        ruleset = _compile(files, include_builtin)
        if cache:
            cache.write(ruleset)
    return ruleset


CACHE_DIR_VARIABLE = "LOGSCAN_CACHE_DIR"


def cache_dir() -> Path | None:
    """Where compiled rule packs are kept: $LOGSCAN_CACHE_DIR (empty: no cache), else
    $XDG_CACHE_HOME/logscan, else ~/.cache/logscan."""
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "logscan"


@dataclass(frozen=True)
class _PackCache:
    """A compiled rule pack, pickled under a digest of everything it was compiled from: the
    bytes of every rule file, their paths and order, and the compiler itself. Parsing YAML
    with positions costs more than the rest of a small scan; reading the pickle costs
    nothing. The cache is a directory of the user's own, so its pickles are trusted as much as
    the code that wrote them; one that cannot be read is compiled again."""

    path: Path

    @classmethod
    def of(cls, files: Sequence[tuple[Path, bool]], include_builtin: bool) -> _PackCache | None:
        directory = cache_dir()
        if directory is None:
            return None
        digest = hashlib.sha256(Path(__file__).read_bytes())
        digest.update(f"{__version__}\0{include_builtin}".encode())
        try:
            for path, builtin in files:
                digest.update(f"\0{path.resolve()}\0{builtin}\0".encode())
                digest.update(path.read_bytes())
        except OSError:
            return None  # compiling reports the file that cannot be read
        return cls(directory / f"rules-{digest.hexdigest()[:32]}.pickle")

    def read(self) -> RuleSet | None:
        try:
            ruleset = pickle.loads(self.path.read_bytes())
        except Exception:  # a missing, stale or damaged entry is compiled again
            return None
        return ruleset if isinstance(ruleset, RuleSet) else None

    def write(self, ruleset: RuleSet) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(handle, "wb") as stream:
                pickle.dump(ruleset, stream, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self.path)
        except OSError:
            pass  # a read-only home only costs the next scan the compile time


def _compile(files: Sequence[tuple[Path, bool]], include_builtin: bool) -> RuleSet:
    problems: list[Problem] = []
    readers = [(_FileReader(path, problems, builtin), builtin) for path, builtin in files]
    loaded = [(reader, reader.load(), builtin) for reader, builtin in readers]
    categories: dict[str, Category] = {}
    for reader, document, _ in loaded:
        if document is not None:
            categories.update((c.id, c) for c in reader.categories(document))
    # Reports list categories in load order, with `unclassified` always last.
    categories[UNCLASSIFIED] = categories.pop(UNCLASSIFIED, Category(UNCLASSIFIED, "Unclassified", "", ""))

    rules: dict[str, Rule] = {}
    first_seen: dict[str, tuple[Place, bool]] = {}
    suppressions: list[Suppression] = []
    load_order = 0
    for reader, document, builtin in loaded:
        if document is None or (builtin and not include_builtin):
            continue
        for draft in reader.rules(document, set(categories)):
            earlier = first_seen.get(draft.id)
            if earlier is not None and not (earlier[1] and not builtin):
                problems.append(
                    draft.id_place.problem(f"duplicate rule id '{draft.id}' (first at {earlier[0]})")
                )
                continue
            first_seen[draft.id] = (draft.place, builtin)
            load_order += 1
            if draft.rule is not None:
                # A user rule replacing a built-in one takes its own place in the order.
                rules.pop(draft.id, None)
                rules[draft.id] = replace(draft.rule, order=load_order)
        suppressions += reader.suppressions(document)
    for suppression in suppressions:
        if suppression.rule_id is not None and suppression.rule_id not in first_seen:
            problems.append(suppression.place.problem(f"suppress: unknown rule id '{suppression.rule_id}'"))
    if problems:
        file_order = {str(path): index for index, (path, _) in enumerate(files)}
        problems.sort(key=lambda p: (file_order.get(p.file, len(file_order)), p.line, p.column))
        raise RuleError(problems)
    ordered = sorted(rules.values(), key=lambda rule: (-rule.priority, rule.order))
    return RuleSet(categories, tuple(ordered), tuple(suppressions))


@dataclass
class _RuleDraft:
    id: str
    place: Place
    id_place: Place
    rule: Rule | None  # None when the rule has problems of its own


_CATEGORY_KEYS = {
    "id": "string",
    "title": "string",
    "explanation": "string",
    "remediation": "string",
    "steps": "strings",
    "references": "strings",
}
_RULE_KEYS = {
    "id": "string",
    "title": "string",
    "category": "string",
    "priority": "integer",
    "severity": "string",
    "match": "mapping",
    "implies_400": "boolean",
    "extract": "strings",
    "explain": "string",
    "remediation": "string",
    "references": "strings",
    "tags": "strings",
    "examples": "list",
}
# Keys of the first schema, with what to write instead.
_OLD_RULE_KEYS = {
    "patterns": "'patterns' is the old form: list the regexes under 'match', "
    "e.g. match: {any: [{message: {regex: '...'}}]}",
    "side": "'side' is now a condition in 'match': side: {equals: client}",
}
_EXAMPLE_KEYS = {"line": "string", "category": "string"}
_SUPPRESS_KEYS = {"id": "string", "rule": "string", "match": "mapping", "reason": "string"}
_KIND_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "list": "a list",
    "strings": "a list of strings",
    "mapping": "a mapping",
}


@dataclass
class _FileReader:
    path: Path
    problems: list[Problem]
    builtin: bool = False
    _yaml: YAML = field(init=False)

    def __post_init__(self) -> None:
        # The round-trip loader keeps line and column of every node and never builds objects
        # from tags; tagged values are rejected below.
        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True

    def place(self, position: tuple[int, int]) -> Place:
        line, column = position
        return Place(str(self.path), line + 1, column + 1)

    def report(self, position: tuple[int, int], message: str) -> None:
        self.problems.append(self.place(position).problem(message))

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
            self.report((0, 0), "a rule file must be a mapping with 'categories', 'rules' and/or 'suppress'")
            return None
        for key in document:
            if key not in ("categories", "rules", "suppress"):
                self.report(
                    document.lc.key(key),
                    f"unknown top-level key '{key}' (expected 'categories', 'rules' or 'suppress')",
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
            if isinstance(item, CommentedMap) and not _tagged(item):
                yield item
            else:
                self.report(items.lc.item(index), f"each entry of '{key}' must be a mapping")

    def _fields(
        self,
        node: CommentedMap,
        schema: dict[str, str],
        required: Sequence[str],
        old_keys: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The values of ``node`` that have the declared kind; every other key is reported."""
        values: dict[str, Any] = {}
        for key, value in node.items():
            kind = schema.get(key)
            if kind is None:
                hint = (old_keys or {}).get(key) or f"unknown key '{key}' (allowed: {', '.join(schema)})"
                self.report(node.lc.key(key), hint)
                continue
            position = node.lc.value(key)
            if _tagged(value):
                self.report(position, f"'{key}': YAML tags are not allowed")
            elif kind == "string" and isinstance(value, str):
                values[key] = str(value)
            elif kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
                values[key] = int(value)
            elif (
                (kind == "boolean" and isinstance(value, bool))
                or (kind == "list" and isinstance(value, CommentedSeq))
                or (kind == "mapping" and isinstance(value, CommentedMap))
            ):
                values[key] = value
            elif kind == "strings" and isinstance(value, CommentedSeq):
                strings = self._strings(value, key)
                if strings is not None:
                    values[key] = strings
            else:
                self.report(position, f"'{key}' must be {_KIND_NAMES[kind]}, not {_yaml_type(value)}")
        for key in required:
            if key not in node:
                self.report((node.lc.line, node.lc.col), f"missing required key '{key}'")
        return values

    def _strings(self, items: CommentedSeq, key: str) -> tuple[str, ...] | None:
        strings = []
        for index, item in enumerate(items):
            if not isinstance(item, str) or _tagged(item) or not item.strip():
                self.report(items.lc.item(index), f"each entry of '{key}' must be a non-empty string")
                return None
            strings.append(str(item).strip())
        return tuple(strings)

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
                    values.get("steps", ()),
                    values.get("references", ()),
                )

    def rules(self, document: CommentedMap, known_categories: set[str]) -> Iterable[_RuleDraft]:
        for node in self._items(document, "rules"):
            before = len(self.problems)
            values = self._fields(node, _RULE_KEYS, ("id", "category", "match"), _OLD_RULE_KEYS)
            if "id" in values:
                self._valid_id(node, values["id"])
            category = values.get("category")
            if category is not None and category not in known_categories:
                self.report(node.lc.value("category"), f"unknown category '{category}'")
            severity = values.get("severity", DEFAULT_SEVERITY)
            if severity not in SEVERITIES:
                self.report(
                    node.lc.value("severity"),
                    f"'severity' must be one of {', '.join(SEVERITIES)}, not '{severity}'",
                )
            match = self.match(values["match"], "match") if "match" in values else None
            extract = self._extractions(node, values.get("extract", ()))
            examples = self._examples(values.get("examples"), known_categories)
            if "id" not in values:
                continue
            place = self.place((node.lc.line, node.lc.col))
            rule = None
            if len(self.problems) == before and match is not None:
                rule = Rule(
                    id=values["id"],
                    title=values.get("title", values["id"]),
                    category=values["category"],
                    priority=values.get("priority", DEFAULT_PRIORITY),
                    severity=severity,
                    match=match,
                    implies_400=values.get("implies_400", False),
                    examples=tuple(examples),
                    place=place,
                    order=0,
                    builtin=self.builtin,
                    extract=extract,
                    explain=values.get("explain", "").strip(),
                    remediation=values.get("remediation", "").strip(),
                    references=values.get("references", ()),
                    tags=values.get("tags", ()),
                )
            yield _RuleDraft(values["id"], place, self.place(node.lc.value("id")), rule)

    def suppressions(self, document: CommentedMap) -> Iterable[Suppression]:
        for node in self._items(document, "suppress"):
            before = len(self.problems)
            values = self._fields(node, _SUPPRESS_KEYS, ())
            place = self.place((node.lc.line, node.lc.col))
            if ("rule" in values) == ("match" in node):
                self.report(
                    (node.lc.line, node.lc.col), "a suppress entry needs exactly one of 'rule' or 'match'"
                )
                continue
            if "id" in values:
                self._valid_id(node, values["id"])
            match = self.match(values["match"], "match") if "match" in values else None
            if len(self.problems) > before:
                continue
            rule_id = values.get("rule")
            default_id = f"rule:{rule_id}" if rule_id else f"{Path(self.path).name}:{place.line}"
            yield Suppression(
                values.get("id", default_id), rule_id, match, values.get("reason", "").strip(), place
            )

    # --- match -------------------------------------------------------------------------------

    def match(self, node: CommentedMap, key: str) -> Match | None:
        """Parse a `match` mapping: all/any/none blocks, or field conditions meaning `all`."""
        if not node:
            self.report((node.lc.line, node.lc.col), f"'{key}' has no conditions")
            return None
        before = len(self.problems)
        blocks = [k for k in node if k in BLOCKS]
        if blocks and len(blocks) < len(node):
            stray = next(k for k in node if k not in BLOCKS)
            self.report(
                node.lc.key(stray),
                f"'{key}' holds either all/any/none blocks or field conditions, not both ('{stray}')",
            )
            return None
        if not blocks:  # shorthand: `match: {message: {regex: x}}` is `all: [{message: ...}]`
            match = Match(all=self._group(node))
        else:
            groups: dict[str, list[Group]] = {block: [] for block in BLOCKS}
            for block in blocks:
                items = node[block]
                if not isinstance(items, CommentedSeq) or _tagged(items):
                    self.report(node.lc.value(block), f"'{block}' must be a list of conditions")
                    continue
                for index, item in enumerate(items):
                    if isinstance(item, CommentedMap) and not _tagged(item):
                        groups[block].append(self._group(item))
                    else:
                        self.report(
                            items.lc.item(index),
                            f"each entry of '{block}' must be a mapping such as"
                            " {message: {contains: '...'}}",
                        )
            match = Match(
                all=tuple(c for group in groups["all"] for c in group),
                any=tuple(groups["any"]),
                none=tuple(groups["none"]),
            )
        if len(self.problems) > before:
            return None
        if not any(match.conditions()):
            self.report((node.lc.line, node.lc.col), f"'{key}' has no conditions")
            return None
        return match

    def _group(self, node: CommentedMap) -> Group:
        """A mapping of field -> {operator: value}; every test in it must hold."""
        conditions: list[Condition] = []
        if not node:
            self.report(
                (node.lc.line, node.lc.col), "a condition needs a field, e.g. {message: {contains: '...'}}"
            )
        for field_name, operators in node.items():
            if field_name not in FIELD_COLUMNS:
                self.report(
                    node.lc.key(field_name),
                    f"unknown field '{field_name}' (fields: {', '.join(FIELD_COLUMNS)})",
                )
                continue
            if not isinstance(operators, CommentedMap) or _tagged(operators) or not operators:
                self.report(
                    node.lc.value(field_name),
                    f"'{field_name}' needs an operator mapping such as"
                    " {contains: '...'} or {regex: '...'}",
                )
                continue
            for operator, value in operators.items():
                condition = self._condition(str(field_name), operator, value, operators)
                if condition is not None:
                    conditions.append(condition)
        return tuple(conditions)

    def _condition(self, field_name: str, operator: Any, value: Any, node: CommentedMap) -> Condition | None:
        numeric = field_name in NUMBER_FIELDS
        allowed = NUMBER_OPERATORS if numeric else STRING_OPERATORS
        if operator not in allowed:
            kind = "number" if numeric else "text"
            self.report(
                node.lc.key(operator),
                f"unknown operator '{operator}' for {kind} field '{field_name}'"
                f" (operators: {', '.join(allowed)})",
            )
            return None
        position = node.lc.value(operator)
        place = self.place(position)
        scalar_type, type_name = (int, "an integer") if numeric else (str, "a string")

        def valid(item: Any) -> bool:
            return isinstance(item, scalar_type) and not isinstance(item, bool) and not _tagged(item)

        if operator == "in":
            if not isinstance(value, CommentedSeq) or not value or not all(map(valid, value)):
                self.report(position, f"'in' must be a non-empty list, each entry {type_name}")
                return None
            items = tuple(scalar_type(item) for item in value)
            if field_name == "side":
                self._check_sides(position, items)
            anchors = _literal_anchors(items) if field_name in TEXT_FIELDS else None
            return Condition(field_name, operator, items, place, anchors=anchors)
        if not valid(value):
            self.report(
                position, f"'{operator}' on '{field_name}' must be {type_name}, not {_yaml_type(value)}"
            )
            return None
        if numeric:
            return Condition(field_name, operator, int(value), place)
        text = str(value)
        if not text:
            self.report(position, f"'{operator}' needs a non-empty string")
            return None
        if field_name == "side":
            self._check_sides(position, (text,))
        if operator != "regex":
            anchors = _literal_anchors((text,)) if field_name in TEXT_FIELDS else None
            return Condition(field_name, operator, text, place, anchors=anchors)
        quote_width = 1 if getattr(value, "style", None) in ("'", '"') else 0
        engine, compiled, error, offset = compile_regex(text)
        if error:
            line, column = position
            self.report((line, column + quote_width + offset), f"regex does not compile: {error}")
            return None
        anchors = derive_anchors(text) if field_name in TEXT_FIELDS else None
        return Condition(field_name, operator, text, place, engine, compiled, anchors)

    def _check_sides(self, position: tuple[int, int], values: Iterable[str | int]) -> None:
        for value in values:
            if value not in SIDES:
                self.report(position, f"side is 'client' or 'server', not '{value}'")

    # --- extract and examples ----------------------------------------------------------------

    def _extractions(self, node: CommentedMap, patterns: tuple[str, ...]) -> tuple[Extraction, ...]:
        if not patterns:
            return ()
        items = node["extract"]
        extractions = []
        for index, pattern in enumerate(patterns):
            line, column = items.lc.item(index)
            quote_width = 1 if getattr(items[index], "style", None) in ("'", '"') else 0
            try:
                names = pl.Series([""], dtype=pl.String).str.extract_groups(pattern).struct.fields
            except pl.exceptions.PolarsError:
                self.report(
                    (line, column + quote_width),
                    "extract regex must compile for the Rust engine (no look-around or backreferences)",
                )
                continue
            named = tuple(name for name in names if not name.isdigit())
            unknown = [name for name in named if name not in EXTRACTABLE_FIELDS]
            if not named or unknown:
                self.report(
                    (line, column + quote_width),
                    f"extract regex needs named groups among {', '.join(EXTRACTABLE_FIELDS)}"
                    + (f" (unknown: {', '.join(unknown)})" if unknown else ', e.g. (?P<model>[^\\s"]+)'),
                )
                continue
            extractions.append(Extraction(pattern, named, self.place((line, column))))
        return tuple(extractions)

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
            examples.append(
                Example(values["line"], values["category"], self.place((item.lc.line, item.lc.col)))
            )
        return examples


def _tagged(value: object) -> bool:
    return isinstance(value, TaggedScalar) or bool(getattr(getattr(value, "tag", None), "value", None))


def _quote(value: str | int) -> str:
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


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


def compile_regex(source: str) -> tuple[Engine, regex.Pattern[str] | None, str, int]:
    """Pick the engine for a pattern: the Rust engine in Polars when it accepts the pattern
    (vectorised), else the `regex` package (look-around, backreferences).
    Returns (engine, compiled pattern for `regex`, error, error offset)."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(source)
    except pl.exceptions.PolarsError:
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


def _literal_anchors(literals: Iterable[str | int]) -> tuple[str, ...] | None:
    texts = [str(literal) for literal in literals]
    if not texts or min(map(len, texts)) < _MIN_ANCHOR_LENGTH:
        return None
    return tuple(escape_literal(text) for text in texts)


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
    escaped = (escape_literal(literal) for literal in literals)
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
