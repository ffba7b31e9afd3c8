"""The table for people at a terminal, and the table of `logscan formats`."""

from __future__ import annotations

import textwrap

import polars as pl

from logscan import sanitize
from logscan.render.common import (
    CAUSE_HEADERS,
    CLIENT_HEADERS,
    EXAMPLE_HEADERS,
    INPUT_HEADERS,
    NO_TIMESTAMP,
    UNMATCHED_HEADERS,
    RenderOptions,
    bounds_text,
    cause_rows,
    client_rows,
    endpoint_rows,
    example_rows,
    input_problem,
    input_rows,
    inputs_text,
    model_rows,
    one_line,
    other_rows,
    plural,
    remediations,
    report_zone,
    run_text,
    tabulate,
    unmatched_rows,
    when,
)
from logscan.render.trend import TREND_HEADERS, TREND_TITLE, pending_note, trend_note, trend_rows
from logscan.results import FormatSurvey, ScanResult
from logscan.sources import MAX_LINE_BYTES

# How many clusters of unclassified messages the table shows (JSON has them all).
TABLE_CLUSTERS = 5


def render_table(result: ScanResult, options: RenderOptions) -> str:
    summary = result.summary
    style = options.table_style
    read = f"{plural(len(result.files), 'file')}, {plural(result.lines, 'line')} read"
    if summary.total:
        found = (
            f"{plural(summary.total, 'request')} failed with HTTP 400, seen in"
            f" {plural(summary.records, 'record')} ({summary.server_records:,} server,"
            f" {summary.client_records:,} client)"
        )
    else:
        found = "no request to Ollama failed with HTTP 400"
    out: list[str] = [
        f"logscan: {found}; {read}; times in {report_zone(result)}, window {result.window}",
        *_run_lines(result),
        "",
    ]
    if summary.total:
        out += _causes_section(result, style)
        if options.explain:
            out += _explain_section(result)
            out += _examples_section(result, style)
        out += _windows_section(result, style)
        out += _top_section(result, style)
        out += _unmatched_section(result, style)
        out += _clusters_section(result)
    out += _trend_section(result, style)
    out += _other_section(result, style)
    out += _offsets_section(result)
    out += _suppressed_section(result, style)
    if options.coverage:
        out += _coverage_section(result, style)
    out += _input_section(result, style)
    out += report_notes(result)
    # Lines outside the tables (examples, notes, texts of user rule files) are made inert here.
    return sanitize.terminal_lines("\n".join(out).rstrip("\n") + "\n")


def _run_lines(result: ScanResult) -> list[str]:
    run = result.run_info
    if run is None:
        return []
    return [f"Run: {run_text(run)}; bounds: {bounds_text(run)}; inputs: {inputs_text(run)}"]


def _causes_section(result: ScanResult, style: str) -> list[str]:
    headers = [*CAUSE_HEADERS, "first seen", "last seen"]
    return [
        "Causes (failed requests; the records each left in server and client logs)",
        tabulate(cause_rows(result, "Total"), headers=headers, tablefmt=style, colalign=_align(headers, 2)),
        "",
        "What to do",
        *(f"  {category}: {remediation}" for category, remediation in remediations(result)),
        "",
    ]


def _align(headers: list[str], text_columns: int) -> tuple[str, ...]:
    return ("left",) * text_columns + ("right",) * (len(headers) - text_columns)


def _windows_section(result: ScanResult, style: str) -> list[str]:
    windows = result.summary.windows.filter(pl.col("ollama"))
    categories = result.summary.by_category.get_column("category").to_list()
    # Windows without a 400 (rows without a category) are rows of zeros.
    every = windows.select(pl.col("window_start").unique())
    counted = windows.filter(pl.col("category").is_not_null())
    wide = (
        every.join(
            counted.group_by("window_start", "category")
            .agg(pl.col("requests").sum())
            .pivot(on="category", index="window_start", values="requests"),
            on="window_start",
            how="left",
            nulls_equal=True,
        )
        .sort("window_start", nulls_last=True)
        .fill_null(0)
    )
    rows = []
    for row in wide.iter_rows(named=True):
        counts = [row.get(category) or 0 for category in categories]
        label = (
            when(row["window_start"], with_seconds=False, zone=report_zone(result))
            if row["window_start"]
            else NO_TIMESTAMP
        )
        rows.append([label, *counts, sum(counts)])
    headers = ["window start", *categories, "total"]
    return [
        f"Failed requests per {result.window} window",
        tabulate(rows, headers=headers, tablefmt=style, colalign=_align(headers, 1)),
        "",
    ]


def _top_section(result: ScanResult, style: str) -> list[str]:
    summary = result.summary
    out: list[str] = []
    endpoints = endpoint_rows(result)
    models = model_rows(result)
    if endpoints:
        out += [
            "Top endpoints" + _showed_none(summary.no_endpoint),
            tabulate(endpoints, headers=["endpoint", "requests"], tablefmt=style),
            "",
        ]
    if models:
        out += [
            "Top models" + _showed_none(summary.no_model),
            tabulate(models, headers=["model", "requests"], tablefmt=style),
            "",
        ]
    clients = client_rows(result)
    if clients:
        out += [
            "Top clients" + _showed_none(summary.no_client),
            tabulate(clients, headers=CLIENT_HEADERS, tablefmt=style, colalign=_align([*CLIENT_HEADERS], 1)),
            "",
        ]
    return out


def _examples_section(result: ScanResult, style: str) -> list[str]:
    """With --explain: the record that stands for each of the first requests of every cause."""
    rows = example_rows(result)
    if not rows:
        return []
    return [
        "Examples per cause (the first requests of each, by the record that carries the reason)",
        tabulate(rows, headers=EXAMPLE_HEADERS, tablefmt=style),
        "",
    ]


def _showed_none(count: int) -> str:
    return f" ({plural(count, 'request')} showed none)" if count else ""


def _unmatched_section(result: ScanResult, style: str) -> list[str]:
    """Server 400s that no client record explains, per endpoint and client address: whose
    application logs to collect next."""
    if result.unmatched_server.is_empty():
        return []
    return [
        "Server 400s no client record explains (collect the logs of these clients to learn why)",
        tabulate(
            unmatched_rows(result),
            headers=UNMATCHED_HEADERS,
            tablefmt=style,
            colalign=("left", "left", "right", "right", "left"),
        ),
        "",
    ]


def _other_section(result: ScanResult, style: str) -> list[str]:
    summary = result.summary
    if not summary.other_total:
        return []
    return [
        f"Other 400s: {plural(summary.other_total, 'request')} that nothing shows reached Ollama"
        " (the applications answered them themselves); in none of the counts above",
        tabulate(
            other_rows(result),
            headers=["endpoint", "category", "requests"],
            tablefmt=style,
            colalign=_align(["", "", ""], 2),
        ),
        "",
    ]


def _offsets_section(result: ScanResult) -> list[str]:
    found = [offset for offset in result.offsets if offset.source != "none"]
    missing = [offset for offset in result.offsets if offset.source == "none"]
    # A server log with nothing to match against says nothing about its clock.
    if not (result.summary.client_records and result.summary.server_records):
        missing = []
    if not found and not missing:
        return []
    lines = ["Clock offsets (applied to the server files' times before matching)"]
    lines += [f"  {offset.describe()}" for offset in found]
    if missing:
        lines.append(
            f"  {plural(len(missing), 'other server log')}: no offset estimated (too few requests"
            " matched without ambiguity), read as written"
        )
    return [*lines, ""]


def _trend_section(result: ScanResult, style: str) -> list[str]:
    if result.trends is None:
        return []
    table = tabulate(
        trend_rows(result.trends), headers=TREND_HEADERS, tablefmt=style, colalign=_align([*TREND_HEADERS], 1)
    )
    pending = pending_note(result)
    return [
        TREND_TITLE,
        *([table] if result.trends else []),
        trend_note(result),
        *([pending] if pending else []),
        "",
    ]


def _input_section(result: ScanResult, style: str) -> list[str]:
    return [
        "Input",
        tabulate(
            input_rows(result),
            headers=INPUT_HEADERS,
            tablefmt=style,
            colalign=("left",) * 3 + ("right",) * 3 + ("left",),
        ),
        "",
    ]


def _input_notes(result: ScanResult) -> list[str]:
    totals = result.input_totals
    notes = []
    if totals.skipped or totals.failed or totals.lines_cut or totals.hole_bytes:
        notes.append(
            f"- Read: {totals.bytes:,} bytes, {plural(totals.lines, 'line')} ({totals.lines_used:,} scanned,"
            f" {totals.lines_skipped:,} skipped), {plural(totals.records, 'record')};"
            f" {totals.skipped:,} skipped and {totals.failed:,} failed of {plural(totals.files, 'input')}."
        )
    if totals.lines_cut:
        notes.append(
            f"- {plural(totals.lines_cut, 'line')} longer than {MAX_LINE_BYTES // 1024} KiB"
            f" {'was matched on its' if totals.lines_cut == 1 else 'were matched on their'} first"
            f" {MAX_LINE_BYTES // 1024} KiB; the rest was read past."
        )
    if totals.hole_bytes:
        notes.append(f"- {totals.hole_bytes:,} bytes in holes of sparse files were skipped, not read.")
    if totals.skipped:
        notes.append(
            f"- {plural(totals.skipped, 'input')} skipped ({totals.lines_skipped:,} lines read"
            " to decide, not scanned); see 'problem' above."
        )
    if totals.empty:
        notes.append(f"- {plural(totals.empty, 'file')} empty.")
    return notes


def report_notes(result: ScanResult) -> list[str]:
    summary = result.summary
    notes: list[str] = []
    if summary.total:
        share = summary.classified / summary.total
        fired = result.coverage.filter(pl.col("hits") > 0).height
        notes.append(
            f"- Explained by a rule: {summary.classified:,} of {plural(summary.total, 'request')}"
            f" ({share:.1%}; {result.rules_loaded} rules loaded, {fired} fired). Unclassified:"
            f" {summary.total - summary.classified:,}."
        )
        if summary.records > summary.total or (summary.server_records and summary.client_records):
            notes.append(
                f"- A request is one failed HTTP request: the records it left (Ollama's access line, a"
                f" proxy's, the client's access line and the exception with the reason) count once."
                f" {_join_note(result)}"
            )
    if result.suppressed_total:
        notes.append(
            f"- {plural(result.suppressed_total, '400 record')} suppressed by rule files: counted under"
            " 'Suppressed', in none of the totals."
        )
    notes += [f"- Slow rule: {timeout}." for timeout in result.regex_timeouts]
    if summary.untimed:
        notes.append(
            f"- {plural(summary.untimed, 'request')} carry no timestamp: they are in the totals and"
            f" in the '{NO_TIMESTAMP}' row."
        )
    if result.excluded.outside or result.excluded.untimed:
        notes.append(
            f"- Left out by --since/--until: {result.excluded.outside:,} outside the bounds and"
            f" {result.excluded.untimed:,} without a timestamp."
        )
    zoned = [report for report in result.files if report.zone and report.zone != result.assume_tz]
    if zoned:
        shown = ", ".join(f"{report.name} ({report.zone})" for report in zoned[:3])
        more = f" and {len(zoned) - 3:,} more" if len(zoned) > 3 else ""
        notes.append(
            f"- Zone-less times of {plural(len(zoned), 'server log')} were read in the offset their other"
            f" lines show, not in {result.assume_tz}: {shown}{more}."
        )
    unknown = sum(report.unknown_lines for report in result.files)
    if unknown:
        notes.append(
            f"- {plural(unknown, 'line')} matched no known log format and"
            f" {'was' if unknown == 1 else 'were'} scanned as plain text (see `logscan formats PATH`)."
        )
    replaced = sum(report.replaced_lines for report in result.files)
    if replaced:
        notes.append(
            f"- {replaced:,} lines had bytes that are not UTF-8; they were read with U+FFFD in their place."
        )
    notes += _input_notes(result)
    if result.unreadable:
        notes.append(
            f"- {plural(len(result.unreadable), 'file')} could not be read completely; see 'problem' above."
        )
    return ["Notes", *notes] if notes else []


def _join_note(result: ScanResult) -> str:
    stats = result.join_stats
    parts = [
        f"{plural(stats.stitched_records, 'record')} joined to another of the same file",
        f"{plural(stats.joined_pairs, 'server record')} matched to a client record",
    ]
    if stats.ambiguous_pairs:
        parts.append(
            f"{plural(stats.ambiguous_pairs, 'server record')} matched only ambiguously (several"
            " candidates in the match window): counted with a request, not given its cause"
        )
    return "; ".join(parts) + "."


def _explain_section(result: ScanResult) -> list[str]:
    """Per category present: its explanation, what to do, and what its fired rules add."""
    hits = dict(result.coverage.filter(pl.col("hits") > 0).select("rule_id", "hits").iter_rows())
    out = ["Explanations"]
    for category_id in result.summary.by_category.get_column("category"):
        category = result.categories.get(category_id)
        if category is None:
            continue
        out.append(f"{category.id}: {category.title}")
        out += _wrapped(category.explanation, "  ")
        if category.remediation or category.steps:
            out.append("  What to do:")
            out += _wrapped(category.remediation, "    ")
            for step in category.steps:
                out += textwrap.wrap(step, 100, initial_indent="    - ", subsequent_indent="      ")
        fired = [rule for rule in result.rules if rule.category == category.id and rule.id in hits]
        if fired:
            out.append("  Rules that fired: " + ", ".join(f"{rule.id} ({hits[rule.id]:,})" for rule in fired))
        for rule in fired:
            if rule.explain or rule.remediation:
                out.append(f"    {rule.id}: {rule.title}")
                out += _wrapped(rule.explain, "      ")
                out += _wrapped(rule.remediation and f"Fix: {rule.remediation}", "      ")
        out.append("")
    return out


def _wrapped(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, 100, initial_indent=indent, subsequent_indent=indent) if text else []


def _clusters_section(result: ScanResult) -> list[str]:
    clusters = result.clusters.clusters
    if not clusters:
        return []
    zone = report_zone(result)
    shown = clusters[:TABLE_CLUSTERS]
    which = (
        f"top {len(shown)} of {len(clusters)}" if len(clusters) > len(shown) else plural(len(shown), "group")
    )
    out = [
        f"Unclassified requests by message ({which};"
        " `logscan rules suggest PATH...` drafts rules for the client-side ones)"
    ]
    for cluster in shown:
        span = (
            f"{when(cluster.first_seen, zone=zone)} .. {when(cluster.last_seen, zone=zone)}"
            if cluster.first_seen
            else NO_TIMESTAMP
        )
        out.append(f"  {cluster.count:,} {cluster.side}, {span}")
        out.append(f"    {one_line(cluster.template)}")
        out += [
            f"    e.g. {sanitize.terminal(e.file)}:{e.line}: {one_line(e.message)}" for e in cluster.examples
        ]
    if result.clusters.unclustered:
        out.append(f"  {result.clusters.unclustered:,} more in rarer message shapes, not grouped")
    return [*out, ""]


def _suppressed_section(result: ScanResult, style: str) -> list[str]:
    if not result.suppressed_total:
        return []
    rows = [list(row) for row in result.suppressed.iter_rows()]
    headers = ["suppressed by", "rule", "category", "records"]
    return [
        "Suppressed (in none of the counts above)",
        tabulate(rows, headers=headers, tablefmt=style, colalign=_align(headers, 3)),
        "",
    ]


def _coverage_section(result: ScanResult, style: str) -> list[str]:
    fired = result.coverage.filter(pl.col("hits") > 0)
    never = result.never_fired
    out = [f"Rule coverage: {fired.height} of {plural(result.coverage.height, 'rule')} fired on this input"]
    if fired.height:
        headers = ["rule", "category", "requests"]
        out.append(tabulate(fired.rows(), headers=headers, tablefmt=style, colalign=_align(headers, 2)))
    if never:
        out.append(f"Never fired ({len(never)}):")
        out += textwrap.wrap(", ".join(never), 100, initial_indent="  ", subsequent_indent="  ")
    return [*out, ""]


def render_formats(surveys: list[FormatSurvey], options: RenderOptions) -> str:
    """`logscan formats`: each file's envelopes and format, and the lines each parser took."""
    shape_names = list(dict.fromkeys(name for survey in surveys for name in survey.line_shapes))
    rows = [
        [
            survey.report.name,
            survey.report.envelopes or "-",
            survey.report.format,
            survey.report.compression if survey.report.compression != "none" else "",
            survey.report.lines,
            *(survey.line_shapes.get(name, 0) for name in shape_names),
            input_problem(survey.report),
        ]
        for survey in surveys
    ]
    headers = ["file", "envelopes", "format", "compressed", "lines", *shape_names, "problem"]
    table = tabulate(rows, headers=headers, tablefmt=options.table_style)
    return sanitize.terminal_lines(
        f"{table}\n\nLines per parser: a line counts for the first format whose parser recognises it;"
        " 'continuation' lines (indented, tracebacks, brackets) belong to the record above;"
        " 'unknown' lines are scanned as plain text.\n"
    )
