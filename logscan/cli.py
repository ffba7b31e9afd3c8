"""The command line: options in, reports and exit codes out (errors and signals get theirs in cli_exit.py)."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from logscan import __version__, allocator, output
from logscan.cli_common import (
    DEFAULT_TABLE_STYLE,
    QUIET,
    applied_bounds,
    check_table_style,
    config_option,
    config_warning,
    echo_input_problems,
    fail,
    run_info,
    warn,
)
from logscan.cli_exit import MainGroup, run_and_exit, started_up
from logscan.cli_history import history_command
from logscan.cli_progress import ProgressLine, total_bytes
from logscan.cli_rules import load_rules, rules_group
from logscan.errors import ExitCode, LogscanError, ScanError, UsageError

if TYPE_CHECKING:
    from logscan.incremental import IncrementalScan
    from logscan.inputs import Source

SCAN_EPILOG = """\b
Examples:
  After an incident, everything under two folders and a rotated archive:
    logscan scan /var/log/myapp/ ./ollama-logs/ server.log.3.gz
  Nightly from cron, as CSV, with one row per 400 kept for later:
    logscan scan /var/log/ollama/ -f csv -o report.csv --events events.csv
  From journald:
    journalctl -u ollama --since yesterday | logscan scan -

\b
Exit codes: 0 ok; 1 a --fail-above or --fail-on threshold breached (the report
is written first); 2 usage or rule-file error, or a path named on the command
line could not be read (the rest is scanned and reported); 3 runtime failure,
or with --strict any input skipped or not read completely; 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM).
"""


@click.group(
    cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="logscan")
def main() -> None:
    """Find every HTTP 400 in Ollama server logs and in the logs of applications that call
    Ollama, give each one a cause, and count them by cause and time window.

    Start with `logscan scan PATH...`; `logscan scan --help` explains the options.

    Exit codes: 0 ok; 1 a threshold breached; 2 usage or rule-file error; 3 runtime failure;
    130 interrupted (details in `logscan scan --help`).
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
    help="Zone for timestamps in the logs written without one (GIN lines, Python asctime) in files"
    " whose other lines show none: an IANA name (Europe/Berlin), UTC, local (this machine's,"
    " honouring TZ) or an offset (+02:00).",
)
@click.option(
    "--report-tz",
    default="UTC",
    show_default=True,
    metavar="ZONE",
    help="Zone of the report (same forms as --assume-tz): windows are cut in it (--window 1d days"
    " start at its midnight, 23 or 25 h long on DST days), times are shown in it with their offset,"
    " and zone-less --since/--until and today/yesterday are read in it.",
)
@click.option(
    "--match-window",
    default="3s",
    show_default=True,
    metavar="DURATION",
    help="How far apart in time the server's and the client's records of one request may be.",
)
@click.option(
    "--server-offset",
    "server_offsets",
    multiple=True,
    metavar="[FILE=]OFFSET",
    help="Clock offset of the server logs (or of one server FILE) instead of the estimated one,"
    " as a signed duration: +2h means the server's clock runs 2 h behind the clients'. Repeatable.",
)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json", "markdown", "html", "ndjson", "prom"]),
    default="table",
    show_default=True,
    help="table: summary for people; csv: the windows (window_start, window_end, category, ollama,"
    " requests, server_records, client_records); json: everything; markdown: pipe tables for an"
    " incident write-up; html: one self-contained page with a chart; ndjson: one window and cause"
    " per line; prom: Prometheus text for the node_exporter textfile collector.",
)
@click.option(
    "--table-style",
    callback=lambda _ctx, _param, value: check_table_style(value),
    default=DEFAULT_TABLE_STYLE,
    show_default=True,
    metavar="STYLE",
    help="Any tabulate format, e.g. github, grid, plain, pipe.",
)
@click.option(
    "-o",
    "--output",
    "report_path",
    metavar="FILE",
    help="Write the report to FILE instead of stdout: a regular file atomically (a temporary"
    " file renamed into place), a device or FIFO in place; - is stdout.",
)
@click.option(
    "--events",
    "events_path",
    metavar="FILE",
    help="Also write one CSV row per 400 record to FILE (- for stdout): file, line, end_line,"
    " timestamp, side, status, method, endpoint, model, category (its request's, where it took"
    " one), rule_id, client, format, message, request_id, attribution, matched_file, matched_line.",
)
@click.option(
    "--raw-csv",
    is_flag=True,
    help="Leave CSV cells that start with = + - @ as they are, instead of prefixing a ' so that"
    " a spreadsheet does not run them as formulas.",
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
    help="Count only 400s at or after TIME: ISO 8601 (2025-05-07T06:00, zone-less in --report-tz),"
    " a span back from now (30m, 24h, 7d), or today, yesterday, tomorrow (midnight in --report-tz)"
    " with an optional time of that day ('yesterday 06:00'). 400s without a timestamp are then"
    " left out, and counted.",
)
@click.option(
    "--until",
    metavar="TIME",
    help="Count only 400s before TIME (same forms as --since; --since today --until now is today so far).",
)
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
    "--executor",
    "executor_spec",
    default="local",
    show_default=True,
    metavar="local|dask-local:N|dask",
    help="Where shards of the input are scanned: local worker processes (--jobs), a Dask cluster of"
    " N worker processes started for this run, or the Dask cluster at --scheduler"
    " (pip install 'logscan[dask]'; the same logscan version on every worker).",
)
@click.option(
    "--scheduler",
    envvar="DASK_SCHEDULER_ADDRESS",
    metavar="ADDRESS",
    help="The Dask scheduler of --executor dask, e.g. tcp://10.0.0.5:8786 (or DASK_SCHEDULER_ADDRESS).",
)
@click.option(
    "--storage-option",
    "storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the object store of s3:// (gs://, az://) paths, e.g."
    " endpoint_url=http://127.0.0.1:9000; repeatable. Credentials come from the usual"
    " environment variables and config files.",
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
@click.option(
    "--fail-above",
    type=click.IntRange(min=0),
    metavar="N",
    help="Exit 1 (after writing the report) when more than N requests failed with a 400.",
)
@click.option(
    "--fail-on",
    multiple=True,
    metavar="CATEGORY[=N]",
    help="Exit 1 (after writing the report) when more than N requests (default 0) of CATEGORY"
    " failed. Repeatable.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Incremental runs: read only what was added to each file since the last run with this"
    " state (an SQLite file, created if missing), following rotation, and compare this run's"
    " counts with the stored runs (see `logscan history`). Saved once the report is written;"
    " a second run while one holds FILE fails at once (exit 3), naming the process.",
)
@click.option(
    "--fail-on-new-category",
    is_flag=True,
    help="Exit 1 (after writing the report) when a category appears that no run stored in"
    " --state had. Needs --state.",
)
@config_option
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress on stderr: bytes read of the total, rate, time left. Default: on when stderr"
    " is a terminal (so cron mail stays clean).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only errors and the report: no warnings, notices or progress. Exit codes still"
    " tell of unread inputs and breached thresholds.",
)
def scan(
    paths: tuple[str, ...],
    rule_paths: tuple[Path, ...],
    no_builtin_rules: bool,
    window: str,
    assume_tz: str,
    report_tz: str,
    match_window: str,
    server_offsets: tuple[str, ...],
    output_format: str,
    table_style: str,
    report_path: str | None,
    events_path: str | None,
    raw_csv: bool,
    top: int,
    since: str | None,
    until: str | None,
    format_hint: str | None,
    jobs: int,
    executor_spec: str,
    scheduler: str | None,
    storage_options: tuple[str, ...],
    coverage: bool,
    explain: bool,
    follow: bool,
    binary: bool,
    max_decompressed: str,
    strict: bool,
    fail_above: int | None,
    fail_on: tuple[str, ...],
    state_path: Path | None,
    fail_on_new_category: bool,
    progress: bool | None,
    quiet: bool,
) -> None:
    """Scan PATHS (files, folders, glob patterns, or - for stdin) for HTTP 400s.

    The unit is the failed request. One request leaves several records: Ollama's access line,
    a proxy's, the client library's access line and the exception that carries the reason. The
    records of one request in a file are joined, and a server record is matched to the client
    record of the same request (same endpoint, times within --match-window after each server
    log's clock offset, estimated or given), so that it takes the client's cause. Each request
    gets one cause category from the rules and is counted by category and time window; the
    records per side are shown beside.

    Compressed files (.gz, .bz2, .xz, .zst) are read as they are, and the members of .zip and
    .tar archives as ARCHIVE:MEMBER. Binary files, FIFOs, devices and links met in folders are
    skipped with a notice; every input skipped or not read completely is a row with its
    reason in the Input table.
    """
    started = time.monotonic()
    if (coverage or explain) and output_format != "table":
        fail(
            UsageError(
                "--coverage and --explain add sections to the table report;"
                " -f json always includes coverage and explanations"
            )
        )
    # Imported here, as the pipeline below, so that `--help` costs nothing of them.
    from logscan import executors, inputs, objectstore, sources, workers  # noqa: PLC0415

    click.get_current_context().meta[QUIET] = quiet
    config_warning()
    show_progress = not quiet and (sys.stderr.isatty() if progress is None else progress)
    try:
        from logscan import thresholds  # noqa: PLC0415

        limits = thresholds.limits(fail_above, fail_on)
        # Outputs first: one that cannot be written fails now, not after reading every input.
        report_out, events_out = _prepared_outputs(report_path, events_path)
        read_policy = inputs.ReadPolicy(
            follow_symlinks=follow,
            binary=binary,
            max_decompressed_bytes=inputs.parse_size(max_decompressed, "--max-decompressed"),
        )
        sources_list = sources.expand(paths, read_policy, objectstore.parse_options(storage_options))
        executors.one_polars_thread_for_small_input(total_bytes(sources_list))
        state, sources_list = _incremental_scan(state_path, fail_on_new_category, sources_list)
        progress_line = ProgressLine(total_bytes(sources_list)) if show_progress else None
        # Workers (for a large input) start before this process imports Polars, and import it
        # meanwhile. Occurrences kept for --events wait on disk until they are written out.
        with (
            report_out or contextlib.nullcontext(),
            events_out or contextlib.nullcontext(),
            tempfile.TemporaryDirectory(prefix="logscan-events-") as spill_dir,
            executors.opened(executor_spec, scheduler) as cluster,
            workers.started(sources_list, jobs) if cluster is None else contextlib.nullcontext() as pool,
            state.db if state is not None else contextlib.nullcontext(),
        ):
            from logscan import render  # noqa: PLC0415
            from logscan import scan as pipeline  # noqa: PLC0415

            if rule_paths:
                from logscan import ruletools  # noqa: PLC0415

                # User files are small: their examples are checked on every scan, so a rule that
                # does not do what its author meant is an error, not a silent miscount.
                ruletools.check_user_examples(load_rules(rule_paths, no_builtin_rules))
            options = pipeline.ScanOptions(
                paths=paths,
                rule_paths=rule_paths,
                include_builtin_rules=not no_builtin_rules,
                window=window,
                assume_tz=assume_tz,
                report_tz=report_tz,
                top=top,
                since=since,
                until=until,
                format_hint=format_hint,
                jobs=jobs,
                keep_events=events_out is not None,
                match_window=match_window,
                read_policy=read_policy,
                **_server_offsets(server_offsets),
            )
            options, bounds = applied_bounds(options)
            started_up()
            result = (state.scan if state is not None else pipeline.run)(
                options,
                sources_list=sources_list,
                on_progress=progress_line,
                spill_dir=Path(spill_dir),
                pool=pool,
                executor=cluster,
            )
            if progress_line is not None:
                progress_line.finish()
            result.run_info = run_info(options, bounds, started)
            echo_input_problems(result.files)
            for timeout in result.regex_timeouts:
                warn(str(timeout))
            server_logs = {offset.server_file for offset in result.offsets}
            for name in sorted(set(options.server_offsets) - server_logs):
                warn(f"--server-offset {name}=...: no server log of this scan has that name; ignored")
            render_options = render.RenderOptions(
                table_style=table_style, coverage=coverage, explain=explain, raw_csv=raw_csv
            )
            text = render.RENDERERS[output_format](result, render_options)
            if report_out is None:
                click.echo(text, nl=False)
            else:
                with _writing(report_out):
                    report_out.write(lambda stream: stream.write(text.encode()))
            if events_out is not None:
                with _writing(events_out):
                    events_out.write(lambda stream: render.write_events_csv(result, stream, render_options))
            # Both complete before either replaces its file: a failure leaves both as they were.
            for written in (report_out, events_out):
                if written is not None:
                    with _writing(written):
                        written.commit()
            if state is not None:
                state.commit()
        thresholds.check_categories(limits, result.categories)
        breached = thresholds.breaches(result.summary, limits)
        if fail_on_new_category:
            breached += thresholds.new_categories(result.trends or [])
    except LogscanError as error:
        fail(error)
    for breach in breached:
        click.echo(f"logscan: threshold breached: {breach}", err=True)
    # An input that could not be read says more than a threshold.
    code = _input_exit_code(result.files, strict=strict)
    sys.exit(int(code or (ExitCode.THRESHOLD_BREACHED if breached else ExitCode.OK)))


def _incremental_scan(
    state_path: Path | None, fail_on_new_category: bool, listed: list[Source]
) -> tuple[IncrementalScan | None, list[Source]]:
    """With --state, the run over the locked state and the sources as it reads them; else
    None and the sources as listed."""
    if state_path is None:
        if fail_on_new_category:
            raise UsageError("--fail-on-new-category compares with stored runs: it needs --state FILE")
        return None, listed
    from logscan.incremental import IncrementalScan  # noqa: PLC0415

    state = IncrementalScan.open(state_path)
    return state, state.plan(listed)


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
    "--table-style",
    default=DEFAULT_TABLE_STYLE,
    show_default=True,
    metavar="STYLE",
    help="Any tabulate format.",
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
        started_up()
        surveys = pipeline.survey(pipeline.ScanOptions(paths=paths, format_hint=format_hint))
    except LogscanError as error:
        fail(error)
    click.echo(
        render.render_formats(surveys, render.RenderOptions(table_style=check_table_style(table_style))),
        nl=False,
    )


def _server_offsets(given: Sequence[str]) -> dict[str, Any]:
    """--server-offset values: OFFSET for every server file, FILE=OFFSET for one."""
    per_file = dict(value.rsplit("=", 1) for value in given if "=" in value)
    everywhere = [value for value in given if "=" not in value]
    return {"server_offset": everywhere[-1] if everywhere else None, "server_offsets": per_file}


def _prepared_outputs(
    report_path: str | None, events_path: str | None
) -> tuple[output.Output | None, output.Output | None]:
    """The report's and the events' destinations, checked; None for the report means stdout."""
    report_out = output.prepare(report_path) if report_path is not None else None
    events_out = None
    try:
        events_out = output.prepare(events_path) if events_path is not None else None
        report_key = report_out.key if report_out is not None else output.STDOUT_KEY
        if events_out is not None and events_out.key is not None and events_out.key == report_key:
            where = "stdout" if report_key == output.STDOUT_KEY else f"'{report_path}'"
            raise UsageError(f"the report and --events '{events_path}' would both be written to {where}")
    except BaseException:
        for prepared in (report_out, events_out):
            if prepared is not None:
                prepared.discard()
        raise
    return report_out, events_out


@contextlib.contextmanager
def _writing(destination: output.Output) -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        raise  # the reader left: not a failure to report (see cli_exit.MainGroup)
    except OSError as error:
        raise ScanError(f"cannot write '{destination.shown}': {error.strerror or error}") from error


main.add_command(rules_group)
main.add_command(history_command)


def run() -> NoReturn:
    """The `logscan` program: ``main``, and a prompt end of the process (see run_and_exit)."""
    allocator.configure()
    run_and_exit(main)
