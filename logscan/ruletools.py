"""The rule tools behind `logscan rules ...`: running examples through the scan pipeline,
drafting rules for unexplained 400s, and the text those commands print.

Examples need the whole pipeline (records, 400 detection, every loaded rule with its
priority), which ``rules.py`` must not import; so they run here, one example as one log.
"""

from __future__ import annotations

import difflib
import tempfile
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tabulate import tabulate

from logscan import classify, cluster, rules, scan
from logscan.errors import Problem, RuleError, UsageError
from logscan.patternlint import catastrophic_shape

WIDTH = 100


# --- examples --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleResult:
    """What one example got, run as a one-record log through the scan pipeline."""

    rule: rules.Rule
    example: rules.Example
    number: int  # 1-based position among the rule's examples
    occurrences: int
    category: str  # of the first occurrence; NO_OCCURRENCE when there is none
    rule_id: str | None  # the rule that gave it

    @property
    def expected_occurrences(self) -> int:
        return 0 if self.example.category == rules.NO_OCCURRENCE else 1

    @property
    def passed(self) -> bool:
        return self.occurrences == self.expected_occurrences and self.category == self.example.category

    def _got_category(self) -> str:
        if self.occurrences == 0:
            return rules.NO_OCCURRENCE
        return f"{self.category} ({f'rule {self.rule_id}' if self.rule_id else 'no rule matched'})"

    def problem(self) -> Problem:
        expected = self.example.category
        if self.occurrences == 0:
            got = "no 400 (the line shows no 400, and no implies_400 rule matched it)"
        elif self.occurrences > 1:
            got = f"{self.occurrences} 400s (the line splits into several records)"
        else:
            got = self._got_category()
        wanted = "no 400" if expected == rules.NO_OCCURRENCE else expected
        return self.example.place.problem(f"example of {self.rule.id} expects {wanted}, got {got}")

    def diff(self) -> list[str]:
        """Expected against got, as the lines of a small unified diff."""
        expected = {"400s": str(self.expected_occurrences), "category": self.example.category}
        got = {"400s": str(self.occurrences), "category": self.category if self.occurrences else "none"}
        shown = {"400s": got["400s"], "category": self._got_category()}
        lines = ["--- expected", "+++ got"]
        for key, value in expected.items():
            if value == got[key]:
                lines.append(f" {key}: {shown[key]}")
            else:
                lines += [f"-{key}: {value}", f"+{key}: {shown[key]}"]
        return lines


def run_examples(ruleset: rules.RuleSet, selected: Iterable[rules.Rule]) -> list[ExampleResult]:
    """Run the examples of ``selected`` rules against the whole ``ruleset``. Suppress entries
    are left out: an example checks classification, which suppression does not change."""
    classifying = replace(ruleset, suppressions=())
    cases = [
        (rule, number, example) for rule in selected for number, example in enumerate(rule.examples, start=1)
    ]
    # Each example is a log of its own; all are scanned at once (thousands of rules have
    # thousands of examples).
    found = scan.scan_texts(
        [(f"{example.place}#{index}", example.text) for index, (_, _, example) in enumerate(cases)],
        classifying,
    )
    results = []
    for (rule, number, example), events in zip(cases, found, strict=True):
        occurrences = events.height
        category = str(events.item(0, "category")) if occurrences else rules.NO_OCCURRENCE
        rule_id = events.item(0, "rule_id") if occurrences else None
        results.append(ExampleResult(rule, example, number, occurrences, category, rule_id))
    return results


def user_rules(ruleset: rules.RuleSet) -> list[rules.Rule]:
    return [rule for rule in ruleset.rules if not rule.builtin]


def check_user_examples(ruleset: rules.RuleSet) -> None:
    """Raise a RuleError naming every example of a user rule that does not get its category.
    Run when a scan is given --rules: user files are small, and a wrong rule must be loud."""
    failed = [result for result in run_examples(ruleset, user_rules(ruleset)) if not result.passed]
    if failed:
        raise RuleError([result.problem() for result in failed])


def in_file_order(selected: Iterable[rules.Rule]) -> list[rules.Rule]:
    return sorted(selected, key=lambda rule: rule.order)


# --- text for `rules list`, `rules check`, `rules test` ---------------------------------------


def source(rule: rules.Rule | rules.Example | rules.Place, builtin: bool = False) -> str:
    """Where something was written, for people: built-in files by name, others as given."""
    place = rule if isinstance(rule, rules.Place) else rule.place
    if isinstance(rule, rules.Rule):
        builtin = rule.builtin
    name = f"builtin:{Path(place.file).name}" if builtin else _relative(place.file)
    return f"{name}:{place.line}"


def _relative(file: str) -> str:
    try:
        return str(Path(file).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return file


def render_list(ruleset: rules.RuleSet) -> str:
    rows = [
        [rule.id, rule.category, rule.priority, rule.severity, rule.engine, source(rule)]
        for rule in ruleset.rules
    ]
    table = tabulate(
        rows,
        headers=["rule", "category", "priority", "severity", "engine", "source"],
        tablefmt="simple",
        colalign=("left", "left", "right", "left", "left", "left"),
    )
    order = "highest priority first; ties go to the rule loaded first"
    return f"{table}\n\n{plural(len(rows), 'rule')}, {order}.\n"


def render_check(ruleset: rules.RuleSet, selected: list[rules.Rule], results: list[ExampleResult]) -> str:
    by_rule: dict[str, list[ExampleResult]] = {}
    for result in results:
        by_rule.setdefault(result.rule.id, []).append(result)
    rows = []
    for rule in selected:
        outcomes = by_rule.get(rule.id, [])
        failed = sum(1 for r in outcomes if not r.passed)
        examples = f"{len(outcomes)} ok" if not failed else f"{failed} of {len(outcomes)} FAILED"
        rows.append([rule.id, rule.category, rule.engine, examples, source(rule)])
    table = tabulate(rows, headers=["rule", "category", "engine", "examples", "source"], tablefmt="simple")
    return table + "\n"


def lint_notes(selected: Sequence[rules.Rule]) -> list[str]:
    """Things that are allowed but worth knowing; they do not fail a check."""
    notes = []
    for rule in selected:
        if not rules.positive_examples(rule):
            notes.append(f"{source(rule)}: note: {rule.id} has no example that gets its category")
        for condition in rule.match.conditions():
            if condition.field in rules.TEXT_FIELDS and condition.anchors is None:
                notes.append(
                    f"{source(condition.place, rule.builtin)}: note: {rule.id}: no literal of 3+"
                    f" characters in {condition.describe()}; it only sees lines that show a status"
                    " or another rule's text"
                )
            shape = catastrophic_shape(str(condition.value)) if condition.engine == "regex" else None
            if shape:
                notes.append(
                    f"{source(condition.place, rule.builtin)}:{condition.place.column}: note: {rule.id}:"
                    f" {condition.describe()} looks catastrophic for the regex engine ({shape});"
                    f" each search is stopped after {classify.REGEX_TIMEOUT_SECONDS:g} s and counts"
                    " as no match"
                )
    return notes


def render_test(results: list[ExampleResult]) -> str:
    out: list[str] = []
    for result in results:
        if result.passed:
            continue
        out.append(f"FAIL {result.rule.id} example {result.number} ({result.example.place})")
        text = result.example.text
        out.append(f"  line: {text if len(text) <= 300 else text[:299] + '…'}")
        out += [f"  {line}" for line in result.diff()]
        out.append("")
    failed = sum(1 for r in results if not r.passed)
    rule_count = len({r.rule.id for r in results})
    if failed:
        out.append(f"{failed} of {plural(len(results), 'example')} failed ({plural(rule_count, 'rule')})")
    else:
        out.append(f"ok: {plural(len(results), 'example')} of {plural(rule_count, 'rule')} passed")
    return "\n".join(out) + "\n"


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# --- text for `rules explain` -----------------------------------------------------------------


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent) if text else []


def category_lines(category: rules.Category, indent: str = "  ") -> list[str]:
    """A category's explanation and what to do, wrapped for a terminal."""
    out = _wrap(category.explanation, indent)
    if category.remediation or category.steps:
        out.append(f"{indent}What to do:")
        out += _wrap(category.remediation, indent + "  ")
        for step in category.steps:
            out += textwrap.wrap(
                step, WIDTH, initial_indent=f"{indent}  - ", subsequent_indent=f"{indent}    "
            )
    if category.references:
        out.append(f"{indent}References:")
        out += [f"{indent}  {reference}" for reference in category.references]
    return out


def explain_rule(ruleset: rules.RuleSet, rule: rules.Rule) -> str:
    category = ruleset.category(rule.category)
    out = [
        f"{rule.id}: {rule.title}",
        f"  category:    {rule.category} ({category.title})",
        f"  priority:    {rule.priority}",
        f"  severity:    {rule.severity}",
        f"  engine:      {rule.engine}",
        f"  implies_400: {'yes' if rule.implies_400 else 'no'}",
        f"  source:      {source(rule)}",
        "  match:",
        *(f"    {line}" for line in rules.describe_match(rule.match)),
    ]
    if rule.extract:
        out += ["  extract:", *(f"    {e.pattern}" for e in rule.extract)]
    if rule.explain:
        out += ["  explain:", *_wrap(rule.explain, "    ")]
    if rule.remediation:
        out += ["  remediation:", *_wrap(rule.remediation, "    ")]
    if rule.references:
        out += ["  references:", *(f"    {reference}" for reference in rule.references)]
    if rule.tags:
        out.append(f"  tags:        {', '.join(rule.tags)}")
    if rule.examples:
        out.append("  examples:")
        for example in rule.examples:
            text = example.text.replace("\n", "\n      ")
            out += [f"    {example.category}:", f"      {text}"]
    out += ["", f"Category {category.id}: {category.title}", *category_lines(category)]
    return "\n".join(out) + "\n"


def explain_category(ruleset: rules.RuleSet, category: rules.Category) -> str:
    members = [rule for rule in ruleset.rules if rule.category == category.id]
    out = [f"{category.id}: {category.title}", *category_lines(category)]
    if members:
        out += ["", f"Rules ({len(members)}, highest priority first):"]
        rows = [[rule.id, rule.priority, rule.title] for rule in members]
        out += ["  " + line for line in tabulate(rows, tablefmt="plain").splitlines()]
        out += ["", "Examples:"]
        for rule in members:
            for example in rules.positive_examples(rule)[:1]:
                out.append(f"  {example.text.splitlines()[-1]}")
    return "\n".join(out) + "\n"


def explain(ruleset: rules.RuleSet, name: str) -> str:
    """What `rules explain NAME` prints for a rule id or a category id."""
    rule = ruleset.rule(name)
    if rule is not None:
        return explain_rule(ruleset, rule)
    if name in ruleset.categories:
        return explain_category(ruleset, ruleset.categories[name])
    known = [*ruleset.categories, *(rule.id for rule in ruleset.rules)]
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; `logscan rules list` shows the rule ids"
    raise UsageError(f"'{name}' is neither a rule id nor a category id{hint}")


# --- `rules suggest` --------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    text: str  # the YAML rule file
    stubs: int
    skipped: int


def suggest(
    result_clusters: cluster.Clusters,
    ruleset: rules.RuleSet,
    rule_paths: Sequence[Path],
    include_builtin: bool,
) -> Suggestion:
    """A rule file with one stub per cluster of unclassified client-side 400s. Every stub is
    checked as `rules check` would (loaded with the rules in use, its example run through the
    pipeline); a stub that fails is left out and listed with the reason, so the file passes
    `rules check` as it comes out."""
    taken = {rule.id for rule in ruleset.rules}
    stubs, skipped = cluster.stubs_for(result_clusters.clusters, ruleset.categories, taken)
    while stubs:
        failures = _failing_stubs(stubs, rule_paths, include_builtin)
        if not failures:
            break
        for stub in [s for s in stubs if s.id in failures]:
            skipped.append(
                (stub.cluster, f"the drafted rule did not pass its own check: {failures[stub.id]}")
            )
        stubs = [s for s in stubs if s.id not in failures]
    text = cluster.stub_rule_file(stubs, skipped)
    return Suggestion(text, len(stubs), len(skipped))


def _failing_stubs(
    stubs: Sequence[cluster.Stub], rule_paths: Sequence[Path], include_builtin: bool
) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "suggested.yaml"
        path.write_text(cluster.stub_rule_file(stubs), encoding="utf-8")
        try:
            ruleset = rules.load([*rule_paths, path], include_builtin=include_builtin)
        except RuleError as error:
            # A stub that does not load fails as a whole; name it by the lines it covers.
            return {
                stub.id: str(error.problems[0].message) for stub in _stubs_at(stubs, error.problems, path)
            }
        drafted = [rule for rule in ruleset.rules if rule.place.file == str(path)]
        results = run_examples(ruleset, drafted)
        return {r.rule.id: r.problem().message for r in results if not r.passed}


def _stubs_at(stubs: Sequence[cluster.Stub], problems: Sequence[Problem], path: Path) -> list[cluster.Stub]:
    """The stubs whose lines hold one of the problems (every stub if none can be placed)."""
    text = cluster.stub_rule_file(stubs)
    starts = [text.splitlines().index(stub.text.splitlines()[2]) + 1 for stub in stubs]
    lines = [p.line for p in problems if p.file == str(path)]
    hit = {
        stub.id
        for stub, start, end in zip(stubs, starts, [*starts[1:], 10**9], strict=True)
        for line in lines
        if start <= line < end
    }
    return [stub for stub in stubs if stub.id in hit] or list(stubs)
