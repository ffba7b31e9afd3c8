"""The shape of a finished scan, shared by the pipeline that fills it and the renderers."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from logscan.aggregate import Summary
from logscan.rules import Category


@dataclass
class FileReport:
    name: str
    format: str = "-"
    envelopes: str = ""  # e.g. "compose+docker-timestamps", outermost first
    compression: str = "none"
    bytes: int = 0  # decompressed bytes read
    lines: int = 0
    records: int = 0
    occurrences: int = 0
    # Lines with bytes that were not valid UTF-8 (or NUL), read with U+FFFD in their place.
    replaced_lines: int = 0
    # Lines that match no known line shape; they are still scanned, as plain text.
    unknown_lines: int = 0
    error: str | None = None


@dataclass(frozen=True)
class TimeExclusions:
    """Occurrences left out by --since/--until."""

    outside: int = 0
    untimed: int = 0


@dataclass
class ScanResult:
    events: pl.DataFrame
    summary: Summary
    files: list[FileReport]
    categories: dict[str, Category]
    window: str
    assume_tz: str
    rules_loaded: int
    excluded: TimeExclusions = TimeExclusions()

    @property
    def lines(self) -> int:
        return sum(report.lines for report in self.files)

    @property
    def unreadable(self) -> list[FileReport]:
        return [report for report in self.files if report.error]


@dataclass
class FormatSurvey:
    """What `logscan formats` shows for one source."""

    report: FileReport
    line_shapes: dict[str, int]
