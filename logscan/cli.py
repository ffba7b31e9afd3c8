"""The command line: options in, exit codes out. Domain errors become exit codes only here."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from logscan import __version__
from logscan.errors import ExitCode, LogscanError, ScanError, UsageError

SCAN_EPILOG = """\b
Examples:
  After an incident, everything under two folders and a rotated archive:
    logscan scan /var/log/myapp/ ./ollama-logs/ server.log.3.gz
  Nightly from cron, as CSV, with one row per 400 kept for later:
    logscan scan /var/log/ollama/ -f csv -o report.csv --events events.csv
  From journald:
    journalctl -u ollama --since yesterday | logscan scan -

\b
Exit codes: 0 ok, 2 usage or rule-file error, or a path named on the command
line could not be read (the rest is scanned and reported), 3 runtime failure,
or with --strict any input skipped or not read completely.
"""


def _fail(error: LogscanError) -> NoReturn:
    click.echo(f"logscan: error: {error}", err=True)
    sys.exit(int(error.exit_code))


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """Eager, so it runs before the other options: the config file's values become their
    defaults, and an option given on the command line still wins."""
    from logscan import config  # noqa: PLC0415

    try:
        loaded = config.load(value)
    except LogscanError as error:
        _fail(error)
    names = {param.name for param in ctx.command.params if param.name}
    ctx.default_map = {**loaded.defaults_for(names), **(ctx.default_map or {})}


def _config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=_load_config,
        metavar="FILE",
        help="Take option defaults from this TOML file instead of ./logscan.toml or the"
        " [tool.logscan] table of ./pyproject.toml.",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="logscan")
def main() -> None:
    """Find every HTTP 400 in Ollama server logs and in the logs of applications that call
    Ollama, give each one a cause, and count them by cause and time window.

    Start with `logscan scan PATH...`; `logscan scan --help` explains the options.
    """


@main.command(epilog=SCAN_EPILOG)
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra rule file, or folder of *.yaml rule files (repeatable). "
    "A rule with the id of a built-in rule replaces it.",
)
@click.option("--no-builtin-rules", is_flag=True, help="Use only the rules given with --rules.")
@click.option(
    "--window",
    default="1h",
    show_default=True,
    help="Width of the time windows counts are grouped in: a Polars duration such as 5m, 1h, 1d.",
)
@click.option(
    "--assume-tz",
    default="UTC",
    show_default=True,
    metavar="ZONE",
    help="IANA zone for timestamps written without one (GIN lines, Python asctime).",
)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table: summary for people; csv: window_start,window_end,category,side,count; json: everything.",
)
@click.option(
    "--table-style",
    callback=lambda _ctx, _param, value: _check_table_style(value),
    default="simple",
    show_default=True,
    metavar="STYLE",
    help="Any tabulate format, e.g. github, grid, plain, pipe.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report here (atomically) instead of stdout.",
)
@click.option(
    "--events",
    "events_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write one CSV row per 400: file, line, end_line, timestamp, side, status, method, "
    "endpoint, model, category, rule_id, client, format, message.",
)
@click.option(
    "--top",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many endpoints and models to list.",
)
@click.option(
    "--since",
    metavar="TIME",
    help="Count only 400s at or after TIME: ISO 8601 (2025-05-07T06:00, zone-less in --assume-tz) "
    "or a span back from now (30m, 24h, 7d). 400s without a timestamp are then left out, and counted.",
)
@click.option("--until", metavar="TIME", help="Count only 400s before TIME (same forms as --since).")
@click.option(
    "--format-hint",
    metavar="FORMAT",
    help="Skip format detection: ollama-server, python-logging, access-log, json-lines, "
    "timestamped-text or plain (see `logscan formats`).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes for large inputs (about 100 MiB and up); 0 means one per core.",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Add hits per rule and the rules that never fired to the table (JSON always has them).",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Add the full explanation and remediation steps of each cause found to the table.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Follow symbolic links met inside folders (links named on the command line always are).",
)
@click.option("--binary", is_flag=True, help="Read binary files (NUL bytes in the first 32 KiB) as text.")
@click.option(
    "--max-decompressed",
    default="4GiB",
    show_default=True,
    metavar="SIZE",
    help="Stop reading a compressed file or archive member after this much output (0: no cap).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 3 when any input is skipped or cannot be read completely.",
)
@_config_option
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress on stderr. Default: on when stderr is a terminal.",
)
def scan(
    paths: tuple[str, ...],
    rule_paths: tuple[Path, ...],
    no_builtin_rules: bool,
    window: str,
    assume_tz: str,
    output_format: str,
    table_style: str,
    output: Path | None,
    events_path: Path | None,
    top: int,
    since: str | None,
    until: str | None,
    format_hint: str | None,
    jobs: int,
    coverage: bool,
    explain: bool,
    follow: bool,
    binary: bool,
    max_decompressed: str,
    strict: bool,
    progress: bool | None,
) -> None:
    """Scan PATHS (files, folders, glob patterns, or - for stdin) for HTTP 400s.

    Each 400 is counted once per log record (a line, or a line with its traceback), gets one
    cause category from the rules, and is counted by category and time window. Compressed
    files (.gz, .bz2, .xz, .zst) are read as they are, and the members of .zip and .tar
    archives as ARCHIVE:MEMBER. Binary files, FIFOs, devices and links met in folders are
    skipped with a notice; every input skipped or not read completely is a row with its
    reason in the Input table.
    """
    if (coverage or explain) and output_format != "table":
        _fail(
            UsageError(
                "--coverage and --explain add sections to the table report;"
                " -f json always includes coverage and explanations"
            )
        )
    # Imported here, as the pipeline below, so that `--help` costs nothing of them.
    from logscan import inputs, sources, workers  # noqa: PLC0415

    show_progress = sys.stderr.isatty() if progress is None else progress
    try:
        read_policy = inputs.ReadPolicy(
            follow_symlinks=follow,
            binary=binary,
            max_decompressed_bytes=inputs.parse_size(max_decompressed, "--max-decompressed"),
        )
        sources_list = sources.expand(paths, read_policy)
        # Workers (for a large input) start before this process imports Polars, and import it
        # meanwhile. Occurrences kept for --events wait on disk until they are written out.
        with (
            tempfile.TemporaryDirectory(prefix="logscan-events-") as spill_dir,
            workers.started(sources_list, jobs) as pool,
        ):
            from logscan import render, ruletools  # noqa: PLC0415
            from logscan import scan as pipeline  # noqa: PLC0415

            if rule_paths:
                # User files are small: their examples are checked on every scan, so a rule that
                # does not do what its author meant is an error, not a silent miscount.
                ruletools.check_user_examples(_load_rules(rule_paths, no_builtin_rules))
            options = pipeline.ScanOptions(
                paths=paths,
                rule_paths=rule_paths,
                include_builtin_rules=not no_builtin_rules,
                window=window,
                assume_tz=assume_tz,
                top=top,
                since=since,
                until=until,
                format_hint=format_hint,
                jobs=jobs,
                keep_events=events_path is not None,
                read_policy=read_policy,
            )
            result = pipeline.run(
                options,
                sources_list=sources_list,
                on_progress=_progress_printer() if show_progress else None,
                spill_dir=Path(spill_dir),
                pool=pool,
            )
            if show_progress:
                click.echo("", err=True)
            _echo_input_problems(result.files)
            for timeout in result.regex_timeouts:
                click.echo(f"logscan: warning: {timeout}", err=True)
            render_options = render.RenderOptions(table_style=table_style, coverage=coverage, explain=explain)
            text = render.RENDERERS[output_format](result, render_options)
            if output is None:
                click.echo(text, nl=False)
            else:
                _write(output, lambda: render.write_atomically(output, text))
            if events_path is not None:
                _write(events_path, lambda: render.write_events_csv(result, events_path))
    except LogscanError as error:
        _fail(error)
    sys.exit(int(_input_exit_code(result.files, strict=strict)))


def _echo_input_problems(reports: Sequence[Any]) -> None:
    """Each input not read, or not read completely, on stderr with its reason."""
    from logscan.inputs import STDIN_NAME  # noqa: PLC0415

    for report in reports:
        if report.error:
            click.echo(f"logscan: warning: {report.name}: {report.error}", err=True)
        elif report.skipped:
            click.echo(f"logscan: notice: {report.name}: skipped: {report.skipped}", err=True)
        elif report.empty and report.name != STDIN_NAME:
            click.echo(f"logscan: notice: {report.name}: empty", err=True)


def _input_exit_code(reports: Sequence[Any], *, strict: bool) -> ExitCode:
    """2 when a path named on the command line could not be read (as grep), else with
    ``strict`` 3 when any input was skipped or not read completely."""
    if any(report.named and report.error for report in reports):
        return ExitCode.USAGE_OR_RULE_ERROR
    if strict and any(report.error or report.skipped for report in reports):
        return ExitCode.RUNTIME_FAILURE
    return ExitCode.OK


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format-hint", metavar="FORMAT", help="Force a format instead of detecting it.")
@click.option(
    "--table-style", default="simple", show_default=True, metavar="STYLE", help="Any tabulate format."
)
def formats(paths: tuple[str, ...], format_hint: str | None, table_style: str) -> None:
    """Show how each file in PATHS is read: the envelopes peeled off (journald, Docker,
    compose), the format detected, and how many lines each parser recognises.

    Use it when a scan finds fewer 400s than expected: lines counted as 'unknown' are only
    scanned as plain text.
    """
    from logscan import render  # noqa: PLC0415
    from logscan import scan as pipeline  # noqa: PLC0415

    try:
        surveys = pipeline.survey(pipeline.ScanOptions(paths=paths, format_hint=format_hint))
    except LogscanError as error:
        _fail(error)
    click.echo(
        render.render_formats(surveys, render.RenderOptions(table_style=_check_table_style(table_style))),
        nl=False,
    )


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


@main.group(name="rules", epilog=RULES_EPILOG)
def rules_group() -> None:
    """List, check, test and explain the rules that give each 400 its cause, and draft new
    ones for the 400s no rule explains."""


def _rule_context_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--no-builtin-rules", is_flag=True, help="Leave the built-in rules out.")(command)
    command = click.option(
        "--rules",
        "rule_paths",
        multiple=True,
        type=click.Path(exists=True, path_type=Path),
        help="Rule file or folder to load with the built-in rules (repeatable).",
    )(command)
    return _config_option(command)


def _load_rules(rule_paths: Sequence[Path], no_builtin_rules: bool) -> Any:
    from logscan import rules  # noqa: PLC0415

    return rules.load(rule_paths, include_builtin=not no_builtin_rules)


@rules_group.command(name="list")
@_rule_context_options
def list_rules(rule_paths: tuple[Path, ...], no_builtin_rules: bool) -> None:
    """List the loaded rules, highest priority first: id, category, priority, severity, the
    regex engine that runs it, and the file and line it is written at."""
    from logscan import ruletools  # noqa: PLC0415

    try:
        click.echo(ruletools.render_list(_load_rules(rule_paths, no_builtin_rules)), nl=False)
    except LogscanError as error:
        _fail(error)


def _checked_rules(
    paths: tuple[Path, ...], rule_paths: tuple[Path, ...], no_builtin_rules: bool
) -> tuple[Any, list[Any], list[Any]]:
    """Load the rules with PATHS, pick the rules of PATHS (all loaded rules if none), and run
    their examples."""
    from logscan import rules, ruletools  # noqa: PLC0415

    ruleset = _load_rules([*rule_paths, *paths], no_builtin_rules)
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
        _fail(error)
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
        _fail(error)
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
        click.echo(ruletools.explain(_load_rules(rule_paths, no_builtin_rules), name), nl=False)
    except LogscanError as error:
        _fail(error)


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
        ruleset = _load_rules(rule_paths, no_builtin_rules)
        options = pipeline.ScanOptions(
            paths=paths, rule_paths=rule_paths, include_builtin_rules=not no_builtin_rules
        )
        result = pipeline.run(options, ruleset)
        _echo_input_problems(result.files)
        suggestion = ruletools.suggest(result.clusters, ruleset, rule_paths, not no_builtin_rules)
    except LogscanError as error:
        _fail(error)
    click.echo(suggestion.text, nl=False)
    unexplained = result.summary.total - result.summary.classified
    summary = f"logscan: {suggestion.stubs} stub rule(s) for {unexplained} unclassified 400(s)"
    if suggestion.skipped:
        summary += f"; {suggestion.skipped} group(s) without a stub are listed at the top of the file"
    click.echo(summary, err=True)


def _check_table_style(style: str) -> str:
    from tabulate import tabulate_formats  # noqa: PLC0415

    if style not in tabulate_formats:
        raise click.BadParameter(
            f"'{style}' is not a table style; choose one of: {', '.join(tabulate_formats)}"
        )
    return style


def _write(path: Path, write: Callable[[], None]) -> None:
    try:
        write()
    except OSError as error:
        raise ScanError(f"cannot write {path}: {error.strerror or error}") from error


def _progress_printer() -> Callable[[Any], None]:
    def show(progress: Any) -> None:
        click.echo(
            f"\rlogscan: {progress.files_done}/{progress.files_total} files,"
            f" {progress.bytes_read / 2**20:,.1f} MiB, {progress.occurrences:,} 400s"
            f"  {Path(progress.current).name}\x1b[K",
            err=True,
            nl=False,
        )

    return show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(ExitCode.OK)
