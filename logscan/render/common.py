"""What the renderers share: options, times in the report zone, what a report says about its
run, inert tables, counting words, and the accounting of an input."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from logscan import sanitize, timestamps
from logscan.results import FileReport, RunInfo, ScanResult

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
NO_TIMESTAMP = "no timestamp"
_EXAMPLE_CHARS = 160


@dataclass(frozen=True)
class RenderOptions:
    table_style: str = "simple"
    coverage: bool = False  # table: hits per rule and the rules that never fired
    explain: bool = False  # table: the full explanation and steps of each category present
    raw_csv: bool = False  # CSV: cells that start like a formula are left as they are


def tabulate(rows: Iterable[Sequence[Any]], headers: Sequence[str] = (), **options: Any) -> str:
    """tabulate, with every text cell shown on one line and inert (see sanitize.terminal): a
    newline in a file name would otherwise forge a row. Named as the function it wraps, so
    that no table of this module can bypass it."""
    # Imported here: only the table formats need it, and it costs start-up time.
    from tabulate import tabulate as _tabulate  # noqa: PLC0415

    cells = [[sanitize.terminal(cell) if isinstance(cell, str) else cell for cell in row] for row in rows]
    return _tabulate(cells, headers=headers, **options)


def report_zone(result: ScanResult) -> str:
    """The zone the report shows its times in (its windows were cut in it): UTC for a scan
    whose run nobody described."""
    return result.run_info.report_tz if result.run_info else "UTC"


def when(value: datetime | None, with_seconds: bool = True, zone: str = "UTC") -> str:
    """A time for people: in UTC as it is (the report's header says so), in another zone with
    that zone's offset at that moment (+01:00 in winter and +02:00 in summer in Berlin)."""
    if value is None:
        return "-"
    shape = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M"
    if zone == "UTC":
        return value.strftime(shape)
    local = value.astimezone(timestamps.tzinfo_of(zone))
    return f"{local.strftime(shape)} {_offset(local)}"


def iso_time(value: datetime | None, zone: str = "UTC") -> str | None:
    """ISO 8601 in ``zone``: 2026-03-29T00:00:00Z in UTC, 2026-03-29T00:00:00+01:00 elsewhere."""
    if value is None:
        return None
    if zone == "UTC":
        return value.astimezone(timestamps.tzinfo_of("UTC")).strftime(ISO_UTC)
    local = value.astimezone(timestamps.tzinfo_of(zone))
    return local.strftime("%Y-%m-%dT%H:%M:%S") + _offset(local)


def _offset(local: datetime) -> str:
    # %z gives +0100; ISO 8601 and RFC 3339 readers want +01:00 (Python 3.11 has no %:z).
    offset = local.strftime("%z")
    return f"{offset[:3]}:{offset[3:5]}"


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def input_problem(report: FileReport) -> str:
    problems = []
    if report.error:
        problems.append(f"unreadable: {report.error}")
    if report.skipped:
        problems.append(f"skipped: {report.skipped}")
    if report.incremental:
        problems.append(report.incremental)
    if report.empty:
        problems.append("empty")
    if report.lines_cut:
        problems.append(f"{plural(report.lines_cut, 'line')} cut")
    return "; ".join(problems)


def iso(frame: pl.DataFrame, columns: tuple[str, ...], zone: str = "UTC") -> pl.DataFrame:
    """The UTC time ``columns`` as ISO 8601 text in ``zone`` (see iso_time)."""
    return frame.with_columns(iso_expr(pl.col(c), zone).alias(c) for c in columns if c in frame.columns)


def iso_expr(times: pl.Expr, zone: str = "UTC") -> pl.Expr:
    """UTC times as ISO 8601 text in ``zone``, vectorised (see iso_time)."""
    if zone == "UTC":
        return times.dt.strftime(ISO_UTC)
    minutes = timestamps.fixed_offset_minutes(zone)
    if minutes is not None:  # Polars has no fixed-offset zones: shift, and write the offset
        sign, size = "-" if minutes < 0 else "+", abs(minutes)
        suffix = f"{sign}{size // 60:02d}:{size % 60:02d}"
        return (times + pl.duration(minutes=minutes)).dt.strftime("%Y-%m-%dT%H:%M:%S") + pl.lit(suffix)
    return times.dt.convert_time_zone(zone).dt.strftime("%Y-%m-%dT%H:%M:%S%:z")


def bounds_text(run: RunInfo) -> str:
    """The --since/--until bounds applied, in the report zone, for a report's header."""
    if run.since is None and run.until is None:
        return "none (every 400 found)"
    since = f"from {iso_time(run.since, run.report_tz)}" if run.since else "from the first 400"
    until = f"to {iso_time(run.until, run.report_tz)}" if run.until else "to the last 400"
    return f"{since} {until} (until excluded)" if run.until else f"{since} {until}"


def run_document(result: ScanResult) -> dict[str, object]:
    """What the report says about its run: when it was made (UTC), by which version, over
    which bounds (in the report zone) and inputs (as named), and how long the scan took; null
    where the scan's caller did not say (a bare library scan)."""
    run = result.run_info
    zone = report_zone(result)
    return {
        "generated_at": iso_time(run.generated_at) if run else None,
        "version": run.version if run else None,
        "bounds": {
            "since": iso_time(run.since, zone) if run else None,
            "until": iso_time(run.until, zone) if run else None,
            "report_tz": zone,
        },
        "inputs": list(run.inputs) if run else [],
        "duration_seconds": round(took, 3) if (took := run and run.duration_seconds) is not None else None,
    }


# A report names this many inputs; the JSON names them all.
SHOWN_INPUTS = 10


def inputs_text(run: RunInfo) -> str:
    """The inputs as named on the command line, each on one line and inert."""
    shown = ", ".join(sanitize.terminal(name) for name in run.inputs[:SHOWN_INPUTS])
    more = len(run.inputs) - SHOWN_INPUTS
    return f"{shown} and {more:,} more" if more > 0 else shown


def run_text(run: RunInfo) -> str:
    """When the report was made, by which version, and how long the scan took."""
    took = f" in {run.duration_seconds:.2f} s" if run.duration_seconds is not None else ""
    return f"{iso_time(run.generated_at)} by logscan {run.version}{took}"


def one_line(text: str, limit: int = _EXAMPLE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# The rows of the sections the table and Markdown both show, each before its cells are
# made safe for where they go.


def category_title(result: ScanResult, category_id: str) -> str:
    category = result.categories.get(category_id)
    return category.title if category else category_id


def cause_rows(result: ScanResult, total_label: str) -> list[list[Any]]:
    """Per cause: title, category, requests, share, records per side, first and last seen; and
    the total."""
    summary = result.summary
    zone = report_zone(result)
    rows: list[list[Any]] = [
        [
            category_title(result, row["category"]),
            row["category"],
            row["requests"],
            f"{row['share']:.1%}",
            row["server_records"],
            row["client_records"],
            when(row["first_seen"], zone=zone),
            when(row["last_seen"], zone=zone),
        ]
        for row in summary.by_category.iter_rows(named=True)
    ]
    rows.append(
        [total_label, "", summary.total, "100.0%", summary.server_records, summary.client_records, "", ""]
    )
    return rows


CAUSE_HEADERS = ("cause", "category", "requests", "share", "server records", "client records")


def remediations(result: ScanResult) -> list[tuple[str, str]]:
    """(category, remediation line) of each cause present that has one."""
    return [
        (row["category"], result.categories[row["category"]].remediation)
        for row in result.summary.by_category.iter_rows(named=True)
        if row["category"] in result.categories and result.categories[row["category"]].remediation
    ]


def endpoint_rows(result: ScanResult) -> list[list[Any]]:
    return [
        [f"{row['method'] or ''} {row['endpoint']}".strip(), row["requests"]]
        for row in result.summary.top_endpoints.iter_rows(named=True)
    ]


def model_rows(result: ScanResult) -> list[list[Any]]:
    return [[row["model"], row["requests"]] for row in result.summary.top_models.iter_rows(named=True)]


def client_rows(result: ScanResult) -> list[list[Any]]:
    return [
        [row["client"], row["requests"], f"{row['share']:.1%}"]
        for row in result.summary.top_clients.iter_rows(named=True)
    ]


CLIENT_HEADERS = ("client", "requests", "share")
EXAMPLE_HEADERS = ("category", "time", "at", "side", "record")


def example_rows(result: ScanResult) -> list[list[Any]]:
    """Per cause, in the order of the causes table: the example records the scan kept (the
    record that stands for each of its first requests), each on one line, before its cells
    are made safe for where they go."""
    zone = report_zone(result)
    order = {category: rank for rank, category in enumerate(result.summary.by_category["category"])}
    ranked = result.examples.with_columns(
        rank=pl.col("category").replace_strict(order, default=len(order), return_dtype=pl.Int64)
    ).sort("rank", maintain_order=True)
    return [
        [
            row["category"],
            when(row["timestamp"], zone=zone) if row["timestamp"] else NO_TIMESTAMP,
            f"{row['file']}:{row['line']}",
            row["side"],
            one_line(row["message"] or ""),
        ]
        for row in ranked.iter_rows(named=True)
    ]


UNMATCHED_HEADERS = ("endpoint", "client address", "requests", "latency", "hint (not a cause)")


def unmatched_rows(result: ScanResult) -> list[list[Any]]:
    return [
        [
            row["endpoint"] or "-",
            row["address"] or "-",
            row["count"],
            row["latency_class"] or "-",
            row["hint"] or "",
        ]
        for row in result.unmatched_server.iter_rows(named=True)
    ]


def other_rows(result: ScanResult) -> list[list[Any]]:
    return [
        [f"{row['method'] or ''} {row['endpoint'] or '-'}".strip(), row["category"], row["requests"]]
        for row in result.summary.other.iter_rows(named=True)
    ]


INPUT_HEADERS = ("file", "format", "compressed", "lines", "records", "400s", "problem")


def input_rows(result: ScanResult) -> list[list[Any]]:
    return [
        [
            report.name,
            f"{report.format} in {report.envelopes}" if report.envelopes else report.format,
            report.compression if report.compression != "none" else "",
            report.lines,
            report.records,
            report.occurrences,
            input_problem(report),
        ]
        for report in result.files
    ]


def headline_facts(result: ScanResult) -> list[tuple[str, str]]:
    """The report's headline as (name, value) pairs, for the formats that lay it out as a list."""
    summary = result.summary
    by_category = summary.by_category
    first = by_category.get_column("first_seen").min() if by_category.height else None
    last = by_category.get_column("last_seen").max() if by_category.height else None
    fired = result.coverage.filter(pl.col("hits") > 0).height
    share = f"{summary.classified / summary.total:.1%}" if summary.total else "-"
    totals = result.input_totals
    zone = report_zone(result)
    seen = NO_TIMESTAMP
    if isinstance(first, datetime) and isinstance(last, datetime):
        seen = f"{when(first, zone=zone)} .. {when(last, zone=zone)}{' UTC' if zone == 'UTC' else ''}"
    facts = [
        (
            "Failed requests",
            f"{summary.total:,} (in {plural(summary.records, 'record')}: {summary.server_records:,} server,"
            f" {summary.client_records:,} client)",
        ),
        ("Seen", seen),
        ("Window", f"{result.window}; times in {zone}, times without a zone read as {result.assume_tz}"),
        (
            "Inputs",
            f"{plural(totals.files, 'file')}, {plural(totals.lines, 'line')} read ({totals.lines_used:,}"
            f" scanned, {totals.lines_skipped:,} skipped), {totals.skipped:,} inputs skipped,"
            f" {totals.failed:,} unreadable",
        ),
        (
            "Coverage",
            f"{summary.classified:,} of {plural(summary.total, 'request')} explained by a rule ({share};"
            f" {result.rules_loaded} rules loaded, {fired} fired)",
        ),
    ]
    if summary.untimed:
        facts.append(("Without a timestamp", f"{plural(summary.untimed, 'request')}, in the totals"))
    if summary.other_total:
        facts.append(
            (
                "Other 400s",
                f"{plural(summary.other_total, 'request')} the applications answered themselves,"
                " in none of the counts above",
            )
        )
    return facts
