"""Log formats and line shapes: detecting a file's format, telling where records start, and
extracting fields (status, timestamp, method, endpoint, model, side, client) vectorised.

A *format* is what a whole file is written in; it decides where multi-line records start.
A *shape* is what one record looks like (a GIN access line, an ollama-python exception...);
it decides the side of the wire and the client. Adding either is a local change: one entry
in ``FORMATS`` or ``SHAPES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from logscan.timestamps import TIMESTAMP

Side = Literal["server", "client"]

ANSI_ESCAPE = r"\x1b\[[0-9;]*m"


@dataclass(frozen=True)
class FileFormat:
    id: str
    description: str
    side: Side
    # Matches lines typical of the format; the format that explains most sampled lines wins.
    detect: str
    # False: only lines of a known record shape start a record (a Python logging record runs
    # until the next one, whatever lines it holds). True: any line starts one unless it looks
    # like a continuation (indented, a closing bracket, a wrapped line...).
    loose_records: bool


_PYTHON_LEVELS = r"(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)"

FORMATS: tuple[FileFormat, ...] = (
    FileFormat(
        id="ollama-server",
        description="Ollama server log: GIN access lines, slog lines, runner output",
        side="server",
        detect=(
            r"^(?:\x1b\[[0-9;]*m)?\[GIN(?:-debug)?\]|^time=\S+ level=[A-Z]+ source="
            r"|^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \w+\.go:\d+:"
            r"|^(?:llama_|ggml_|load_tensors:|print_info:|llm_load_|srv |slot )"
        ),
        loose_records=True,
    ),
    FileFormat(
        id="python-logging",
        description="Python logging records, tracebacks joined to the record above them",
        side="client",
        detect=(
            rf"^\[?\d{{4}}-\d{{2}}-\d{{2}}[ T]\d{{2}}:\d{{2}}:\d{{2}}\S*.{{0,60}}?\b{_PYTHON_LEVELS}\b"
            rf"|^{_PYTHON_LEVELS}:[\w.]*:|^{_PYTHON_LEVELS}:\s+\S"  # basicConfig, uvicorn
        ),
        loose_records=False,
    ),
    FileFormat(
        id="access-log",
        description="nginx or Apache access log (a proxy in front of Ollama)",
        side="server",
        detect=r'^\S+ \S+ \S+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "',
        loose_records=True,
    ),
    FileFormat(
        id="json-lines",
        description="one JSON object per line (pino, zerolog, structlog...)",
        side="client",
        detect=r'^\{"',
        loose_records=True,
    ),
    FileFormat(
        id="timestamped-text",
        description="lines that start with a time but no known logger layout (Node, Go, LiteLLM)",
        side="client",
        detect=r"^(?:\x1b\[[0-9;]*m)?\[?(?:\d{4}-\d{2}-\d{2}[ T])?\d{2}:\d{2}:\d{2}",
        loose_records=True,
    ),
    FileFormat(
        id="plain",
        description="any other text: indented lines continue the record above them",
        side="client",
        detect=r"^\S",
        loose_records=True,
    ),
)
FORMATS_BY_ID = {fmt.id: fmt for fmt in FORMATS}
_DETECTION_THRESHOLD = 0.2
DETECTION_SAMPLE_LINES = 2000

# Lines that begin a record whatever the file's format: log lines with a known prefix.
_JSON_LINE_START = '{"'
# Record starts other than JSON lines: the scan tells JSON lines apart (see record_starts_of_files).
_NON_JSON_RECORD_STARTS = tuple(
    shape
    for shape in (
        *(fmt.detect for fmt in FORMATS if fmt.id not in ("plain", "python-logging", "json-lines")),
        r"^\[Recovery\]",
        r"^\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}",  # timestamp first
        rf"^{_PYTHON_LEVELS}:|^{_PYTHON_LEVELS}\s+\[?\d{{4}}-",  # logging.basicConfig, uvicorn
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


def detect_format(sample: pl.Series) -> FileFormat:
    """The format that explains the largest share of the sample's non-blank lines."""
    groups = pl.Series([0], dtype=pl.UInt32).new_from_index(0, sample.len())
    return detect_formats(sample, groups).get(0, FORMATS_BY_ID["plain"])


def detect_formats(lines: pl.Series, groups: pl.Series) -> dict[int, FileFormat]:
    """`detect_format` for each group of lines (the lines of one file each), from the first
    lines of each group; every group in ``groups`` gets one."""
    frame = pl.DataFrame({"line": lines, "group": groups})
    shares = (
        frame.filter(pl.int_range(pl.len()).over("group") < DETECTION_SAMPLE_LINES)
        .drop_nulls("line")
        .group_by("group")
        .agg(
            pl.col("line").str.contains(fmt.detect).mean().alias(fmt.id)
            for fmt in FORMATS
            if fmt.id != "plain"
        )
    )
    detected = dict.fromkeys(groups.unique().to_list(), FORMATS_BY_ID["plain"])
    for row in shares.iter_rows(named=True):
        best, best_share = FORMATS_BY_ID["plain"], _DETECTION_THRESHOLD
        for fmt in FORMATS:
            share = row.get(fmt.id) or 0.0
            if fmt.id != "plain" and share > best_share:
                best, best_share = fmt, share
        detected[row["group"]] = best
    return detected


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


# Records that are never occurrences, whatever numbers they show: llama.cpp runner request
# logs repeat the GIN line of the same request, and gin's debug and panic output is noise.
NOISE_RECORD = r"\[log_server_request\]|\blog_server_r\b|^\[GIN-debug\]|\[Recovery\]"

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


@dataclass(frozen=True)
class Shape:
    """A record shape that tells the side of the wire and, for clients, which library logged."""

    name: str
    side: Side
    pattern: str


# Order matters: the first shape found in a record names its side and client.
SHAPES: tuple[Shape, ...] = (
    Shape("gin", "server", r"\[GIN\] \d{4}/\d{2}/\d{2} - \d{2}:\d{2}:\d{2} \|"),
    Shape("ollama-slog", "server", r"time=\S+ level=[A-Z]+ source=\S+:\d+ msg="),
    Shape("llama-server", "server", r"\blog_server_r|\[log_server_request\]"),
    # ollama-js throws a ResponseError too: its stack names the package's files.
    Shape("ollama-js", "client", r"node_modules/ollama/|\bollama-js\b"),
    Shape("ollama-python", "client", r"ollama\._types\.ResponseError|\bResponseError\b"),
    Shape("openai", "client", r"\bopenai\.|BadRequestError"),
    Shape("langchain", "client", r"Ollama call failed with status code|Error raised by inference API"),
    Shape("httpx", "client", r"\bhttpx\b|HTTP Request: [A-Z]+ |Client error '"),
    Shape("requests", "client", r"requests\.exceptions|\d{3} Client Error"),
)

# Each alternative captures a status code in a shape known to carry one. A bare number is
# never a status: `line 400`, port 4000 and `.../Status/400` links must not count.
_REASON_PHRASES = (
    r"(?i:Bad Request|Client Error|Server Error|Not Found|Unauthorized|Forbidden|Too Many Requests"
    r"|Internal Server Error|Service Unavailable|Bad Gateway|Payload Too Large|Request Entity Too Large)"
)
# Quotes around a key or value: ASCII, and the typographic ones of text retyped by hand.
_QUOTE = "[\"'\u201c\u201d\u2018\u2019`]"
_STATUS_SHAPES = (
    r"\|(?:\x1b\[[0-9;]*m)?\s*([1-5]\d\d)\s*(?:\x1b\[[0-9;]*m)?\|",  # GIN access line, coloured or not
    # A status field in a struct, map or object dump, in any language's notation: `status: 400`,
    # `statusCode: 400`, `status_code=400`, `"status":400`, `StatusCode:400` (Go %+v), `:status=>400`
    # (Ruby), `[status] => 400` and `'status' => 400` (PHP), `Status(400)` (Rust reqwest),
    # `http_status: 400`, `Status Code: 400` (Swift), and the prose `status code 400`, `status 400`.
    rf"(?i:(?:http[ _-]?)?status(?:[ _-]?code)?){_QUOTE}?\]?\s*(?::|=>|=|\()?\s*(?:int\()?{_QUOTE}?"
    r"([1-5]\d\d)\b",
    # Java's `response code: 400` (HttpURLConnection), OkHttp's `Response{..., code=400, message=...}`,
    # a JSON error body's `"code": 400`.
    r"(?i:response[ _-]?code)\W{0,3}([1-5]\d\d)\b",
    r"\bcode=([1-5]\d\d), message=",
    rf"{_QUOTE}code{_QUOTE}\s*:\s*{_QUOTE}?([1-5]\d\d)\b",
    r"HTTP/\d(?:\.\d)?\"?\s+([1-5]\d\d)\b",  # "HTTP/1.1 400 Bad Request", uvicorn access lines, curl -D -
    # A number before its reason phrase: `400 Bad Request`, `400 (Bad Request)` (.NET, browsers),
    # `400 "Bad Request"` (Ruby Net::HTTP), `400 bad request` retyped by hand.
    rf"\b([1-5]\d\d) [\"(]?{_REASON_PHRASES}\b",
    rf"\b{_REASON_PHRASES} \(([1-5]\d\d)\)",  # goose `Bad request (400)`
    r"\b(?i:Error code|HTTP code|HTTP)[:\s]\s*([1-5]\d\d)\b",  # openai, LangChain embeddings, Continue
    # openai-node `BadRequestError: 400`, `API Error: 400`, Spring AI `NonTransientAiException: 400 - `
    r"(?:Error|Exception):? ([1-5]\d\d)\b",
    r"\b([1-5]\d\d) status code\b",  # openai-node `400 status code (no body)`
    r"\b([1-5]\d\d), message=",  # aiohttp ClientResponseError `400, message='Bad Request'`
    r"\((?:GET|POST|PUT|DELETE|PATCH|HEAD) \S+\) ([1-5]\d\d)\b",  # Java HttpResponse `(POST http://...) 400`
    # Alamofire (Swift): `Response status code was unacceptable: 400.`, `unacceptableStatusCode(code: 400)`
    r"(?i:status code was unacceptable): ([1-5]\d\d)\b|unacceptableStatusCode\(code: ([1-5]\d\d)\)",
)
# ollama-python's mark of an error that came inside a stream (HTTP 200): not an HTTP status,
# and not a 400 either, whatever message it carries.
_NO_HTTP_STATUS = r"\(status code: (-1)\)"


def _status_alternatives(shapes: tuple[str, ...]) -> str:
    # ASCII word boundaries: a Unicode `\b` keeps the Rust engine off its DFA on any line with a
    # non-ASCII character (GIN's `µs`), which made the status search five to ten times slower.
    return "|".join(f"(?:{shape})" for shape in shapes).replace(r"\b", r"(?-u:\b)")


STATUS_PATTERN = _status_alternatives((*_STATUS_SHAPES, _NO_HTTP_STATUS))
# The same shapes showing a 400: a line matching none of them can make its record a 400 only
# through a message that implies one.
STATUS_400_PATTERN = _status_alternatives(_STATUS_SHAPES).replace(r"[1-5]\d\d", "400")

# Prefilter anchors: every record showing a 400 contains one of the first; the keys after them
# mark the lines of a dumped object that hold its message, so that a dump's message is among
# the lines rules see even where no rule names its words. Each key is written with what comes
# before it in some language's notation, so that `clarifyTimeoutError: false` is no message.
_MESSAGE_FIELDS = ("message", "Message", "error", "Error", "reason", "Reason", "detail", "Detail")
_FIELD_FORMS = (
    " {}:",  # JS, Rust, Elixir, Ruby 3.4, Go %+v: `message: '...'`, `Message:...`
    "{{{}:",
    " {}=",  # Java toString, logfmt: `message=...`
    "{{{}=",
    '"{}":',  # JSON
    "'{}':",  # Python repr
    '"{}"=>',  # Ruby hash inspect
    '"{}" =>',  # Elixir map, PHP var_export
    "'{}' =>",
    "[{}] =>",  # PHP print_r
    ":{}=>",  # Ruby symbol keys
)
STATUS_ANCHORS: tuple[str, ...] = (
    "400",
    "Bad Request",
    "Bad request",
    "bad request",
    "ErrorMessage:",  # Go %+v of ollama's api.StatusError
    *(form.format(field) for field in _MESSAGE_FIELDS for form in _FIELD_FORMS),
)

_METHODS = r"(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)"
_METHOD_AND_PATH = rf"\b({_METHODS})\s+\"?(?:(https?://[^\s/\"']+))?(/[^\s\"'?]*)"
_URL_PATH = r"(?:url:?\s*'?|from\s+)https?://[^\s/\"']+(/[^\s\"'?]*)"
# The ollama-python or ollama-js client method a traceback or stack went through names the
# endpoint it called (`File ".../ollama/_client.py", line 342, in chat`, `at Ollama.chat`).
_CLIENT_CALL = r"(?:ollama/_client\.py\", line \d+, in |\bat Ollama\.)(\w+)"
_CLIENT_CALL_PATHS = {
    **{
        name: f"/api/{name}"
        for name in (
            "chat",
            "generate",
            "embed",
            "embeddings",
            "pull",
            "push",
            "create",
            "show",
            "copy",
            "delete",
            "ps",
        )
    },
    "list": "/api/tags",
}
# A structured log's own field for the path it called (`"endpoint": "/api/chat"`, `path=/api/chat`).
_FIELD_PATH = r"\b(?:endpoint|path|route|url)[\"']?\s*[:=]\s*[\"']?(?:https?://[^\s/\"']+)?(/[^\s\"'?,}]*)"
_MODEL_PATTERNS = (
    r"[\"']model[\"']\s*:\s*[\"']([^\"'\s]+)[\"']",
    # key=value: quoted, or with a tag, so that source lines such as `chat(model=model)` do not count
    r"\bmodel=(?:\"([^\"]+)\"|([\w./-]+:[\w.-]+))",
    # A name before "does not support" only when it looks like one (quoted, or with a tag, a
    # path or a digit), so that "raw mode does not support ..." names no model `mode`.
    r"\"([\w][\w.:/-]*)\" does not support|\b([\w.-]*[:/\d][\w.:/-]*) does not support",
)
_REGISTRY_PREFIX = r"^registry\.ollama\.ai/(?:library/)?"
# Every match of a _MODEL_PATTERNS pattern holds one of these: a record without them names no
# model, and the patterns need not run on it.
MODEL_LITERALS = ("model", "does not support")


def strip_ansi(column: pl.Expr) -> pl.Expr:
    return column.str.replace_all(ANSI_ESCAPE, "")


def _first_capture(column: pl.Expr, pattern: str, groups: int) -> pl.Expr:
    captures = column.str.extract_groups(pattern)
    return pl.coalesce([captures.struct.field(str(i)) for i in range(1, groups + 1)])


def status_expr(text: pl.Expr) -> pl.Expr:
    """400 if the record shows a 400 anywhere, else the first other status it shows, else null."""
    shown = text.str.extract_all(STATUS_PATTERN)
    codes = shown.list.eval(pl.element().str.extract(r"(-1|[1-5]\d\d)\D*$").cast(pl.Int32))
    return pl.when(codes.list.contains(400)).then(pl.lit(400, pl.Int32)).otherwise(codes.list.first())


def shape_expr(text: pl.Expr) -> pl.Expr:
    """The position in SHAPES of the first shape the text shows; null if it shows none."""
    return pl.coalesce(
        pl.when(text.str.contains(shape.pattern)).then(pl.lit(number, pl.UInt8))
        for number, shape in enumerate(SHAPES)
    )


def side_and_client(shape: pl.Expr, default_side: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Side and client of a record from its shape (see shape_expr); a record of no known
    shape is on the side of its file's format."""
    sides = {number: shape.side for number, shape in enumerate(SHAPES)}
    names = {number: shape.name for number, shape in enumerate(SHAPES)}
    side = shape.replace_strict(sides, default=None, return_dtype=pl.String).fill_null(default_side)
    return side, shape.replace_strict(names, default=None, return_dtype=pl.String)


def method_and_endpoint(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The method and endpoint of request_expr, as two expressions (each evaluates it: where
    both are wanted, take request_expr's fields from a column of it)."""
    request = request_expr(text)
    return request.struct.field("method"), request.struct.field("endpoint")


def request_expr(text: pl.Expr) -> pl.Expr:
    """The request a record shows, the call it made first, as a struct with fields ``method``
    and ``endpoint`` (beside the extractions they come from): a method with a full URL (a
    client library's access line), the Ollama client method a traceback went through, a URL
    or a structured field naming a path; then a method and a bare path, which in an
    application's own log may be its own route rather than the call to Ollama. Each pattern
    runs once per record."""
    found = pl.struct(
        request=text.str.extract_groups(_METHOD_AND_PATH),
        client_call=text.str.extract(_CLIENT_CALL, 1),
        url_path=text.str.extract(_URL_PATH, 1),
        field_path=text.str.extract(_FIELD_PATH, 1),
    )
    request = pl.field("request").struct.field
    bare_method, host, bare_path = request("1"), request("2"), request("3")
    client_call = pl.field("client_call").replace_strict(
        _CLIENT_CALL_PATHS, default=None, return_dtype=pl.String
    )
    endpoint = pl.coalesce(
        pl.when(host.is_not_null()).then(bare_path),
        client_call,
        pl.field("url_path"),
        pl.field("field_path"),
        bare_path,
    )
    method = pl.when(endpoint == bare_path).then(bare_method)
    # A path at the end of a sentence drags its punctuation along ("... for POST /v1/x: ...").
    return found.struct.with_fields(method=method, endpoint=endpoint.str.strip_chars_end(":,.;)"))


def model_expr(message: pl.Expr, text: pl.Expr) -> pl.Expr:
    """The model named in the hit lines, else anywhere in the record's text."""
    found = pl.coalesce(
        [
            _first_capture(source, p, re.compile(p).groups)
            for source in (message, text)
            for p in _MODEL_PATTERNS
        ]
    )
    return found.str.replace(_REGISTRY_PREFIX, "")


def detect_zones(lines: pl.Series, groups: pl.Series) -> dict[int, str]:
    """For each group of lines (one file each) whose zone-less timestamps sit beside
    timestamps with a UTC offset (GIN lines beside Ollama's slog `+02:00`), the zone those
    lines show, when they all show the same one: `UTC` or a fixed offset such as `+02:00`.
    Groups that show no offset, or several (a DST change), are left out."""
    found = (
        pl.DataFrame({"line": lines, "group": groups})
        .filter(pl.int_range(pl.len()).over("group") < DETECTION_SAMPLE_LINES)
        .select("group", parts=pl.col("line").str.extract_groups(TIMESTAMP))
        .filter(pl.col("parts").struct.field("1").is_not_null())
        .select("group", zone=pl.col("parts").struct.field("6"))
        .group_by("group")
        .agg(zones=pl.col("zone").drop_nulls().unique(), zoneless=pl.col("zone").is_null().sum())
        .filter((pl.col("zoneless") > 0) & (pl.col("zones").list.len() == 1))
    )
    return {group: _zone_name(zones[0]) for group, zones in found.select("group", "zones").iter_rows()}


def _zone_name(offset: str) -> str:
    if offset == "Z" or offset.replace(":", "") in ("+0000", "-0000"):
        return "UTC"
    return offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"
