from datetime import UTC, datetime

import polars as pl
import pytest

from logscan import formats, recordstarts, timestamps

# Real lines quoted in the Ollama 400 catalogue (section 1 and 4).
GIN_400 = '[GIN] 2024/03/05 - 17:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"'
GIN_COLOUR = '[GIN] 2024/03/05 - 17:05:59 |\x1b[90;43m 400 \x1b[0m|     213.546µs |       127.0.0.1 |\x1b[97;46m POST    \x1b[0m "/api/chat"'
SLOG = 'time=2025-01-10T22:07:10.961+08:00 level=INFO source=images.go:757 msg="total blobs: 0"'
OLD_GO_LOG = '2025/01/21 16:42:13 routes.go:1187: INFO server config env="map[OLLAMA_HOST:]"'
HTTPX = 'INFO:httpx:HTTP Request: POST http://localhost:11434/v1/chat/completions "HTTP/1.1 400 Bad Request"'
OLLAMA_PYTHON = "ollama._types.ResponseError: registry.ollama.ai/library/dolphin-mistral:latest does not support tools (status code: 400)"
REQUESTS = "requests.exceptions.HTTPError: 400 Client Error: Bad Request for url: http://localhost:11434/api/generate"
OPENAI = "openai.BadRequestError: Error code: 400 - {'error': {'message': 'registry.ollama.ai/library/llama3:8b does not support tools', 'type': 'api_error', 'param': None, 'code': None}}"
LANGCHAIN = 'ValueError: Ollama call failed with status code 400. Details: {"error":"model is required"}'
HTTPX_ERROR = (
    "httpx.HTTPStatusError: Client error '400 Bad Request' for url 'http://localhost:11434/api/chat'"
)
OPENAI_NODE = "BadRequestError: 400 json: cannot unmarshal array into Go struct field Message.messages.content of type string"
UVICORN = 'INFO:     172.18.0.1:53422 - "POST /ollama/api/chat HTTP/1.1" 400 Bad Request'
CONTINUE = "HTTP 400 Bad Request from http://localhost:11434/api/chat"
GOOSE = "Request failed: Bad request (400): json: cannot unmarshal array into Go struct field"
EMBEDDINGS = 'ValueError: Error raised by inference API HTTP code: 400, {"error":"input length exceeds maximum context length"}'


def evaluate(expr_of_text, values: list[str]) -> list:
    frame = pl.DataFrame({"text": values})
    return frame.select(out=expr_of_text(formats.strip_ansi(pl.col("text")))).get_column("out").to_list()


@pytest.mark.parametrize(
    "line",
    [GIN_400, GIN_COLOUR, HTTPX, OLLAMA_PYTHON, REQUESTS, OPENAI, LANGCHAIN, HTTPX_ERROR, OPENAI_NODE,
     UVICORN, CONTINUE, GOOSE, EMBEDDINGS],
)  # fmt: skip
def test_every_client_and_server_shape_shows_its_400(line: str) -> None:
    assert evaluate(formats.status_expr, [line]) == [400]


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ('  File "/app/bot.py", line 400, in handle', None),
        ("INFO app: listening on 0.0.0.0:4000", None),
        (
            "For more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/400",
            None,
        ),
        (
            'print(f"Error: Failed to communicate with Ollama API, status code: {response.status_code}")',
            None,
        ),
        (
            'time=2025-01-10T22:07:10.961Z level=INFO source=server.go:400 msg="loaded 4000 bytes"',
            None,
        ),
        (
            '[GIN] 2024/03/05 - 17:05:59 | 404 |     213.546µs |       127.0.0.1 | POST     "/api/chat"',
            404,
        ),
        (
            'ollama._types.ResponseError: model "llama3:70b" not found, try pulling it first (status code: 404)',
            404,
        ),
        (
            'INFO:httpx:HTTP Request: POST http://x:11434/api/chat "HTTP/1.1 500 Internal Server Error"',
            500,
        ),
        ("Error 403: Forbidden", 403),
    ],
)
def test_decoys_and_other_statuses_are_not_400(line: str, status: int | None) -> None:
    assert evaluate(formats.status_expr, [line]) == [status]


def test_a_record_showing_400_and_another_status_is_a_400() -> None:
    text = f'{HTTPX_ERROR}\n  File "x.py", line 500, in y\n{OLLAMA_PYTHON}'
    assert evaluate(formats.status_expr, [text]) == [400]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            [GIN_400, SLOG, OLD_GO_LOG, "[GIN-debug] POST   /api/chat   --> handler (5 handlers)"],
            "ollama-server",
        ),
        ([GIN_COLOUR, GIN_COLOUR], "ollama-server"),
        (
            [
                "2025-05-07 07:14:03,512 INFO httpx: HTTP Request: POST ...",
                "Traceback (most recent call last):",
            ],
            "python-logging",
        ),
        (
            [
                "ERROR:worker:summarise failed",
                "Traceback (most recent call last):",
                '  File "w.py", line 1',
            ],
            "python-logging",
        ),
        (["something else entirely", "and more"], "plain"),
    ],
)
def test_detect_format(lines: list[str], expected: str) -> None:
    assert formats.detect_format(pl.Series(lines)).id == expected


def test_python_records_join_tracebacks_to_the_line_above() -> None:
    lines = pl.Series(
        [
            "2025-05-07 07:14:03,512 ERROR bot: chat failed",
            "Traceback (most recent call last):",
            '  File "/app/bot.py", line 400, in handle',
            OLLAMA_PYTHON,
            "2025-05-07 07:14:05,000 INFO bot: next",
        ]
    )
    starts = recordstarts.record_starts_and_unknown(lines, formats.FORMATS_BY_ID["python-logging"])[0]
    assert starts.to_list() == [True, False, False, False, True]


def test_plain_records_join_indented_lines_and_the_exception_after_them() -> None:
    lines = pl.Series(
        [
            "Traceback (most recent call last):",
            '  File "a.py", line 3',
            OLLAMA_PYTHON,
            "next line",
            None,
        ]
    )
    starts = recordstarts.record_starts_and_unknown(lines, formats.FORMATS_BY_ID["plain"])[0]
    assert starts.to_list() == [True, False, False, True, False]


@pytest.mark.parametrize(
    ("header", "zone", "expected"),
    [
        (GIN_400, "UTC", datetime(2024, 3, 5, 17, 5, 59, tzinfo=UTC)),
        (GIN_400, "Europe/Berlin", datetime(2024, 3, 5, 16, 5, 59, tzinfo=UTC)),
        (SLOG, "UTC", datetime(2025, 1, 10, 14, 7, 10, 961000, tzinfo=UTC)),
        (
            "2025-05-07 07:14:03,512 INFO x: y",
            "UTC",
            datetime(2025, 5, 7, 7, 14, 3, 512000, tzinfo=UTC),
        ),
        (
            "2024-05-07T06:59:38+0800 host ollama[1]: x",
            "UTC",
            datetime(2024, 5, 6, 22, 59, 38, tzinfo=UTC),
        ),
        (
            "2024-05-07T06:59:38.123456789Z x",
            "UTC",
            datetime(2024, 5, 7, 6, 59, 38, 123456, tzinfo=UTC),
        ),
        (OLD_GO_LOG, "UTC", datetime(2025, 1, 21, 16, 42, 13, tzinfo=UTC)),
        # 02:30 does not exist in Berlin on 2025-03-30 (clocks jump 02:00 -> 03:00): it is read
        # with the offset before the gap (+01:00).
        ("2025-03-30 02:30:00,000 ERROR x", "Europe/Berlin", datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
        (
            '10.0.3.17 - - [07/May/2025:08:59:38 +0200] "POST /api/chat HTTP/1.1" 400',
            "UTC",
            datetime(2025, 5, 7, 6, 59, 38, tzinfo=UTC),
        ),
        (
            '{"level":50,"time":1746601178400,"pid":7}',
            "UTC",
            datetime(2025, 5, 7, 6, 59, 38, 400000, tzinfo=UTC),
        ),
        ('{"function":"x","timestamp":1713627866}', "UTC", datetime(2024, 4, 20, 15, 44, 26, tzinfo=UTC)),
        # 02:30 happens twice on 2025-10-26; the earlier instant (still CEST, +02:00) is taken.
        (
            "2025-10-26 02:30:00,000 ERROR x",
            "Europe/Berlin",
            datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
        ),
        ("no time here", "UTC", None),
    ],
)
def test_timestamps_become_utc(header: str, zone: str, expected: datetime | None) -> None:
    texts = pl.Series([header, "no time here", header])
    assert timestamps.parse_timestamps(texts, zone).to_list() == [expected, None, expected]


def test_method_endpoint_and_model() -> None:
    method, endpoint = formats.method_and_endpoint(pl.col("text"))
    frame = pl.DataFrame(
        {
            "text": [
                GIN_400,
                HTTPX_ERROR,
                UVICORN,
                OLLAMA_PYTHON,
                '{"model": "llama3.2", "x": 1}',
                "    resp = client.chat(model=model, messages=m)",
                'level=WARN msg="x" model=qwen2.5:7b',
            ]
        }
    )
    out = frame.select(
        method=method, endpoint=endpoint, model=formats.model_expr(pl.col("text"), pl.col("text"))
    )
    assert out.rows() == [
        ("POST", "/api/chat", None),
        (None, "/api/chat", None),
        ("POST", "/ollama/api/chat", None),
        (None, None, "dolphin-mistral:latest"),
        (None, None, "llama3.2"),
        (None, None, None),
        (None, None, "qwen2.5:7b"),
    ]


def test_side_and_client() -> None:
    side, client = formats.side_and_client(pl.col("shape"), pl.lit("client"))
    frame = pl.DataFrame({"text": [GIN_400, OLLAMA_PYTHON, HTTPX, REQUESTS, OPENAI, LANGCHAIN, "other"]})
    frame = frame.with_columns(shape=formats.shape_expr(pl.col("text")))
    assert frame.select(side=side, client=client).rows() == [
        ("server", "gin"),
        ("client", "ollama-python"),
        ("client", "httpx"),
        ("client", "requests"),
        ("client", "openai"),
        ("client", "langchain"),
        ("client", None),
    ]


def test_no_lines_are_plain_text() -> None:
    assert formats.detect_format(pl.Series([], dtype=pl.String)).id == "plain"
    assert formats.detect_format(pl.Series([None, None], dtype=pl.String)).id == "plain"
