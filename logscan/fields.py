"""What a 400 record shows about its request, beyond its format: the kind of record (an
Ollama access line, a proxy's, a client's), whether it carries a reason, the normalised
endpoint and model, the client address, user agent and latency, and whether it is Ollama's
400 at all. The requests stage joins records of one request on these fields.

Every function here builds vectorised Polars expressions over a record's ``text`` (its
lines), ``message`` (the lines the prefilter hit) and the columns formats.py extracted.
"""

from __future__ import annotations

import polars as pl

# The methods Ollama's API uses per path (server/routes.go), so that a record without a
# method counts under the same row as one with it. Paths with a parameter are matched by
# pattern and shown with the parameter's name.
OLLAMA_ENDPOINTS: dict[str, str] = {
    "/api/generate": "POST",
    "/api/chat": "POST",
    "/api/embed": "POST",
    "/api/embeddings": "POST",
    "/api/pull": "POST",
    "/api/push": "POST",
    "/api/create": "POST",
    "/api/copy": "POST",
    "/api/show": "POST",
    "/api/delete": "DELETE",
    "/api/tags": "GET",
    "/api/ps": "GET",
    "/api/version": "GET",
    "/api/blobs/:digest": "POST",
    "/v1/chat/completions": "POST",
    "/v1/completions": "POST",
    "/v1/embeddings": "POST",
    "/v1/responses": "POST",
    "/v1/messages": "POST",
    "/v1/audio/transcriptions": "POST",
    "/v1/models": "GET",
    "/v1/models/:model": "GET",
}
_PARAMETER_PATHS = (
    (r"^/api/blobs/[^/]+$", "/api/blobs/:digest"),
    (r"^/v1/models/.+$", "/v1/models/:model"),
)
# Open WebUI serves Ollama's API under /ollama; LiteLLM and others under an /ollama prefix too.
_PROXY_PREFIX = r"^/ollama(?:/\d+)?(/(?:api|v1)/)"
# Client libraries (record shapes, see formats.SHAPES) that only ever call Ollama.
OLLAMA_CLIENTS = ("ollama-python", "ollama-js", "langchain")

# Provider and registry prefixes in front of a model name (LiteLLM's `ollama_chat/`,
# Ollama's own full names since v0.5.2).
_MODEL_PREFIXES = r"^(?:ollama_chat/|ollama/)?(?:registry\.ollama\.ai/)?(?:library/)?"

# Access lines: the server's (GIN), a proxy's or web server's (nginx/Apache combined,
# uvicorn), and a client library's own (httpx, requests' urllib3 debug line).
_GIN = r"\[GIN\] \d{4}/\d{2}/\d{2} - \d{2}:\d{2}:\d{2} \|"
_GIN_FIELDS = r"\|\s*(?:\x1b\[[0-9;]*m)?\s*\d{3}\s*(?:\x1b\[[0-9;]*m)?\|\s*(\S+)\s*\|\s*(\S*)\s*\|"
_ACCESS_LOG = r'^(\S+) \S+ \S+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "'
_ACCESS_LOG_AGENT = r'\] "[^"]*" \d{3} \S+ "[^"]*" "([^"]*)"'
_UVICORN = r'(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]|[\w.-]+):\d+ - "[A-Z]+ \S+ HTTP/\d(?:\.\d)?" \d{3}'
_CLIENT_ACCESS = r'HTTP Request: [A-Z]+ \S+ "HTTP/\d(?:\.\d)? \d{3}|"[A-Z]+ \S+ HTTP/\d(?:\.\d)?" \d{3} \d+'
# A status shown with nothing else: a `curl -D -` header line, a dump's bare status field.
_STATUS_ONLY = (
    r"(?m)^\W*(?:HTTP/\d(?:\.\d)? 400(?: Bad Request)?|(?i:status(?:[ _-]?code)?)\W{0,3}400\W*"
    r"(?:Bad Request)?)\W*$"
)
# Words that show a record carries some reason besides its status.
_REASON_MARKERS = (
    r"(?i)error|exception|traceback|fail|invalid|not support|unsupported|required|exceed|too long"
    r"|too large|unauthori[sz]ed|forbidden|denied|limit|detail|reason|message|\{\""
)
# Ollama named as a product (`Ollama call failed`, `OllamaException`, Open WebUI's `Ollama: ...`),
# its Python package's errors, or its port; not a lower-case `ollama` in a URL or logger name.
_OLLAMA_MENTION = r"\bOllama|\bollama\._types\b|:11434\b"
# One regex for several shapes: one pass over the text instead of one per shape (each shape
# is a group of its own, so that its inline flags stay its own).
_PROXY_ACCESS = "|".join(f"(?:{shape})" for shape in (_ACCESS_LOG, _UVICORN))
_ACCESS_OR_STATUS_ONLY = "|".join(
    f"(?:{shape})" for shape in (_GIN, _ACCESS_LOG, _UVICORN, _CLIENT_ACCESS, _STATUS_ONLY)
)

KINDS = ("gin", "ollama", "proxy", "client")
_LEADING_TIME_AND_LEVEL = (
    r"^\W*(?:\d{4}[-/]\d{2}[-/]\d{2}[T ]\S+\s+|\d{2}:\d{2}:\d{2}\S*\s+)?(?:\S+\s+)?"
    r"(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\b\W*"
)
_GO_DURATION = r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)(ns|µs|us|ms|s))?$"
_DURATION_UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def normalised_endpoint(endpoint: pl.Expr) -> pl.Expr:
    """One spelling per API path: Open WebUI's /ollama prefix dropped, parameters named."""
    path = endpoint.str.replace(_PROXY_PREFIX, "$1")
    for pattern, name in _PARAMETER_PATHS:
        path = pl.when(path.str.contains(pattern)).then(pl.lit(name)).otherwise(path)
    return path


def default_method(method: pl.Expr, endpoint: pl.Expr) -> pl.Expr:
    """The method shown, else the one Ollama's API uses for the path."""
    return pl.coalesce(
        method, endpoint.replace_strict(OLLAMA_ENDPOINTS, default=None, return_dtype=pl.String)
    )


def normalised_model(model: pl.Expr) -> pl.Expr:
    return model.str.replace(_MODEL_PREFIXES, "")


def kind_expr(text: pl.Expr, shape_name: pl.Expr) -> pl.Expr:
    """gin, ollama (another Ollama server record), proxy (an access line of a proxy or web
    server in front of Ollama) or client."""
    return (
        pl.when(shape_name == "gin")
        .then(pl.lit("gin"))
        .when(shape_name.is_in(["ollama-slog", "llama-server"]))
        .then(pl.lit("ollama"))
        .when(text.str.contains(_PROXY_ACCESS))
        .then(pl.lit("proxy"))
        .otherwise(pl.lit("client"))
    )


def side_of(text: pl.Expr, side: pl.Expr) -> pl.Expr:
    """An access log in front of Ollama is the server side whatever user agent it shows."""
    return pl.when(text.str.contains(_ACCESS_LOG)).then(pl.lit("server")).otherwise(side)


def reasonless_expr(text: pl.Expr) -> pl.Expr:
    """True for access lines and status-only records: they show that a request failed, not why."""
    return (access_or_status_only(text) & shows_no_reason(text)).fill_null(value=False)


def access_or_status_only(text: pl.Expr) -> pl.Expr:
    """The record is an access line or shows a status and nothing else; only such a record
    can be reasonless (see reasonless_expr)."""
    return text.str.contains(_ACCESS_OR_STATUS_ONLY)


def shows_no_reason(text: pl.Expr) -> pl.Expr:
    """Nothing in the record looks like an error text: the words of an access line itself (a
    `Bad Request` reason phrase, the user agent) are not a reason."""
    rest = text.str.replace_all(r'"[^"]*"|\[[^\]]*\]|Bad Request', "")
    return ~rest.str.contains(_REASON_MARKERS)


def address_expr(text: pl.Expr) -> pl.Expr:
    """The client address an access line shows: GIN's client IP, the remote address of an
    access log, uvicorn's peer (without its port)."""
    return pl.coalesce(
        pl.when(text.str.contains(_GIN)).then(text.str.extract(_GIN_FIELDS, 2)),
        text.str.extract(_ACCESS_LOG, 1),
        text.str.extract(_UVICORN, 1).str.strip_chars("[]"),
    ).replace("", None)


def user_agent_expr(text: pl.Expr) -> pl.Expr:
    """The product token of the user agent an access log shows, lower-cased
    (`ollama-python/0.4.8 (x86_64 linux)` -> `ollama-python`)."""
    agent = text.str.extract(_ACCESS_LOG_AGENT, 1)
    token = agent.str.extract(r"^([^/\s]+)", 1).str.to_lowercase()
    return pl.when(token.is_in(["", "-"])).then(None).otherwise(token)


# Every GIN access line holds this; latency_expr finds nothing in a record without it.
GIN_LITERAL = "[GIN] "


def latency_expr(text: pl.Expr) -> pl.Expr:
    """GIN's latency column in seconds (a Go duration: `213.546µs`, `1.2s`, `2m15s`)."""
    duration = pl.when(text.str.contains(_GIN)).then(text.str.extract(_GIN_FIELDS, 1))
    # One struct, so that the duration is parsed once, not once per part used.
    part = pl.field
    unit = part("4").replace_strict(_DURATION_UNITS, default=None, return_dtype=pl.Float64)
    seconds = (
        part("1").cast(pl.Float64).fill_null(0) * 3600
        + part("2").cast(pl.Float64).fill_null(0) * 60
        + (part("3").cast(pl.Float64) * unit).fill_null(0)
    )
    shown = part("1").is_not_null() | part("2").is_not_null() | part("3").is_not_null()
    parts = duration.str.extract_groups(_GO_DURATION)
    return parts.struct.with_fields(latency=pl.when(shown).then(seconds)).struct.field("latency")


def reason_expr(message: pl.Expr, reasonless: pl.Expr) -> pl.Expr:
    """The error a record carries, to tell two records of one error from two errors: its
    last message line without a leading time and level; null when it carries none."""
    last = message.str.strip_chars().str.split("\n").list.last()
    return pl.when(~reasonless).then(last.str.replace(_LEADING_TIME_AND_LEVEL, "").str.strip_chars())


def header_expr(text: pl.Expr) -> pl.Expr:
    """A record's first line without its time and level: the log statement that wrote it."""
    return text.str.split("\n").list.first().str.replace(_LEADING_TIME_AND_LEVEL, "").str.slice(0, 300)


def ollama_evidence(
    text: pl.Expr, kind: pl.Expr, endpoint: pl.Expr, client: pl.Expr, rule_id: pl.Expr
) -> pl.Expr:
    """The record shows it is a 400 of Ollama's: an Ollama server record, one of Ollama's API
    paths, a URL on Ollama's port, a client library that only calls Ollama or a mention of
    Ollama (a wrapper that calls it), or a rule of the pack explained it."""
    return (
        kind.is_in(["gin", "ollama"])
        | client.is_in(OLLAMA_CLIENTS)
        | endpoint.is_in(list(OLLAMA_ENDPOINTS))
        | text.str.contains(_OLLAMA_MENTION)
        | rule_id.is_not_null()
    ).fill_null(value=False)
