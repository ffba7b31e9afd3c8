"""HTML: one self-contained page for a browser or a mail, with the Markdown report's content and
a stacked chart of the failed requests per cause over time, drawn as inline SVG.

The page loads nothing: no script, no style sheet, no font, no image; its Content-Security-Policy
forbids all of them, so a log line that slipped past the escaping could still run nothing. Every
text that came from a log, a file name or a rule file goes through ``sanitize.html_text``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

import polars as pl

from logscan import sanitize
from logscan.render.common import (
    CAUSE_HEADERS,
    CLIENT_HEADERS,
    EXAMPLE_HEADERS,
    INPUT_HEADERS,
    ISO_UTC,
    UNMATCHED_HEADERS,
    RenderOptions,
    cause_rows,
    client_rows,
    endpoint_rows,
    example_rows,
    headline_facts,
    input_rows,
    model_rows,
    one_line,
    other_rows,
    plural,
    remediations,
    unmatched_rows,
    when,
)
from logscan.render.html_chart import chart, swatch, window_counts
from logscan.render.table import report_notes
from logscan.results import RunInfo, ScanResult

HTML_CLUSTERS = 5
EXAMPLES_PER_CLUSTER = 3
# Past this many windows the table stops (the chart still shows them all; -f csv lists each).
MAX_WINDOW_ROWS = 500
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 90em; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
td { white-space: nowrap; } td.wrap { white-space: normal; min-width: 24em; }
td.wrap code { word-break: break-all; }
div.scroll { overflow-x: auto; }
ul.legend { list-style: none; padding: 0; } ul.legend li { display: inline-block; margin-right: 1.2em; }
th { background: #f4f4f4; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; } code { font-family: ui-monospace, monospace; font-size: 0.92em; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1em; }
dl.run dt { color: #555; } dl.run dd { margin: 0; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; vertical-align: -0.1em; }
svg text { font: 11px system-ui, sans-serif; fill: #333; } svg .grid { stroke: #e4e4e4; }
svg .axis { stroke: #777; } .flag { color: #b00; font-weight: bold; }
"""


def text(value: object) -> str:
    """Any value as inert HTML text."""
    return sanitize.html_text(str(value))


class Markup(str):
    """A table cell that is HTML already, made of escaped parts: put in as it is."""


def render_html(result: ScanResult, options: RenderOptions) -> str:
    del options
    summary = result.summary
    parts = [*_header(result), *_trends(result)]
    if summary.total:
        parts += _chart_section(result)
        parts += _causes(result)
        parts += _examples(result)
        parts += _windows(result)
        parts += _top(result)
        parts += _unmatched(result)
        parts += _clusters(result)
    parts += _other(result)
    parts += _offsets(result)
    parts += _section("Inputs", _table(INPUT_HEADERS, input_rows(result), numeric=(3, 4, 5)))
    parts += _notes(result)
    return _page("\n".join(parts))


def _page(body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>logscan: HTTP 400 report</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _section(title: str, *content: str) -> list[str]:
    return [f"<h2>{text(title)}</h2>", *content]


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    numeric: Iterable[int] = (),
    wrap: Iterable[int] = (),
    total_last: bool = False,
) -> str:
    """A table whose every cell is escaped (but for Markup); integers get thousands separators.
    The columns numbered in ``numeric`` are right-aligned, those in ``wrap`` (long texts) wrap;
    the others stay on one line."""
    right, wrapped = set(numeric), set(wrap)
    head = "".join(f"<th>{text(header)}</th>" for header in headers)
    body = [
        "<tr>"
        + "".join(
            (_NUMBER_CELL if index in right else _WRAP_CELL if index in wrapped else "<td>")
            + f"{_cell(value)}</td>"
            for index, value in enumerate(row)
        )
        + "</tr>"
        for row in rows
    ]
    if total_last and body:
        body[-1] = body[-1].replace("<tr>", '<tr class="total">', 1)
    rows_html = "\n".join(body)
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{rows_html}\n</tbody></table></div>"
    )


_NUMBER_CELL = '<td class="n">'
_WRAP_CELL = '<td class="wrap">'


def _cell(value: object) -> str:
    if isinstance(value, Markup):
        return value
    if isinstance(value, bool) or value is None:
        return text("-" if value is None else value)
    if isinstance(value, int):
        return f"{value:,}"
    return text(value)


def _header(result: ScanResult) -> list[str]:
    facts = headline_facts(result)
    return [
        "<h1>logscan: HTTP 400 report</h1>",
        *_run_info(result.run_info),
        '<dl class="run headline">',
        *(f"<dt>{text(name)}</dt><dd>{text(value)}</dd>" for name, value in facts),
        "</dl>",
    ]


def _run_info(info: RunInfo | None) -> list[str]:
    if info is None:
        return []
    facts = [
        # A naive time is taken as UTC, as everywhere in the pipeline.
        (
            "Generated",
            info.generated_at.astimezone(UTC).strftime(ISO_UTC)
            if info.generated_at.tzinfo
            else info.generated_at.strftime(ISO_UTC),
        ),
        ("logscan version", info.version),
        ("Since", when(info.since) + (f" ({info.report_tz})" if info.since else "")),
        ("Until", when(info.until) + (f" ({info.report_tz})" if info.until else "")),
    ]
    if info.duration_seconds is not None:
        facts.append(("Scan took", f"{info.duration_seconds:.1f} s"))
    inputs = "".join(f"<li><code>{text(name)}</code></li>" for name in info.inputs) or "<li>-</li>"
    return [
        '<dl class="run info">',
        *(f"<dt>{text(name)}</dt><dd>{text(value)}</dd>" for name, value in facts),
        f"<dt>Inputs named</dt><dd><ul>{inputs}</ul></dd>",
        "</dl>",
    ]


def _trends(result: ScanResult) -> list[str]:
    if result.trends is None:
        return []
    if not result.trends:
        return _section("Trend against earlier runs", "<p>No failed request now or in the runs compared.</p>")
    rows = [
        [
            trend.category,
            trend.now,
            "-" if trend.previous is None else trend.previous,
            "-" if trend.mean7 is None else f"{trend.mean7:.1f}",
            "-" if trend.change is None else f"{trend.change:+,}",
            # Flags stand out: they are what a nightly reader looks for first.
            Markup(f'<span class="flag">{text(", ".join(sorted(trend.flags)))}</span>')
            if trend.flags
            else "",
        ]
        for trend in result.trends
    ]
    headers = ["category", "now", "previous run", "mean of last 7", "change", "flags"]
    return _section("Trend against earlier runs", _table(headers, rows, numeric=(1, 2, 3, 4)))


def _causes(result: ScanResult) -> list[str]:
    headers = [*CAUSE_HEADERS, "first seen (UTC)", "last seen (UTC)"]
    rows = cause_rows(result, "Total")
    for row in rows[:-1]:
        row[0] = Markup(swatch(row[1]) + text(row[0]))
    out = _section("Failed requests by cause", _table(headers, rows, numeric=(2, 3, 4, 5), total_last=True))
    fixes = remediations(result)
    if fixes:
        # Remediations write commands and values as `code`, as Markdown would show them.
        rows = [(category, Markup(_code_spans(text(fix)))) for category, fix in fixes]
        out += _section("What to do", _table(["category", "remediation"], rows, wrap=(1,)))
    return out


def _examples(result: ScanResult) -> list[str]:
    """The record that stands for each of the first requests of every cause."""
    rows = example_rows(result)
    if not rows:
        return []
    body = [[*row[:-1], Markup(f"<code>{text(row[-1])}</code>")] for row in rows]
    return _section("Examples per cause", _table(EXAMPLE_HEADERS, body, wrap=(4,)))


def _windows(result: ScanResult) -> list[str]:
    counts = window_counts(result)
    if counts.is_empty():
        return []
    categories = result.summary.by_category.get_column("category").to_list()
    wide = (
        counts.pivot(on="category", index="window_start", values="requests", aggregate_function="sum")
        .sort("window_start")
        .fill_null(0)
    )
    shown = wide.head(MAX_WINDOW_ROWS)
    seconds = _has_seconds(counts.get_column("window_start"))
    rows = [
        [when(row["window_start"], with_seconds=seconds), *(row.get(c, 0) for c in categories)]
        for row in shown.iter_rows(named=True)
    ]
    for row in rows:
        row.append(sum(row[1:]))
    table = _table(["window start (UTC)", *categories, "total"], rows, numeric=range(1, len(categories) + 2))
    more = wide.height - shown.height
    note = [f"<p>{more:,} more windows not shown here (they are in the chart; -f csv lists each).</p>"]
    return _section(f"Failed requests per {result.window} window", table, *(note if more else []))


def _has_seconds(starts: pl.Series) -> bool:
    """Whether window starts need their seconds to be told apart (windows under a minute)."""
    return bool((starts.dt.second() != 0).any())


def _top(result: ScanResult) -> list[str]:
    summary = result.summary
    out: list[str] = []
    for title, headers, rows, unseen in (
        ("Top endpoints", ["endpoint", "requests"], endpoint_rows(result), summary.no_endpoint),
        ("Top models", ["model", "requests"], model_rows(result), summary.no_model),
        ("Top clients", CLIENT_HEADERS, client_rows(result), summary.no_client),
    ):
        if rows:
            none = f" ({plural(unseen, 'request')} showed none)" if unseen else ""
            out += _section(title + none, _table(headers, rows, numeric=range(1, len(headers))))
    return out


def _unmatched(result: ScanResult) -> list[str]:
    if result.unmatched_server.is_empty():
        return []
    return _section(
        "Server 400s no client record explains",
        "<p>Collect the logs of these clients to learn why.</p>",
        _table(UNMATCHED_HEADERS, unmatched_rows(result), numeric=(2,), wrap=(4,)),
    )


def _clusters(result: ScanResult) -> list[str]:
    clusters = result.clusters.clusters
    shown = clusters[:HTML_CLUSTERS]
    if not shown:
        return []
    rows = [
        [
            cluster.count,
            cluster.side,
            when(cluster.first_seen),
            when(cluster.last_seen),
            one_line(cluster.template),
            Markup(
                "<br>".join(
                    f"<code>{text(f'{example.file}:{example.line}: {one_line(example.message)}')}</code>"
                    for example in cluster.examples[:EXAMPLES_PER_CLUSTER]
                )
            ),
        ]
        for cluster in shown
    ]
    headers = ["requests", "side", "first seen", "last seen", "message shape", "examples"]
    table = _table(headers, rows, numeric=(0,), wrap=(4, 5))
    notes = []
    if len(clusters) > len(shown):
        notes.append(f"{plural(len(clusters) - len(shown), 'more group')} not shown (see -f json).")
    if result.clusters.unclustered:
        notes.append(f"{result.clusters.unclustered:,} more in rarer message shapes, not grouped.")
    return _section(
        "Unclassified requests by message",
        "<p><code>logscan rules suggest PATH...</code> drafts rules for the client-side ones.</p>",
        table,
        *(f"<p>{text(note)}</p>" for note in notes),
    )


def _other(result: ScanResult) -> list[str]:
    if not result.summary.other_total:
        return []
    return _section(
        "Other 400s (the applications answered them; in none of the counts above)",
        _table(["endpoint", "category", "requests"], other_rows(result), numeric=(2,)),
    )


def _offsets(result: ScanResult) -> list[str]:
    found = [offset.describe() for offset in result.offsets if offset.source != "none"]
    # A server log with nothing to match against says nothing about its clock.
    both_sides = result.summary.client_records and result.summary.server_records
    missing = sum(offset.source == "none" for offset in result.offsets) if both_sides else 0
    if missing:
        found.append(
            f"{plural(missing, 'other server log' if found else 'server log')}: no offset estimated"
            " (too few requests matched without ambiguity), read as written."
        )
    if not found:
        return []
    items = "".join(f"<li>{text(line)}</li>" for line in found)
    return _section("Clock offsets (applied to the server files' times before matching)", f"<ul>{items}</ul>")


def _notes(result: ScanResult) -> list[str]:
    notes = report_notes(result)[1:]
    if not notes:
        return []
    items = "".join(f"<li>{_code_spans(text(note.removeprefix('- ')))}</li>" for note in notes)
    return _section("Notes", f"<ul>{items}</ul>")


def _code_spans(escaped: str) -> str:
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", escaped)


def _chart_section(result: ScanResult) -> list[str]:
    counts = window_counts(result)
    if counts.is_empty():
        return []
    untimed = result.summary.untimed
    note = (
        [f"<p>{plural(untimed, 'request')} without a timestamp: in the totals, not in the chart.</p>"]
        if untimed
        else []
    )
    return _section(f"Failed requests per {result.window} window, by cause", chart(result, counts), *note)
