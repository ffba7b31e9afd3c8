"""Rule files: loading the built-in pack and the user's files into one compiled ``RuleSet``.

A rule file is YAML with up to three top-level keys, ``categories``, ``rules`` and ``suppress``;
the schema is documented in ``rules/README.md``. Every problem found in every file is collected
and raised together as one ``RuleError``, sorted by file and position.

The rooms behind this one: ``rulefile.py`` reads YAML with places and refuses what is not
plain data, ``ruleschema.py`` checks the schema and compiles patterns, ``rulemodel.py`` is the
compiled model (re-exported here, where the rest of logscan takes it from), and
``rulecache.py`` keeps compiled packs. Checking a rule's examples needs the scan pipeline,
which this module must not import; ``ruletools.py`` does it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from logscan.errors import Problem, RuleError
from logscan.rulecache import CACHE_DIR_VARIABLE, PackCache, cache_dir, read_shipped
from logscan.rulemodel import (
    BLOCKS,
    DEFAULT_PRIORITY,
    DEFAULT_SEVERITY,
    EXTRACTABLE_FIELDS,
    FIELD_COLUMNS,
    FOLDING_TO_ASCII,
    NO_OCCURRENCE,
    NUMBER_FIELDS,
    NUMBER_OPERATORS,
    RULE_FILE_SUFFIXES,
    SEVERITIES,
    SIDES,
    STRING_OPERATORS,
    TEXT_FIELDS,
    UNCLASSIFIED,
    Anchor,
    Category,
    Condition,
    Engine,
    Example,
    Extraction,
    Gates,
    Group,
    LiteralSearch,
    Match,
    Place,
    Rule,
    RuleSet,
    Suppression,
    compile_regex,
    derive_anchors,
    derive_literals,
    describe_match,
    escape_literal,
    positive_examples,
)

__all__ = [
    "BLOCKS",
    "CACHE_DIR_VARIABLE",
    "DEFAULT_PRIORITY",
    "DEFAULT_SEVERITY",
    "EXTRACTABLE_FIELDS",
    "FIELD_COLUMNS",
    "FOLDING_TO_ASCII",
    "NO_OCCURRENCE",
    "NUMBER_FIELDS",
    "NUMBER_OPERATORS",
    "RULE_FILE_SUFFIXES",
    "SEVERITIES",
    "SIDES",
    "STRING_OPERATORS",
    "TEXT_FIELDS",
    "UNCLASSIFIED",
    "Anchor",
    "Category",
    "Condition",
    "Engine",
    "Example",
    "Extraction",
    "Gates",
    "Group",
    "LiteralSearch",
    "Match",
    "Place",
    "Rule",
    "RuleError",
    "RuleSet",
    "Suppression",
    "builtin_rules_dir",
    "cache_dir",
    "compile_files",
    "compile_regex",
    "derive_anchors",
    "derive_literals",
    "describe_match",
    "escape_literal",
    "load",
    "positive_examples",
    "rule_files",
]


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
    builtin_dir = builtin_rules_dir()
    builtin_files = rule_files(builtin_dir)
    if not user_paths and include_builtin:
        shipped = read_shipped(builtin_dir, builtin_files)
        if shipped is not None:
            return shipped
    files: list[tuple[Path, bool]] = [(p, True) for p in builtin_files]
    for path in user_paths:
        files += [(p, False) for p in rule_files(path)]
    cache = PackCache.of(files, include_builtin)
    ruleset = cache.read() if cache else None
    if ruleset is None:
        ruleset = compile_files(files, include_builtin)
        if cache:
            cache.write(ruleset)
    return ruleset


def compile_files(files: Sequence[tuple[Path, bool]], include_builtin: bool = True) -> RuleSet:
    """Read, check and compile ``files`` (path, whether it is built in), with no cache."""
    # The YAML reader is imported only when a pack is compiled: a cached pack needs none of it.
    from logscan.ruleschema import FileReader  # noqa: PLC0415

    problems: list[Problem] = []
    readers = [(FileReader(path, problems, builtin), builtin) for path, builtin in files]
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
