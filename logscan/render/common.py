"""What the renderers share: options, ISO times, inert tables, counting words, and the
accounting of an input."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from tabulate import tabulate as _tabulate

from logscan import sanitize
from logscan.results import FileReport, ScanResult

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
    cells = [[sanitize.terminal(cell) if isinstance(cell, str) else cell for cell in row] for row in rows]
    return _tabulate(cells, headers=headers, **options)


def when(value: datetime | None, with_seconds: bool = True) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


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


def iso(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).dt.strftime(ISO_UTC) for c in columns if c in frame.columns)


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
    rows: list[list[Any]] = [
        [
            category_title(result, row["category"]),
            row["category"],
            row["requests"],
            f"{row['share']:.1%}",
            row["server_records"],
            row["client_records"],
            when(row["first_seen"]),
            when(row["last_seen"]),
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
