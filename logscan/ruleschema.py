"""The rule-file schema: a YAML document read with places becomes categories, rules and
suppress entries, every problem named with file:line:column.

The declared shape is documented in ``rules/README.md``. ``rulefile.py`` has already refused
tags, deep nesting and alias bombs; this module checks kinds, keys, ids, operators and
patterns, and compiles each pattern once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from logscan import rulefile
from logscan.errors import Problem
from logscan.rulefile import shorten
from logscan.rulemodel import (
    BLOCKS,
    DEFAULT_PRIORITY,
    DEFAULT_SEVERITY,
    EXTRACTABLE_FIELDS,
    FIELD_COLUMNS,
    ID_PATTERN,
    NO_OCCURRENCE,
    NUMBER_FIELDS,
    NUMBER_OPERATORS,
    SEVERITIES,
    SIDES,
    STRING_OPERATORS,
    TEXT_FIELDS,
    Category,
    Condition,
    Example,
    Extraction,
    Group,
    Match,
    Place,
    Rule,
    Suppression,
    compile_regex,
    derive_literals,
    literal_anchors,
)

# Longer patterns are not rules but data; the Rust engine also caps a compiled pattern's size.
MAX_PATTERN_CHARS = 10_000


@dataclass
class RuleDraft:
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
class FileReader:
    path: Path
    problems: list[Problem]
    builtin: bool = False

    def place(self, position: tuple[int, int]) -> Place:
        line, column = position
        return Place(str(self.path), line + 1, column + 1)

    def report(self, position: tuple[int, int], message: str) -> None:
        self.problems.append(self.place(position).problem(message))

    def load(self) -> CommentedMap | None:
        document, refusal = rulefile.read(self.path)
        if refusal is not None:
            self.report(refusal.position, refusal.reason)
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
                    f"unknown top-level key '{shorten(str(key))}'"
                    " (expected 'categories', 'rules' or 'suppress')",
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
                hint = (old_keys or {}).get(
                    key
                ) or f"unknown key '{shorten(str(key))}' (allowed: {', '.join(schema)})"
                self.report(node.lc.key(key), hint)
                continue
            position = node.lc.value(key)
            if kind == "string" and isinstance(value, str):
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
            if not isinstance(item, str) or not item.strip():
                self.report(items.lc.item(index), f"each entry of '{key}' must be a non-empty string")
                return None
            strings.append(str(item).strip())
        return tuple(strings)

    def _valid_id(self, node: CommentedMap, value: str) -> bool:
        if ID_PATTERN.match(value):
            return True
        self.report(
            node.lc.value("id"),
            f"invalid id '{shorten(str(value))}': use lowercase letters, digits, '.', '_' and '-'",
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

    def rules(self, document: CommentedMap, known_categories: set[str]) -> Iterable[RuleDraft]:
        for node in self._items(document, "rules"):
            before = len(self.problems)
            values = self._fields(node, _RULE_KEYS, ("id", "category", "match"), _OLD_RULE_KEYS)
            if "id" in values:
                self._valid_id(node, values["id"])
            category = values.get("category")
            if category is not None and category not in known_categories:
                self.report(node.lc.value("category"), f"unknown category '{shorten(str(category))}'")
            severity = values.get("severity", DEFAULT_SEVERITY)
            if severity not in SEVERITIES:
                self.report(
                    node.lc.value("severity"),
                    f"'severity' must be one of {', '.join(SEVERITIES)}, not '{shorten(str(severity))}'",
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
            yield RuleDraft(values["id"], place, self.place(node.lc.value("id")), rule)

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
                f"'{key}' holds either all/any/none blocks or field conditions,"
                f" not both ('{shorten(str(stray))}')",
            )
            return None
        if not blocks:  # shorthand: `match: {message: {regex: x}}` is `all: [{message: ...}]`
            match = Match(all=self._group(node))
        else:
            groups: dict[str, list[Group]] = {block: [] for block in BLOCKS}
            for block in blocks:
                items = node[block]
                if not isinstance(items, CommentedSeq):
                    self.report(node.lc.value(block), f"'{block}' must be a list of conditions")
                    continue
                for index, item in enumerate(items):
                    if isinstance(item, CommentedMap):
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
                    f"unknown field '{shorten(str(field_name))}' (fields: {', '.join(FIELD_COLUMNS)})",
                )
                continue
            if not isinstance(operators, CommentedMap) or not operators:
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
                f"unknown operator '{shorten(str(operator))}' for {kind} field '{field_name}'"
                f" (operators: {', '.join(allowed)})",
            )
            return None
        position = node.lc.value(operator)
        place = self.place(position)
        scalar_type, type_name = (int, "an integer") if numeric else (str, "a string")

        def valid(item: Any) -> bool:
            return isinstance(item, scalar_type) and not isinstance(item, bool)

        if operator == "in":
            if not isinstance(value, CommentedSeq) or not value or not all(map(valid, value)):
                self.report(position, f"'in' must be a non-empty list, each entry {type_name}")
                return None
            items = tuple(scalar_type(item) for item in value)
            if field_name == "side":
                self._check_sides(position, items)
            literals = literal_anchors(items) if field_name in TEXT_FIELDS else None
            return Condition(field_name, operator, items, place, literals=literals)
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
            literals = literal_anchors((text,)) if field_name in TEXT_FIELDS else None
            return Condition(field_name, operator, text, place, literals=literals)
        if len(text) > MAX_PATTERN_CHARS:
            self.report(position, f"regex is longer than {MAX_PATTERN_CHARS:,} characters ({len(text):,})")
            return None
        quote_width = 1 if getattr(value, "style", None) in ("'", '"') else 0
        engine, _, error, offset = compile_regex(text)
        if error:
            line, column = position
            self.report(
                (line, column + quote_width + offset), f"regex does not compile: {shorten(error, 200)}"
            )
            return None
        literals = derive_literals(text) if field_name in TEXT_FIELDS else None
        return Condition(field_name, operator, text, place, engine, literals)

    def _check_sides(self, position: tuple[int, int], values: Iterable[str | int]) -> None:
        for value in values:
            if value not in SIDES:
                self.report(position, f"side is 'client' or 'server', not '{shorten(str(value))}'")

    # --- extract and examples ----------------------------------------------------------------

    def _extractions(self, node: CommentedMap, patterns: tuple[str, ...]) -> tuple[Extraction, ...]:
        if not patterns:
            return ()
        items = node["extract"]
        extractions = []
        for index, pattern in enumerate(patterns):
            line, column = items.lc.item(index)
            quote_width = 1 if getattr(items[index], "style", None) in ("'", '"') else 0
            if len(pattern) > MAX_PATTERN_CHARS:
                self.report((line, column), f"extract regex is longer than {MAX_PATTERN_CHARS:,} characters")
                continue
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
                self.report(
                    item.lc.value("category"), f"unknown category '{shorten(str(values['category']))}'"
                )
            examples.append(
                Example(values["line"], values["category"], self.place((item.lc.line, item.lc.col)))
            )
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
