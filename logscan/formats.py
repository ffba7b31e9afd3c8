"""Log formats and record shapes: detecting a file's format, and extracting fields (status,
timestamp, method, endpoint, model, side, client) vectorised.

A *format* is what a whole file is written in; it decides where multi-line records start
(recordstarts.py).
A *shape* is what one record looks like (a GIN access line, an ollama-python exception...);
it decides the side of the wire and the client. Adding either is a local change: one entry
in ``FORMATS`` or ``SHAPES``.
"""

from __future__ import annotations

import re
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


PYTHON_LEVELS = r"(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)"

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
            rf"^\[?\d{{4}}-\d{{2}}-\d{{2}}[ T]\d{{2}}:\d{{2}}:\d{{2}}\S*.{{0,60}}?\b{PYTHON_LEVELS}\b"
            rf"|^{PYTHON_LEVELS}:[\w.]*:|^{PYTHON_LEVELS}:\s+\S"  # basicConfig, uvicorn
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


# Records that are never occurrences, whatever numbers they show: llama.cpp runner request
# logs repeat the GIN line of the same request, and gin's debug and panic output is noise.
NOISE_RECORD = r"\[log_server_request\]|\blog_server_r\b|^\[GIN-debug\]|\[Recovery\]"


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
