"""Markdown: GitHub-flavoured pipe tables to paste into an incident write-up or a chat."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from logscan import sanitize
from logscan.render.common import (
    CAUSE_HEADERS,
    CLIENT_HEADERS,
    EXAMPLE_HEADERS,
    INPUT_HEADERS,
    UNMATCHED_HEADERS,
    RenderOptions,
    bounds_text,
    cause_rows,
    client_rows,
    endpoint_rows,
    example_rows,
    headline_facts,
    input_rows,
    inputs_text,
    model_rows,
    one_line,
    other_rows,
    plural,
    remediations,
    report_zone,
    run_text,
    unmatched_rows,
    when,
)
from logscan.render.trend import TREND_HEADERS, TREND_TITLE, pending_note, trend_note, trend_rows
from logscan.results import ScanResult

# How many example lines of each unclassified cluster are shown, and how many clusters.
EXAMPLES_PER_CLUSTER = 3
MARKDOWN_CLUSTERS = 5
# Characters that would end a cell (|), open code (`), or be read as HTML or an escape.
_MARKDOWN_SPECIALS = str.maketrans({"\\": "\\\\", "|": "\\|", "`": "\\`", "<": "&lt;", ">": "&gt;"})


def cell(text: str) -> str:
    """``text`` as the content of a pipe-table cell: on one line, inert in a terminal (see
    sanitize.terminal), and shown as written by a Markdown renderer."""
    return sanitize.terminal(text).translate(_MARKDOWN_SPECIALS)


def _table(rows: Iterable[Sequence[Any]], headers: Sequence[str], align: Sequence[str]) -> str:
    from tabulate import tabulate as _tabulate  # noqa: PLC0415 (start-up time, as in render.common)

    cells = [[cell(value) if isinstance(value, str) else value for value in row] for row in rows]
    return _tabulate(
        cells, headers=[cell(header) for header in headers], tablefmt="github", colalign=tuple(align)
    )


def _section(title: str, table: str) -> list[str]:
    return [f"## {title}", "", table, ""]


def render_markdown(result: ScanResult, options: RenderOptions) -> str:
    del options
    out = _header(result)
    if result.summary.total:
        out += _causes(result)
        out += _examples(result)
        out += _top(result)
        out += _unmatched(result)
        out += _clusters(result)
    out += _trend(result)
    out += _other(result)
    out += _offsets(result)
    out += _inputs(result)
    return sanitize.terminal_lines("\n".join(out).rstrip("\n") + "\n")


def _header(result: ScanResult) -> list[str]:
    return [
        "# logscan: HTTP 400 report",
        "",
        *_run_lines(result),
        *(f"- **{name}:** {cell(value)}" for name, value in headline_facts(result)),
        "",
    ]


def _run_lines(result: ScanResult) -> list[str]:
    run = result.run_info
    if run is None:
        return []
    return [
        f"- **Generated:** {cell(run_text(run))}",
        f"- **Bounds:** {cell(bounds_text(run))}; windows cut in {cell(run.report_tz)}",
        f"- **Inputs named:** {cell(inputs_text(run))}",
    ]


def _causes(result: ScanResult) -> list[str]:
    zone = cell(report_zone(result))
    headers = [*CAUSE_HEADERS, f"first seen ({zone})", f"last seen ({zone})"]
    out = _section(
        "Failed requests by cause",
        _table(
            cause_rows(result, "**Total**"),
            headers,
            ("left", "left", "right", "right", "right", "right", "left", "left"),
        ),
    )
    fixes = remediations(result)
    if fixes:
        out += _section("What to do", _table(fixes, ["category", "remediation"], ("left", "left")))
    return out


def _top(result: ScanResult) -> list[str]:
    out: list[str] = []
    endpoints = endpoint_rows(result)
    models = model_rows(result)
    if endpoints:
        out += _section("Top endpoints", _table(endpoints, ["endpoint", "requests"], ("left", "right")))
    if models:
        out += _section("Top models", _table(models, ["model", "requests"], ("left", "right")))
    clients = client_rows(result)
    if clients:
        title = "Top clients" + _showed_none(result.summary.no_client)
        out += _section(title, _table(clients, CLIENT_HEADERS, ("left", "right", "right")))
    return out


def _showed_none(count: int) -> str:
    return f" ({plural(count, 'request')} showed none)" if count else ""


def _examples(result: ScanResult) -> list[str]:
    rows = example_rows(result)
    if not rows:
        return []
    zone = cell(report_zone(result))
    headers = [f"{header} ({zone})" if header == "time" else header for header in EXAMPLE_HEADERS]
    return _section("Examples per cause", _table(rows, headers, ("left",) * len(headers)))


def _unmatched(result: ScanResult) -> list[str]:
    if result.unmatched_server.is_empty():
        return []
    return _section(
        "Server 400s no client record explains",
        _table(unmatched_rows(result), UNMATCHED_HEADERS, ("left", "left", "right", "right", "left")),
    )


def _clusters(result: ScanResult) -> list[str]:
    shown = result.clusters.clusters[:MARKDOWN_CLUSTERS]
    if not shown:
        return []
    zone = report_zone(result)
    rows = []
    for number, cluster in enumerate(shown, start=1):
        examples = cluster.examples[:EXAMPLES_PER_CLUSTER] or [None]
        for index, example in enumerate(examples):
            first, last = when(cluster.first_seen, zone=zone), when(cluster.last_seen, zone=zone)
            head = [number, cluster.count, cluster.side, first, last]
            template = one_line(cluster.template)
            if index:
                head, template = ["", "", "", "", ""], ""
            where = f"{example.file}:{example.line}" if example else ""
            rows.append([*head, template, where, one_line(example.message) if example else ""])
    headers = ["#", "requests", "side", "first seen", "last seen", "message shape", "example at", "example"]
    more = len(result.clusters.clusters) - len(shown)
    notes = [f"{plural(more, 'more group')} not shown (see `-f json`)."] if more else []
    if result.clusters.unclustered:
        notes.append(f"{result.clusters.unclustered:,} more in rarer message shapes, not grouped.")
    return [
        *_section(
            "Unclassified requests by message",
            _table(rows, headers, ("right", "right", "left", "left", "left", "left", "left", "left")),
        ),
        *([*notes, ""] if notes else []),
    ]


def _other(result: ScanResult) -> list[str]:
    if not result.summary.other_total:
        return []
    return _section(
        "Other 400s (the applications answered them; in none of the counts above)",
        _table(other_rows(result), ["endpoint", "category", "requests"], ("left", "left", "right")),
    )


def _offsets(result: ScanResult) -> list[str]:
    found = [offset for offset in result.offsets if offset.source != "none"]
    # As in the table: a server log with nothing to match against says nothing about its clock.
    matched_both = result.summary.client_records and result.summary.server_records
    missing = sum(offset.source == "none" for offset in result.offsets) if matched_both else 0
    if not found and not missing:
        return []
    rows = [
        [
            offset.server_file,
            offset.reference_file or "-",
            f"{offset.offset.total_seconds():+g}",
            offset.pairs,
            offset.source,
        ]
        for offset in found
    ]
    headers = ["server file", "reference file", "offset (s)", "pairs", "source"]
    title = "Clock offsets (applied to the server files' times before matching)"
    out = (
        _section(title, _table(rows, headers, ("left", "left", "right", "right", "left")))
        if rows
        else [f"## {title}", ""]
    )
    if missing:
        logs = plural(missing, "other server log" if rows else "server log")
        out += [
            f"{logs}: no offset estimated (too few requests matched without ambiguity), read as written.",
            "",
        ]
    return out


def _trend(result: ScanResult) -> list[str]:
    if result.trends is None:
        return []
    align = ("left", *("right",) * (len(TREND_HEADERS) - 2), "left")
    table = _table(trend_rows(result.trends), TREND_HEADERS, align) if result.trends else ""
    pending = pending_note(result)
    return [*_section(TREND_TITLE, table), trend_note(result), "", *([pending, ""] if pending else [])]


def _inputs(result: ScanResult) -> list[str]:
    return _section(
        "Inputs",
        _table(
            input_rows(result), INPUT_HEADERS, ("left", "left", "left", "right", "right", "right", "left")
        ),
    )
