"""What a 400 record shows of its request, on lines as the programs write them (catalogue §1, §4)."""

import polars as pl
import pytest

from logscan import fields

GIN = '[GIN] 2024/03/05 - 17:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"'
NGINX = (
    '10.0.3.17 - - [07/May/2025:08:59:38 +0200] "POST /api/chat HTTP/1.1" 400 81 "-" '
    '"ollama-python/0.4.8 (x86_64 linux) Python/3.12.3" rt=0.002 us=400 ut=0.002'
)
UVICORN = 'INFO:     172.18.0.1:53422 - "POST /ollama/api/chat HTTP/1.1" 400 Bad Request'
HTTPX = '2025-05-07 06:41:37,004 INFO httpx: HTTP Request: POST http://localhost:11434/api/show "HTTP/1.1 400 Bad Request"'
RESPONSE_ERROR = (
    "2025-05-07 07:14:03,512 ERROR chatbot: chat failed\nTraceback (most recent call last):\n"
    "ollama._types.ResponseError: registry.ollama.ai/library/gemma2:2b does not support tools (status code: 400)"
)


def one(expression: pl.Expr, text: str) -> object:
    return pl.DataFrame({"text": [text]}).select(expression).item()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (GIN, 213.546e-6),
        (
            '[GIN] 2026/03/10 - 12:27:15 | 400 |            0s |       127.0.0.1 | POST     "/v1/chat/completions"',
            0.0,
        ),
        (
            '[GIN] 2024/05/07 - 06:59:38 | 400 |    1.51872ms |             ::1 | POST     "/api/chat"',
            1.51872e-3,
        ),
        (
            '[GIN] 2024/05/07 - 06:59:38 | 400 |  4.118329583s |       127.0.0.1 | POST     "/api/embed"',
            4.118329583,
        ),
        ('[GIN] 2024/05/07 - 06:59:38 | 400 |        2m15s |       127.0.0.1 | POST     "/api/chat"', 135.0),
        (NGINX, None),
    ],
)
def test_latency_of_a_gin_line_in_seconds(text: str, seconds: float | None) -> None:
    found = one(fields.latency_expr(pl.col("text")), text)
    assert found == pytest.approx(seconds) if seconds is not None else found is None


@pytest.mark.parametrize(
    ("text", "kind", "address", "agent", "reasonless"),
    [
        (GIN, "gin", "127.0.0.1", None, True),
        (NGINX, "proxy", "10.0.3.17", "ollama-python", True),
        (UVICORN, "proxy", "172.18.0.1", None, True),
        (HTTPX, "client", None, None, True),
        ("HTTP/1.1 400 Bad Request", "client", None, None, True),
        ("Status Code: 400", "client", None, None, True),
        (RESPONSE_ERROR, "client", None, None, False),
        ('{"error":"model is required"}', "client", None, None, False),
    ],
)
def test_kind_address_user_agent_and_whether_a_reason_is_shown(
    text: str, kind: str, address: str | None, agent: str | None, reasonless: bool
) -> None:
    shape = "gin" if text.startswith("[GIN]") else None
    assert one(fields.kind_expr(pl.col("text"), pl.lit(shape, pl.String)), text) == kind
    assert one(fields.address_expr(pl.col("text")), text) == address
    assert one(fields.user_agent_expr(pl.col("text")), text) == agent
    assert one(fields.reasonless_expr(pl.col("text")), text) is reasonless


def test_an_access_log_line_is_the_server_side_whatever_its_user_agent() -> None:
    behind_nginx = NGINX.replace("ollama-python/0.4.8 (x86_64 linux) Python/3.12.3", "python-httpx/0.28.1")
    assert one(fields.side_of(pl.col("text"), pl.lit("client")), behind_nginx) == "server"
    assert one(fields.side_of(pl.col("text"), pl.lit("client")), HTTPX) == "client"


def test_the_reason_is_the_last_message_line_without_time_and_level() -> None:
    reason = fields.reason_expr(pl.col("text"), pl.lit(value=False))
    assert one(reason, RESPONSE_ERROR) == (
        "ollama._types.ResponseError: registry.ollama.ai/library/gemma2:2b does not support tools (status code: 400)"
    )
    assert one(fields.header_expr(pl.col("text")), RESPONSE_ERROR) == "chatbot: chat failed"


@pytest.mark.parametrize(
    ("endpoint", "normalised", "method"),
    [
        ("/ollama/api/chat", "/api/chat", "POST"),
        ("/api/blobs/sha256:9f3c0aa1bbcc02", "/api/blobs/:digest", "POST"),
        ("/v1/models/llama3:8b", "/v1/models/:model", "GET"),
        ("/api/tags", "/api/tags", "GET"),
        ("/login", "/login", None),
    ],
)
def test_one_spelling_per_api_path_and_the_method_it_uses(
    endpoint: str, normalised: str, method: str | None
) -> None:
    frame = pl.DataFrame({"endpoint": [endpoint]}).select(path=fields.normalised_endpoint(pl.col("endpoint")))
    assert frame.item() == normalised
    assert frame.select(fields.default_method(pl.lit(None, pl.String), pl.col("path"))).item() == method


@pytest.mark.parametrize(
    ("model", "normalised"),
    [
        ("ollama_chat/llama3.1:8b", "llama3.1:8b"),
        ("ollama/phi3:mini", "phi3:mini"),
        ("registry.ollama.ai/library/gemma2:2b", "gemma2:2b"),
        (
            "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
            "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
        ),
    ],
)
def test_models_lose_provider_and_registry_prefixes(model: str, normalised: str) -> None:
    assert one(fields.normalised_model(pl.col("text")), model) == normalised


@pytest.mark.parametrize(
    ("text", "client", "ollama"),
    [
        (GIN, None, True),
        (RESPONSE_ERROR, "ollama-python", True),
        ("ERROR api.billing: invoice INV-88412 not charged: stripe returned status 400", None, False),
        ('{"url": "https://hooks.initech.example/ollama-jobs", "status": 400}', None, False),
        ("litellm.APIConnectionError: Ollama_chatException - status 400", None, True),
        ("POST http://ollama:11434/whatever 400", None, True),
    ],
)
def test_which_400s_are_ollamas(text: str, client: str | None, ollama: bool) -> None:
    kind = "gin" if text.startswith("[GIN]") else "client"
    evidence = fields.ollama_evidence(
        pl.col("text"),
        pl.lit(kind),
        pl.lit(None, pl.String),
        pl.lit(client, pl.String),
        pl.lit(None, pl.String),
    )
    assert one(evidence, text) is ollama
