"""The command line: options in, exit codes out. Domain errors become exit codes only here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from logscan import __version__
from logscan.errors import ExitCode, LogscanError, ScanError

SCAN_EPILOG = """\b
Examples:
  After an incident, everything under two folders and a rotated archive:
    logscan scan /var/log/myapp/ ./ollama-logs/ server.log.3.gz
  Nightly from cron, as CSV, with one row per 400 kept for later:
    logscan scan /var/log/ollama/ -f csv -o report.csv --events events.csv
  From journald:
    journalctl -u ollama --since yesterday | logscan scan -

\b
Exit codes: 0 ok, 2 usage or rule-file error, 3 runtime failure.
"""


def _fail(error: LogscanError) -> NoReturn:
    click.echo(f"logscan: error: {error}", err=True)
    sys.exit(int(error.exit_code))


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
    help="Skip format detection: ollama-server, python-logging or plain (see `logscan formats`).",
)
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
    progress: bool | None,
) -> None:
    """Scan PATHS (files, folders, glob patterns, or - for stdin) for HTTP 400s.

    Each 400 is counted once per log record (a line, or a line with its traceback), gets one
    cause category from the rules, and is counted by category and time window. Compressed
    files (.gz, .bz2, .xz, .zst) are read as they are.
    """
    # Imported here so that `--help` does not pay for importing Polars.
    from logscan import render  # noqa: PLC0415
    from logscan import scan as pipeline  # noqa: PLC0415

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
    )
    show_progress = sys.stderr.isatty() if progress is None else progress
    try:
        result = pipeline.run(options, on_progress=_progress_printer() if show_progress else None)
        if show_progress:
            click.echo("", err=True)
        for report in result.unreadable:
            click.echo(f"logscan: warning: {report.name}: {report.error}", err=True)
        text = render.RENDERERS[output_format](result, render.RenderOptions(table_style=table_style))
        _write(render.write_atomically, output, text)
        if events_path is not None:
            _write(render.write_atomically, events_path, render.render_events_csv(result))
    except LogscanError as error:
        _fail(error)


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


def _check_table_style(style: str) -> str:
    from tabulate import tabulate_formats  # noqa: PLC0415

    if style not in tabulate_formats:
        raise click.BadParameter(
            f"'{style}' is not a table style; choose one of: {', '.join(tabulate_formats)}"
        )
    return style


def _write(writer: Callable[[Path, str], None], path: Path | None, text: str) -> None:
    if path is None:
        click.echo(text, nl=False)
        return
    try:
        writer(path, text)
    except OSError as error:
        raise ScanError(f"cannot write {path}: {error.strerror or error}") from error


def _progress_printer() -> Callable[[Any], None]:
    def show(progress: Any) -> None:
        click.echo(
            f"\rlogscan: {progress.files_done}/{progress.files_total} files,"
            f" {progress.bytes_read / 2**20:,.1f} MiB, {progress.occurrences:,} 400s"
            f"  {progress.current[-40:]}\x1b[K",
            err=True,
            nl=False,
        )

    return show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(ExitCode.OK)
