"""Bytes out: one function per output format, all with the same signature, plus the events
CSV. Nothing here filters or aggregates. Text from logs and file names is made harmless for
where it goes (see sanitize.py): terminal escapes shown, spreadsheet formulas not run."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

import polars as pl
from tabulate import tabulate as _tabulate

from logscan import sanitize
from logscan.aggregate import WINDOW_COLUMNS
from logscan.results import FileReport, FormatSurvey, ScanResult
from logscan.sources import MAX_LINE_BYTES

EVENT_COLUMNS = (
    "file", "line", "end_line", "timestamp", "side", "status", "method", "endpoint", "model",
    "category", "rule_id", "client", "format", "message", "request_id", "attribution",
    "matched_file", "matched_line",
)  # fmt: skip
_ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
_NO_TIMESTAMP = "no timestamp"


@dataclass(frozen=True)
class RenderOptions:
    table_style: str = "simple"
    coverage: bool = False  # table: hits per rule and the rules that never fired
    explain: bool = False  # table: the full explanation and steps of each category present
    raw_csv: bool = False  # CSV: cells that start like a formula are left as they are


# How many clusters of unclassified messages the table shows (JSON has them all).
TABLE_CLUSTERS = 5
_EXAMPLE_CHARS = 160


def tabulate(rows: Iterable[Sequence[Any]], headers: Sequence[str] = (), **options: Any) -> str:
    """tabulate, with every text cell shown on one line and inert (see sanitize.terminal): a
    newline in a file name would otherwise forge a row. Named as the function it wraps, so
    that no table of this module can bypass it."""
    cells = [[sanitize.terminal(cell) if isinstance(cell, str) else cell for cell in row] for row in rows]
    return _tabulate(cells, headers=headers, **options)


def _when(value: datetime | None, with_seconds: bool = True) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def render_table(result: ScanResult, options: RenderOptions) -> str:
    summary = result.summary
    style = options.table_style
    read = f"{_plural(len(result.files), 'file')}, {_plural(result.lines, 'line')} read"
    if summary.total:
        found = (
            f"{_plural(summary.total, 'request')} failed with HTTP 400, seen in"
            f" {_plural(summary.records, 'record')} ({summary.server_records:,} server,"
            f" {summary.client_records:,} client)"
        )
    else:
        found = "no request to Ollama failed with HTTP 400"
    out: list[str] = [f"logscan: {found}; {read}; times in UTC, window {result.window}", ""]
    if summary.total:
        out += _causes_section(result, style)
        if options.explain:
            out += _explain_section(result)
        out += _windows_section(result, style)
        out += _top_section(result, style)
        out += _unmatched_section(result, style)
        out += _clusters_section(result)
    out += _other_section(result, style)
    out += _offsets_section(result)
    out += _suppressed_section(result, style)
    if options.coverage:
        out += _coverage_section(result, style)
    out += _input_section(result, style)
    out += _notes(result)
    # Lines outside the tables (examples, notes, texts of user rule files) are made inert here.
    return sanitize.terminal_lines("\n".join(out).rstrip("\n") + "\n")


def _causes_section(result: ScanResult, style: str) -> list[str]:
    summary = result.summary
    rows = [
        [
            result.categories[row["category"]].title
            if row["category"] in result.categories
            else row["category"],
            row["category"],
            row["requests"],
            f"{row['share']:.1%}",
            row["server_records"],
            row["client_records"],
            _when(row["first_seen"]),
            _when(row["last_seen"]),
        ]
        for row in summary.by_category.iter_rows(named=True)
    ]
    rows.append(
        ["Total", "", summary.total, "100.0%", summary.server_records, summary.client_records, "", ""]
    )
    headers = [
        "cause",
        "category",
        "requests",
        "share",
        "server records",
        "client records",
        "first seen",
        "last seen",
    ]
    fixes = [
        f"  {row['category']}: {result.categories[row['category']].remediation}"
        for row in summary.by_category.iter_rows(named=True)
        if row["category"] in result.categories and result.categories[row["category"]].remediation
    ]
    return [
        "Causes (failed requests; the records each left in server and client logs)",
        tabulate(rows, headers=headers, tablefmt=style, colalign=_align(headers, 2)),
        "",
        "What to do",
        *fixes,
        "",
    ]


def _align(headers: list[str], text_columns: int) -> tuple[str, ...]:
    return ("left",) * text_columns + ("right",) * (len(headers) - text_columns)


def _windows_section(result: ScanResult, style: str) -> list[str]:
    windows = result.summary.windows.filter(pl.col("ollama"))
    categories = result.summary.by_category.get_column("category").to_list()
    wide = (
        windows.group_by("window_start", "category")
        .agg(pl.col("requests").sum())
        .pivot(on="category", index="window_start", values="requests")
        .sort("window_start", nulls_last=True)
        .fill_null(0)
    )
    rows = []
    for row in wide.iter_rows(named=True):
        counts = [row.get(category) or 0 for category in categories]
        label = _when(row["window_start"], with_seconds=False) if row["window_start"] else _NO_TIMESTAMP
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
    endpoints = [
        [f"{row['method'] or ''} {row['endpoint']}".strip(), row["requests"]]
        for row in summary.top_endpoints.iter_rows(named=True)
    ]
    models = [[row["model"], row["requests"]] for row in summary.top_models.iter_rows(named=True)]
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
    return out


def _showed_none(count: int) -> str:
    return f" ({_plural(count, 'request')} showed none)" if count else ""


def _unmatched_section(result: ScanResult, style: str) -> list[str]:
    """Server 400s that no client record explains, per endpoint and client address: whose
    application logs to collect next."""
    unmatched = result.unmatched_server
    if unmatched.is_empty():
        return []
    rows = [
        [
            row["endpoint"] or "-",
            row["address"] or "-",
            row["count"],
            row["latency_class"] or "-",
            row["hint"] or "",
        ]
        for row in unmatched.iter_rows(named=True)
    ]
    headers = ["endpoint", "client address", "requests", "latency", "hint (not a cause)"]
    return [
        "Server 400s no client record explains (collect the logs of these clients to learn why)",
        tabulate(rows, headers=headers, tablefmt=style, colalign=("left", "left", "right", "right", "left")),
        "",
    ]


def _other_section(result: ScanResult, style: str) -> list[str]:
    summary = result.summary
    if not summary.other_total:
        return []
    rows = [
        [f"{row['method'] or ''} {row['endpoint'] or '-'}".strip(), row["category"], row["requests"]]
        for row in summary.other.iter_rows(named=True)
    ]
    return [
        f"Other 400s: {_plural(summary.other_total, 'request')} that nothing shows reached Ollama"
        " (the applications answered them themselves); in none of the counts above",
        tabulate(
            rows,
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
            f"  {_plural(len(missing), 'other server log')}: no offset estimated (too few requests"
            " matched without ambiguity), read as written"
        )
    return [*lines, ""]


def _input_section(result: ScanResult, style: str) -> list[str]:
    rows = [
        [
            report.name,
            f"{report.format} in {report.envelopes}" if report.envelopes else report.format,
            report.compression if report.compression != "none" else "",
            report.lines,
            report.records,
            report.occurrences,
            _input_problem(report),
        ]
        for report in result.files
    ]
    headers = ["file", "format", "compressed", "lines", "records", "400s", "problem"]
    return [
        "Input",
        tabulate(
            rows,
            headers=headers,
            tablefmt=style,
            colalign=("left",) * 3 + ("right",) * 3 + ("left",),
        ),
        "",
    ]


def _input_problem(report: FileReport) -> str:
    problems = []
    if report.error:
        problems.append(f"unreadable: {report.error}")
    if report.skipped:
        problems.append(f"skipped: {report.skipped}")
    if report.empty:
        problems.append("empty")
    if report.lines_cut:
        problems.append(f"{_plural(report.lines_cut, 'line')} cut")
    return "; ".join(problems)


def _input_notes(result: ScanResult) -> list[str]:
    totals = result.input_totals
    notes = []
    if totals.skipped or totals.failed or totals.lines_cut or totals.hole_bytes:
        notes.append(
            f"- Read: {totals.bytes:,} bytes, {_plural(totals.lines, 'line')} ({totals.lines_used:,} scanned,"
            f" {totals.lines_skipped:,} skipped), {_plural(totals.records, 'record')};"
            f" {totals.skipped:,} skipped and {totals.failed:,} failed of {_plural(totals.files, 'input')}."
        )
    if totals.lines_cut:
        notes.append(
            f"- {_plural(totals.lines_cut, 'line')} longer than {MAX_LINE_BYTES // 1024} KiB"
            f" {'was matched on its' if totals.lines_cut == 1 else 'were matched on their'} first"
            f" {MAX_LINE_BYTES // 1024} KiB; the rest was read past."
        )
    if totals.hole_bytes:
        notes.append(f"- {totals.hole_bytes:,} bytes in holes of sparse files were skipped, not read.")
    if totals.skipped:
        notes.append(
            f"- {_plural(totals.skipped, 'input')} skipped ({totals.lines_skipped:,} lines read"
            " to decide, not scanned); see 'problem' above."
        )
    if totals.empty:
        notes.append(f"- {_plural(totals.empty, 'file')} empty.")
    return notes


def _notes(result: ScanResult) -> list[str]:
    summary = result.summary
    notes: list[str] = []
    if summary.total:
        share = summary.classified / summary.total
        fired = result.coverage.filter(pl.col("hits") > 0).height
        notes.append(
            f"- Explained by a rule: {summary.classified:,} of {_plural(summary.total, 'request')}"
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
            f"- {_plural(result.suppressed_total, '400 record')} suppressed by rule files: counted under"
            " 'Suppressed', in none of the totals."
        )
    notes += [f"- Slow rule: {timeout}." for timeout in result.regex_timeouts]
    if summary.untimed:
        notes.append(
            f"- {_plural(summary.untimed, 'request')} carry no timestamp: they are in the totals and"
            f" in the '{_NO_TIMESTAMP}' row."
        )
    if result.excluded.outside or result.excluded.untimed:
        notes.append(
            f"- Left out by --since/--until: {result.excluded.outside:,} outside the bounds and"
            f" {result.excluded.untimed:,} without a timestamp."
        )
    unknown = sum(report.unknown_lines for report in result.files)
    if unknown:
        notes.append(
            f"- {_plural(unknown, 'line')} matched no known log format and"
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
            f"- {_plural(len(result.unreadable), 'file')} could not be read completely; see 'problem' above."
        )
    return ["Notes", *notes] if notes else []


def _join_note(result: ScanResult) -> str:
    stats = result.join_stats
    parts = [
        f"{_plural(stats.stitched_records, 'record')} joined to another of the same file",
        f"{_plural(stats.joined_pairs, 'server record')} matched to a client record",
    ]
    if stats.ambiguous_pairs:
        parts.append(
            f"{_plural(stats.ambiguous_pairs, 'server record')} matched only ambiguously (several"
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


def _one_line(text: str, limit: int = _EXAMPLE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _clusters_section(result: ScanResult) -> list[str]:
    clusters = result.clusters.clusters
    if not clusters:
        return []
    shown = clusters[:TABLE_CLUSTERS]
    which = (
        f"top {len(shown)} of {len(clusters)}" if len(clusters) > len(shown) else _plural(len(shown), "group")
    )
    out = [
        f"Unclassified requests by message ({which};"
        " `logscan rules suggest PATH...` drafts rules for the client-side ones)"
    ]
    for cluster in shown:
        span = (
            f"{_when(cluster.first_seen)} .. {_when(cluster.last_seen)}"
            if cluster.first_seen
            else _NO_TIMESTAMP
        )
        out.append(f"  {cluster.count:,} {cluster.side}, {span}")
        out.append(f"    {_one_line(cluster.template)}")
        out += [
            f"    e.g. {sanitize.terminal(e.file)}:{e.line}: {_one_line(e.message)}" for e in cluster.examples
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
    out = [f"Rule coverage: {fired.height} of {_plural(result.coverage.height, 'rule')} fired on this input"]
    if fired.height:
        headers = ["rule", "category", "requests"]
        out.append(tabulate(fired.rows(), headers=headers, tablefmt=style, colalign=_align(headers, 2)))
    if never:
        out.append(f"Never fired ({len(never)}):")
        out += textwrap.wrap(", ".join(never), 100, initial_indent="  ", subsequent_indent="  ")
    return [*out, ""]


def _category_texts(result: ScanResult, category_id: str) -> dict[str, object]:
    category = result.categories.get(category_id)
    return {
        "explanation": category.explanation if category else "",
        "steps": list(category.steps) if category else [],
    }


def _coverage_document(result: ScanResult) -> dict[str, object]:
    total = result.summary.total
    return {
        "classified_share": result.summary.classified / total if total else None,
        "rules_loaded": result.coverage.height,
        "rules_fired": result.coverage.filter(pl.col("hits") > 0).height,
        "rules": result.coverage.to_dicts(),
        "never_fired": result.never_fired,
    }


def _clusters_document(result: ScanResult) -> dict[str, object]:
    return {
        "unclustered": result.clusters.unclustered,
        "groups": [
            {
                "template": c.template,
                "count": c.count,
                "side": c.side,
                "first_seen": c.first_seen.strftime(_ISO_UTC) if c.first_seen else None,
                "last_seen": c.last_seen.strftime(_ISO_UTC) if c.last_seen else None,
                "examples": [e.__dict__ for e in c.examples],
            }
            for c in result.clusters.clusters
        ],
    }


def _iso(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).dt.strftime(_ISO_UTC) for c in columns if c in frame.columns)


def _formula_safe(frame: pl.LazyFrame, raw: bool) -> pl.LazyFrame:
    """Text cells that a spreadsheet would run as a formula, prefixed to stay text (OWASP's
    advice on CSV injection); as they are with ``raw``."""
    if raw:
        return frame
    texts = [name for name, dtype in frame.collect_schema().items() if dtype == pl.String]
    starts_like_formula = sanitize.FORMULA_START.pattern
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(starts_like_formula))
        .then(pl.lit(sanitize.FORMULA_PREFIX) + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )


def render_csv(result: ScanResult, options: RenderOptions) -> str:
    windows = _iso(result.summary.windows.select(WINDOW_COLUMNS), ("window_start", "window_end"))
    return _formula_safe(windows.lazy(), options.raw_csv).collect().write_csv()


def render_json(result: ScanResult, options: RenderOptions) -> str:
    del options
    summary = result.summary

    def records(frame: pl.DataFrame) -> list[dict[str, object]]:
        datetimes = tuple(name for name, dtype in frame.schema.items() if dtype.is_temporal())
        return _iso(frame, datetimes).to_dicts()

    document = {
        # Failed requests (the headline); the records they left per side; 400s that did not
        # reach Ollama, counted apart.
        "requests": summary.total,
        "records": {
            "server": summary.server_records,
            "client": summary.client_records,
            "other": int(summary.other.get_column("records").sum() or 0),
            "total": summary.records + int(summary.other.get_column("records").sum() or 0),
        },
        "classified": summary.classified,
        "unclassified": summary.total - summary.classified,
        "untimed": summary.untimed,
        "other_400s": {"requests": summary.other_total, "entries": records(summary.other)},
        "window": result.window,
        "assume_tz": result.assume_tz,
        "lines_read": result.lines,
        "excluded_by_time": result.excluded.__dict__,
        "categories": [
            {
                **row,
                "title": result.categories[row["category"]].title
                if row["category"] in result.categories
                else row["category"],
                "remediation": result.categories[row["category"]].remediation
                if row["category"] in result.categories
                else "",
                **_category_texts(result, row["category"]),
            }
            for row in records(summary.by_category)
        ],
        "windows": records(summary.windows),
        "top_endpoints": records(summary.top_endpoints),
        "top_models": records(summary.top_models),
        "no_endpoint": summary.no_endpoint,
        "no_model": summary.no_model,
        "rule_hits": records(summary.rule_hits),
        "clock_offsets": [
            {
                "server_file": offset.server_file,
                "reference_file": offset.reference_file,
                "offset_seconds": offset.offset.total_seconds(),
                "pairs": offset.pairs,
                "source": offset.source,
            }
            for offset in result.offsets
        ],
        "join": result.join_stats.__dict__,
        "unmatched_server": records(result.unmatched_server),
        "coverage": _coverage_document(result),
        "suppressed": {"total": result.suppressed_total, "entries": records(result.suppressed)},
        "clusters": _clusters_document(result),
        "regex_timeouts": [timeout.__dict__ for timeout in result.regex_timeouts],
        "input": result.input_totals.__dict__,
        "files": [report.__dict__ for report in result.files],
    }
    return sanitize.json_document(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"


def write_events_csv(result: ScanResult, stream: BinaryIO, options: RenderOptions) -> None:
    """Stream the occurrences into ``stream`` as CSV: they are read part by part, so a scan of
    any size writes them in bounded memory."""
    if result.events is None:
        raise ValueError("the scan was run without keeping its events")
    rows = result.events.select(
        *EVENT_COLUMNS[:9], pl.col("final_category").alias("category"), *EVENT_COLUMNS[10:]
    ).with_columns(pl.col("timestamp").dt.strftime(_ISO_UTC))
    _formula_safe(rows, options.raw_csv).sink_csv(stream)


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
            _input_problem(survey.report),
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


Renderer = Callable[[ScanResult, RenderOptions], str]
RENDERERS: dict[str, Renderer] = {"table": render_table, "csv": render_csv, "json": render_json}
