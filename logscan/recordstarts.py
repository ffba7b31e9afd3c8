"""Where multi-line records start, and which lines no parser knows: for each file's format,
vectorised over a block's lines. A log line with a known prefix starts a record in any
format; in a loose format, tracebacks, header blocks, error bodies and lines cut at the
terminal's edge continue the record above."""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

from logscan.formats import FORMATS, FORMATS_BY_ID, PYTHON_LEVELS, FileFormat

# Lines that begin a record whatever the file's format: log lines with a known prefix.
_JSON_LINE_START = '{"'
# Record starts other than JSON lines: the scan tells JSON lines apart (see record_starts_of_files).
_NON_JSON_RECORD_STARTS = tuple(
    shape
    for shape in (
        *(fmt.detect for fmt in FORMATS if fmt.id not in ("plain", "python-logging", "json-lines")),
        r"^\[Recovery\]",
        r"^\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}",  # timestamp first
        rf"^{PYTHON_LEVELS}:|^{PYTHON_LEVELS}\s+\[?\d{{4}}-",  # logging.basicConfig, uvicorn
        # The level padded to five after a timestamp peeled off as an envelope: Spring Boot's
        # `2025-05-07T08:59:38.412+02:00  INFO 4711 --- [...]`, Rust tracing's `...Z  WARN agent:`.
        r"^ (?:INFO|WARN) ",
        r"^```",  # a Markdown fence around pasted logs
    )
)
_NON_JSON_RECORD_START = "|".join(f"(?:{shape})" for shape in _NON_JSON_RECORD_STARTS)
RECORD_START = f"{_NON_JSON_RECORD_START}|^{re.escape(_JSON_LINE_START)}"
# An access log's line shape (`^\S+ \S+ \S+ \[`) reads a long line without spaces (a JSON
# line) to its end before it fails: it is tried only on the lines holding this literal, which
# each of its matches holds; the other record starts are tried on every line.
_ACCESS_LOG_START = FORMATS_BY_ID["access-log"].detect
_ACCESS_LOG_LITERAL = '] "'
_OTHER_RECORD_START = "|".join(
    f"(?:{shape})" for shape in _NON_JSON_RECORD_STARTS if shape != _ACCESS_LOG_START
)
# Lines that never begin a record in a loose format.
_CONTINUATION = (
    r"^(?:\s|[}\])]|During handling of the above exception"
    r"|The above exception was the direct cause|For more information check: |Caused by:)"
)
# A response's status line (`curl -D -`, `curl -i`; `< ` for `curl -v`), the header lines under
# it, and the first line of a JSON error body.
_HTTP_STATUS_LINE = r"^(?:< )?HTTP/\d(?:\.\d)? [1-5]\d\d\b"
_HTTP_HEADER_LINE = r"^(?:< )?[A-Za-z][A-Za-z0-9-]*: \S"
_MAX_HEADER_LINES = 40
# A JSON error body, bare or after a label (`Response body: {...}`, `body={...}`).
_ERROR_BODY = (
    r"^(?:(?i:(?:response |error )?body|response|details?)\s*[:=]\s*)?"
    r'\{\s*"(?:error|type|message|detail|status|code)"\s*:'
)
_EXCEPTION_LINE = r"^[A-Za-z_][\w.$]*(?:Error|Exception)\b"
_LOG_LEVEL_LINE = r"^(?:\S.*)?\b(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|SEVERE)\b"
# A line the terminal or a logger cut at the window's edge goes on at the start of the next
# line: the cut line is long and does not end a sentence or a structure, and the rest starts
# in lower case.
_CUT_LINE_MIN_CHARS = 60
_CUT_LINE_END = r"[\w,]$"
_CUT_LINE_REST = r"^[a-z]+(?:[\s,]|$)"


def record_starts_and_unknown(
    lines: pl.Series, fmt: FileFormat, count_from: int = 0
) -> tuple[pl.Series, int]:
    """Where records begin (the first line always does), and how many lines from row ``count_from``
    on have a shape no parser knows. Both look at every line for known record starts, so they
    share that pass."""
    starts, unknown_rows = record_starts_of_files(lines, fmt.loose_records)
    return starts, int((unknown_rows >= count_from).sum())


def record_starts_of_files(
    lines: pl.Series, loose: bool | pl.Series, first_rows: pl.Series | None = None
) -> tuple[pl.Series, pl.Series]:
    """Where records begin, and the rows of the lines of a shape no parser knows, in the
    lines of one or more files: each file starts at one of ``first_rows`` (default: the first
    row alone), and its records are loose or strict as ``loose`` says (for every line, or
    line by line). No record runs from one file into the next."""
    # JSON lines are told apart among the lines no other shape explains: one pass less over
    # every line.
    not_json_known = _non_json_record_starts(lines)
    # A blank line (null) never starts a record, and is of a known shape: it is left out of
    # every test below, which a flood of blank lines would otherwise make slow.
    other_rows = (~not_json_known & lines.is_not_null()).arg_true()
    json_start = _at_rows(lines, other_rows, lambda some: some.str.starts_with(_JSON_LINE_START))
    json_rows = other_rows.filter(json_start)
    known = not_json_known.scatter(json_rows, True) if json_rows.len() else not_json_known
    unknown_rows = other_rows.filter(~json_start)
    unknown_rows = unknown_rows.filter(~lines.gather(unknown_rows).fill_null("").str.contains(_KNOWN_LINE))
    # Only lines of no known shape can continue a record in a loose format; looking at those
    # rows alone keeps this cheap where most lines are known. JSON lines are left to the test
    # below: of the continuations, a line starting with `{"` can only be an error body.
    unknown_shape = ~json_start
    if isinstance(loose, pl.Series):
        rows = other_rows.filter(loose.gather(other_rows) & unknown_shape)
    else:
        rows = other_rows.filter(unknown_shape) if loose else other_rows.clear()
    starts = (
        known.scatter(rows, ~_loose_continuation(lines, known, rows, first_rows)) if rows.len() else known
    )
    # In a loose format and in a strict one, an error body printed under a line that is not
    # JSON is part of its record (Laravel's `... resulted in a `400 Bad Request` response:`
    # and the body on the next line); every other JSON line starts one.
    body_rows = json_rows.filter(_at_rows(lines, json_rows, lambda some: _has(some, _ERROR_BODY))).cast(
        pl.Int64
    )
    if body_rows.len():
        above = _Above(body_rows, first_rows)
        body = _error_body(lines.gather(body_rows), above.back(lines, 1).fill_null(above.back(lines, 2)))
        starts = starts.scatter(body_rows, ~body)
    if starts.len():
        starts = starts.scatter(first_rows if first_rows is not None else [0], True)
    return starts, unknown_rows


def _at_rows(lines: pl.Series, rows: pl.Series, test: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``test`` of the lines at ``rows`` (False for a blank one): run on those lines when they
    are few, else on the whole column, since gathering most of the lines copies them."""
    tested = test(lines.gather(rows)) if rows.len() * 2 < lines.len() else test(lines).gather(rows)
    return tested.fill_null(value=False)


def _non_json_record_starts(lines: pl.Series) -> pl.Series:
    """Which lines match _NON_JSON_RECORD_START (blank lines: False)."""
    found = _has(lines, _OTHER_RECORD_START)
    rest = (~found & lines.is_not_null()).arg_true()
    maybe_access = rest.filter(
        _at_rows(lines, rest, lambda some: some.str.contains(_ACCESS_LOG_LITERAL, literal=True))
    )
    access = maybe_access.filter(_at_rows(lines, maybe_access, lambda some: _has(some, _ACCESS_LOG_START)))
    return found.scatter(access, True) if access.len() else found


class _Above:
    """The lines above each of some rows, within the file each row is in."""

    def __init__(self, rows: pl.Series, first_rows: pl.Series | None) -> None:
        self.rows = rows
        # The first row of the file each of `rows` is in: nothing above it is looked at.
        if first_rows is None:
            self.file_start = pl.Series([0], dtype=pl.Int64).new_from_index(0, rows.len())
        else:
            starting = first_rows.cast(pl.Int64).sort()
            self.file_start = starting.gather(starting.search_sorted(rows, side="right") - 1)

    def back(self, series: pl.Series, steps: int) -> pl.Series:
        """The value `steps` rows above each of the rows; null above the first row of its file."""
        above = series.gather((self.rows - steps).clip(lower_bound=0))
        return above.zip_with(self.rows - steps >= self.file_start, pl.Series([None], dtype=series.dtype))


def _has(series: pl.Series, pattern: str) -> pl.Series:
    return series.str.contains(pattern).fill_null(value=False)


def _error_body(line: pl.Series, before_blank: pl.Series) -> pl.Series:
    """A JSON error body (`{"error": ...}`, `{"type":"error", ...}`) printed under a line that is
    not JSON itself (a status line, a log line, a header block), with a blank line between or not."""
    return _has(line, _ERROR_BODY) & ~before_blank.str.starts_with("{").fill_null(value=True)


def _in_header_block(lines: pl.Series, rows: pl.Series, above: _Above) -> pl.Series:
    """For each of ``rows``: is it a header line of an HTTP response, under its status line with
    only header lines between?"""
    line = lines.gather(rows)
    found = pl.Series([False]).new_from_index(0, rows.len())
    alive = _has(line, _HTTP_HEADER_LINE)
    for steps in range(1, _MAX_HEADER_LINES + 1):
        if not alive.any():
            break
        candidates = alive.arg_true()
        upper = above.back(lines, steps).gather(candidates)
        status = _has(upper, _HTTP_STATUS_LINE)
        found = found.scatter(candidates.filter(status), True)
        alive = alive.scatter(candidates.filter(status | ~_has(upper, _HTTP_HEADER_LINE)), False)
    return found


def _loose_continuation(
    lines: pl.Series, known: pl.Series, rows: pl.Series, first_rows: pl.Series | None
) -> pl.Series:
    """For each of ``rows``: does the line continue the record above? Indented lines, closing
    brackets and the like do; so do the exception line after a traceback frame or after a log
    line (Logback puts a blank line between), a lone opening bracket of a dumped object, the
    header lines under an HTTP status line, an error body printed under a status line, log line
    or header block (with a blank line between or not), the rest of a line that was wrapped
    inside a quoted string, and the rest of a line cut at the terminal's edge. A traceback
    starts a record of its own unless it follows a log line or is the next link of a chain of
    exceptions."""
    rows = rows.cast(pl.Int64)
    line = lines.gather(rows)
    above = _Above(rows, first_rows)
    previous = above.back(lines, 1)
    before_blank = previous.fill_null(above.back(lines, 2))
    previous_known = above.back(known, 1).fill_null(value=False)
    previous_json = previous.str.starts_with("{").fill_null(value=False)
    continuation_shape = ~line.str.contains(_CONTINUATION).fill_null(value=True)
    exception_line = _has(line, _EXCEPTION_LINE)
    exception_after_frame = exception_line & _has(previous, "^  ")
    # Logback's %wEx prints a blank line between a log line and the exception under it.
    log_line_above_blank = previous.is_null() & _has(above.back(lines, 2), _LOG_LEVEL_LINE)
    exception_after_log_line = exception_line & log_line_above_blank
    lone_bracket = _has(line, r"^[\[{]\s*$")
    error_body = _error_body(line, before_blank)
    previous_starts = previous_known | ~previous.str.contains(_CONTINUATION).fill_null(value=True)
    quotes = previous.str.count_matches('"', literal=True) - previous.str.count_matches('\\"', literal=True)
    wrapped = (quotes % 2 == 1).fill_null(value=False) & previous_starts & ~known.gather(rows)
    cut = (
        _has(line, _CUT_LINE_REST)
        & (previous.str.len_chars() >= _CUT_LINE_MIN_CHARS).fill_null(value=False)
        & _has(previous, _CUT_LINE_END)
    )
    # logger.exception() prints the traceback under a log line; a chain of exceptions prints
    # one traceback under another.
    chained = line.str.starts_with("Traceback (most recent call last):").fill_null(value=False) & (
        _has(before_blank, r"^(?:During handling of the above|The above exception)")
        | (previous_known & ~previous_json)
    )
    return (
        ~continuation_shape
        | exception_after_frame
        | exception_after_log_line
        | lone_bracket
        | error_body
        | wrapped
        | cut
        | chained
        | _in_header_block(lines, rows, above)
    )


# Line shapes logscan knows besides the formats' own: continuation lines of records.
_CONTINUATION_SHAPES = (
    r"^\s",
    r"^$",
    r"^[}\])]",
    r"^Traceback \(most recent call last\):",
    r"^(?:During handling of the above exception|The above exception was the direct cause)",
    r"^[A-Za-z_][\w.]*(?:Error|Exception|Warning)\b",
    r"^\{",  # JSON lines and dumped objects
)


def line_shape_counts(lines: pl.Series) -> dict[str, int]:
    """How many lines each format's parser recognises (a line can count for one only: the
    first format in FORMATS order), continuation lines, and lines nothing recognises."""
    remaining = lines.fill_null("")
    counts: dict[str, int] = {}
    for fmt in FORMATS:
        if fmt.id == "plain":
            continue
        taken = remaining.str.contains(fmt.detect)
        counts[fmt.id] = int(taken.sum())
        remaining = remaining.filter(~taken)
    continuation = remaining.str.contains("|".join(f"(?:{shape})" for shape in _CONTINUATION_SHAPES))
    counts["continuation"] = int(continuation.sum())
    counts["unknown"] = int((~continuation).sum())
    return counts


_KNOWN_LINE = "|".join(
    f"(?:{shape})" for shape in [*(fmt.detect for fmt in FORMATS if fmt.id != "plain"), *_CONTINUATION_SHAPES]
)
