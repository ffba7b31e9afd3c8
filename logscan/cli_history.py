"""`logscan history`: the runs stored in a --state file, in every output format. It reads the
state without its run lock, so it works while a run is going (and sees the state before or
after that run's commit, never half of it)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from logscan import sanitize
from logscan.cli_common import fail
from logscan.cli_exit import started_up
from logscan.errors import LogscanError

HISTORY_FORMATS = ("table", "csv", "json", "markdown", "ndjson", "prom")
_FIGURES = ("run", "started_at", "finished_at", "first_event", "last_event", "files", "bytes", "lines")


@click.command("history")
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The state file of `logscan scan --state`.",
)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(HISTORY_FORMATS),
    default="table",
    show_default=True,
    help="table, csv, markdown: a row per run, oldest first; json: a document of the runs;"
    " ndjson: a run per line; prom: the last run's figures as Prometheus gauges.",
)
@click.option("--last", type=click.IntRange(min=1), metavar="N", help="Only the last N runs.")
def history_command(state_path: Path, output_format: str, last: int | None) -> None:
    """Show the runs stored in a --state FILE: when each ran, the times of the first and last
    400 it counted, what it read (files, bytes, lines), its failed requests in total and per
    cause category, and the records over the bound on waiting ones that it counted at once."""
    started_up()
    from logscan.state import read_history  # noqa: PLC0415

    try:
        runs = list(reversed(read_history(state_path, last)))
    except LogscanError as error:
        fail(error)
    categories = sorted({category for run in runs for category in run.requests})
    # People read whole seconds; the machine formats keep the stored precision.
    timespec = "seconds" if output_format in ("table", "markdown") else "auto"
    rows = [_row(run, categories, timespec) for run in runs]
    headers = [*_FIGURES, "requests", *categories, "pending_over_bound"]
    if output_format == "prom":
        text = _prom(runs[-1] if runs else None)
    elif output_format == "json":
        text = json.dumps({"runs": [_document(run) for run in runs]}, indent=2, ensure_ascii=False) + "\n"
    elif output_format == "ndjson":
        text = "".join(json.dumps(_document(run), ensure_ascii=False) + "\n" for run in runs)
    elif output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([headers, *rows])
        text = buffer.getvalue()
    else:
        from tabulate import tabulate  # noqa: PLC0415

        style = "pipe" if output_format == "markdown" else "simple"
        text = tabulate(rows, headers=headers, tablefmt=style, disable_numparse=True) + "\n" if runs else ""
        if not runs:
            text = "No run stored yet.\n"
    click.echo(sanitize.terminal_lines(text) if output_format in ("table", "markdown") else text, nl=False)


def _time(moment: datetime | None, timespec: str = "auto") -> str:
    return "" if moment is None else moment.isoformat(timespec=timespec)


def _row(run: Any, categories: Sequence[str], timespec: str) -> list[Any]:
    return [
        run.run_id,
        _time(run.started_at, timespec),
        _time(run.finished_at, timespec),
        _time(run.first_event, timespec),
        _time(run.last_event, timespec),
        run.files,
        run.bytes,
        run.lines,
        run.total_requests,
        *(run.requests.get(category, 0) for category in categories),
        run.pending_dropped,
    ]


def _document(run: Any) -> dict[str, Any]:
    return {
        "run": run.run_id,
        "started_at": _time(run.started_at) or None,
        "finished_at": _time(run.finished_at) or None,
        "first_event": _time(run.first_event) or None,
        "last_event": _time(run.last_event) or None,
        "files": run.files,
        "bytes": run.bytes,
        "lines": run.lines,
        "requests": run.total_requests,
        "per_category": dict(run.requests),
        "pending_over_bound": run.pending_dropped,
    }


def _prom(run: Any) -> str:
    """The last stored run as gauges (no timestamps: the textfile collector refuses them)."""
    from logscan.render.prom import label_value  # noqa: PLC0415

    if run is None:
        return ""
    lines: list[str] = []

    def family(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
        lines.extend(f"{name}{labels} {value!r}" for labels, value in samples)

    family(
        "logscan_stored_run_failed_requests",
        "Requests to Ollama that failed with HTTP 400 in the last stored run, by cause.",
        [
            (f'{{category="{label_value(category)}"}}', count)
            for category, count in sorted(run.requests.items())
        ],
    )
    family(
        "logscan_stored_run_finished_timestamp_seconds",
        "When the last stored run finished, in seconds since the Unix epoch.",
        [("", round(run.finished_at.timestamp(), 3))],
    )
    family(
        "logscan_stored_run_duration_seconds",
        "How long the last stored run took.",
        [("", round((run.finished_at - run.started_at).total_seconds(), 3))],
    )
    family("logscan_stored_run_files", "Files the last stored run planned to read.", [("", run.files)])
    family("logscan_stored_run_bytes", "New bytes the last stored run read.", [("", run.bytes)])
    family("logscan_stored_run_lines", "Lines the last stored run read.", [("", run.lines)])
    return "\n".join(lines) + "\n"
