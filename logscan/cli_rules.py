"""`logscan rules ...`: list, check, test and explain the rules, and draft new ones."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from logscan.cli_common import config_option, echo_input_problems, fail
from logscan.cli_exit import started_up
from logscan.errors import ExitCode, LogscanError

RULES_EPILOG = """\b
Examples:
  What would a scan use, and which engine runs each rule:
    logscan rules list --rules ./my-rules/
  Validate a rule file and run its examples (exit 2 on any problem):
    logscan rules check my-rules.yaml
  Draft rules for the 400s no rule explains, then use them:
    logscan rules suggest /var/log/myapp/ > suggested.yaml
    logscan scan --rules suggested.yaml /var/log/myapp/

\b
The schema is described in rules/README.md.
"""


@click.group(name="rules", epilog=RULES_EPILOG)
def rules_group() -> None:
    """List, check, test and explain the rules that give each 400 its cause, and draft new
    ones for the 400s no rule explains."""
    started_up()


def _rule_context_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--no-builtin-rules", is_flag=True, help="Leave the built-in rules out.")(command)
    command = click.option(
        "--rules",
        "rule_paths",
        multiple=True,
        type=click.Path(exists=True, path_type=Path),
        help="Rule file or folder to load with the built-in rules (repeatable).",
    )(command)
    return config_option(command)


def load_rules(rule_paths: Sequence[Path], no_builtin_rules: bool) -> Any:
    from logscan import rules  # noqa: PLC0415

    return rules.load(rule_paths, include_builtin=not no_builtin_rules)


@rules_group.command(name="list")
@_rule_context_options
def list_rules(rule_paths: tuple[Path, ...], no_builtin_rules: bool) -> None:
    """List the loaded rules, highest priority first: id, category, priority, severity, the
    regex engine that runs it, and the file and line it is written at."""
    from logscan import ruletools  # noqa: PLC0415

    try:
        click.echo(ruletools.render_list(load_rules(rule_paths, no_builtin_rules)), nl=False)
    except LogscanError as error:
        fail(error)


def _checked_rules(
    paths: tuple[Path, ...], rule_paths: tuple[Path, ...], no_builtin_rules: bool
) -> tuple[Any, list[Any], list[Any]]:
    """Load the rules with PATHS, pick the rules of PATHS (all loaded rules if none), and run
    their examples."""
    from logscan import rules, ruletools  # noqa: PLC0415

    ruleset = load_rules([*rule_paths, *paths], no_builtin_rules)
    files = {str(file) for path in paths for file in rules.rule_files(path)}
    selected = ruletools.in_file_order(r for r in ruleset.rules if not files or r.place.file in files)
    return ruleset, selected, ruletools.run_examples(ruleset, selected)


@rules_group.command(name="check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_rule_context_options
def check_rules(paths: tuple[Path, ...], rule_paths: tuple[Path, ...], no_builtin_rules: bool) -> None:
    """Validate the rule files PATHS (files or folders) and run their examples; print the
    engine of each rule. Without PATHS, check every loaded rule. Every problem is printed as
    file:line:column: reason; exit 2 if there is any."""
    from logscan import ruletools  # noqa: PLC0415
    from logscan.errors import RuleError  # noqa: PLC0415

    try:
        ruleset, selected, results = _checked_rules(paths, rule_paths, no_builtin_rules)
        click.echo(ruletools.render_check(ruleset, selected, results), nl=False)
        for note in ruletools.lint_notes(selected):
            click.echo(note)
        failed = [result for result in results if not result.passed]
        if failed:
            raise RuleError([result.problem() for result in failed])
    except LogscanError as error:
        fail(error)
    click.echo(f"ok: {ruletools.plural(len(selected), 'rule')}, {ruletools.plural(len(results), 'example')}")


@rules_group.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_rule_context_options
def test_rules(paths: tuple[Path, ...], rule_paths: tuple[Path, ...], no_builtin_rules: bool) -> None:
    """Run the examples of the rules in PATHS (all loaded rules if none) through the scan
    pipeline, and print each failure as a diff of expected against got. Exit 2 if any fails:
    a failing example is a rule error, like a rule file that does not load."""
    from logscan import ruletools  # noqa: PLC0415

    try:
        _, _, results = _checked_rules(paths, rule_paths, no_builtin_rules)
    except LogscanError as error:
        fail(error)
    click.echo(ruletools.render_test(results), nl=False)
    if any(not result.passed for result in results):
        sys.exit(int(ExitCode.USAGE_OR_RULE_ERROR))


@rules_group.command(name="explain")
@click.argument("name")
@_rule_context_options
def explain_rule(name: str, rule_paths: tuple[Path, ...], no_builtin_rules: bool) -> None:
    """Explain NAME, a rule id or a category id: what it means, what to do about it, how it
    matches, and its examples."""
    from logscan import ruletools  # noqa: PLC0415

    try:
        click.echo(ruletools.explain(load_rules(rule_paths, no_builtin_rules), name), nl=False)
    except LogscanError as error:
        fail(error)


@rules_group.command(name="suggest")
@click.argument("paths", nargs=-1, required=True)
@_rule_context_options
def suggest_rules(paths: tuple[str, ...], rule_paths: tuple[Path, ...], no_builtin_rules: bool) -> None:
    """Scan PATHS, group the 400s no rule explains by message, and print a rule file with one
    stub rule per group: a pattern built from the message template and an example line. The
    file passes `logscan rules check` as printed; edit the categories (they are guesses) and
    give it to `logscan scan --rules`."""
    from logscan import ruletools  # noqa: PLC0415
    from logscan import scan as pipeline  # noqa: PLC0415

    try:
        ruleset = load_rules(rule_paths, no_builtin_rules)
        options = pipeline.ScanOptions(
            paths=paths, rule_paths=rule_paths, include_builtin_rules=not no_builtin_rules
        )
        result = pipeline.run(options, ruleset)
        echo_input_problems(result.files)
        suggestion = ruletools.suggest(result.clusters, ruleset, rule_paths, not no_builtin_rules)
    except LogscanError as error:
        fail(error)
    click.echo(suggestion.text, nl=False)
    unexplained = result.summary.total - result.summary.classified
    summary = f"logscan: {suggestion.stubs} stub rule(s) for {unexplained} unclassified 400(s)"
    if suggestion.skipped:
        summary += f"; {suggestion.skipped} group(s) without a stub are listed at the top of the file"
    click.echo(summary, err=True)
