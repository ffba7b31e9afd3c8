#!/usr/bin/env python3
"""Generate a seeded, deterministic corpus of mixed Ollama server and Python application logs.

The corpus feeds ``benchmarks/run.py``. Each output file holds one format: an Ollama server log
(slog ``time=...`` lines, GIN access lines, runner lines) or a Python application log (``logging``
lines, httpx request lines, ERROR records with multi-line tracebacks). About 96 % of the records
are 200s and noise, about 2 % are 400-related (spread over the causes in
``shared/reference/ollama-400-catalogue.md``) and the rest are decoys that a naive ``400`` search
trips over (404/429/500 lines, ``line 400`` frames, port 4000, ``400.5µs`` latencies).

Speed comes from never formatting a line at write time: a pool of a few thousand records is
rendered once per format, records are drawn from it with ``random.choices`` and only the
timestamp is glued in front of each, from strings precomputed per second and per millisecond.

Layout under ``--out DIR`` (subdirectories so that one scan of a directory sees one set only)::

    DIR/plain/NN-ollama-server.log   DIR/gz/...log.gz     DIR/zst/...log.zst
    DIR/small/NNNNN-...log           DIR/small-gz/...     DIR/small-zst/...   (--many-small N)
    DIR/NAME/NN-...log               DIR/NAME-gz/...      DIR/NAME-zst/...    (--name NAME)
    DIR/manifest.json                parameters and totals, read by run.py to reuse a corpus

Files alternate between the two formats unless ``--format`` picks one for all of them, which is
how run.py's ``huge`` case gets one big Python application log (``--name huge --files 1``).

Usage::

    python benchmarks/generate.py --out benchmarks/data --size 1GiB --files 8 --seed 42 --gzip
    python benchmarks/generate.py --out benchmarks/data --size 1GiB --files 1 --name huge \
        --format python-app
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# Bump when the output for the same parameters changes; run.py also hashes this file's source.
GENERATOR_VERSION = 1

SIZE_UNITS: dict[str, int] = {
    "": 1,
    "B": 1,
    "K": 1024,
    "KB": 1000,
    "KIB": 1024,
    "M": 1024**2,
    "MB": 1000**2,
    "MIB": 1024**2,
    "G": 1024**3,
    "GB": 1000**3,
    "GIB": 1024**3,
}

# Stamp kinds: how the timestamp in front of a record's first line is written.
SLOG = 0  # time=2025-05-07T06:05:59.123+02:00 level=...
GIN = 1  # [GIN] 2025/05/07 - 06:05:59 | 200 | ...
PY = 2  # 2025-05-07 06:05:59,123 INFO ...
BARE = 3  # runner output and other lines that carry no timestamp
MULTI = 4  # several stamped lines in one record; the tail is a tuple of (kind, text) pairs
JSON = 5  # {"timestamp":"2025-05-07T06:05:59.123Z",...
ACCESS = 6  # 10.0.3.17 - - [07/May/2025:06:05:59 +0000] "POST ...; the tail is (before, after) the time

FORMATS = ("ollama-server", "python-app", "json-app", "access-log")
MIXED_FORMATS = FORMATS[:2]  # what a mixed corpus alternates between
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAY = 86_400
START_DATE = (2025, 5, 7)
# Ollama writes local time; give each server file its own zone so parsers meet more than one.
TIME_ZONES = ("+02:00", "Z", "-07:00", "+08:00")

Record = tuple[int, Any]  # (kind, tail); tail is str, or tuple[tuple[int, str], ...] for MULTI


# --------------------------------------------------------------------------------------------
# Small helpers for realistic field values


def parse_size(text: str) -> int:
    """Parse ``1GiB``, ``50MiB``, ``512KiB``, ``1.5G`` or a plain byte count."""
    raw = text.strip().upper().replace(" ", "")
    number = raw.rstrip("KMGIB")
    unit = raw[len(number) :]
    if unit not in SIZE_UNITS or not number:
        raise argparse.ArgumentTypeError(f"cannot parse size {text!r} (try 1GiB, 50MiB, 512KiB)")
    return int(float(number) * SIZE_UNITS[unit])


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".")


def go_duration(ns: int) -> str:
    """Render a latency the way Go's time.Duration.String does, as gin prints it."""
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return _trim(f"{ns / 1e3:.3f}") + "µs"
    if ns < 1_000_000_000:
        return _trim(f"{ns / 1e6:.6f}") + "ms"
    if ns < 60_000_000_000:
        return _trim(f"{ns / 1e9:.9f}") + "s"
    # gin truncates latencies over a minute to whole seconds.
    minutes, seconds = divmod(ns // 1_000_000_000, 60)
    return f"{minutes}m{seconds}s"


def gin_tail(status: int, latency_ns: int, ip: str, method: str, path: str) -> str:
    # gin's defaultLogFormatter with colours off: "|%s %3d %s| %13v | %15s |%s %-7s %s %#v".
    return f'| {status:3d} | {go_duration(latency_ns):>13} | {ip:>15} | {method:<7}  "{path}"\n'


CHAT_MODELS = (
    "llama3.1:8b",
    "llama3.2:3b",
    "qwen2.5-coder:7b",
    "qwen3:8b",
    "gemma2:2b",
    "gemma3:12b",
    "mistral:7b-instruct",
    "deepseek-r1:14b",
    "phi4:14b",
    "gpt-oss:20b",
)
EMBED_MODELS = ("nomic-embed-text:latest", "bge-m3:latest", "mxbai-embed-large:latest")
NO_TOOLS_MODELS = ("gemma2:2b", "dolphin-mistral:latest", "llava:7b", "phi3:mini", "codellama:7b")
CLIENT_IPS = ("127.0.0.1", "::1", "172.17.0.1", "10.0.3.17", "192.168.1.42", "10.42.0.9")
OLLAMA_HOSTS = ("localhost:11434", "127.0.0.1:11434", "ollama:11434", "10.0.3.7:11434")
PROXY_HOSTS = ("localhost:4000", "litellm:4000", "llm-gateway.internal:4000")
SITE = "/usr/local/lib/python3.11/site-packages"
PROMPTS = (
    "You are a helpful assistant. Answer using only the context below.",
    "Summarise the following support ticket in two sentences.",
    "Extract the invoice number, the due date and the total as JSON.",
    "Translate the text to German and keep the Markdown formatting.",
    "What does the error in this stack trace mean and how do I fix it?",
    "Write a SQL query that lists the ten most active customers this month.",
)


def rand_hex(rng: random.Random, n: int) -> str:
    return rng.randbytes((n + 1) // 2).hex()[:n]


def blob(rng: random.Random) -> str:
    return f"/root/.ollama/models/blobs/sha256-{rand_hex(rng, 64)}"


def lognormal_ns(rng: random.Random, median_ns: float, sigma: float) -> int:
    return max(1_000, int(rng.lognormvariate(0.0, sigma) * median_ns))


def pick(rng: random.Random, seq: tuple[str, ...]) -> str:
    return seq[rng.randrange(len(seq))]


# --------------------------------------------------------------------------------------------
# Record templates. Each builder returns one rendered record (without its timestamp) so the
# pool can hold several variants of it. Categories are "noise:*", "400:<cause>" or "decoy:*".

Builder = Callable[[random.Random], Record]

GIN_200_ROUTES: tuple[tuple[int, str, str, float, float], ...] = (
    # weight, method, path, median latency (ns), lognormal sigma
    (40, "POST", "/api/chat", 2.5e9, 1.1),
    (15, "POST", "/api/generate", 1.8e9, 1.2),
    (12, "POST", "/api/embed", 60e6, 1.0),
    (15, "POST", "/v1/chat/completions", 3.0e9, 1.0),
    (6, "GET", "/api/tags", 400e3, 0.8),
    (3, "GET", "/api/version", 60e3, 0.6),
    (3, "GET", "/api/ps", 90e3, 0.6),
    (4, "POST", "/api/show", 8e6, 0.8),
    (1, "HEAD", "/", 20e3, 0.5),
    (1, "GET", "/", 25e3, 0.5),
    (2, "POST", "/api/embeddings", 80e6, 1.0),
)


def b_gin_200(rng: random.Random) -> Record:
    weights = [r[0] for r in GIN_200_ROUTES]
    _, method, path, median, sigma = rng.choices(GIN_200_ROUTES, weights=weights)[0]
    latency = lognormal_ns(rng, median, sigma)
    if latency // 1000 == 400:
        latency += 7_000  # keep ``400.xµs`` for the explicit decoy only
    return GIN, gin_tail(200, latency, pick(rng, CLIENT_IPS), method, path)


def b_gin_options_204(rng: random.Random) -> Record:
    return GIN, gin_tail(
        204,
        lognormal_ns(rng, 30e3, 0.4),
        pick(rng, CLIENT_IPS),
        "OPTIONS",
        pick(rng, ("/api/chat", "/api/tags", "/v1/chat/completions")),
    )


def b_slog_noise(rng: random.Random) -> Record:
    model = pick(rng, CHAT_MODELS)
    choices: tuple[str, ...] = (
        f'level=INFO source=server.go:637 msg="llama runner started in {rng.uniform(0.8, 9):.2f} seconds"',
        f'level=INFO source=server.go:405 msg="starting llama server" cmd="/usr/bin/ollama runner '
        f"--model {blob(rng)} --ctx-size {pick(rng, ('4096', '8192', '16384'))} --batch-size 512 "
        f"--n-gpu-layers {rng.randint(20, 49)} --threads 8 --parallel 4 --port "
        f'{rng.randint(33000, 45999)}"',
        'level=INFO source=server.go:585 msg="waiting for server to become available" '
        'status="llm server loading model"',
        'level=INFO source=server.go:580 msg="waiting for llama runner to start responding"',
        f'level=INFO source=sched.go:731 msg="new model will fit in available VRAM in single GPU, '
        f'loading" model={blob(rng)} gpu=GPU-{rand_hex(rng, 8)}-{rand_hex(rng, 4)} parallel=4 '
        f"available={rng.randint(12, 24) * 1_000_000_000 + rng.randint(0, 999_999_999)} "
        f'required="{rng.uniform(1.5, 11):.1f} GiB"',
        f'level=INFO source=sched.go:509 msg="updated VRAM based on existing loaded models" '
        f'gpu=GPU-{rand_hex(rng, 8)} library=cuda total="23.6 GiB" '
        f'available="{rng.uniform(4, 20):.1f} GiB"',
        f'level=DEBUG source=sched.go:575 msg="evaluating already loaded" model={blob(rng)}',
        f'level=DEBUG source=server.go:1093 msg="completion request" images=0 '
        f'prompt={rng.randint(30, 9000)} format=""',
        'level=DEBUG source=sched.go:407 msg="context for request finished"',
        f'level=DEBUG source=sched.go:340 msg="runner with non-zero duration has gone idle, adding '
        f'timer" modelPath={blob(rng)} duration=5m0s',
        f'level=DEBUG source=sched.go:358 msg="after processing request finished event" '
        f"modelPath={blob(rng)} refCount=0",
        f'level=INFO source=images.go:463 msg="total blobs: {rng.randint(3, 80)}"',
        f'level=WARN source=types.go:572 msg="invalid option provided" '
        f"option={pick(rng, ('tfs_z', 'mirostat_eta2', 'penalize_newline'))}",
        f'level=WARN source=runner.go:128 msg="truncating input prompt" limit=2048 '
        f"prompt={rng.randint(2100, 30000)} keep=5 new=2048",
        'level=INFO source=runner.go:688 msg="aborting completion request due to client closing '
        'the connection"',
        f'level=INFO source=server.go:104 msg="system memory" total="62.7 GiB" '
        f'free="{rng.uniform(10, 50):.1f} GiB" free_swap="0 B"',
        f'level=INFO source=sched.go:786 msg="loaded runners" count={rng.randint(1, 3)} model={model}',
        f'level=INFO source=server.go:1020 msg=load request="{{Operation:commit LoraPath:[] '
        f"Parallel:4 BatchSize:512 FlashAttention:false KvSize:{pick(rng, ('4096', '8192'))} "
        f"KvCacheType: NumThreads:8 GPULayers:33[ID:GPU-{rand_hex(rng, 8)} Layers:33(0..32)] "
        'MultiUserCache:false ProjectorPath: MainGPU:0 UseMmap:true}"',
        f'level=DEBUG source=sched.go:501 msg="finished setting up" runner.name=registry.ollama.ai/'
        f"library/{model} runner.inference=cuda runner.devices=1 "
        f'runner.size="{rng.uniform(1.5, 11):.1f} GiB" '
        f'runner.vram="{rng.uniform(1.5, 11):.1f} GiB" '
        f"runner.parallel=4 runner.pid={rng.randint(1000, 99999)} runner.model={blob(rng)} "
        "runner.num_ctx=8192",
        f'level=DEBUG source=server.go:1163 msg="chat request" images=0 prompt="<|start_header_id|>'
        f"system<|end_header_id|>\\n\\n{pick(rng, PROMPTS)}<|eot_id|><|start_header_id|>user"
        f'<|end_header_id|>\\n\\n{pick(rng, PROMPTS)}<|eot_id|>"',
        f'level=DEBUG source=cache.go:104 msg="loading cache slot" id={rng.randint(0, 3)} '
        f"cache={rng.randint(0, 3000)} prompt={rng.randint(3001, 6000)} "
        f"used={rng.randint(0, 3000)} "
        f"remaining={rng.randint(1, 3000)}",
    )
    return SLOG, pick(rng, choices) + "\n"


def b_runner_noise(rng: random.Random) -> Record:
    choices: tuple[str, ...] = (
        f"load_tensors: offloaded {rng.randint(20, 33)}/33 layers to GPU",
        f"llama_model_loader: - kv  {rng.randint(10, 39):2d}:{' ' * 26}general.file_type u32"
        f"              = {rng.randint(1, 18)}",
        f"llama_context: n_ctx_per_seq ({pick(rng, ('4096', '8192'))}) < n_ctx_train (131072) "
        "-- the full capacity of the model will not be utilized",
        f"srv  log_server_r: request: POST /completion 127.0.0.1 {200}",
        f"slot launch_slot_: id  {rng.randint(0, 3)} | task {rng.randint(1000, 99999)} | processing task",
        f"prompt eval time = {rng.uniform(20, 900):10.2f} ms / {rng.randint(10, 2000):5d} tokens "
        f"({rng.uniform(0.2, 2):8.2f} ms per token, {rng.uniform(300, 4000):8.2f} tokens per "
        "second)",
    )
    return BARE, pick(rng, choices) + "\n"


# The 400s a server log can show: the GIN line only, plus a few cases with extra evidence.
GIN_400_PATHS: tuple[tuple[str, str, float], ...] = (
    ("POST", "/api/chat", 250e3),
    ("POST", "/api/chat", 600e3),
    ("POST", "/v1/chat/completions", 900e3),
    ("POST", "/api/generate", 300e3),
    ("POST", "/api/pull", 150e3),
    ("POST", "/api/show", 120e3),
    ("POST", "/api/embed", 2.5e9),  # context too long only shows up after the model loaded
)


def b_gin_400(rng: random.Random) -> Record:
    method, path, median = GIN_400_PATHS[rng.randrange(len(GIN_400_PATHS))]
    return GIN, gin_tail(400, lognormal_ns(rng, median, 0.6), pick(rng, CLIENT_IPS), method, path)


def b_runner_400(rng: random.Random) -> Record:
    # v0.30+ relays llama-server 4xx; the runner prints its own request line on stderr.
    return (
        BARE,
        f"srv  log_server_r: request: POST {pick(rng, ('/embedding', '/completion'))} 127.0.0.1 400\n",
    )


def b_remote_model_400(rng: random.Random) -> Record:
    host = pick(rng, ("models.example.internal", "gpu-box.lan", "inference.acme.corp"))
    slog = (
        f'level=INFO source=routes.go:{pick(rng, ("331", "2190"))} msg="remote model" '
        f"remotes=[ollama.com] remoteURL=https://{host}:443 hostname={host}\n"
    )
    gin = gin_tail(400, lognormal_ns(rng, 300e3, 0.5), pick(rng, CLIENT_IPS), "POST", "/api/chat")
    return MULTI, ((SLOG, slog), (GIN, gin))


def b_gin_decoy(rng: random.Random) -> Record:
    status, method, path = rng.choice(
        (
            (404, "POST", "/api/chat"),
            (404, "POST", "/api/generate"),
            (404, "GET", "/v1/models/llama3"),
            (500, "POST", "/api/chat"),
            (500, "POST", "/api/embed"),
            (429, "POST", "/v1/chat/completions"),
            (403, "OPTIONS", "/api/chat"),
            (499, "POST", "/api/generate"),
            (503, "POST", "/api/chat"),
            (401, "POST", "/api/chat"),
        )
    )
    return GIN, gin_tail(status, lognormal_ns(rng, 2e6, 2.0), pick(rng, CLIENT_IPS), method, path)


def b_gin_latency_400(rng: random.Random) -> Record:
    # "400.512µs" holds a whole-word 400, which a \b400\b search must not count as a 400.
    latency = 400_000 + rng.randrange(1, 999)
    return GIN, gin_tail(200, latency, pick(rng, CLIENT_IPS), "GET", "/api/tags")


def b_slog_decoy(rng: random.Random) -> Record:
    choices: tuple[str, ...] = (
        'level=ERROR source=server.go:459 msg="llama runner terminated" error="exit status 2"',
        'level=WARN source=sched.go:649 msg="runtime OOM detected; expiring loaded models" library=cuda',
        'level=INFO source=routes.go:1235 msg="Listening on 127.0.0.1:4000 (version 0.6.8)"',
        f'level=WARN source=server.go:123 msg="requested context size too large for model" '
        f"num_ctx=40000 n_ctx_train={pick(rng, ('8192', '32768'))}",
        'level=ERROR source=routes.go:318 msg="model not found" model="llama3:70b"',
    )
    return SLOG, pick(rng, choices) + "\n"


# --- Python application logs ---------------------------------------------------------------


def httpx_line(host: str, path: str, status: str, method: str = "POST") -> str:
    return f'INFO httpx: HTTP Request: {method} http://{host}{path} "HTTP/1.1 {status}"\n'


def b_httpx_200(rng: random.Random) -> Record:
    path, method = rng.choice(
        (("/api/chat", "POST"),) * 5
        + (("/api/embed", "POST"),) * 3
        + (("/v1/chat/completions", "POST"),) * 2
        + (("/api/generate", "POST"), ("/api/tags", "GET"), ("/api/show", "POST"))
    )
    return PY, httpx_line(pick(rng, OLLAMA_HOSTS), path, "200 OK", method)


def b_app_noise(rng: random.Random) -> Record:
    conv = rand_hex(rng, 12)
    choices: tuple[str, ...] = (
        f"INFO app.chat: answered conversation_id={conv} model={pick(rng, CHAT_MODELS)} "
        f"prompt_tokens={rng.randint(40, 6000)} completion_tokens={rng.randint(5, 900)} "
        f"duration_ms={rng.randint(200, 30000)}",
        f"DEBUG app.retrieval: retrieved {rng.randint(2, 12)} chunks for query_id={conv} "
        f"top_score={rng.uniform(0.3, 0.95):.4f} index=docs-v{rng.randint(2, 5)}",
        f"INFO uvicorn.access: 10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)}:"
        f'{rng.randint(30000, 65000)} - "POST /v1/ask HTTP/1.1" 200',
        "DEBUG httpcore.connection: connect_tcp.started host='localhost' port=11434 "
        "local_address=None timeout=60.0 socket_options=None",
        "DEBUG httpcore.http11: send_request_headers.complete",
        "DEBUG httpcore.http11: receive_response_body.started request=<Request [b'POST']>",
        f"INFO app.worker: job {rand_hex(rng, 8)}-{rand_hex(rng, 4)} finished in "
        f"{rng.uniform(0.2, 60):.2f}s status=ok",
        f"WARNING app.chat: slow response from model={pick(rng, CHAT_MODELS)} "
        f"duration_ms={rng.randint(15001, 90000)} threshold_ms=15000",
        f'INFO apscheduler.executors.default: Job "refresh_index (trigger: interval[0:05:00], '
        f'next run at: 2025-05-07 {rng.randint(10, 23)}:{rng.randint(10, 59)}:00 UTC)" '
        "executed successfully",
        f"INFO app.embeddings: embedded {rng.randint(1, 64)} documents with "
        f"{pick(rng, EMBED_MODELS)} dim=768 batch={rand_hex(rng, 6)}",
        f"DEBUG openai._base_client: Request options: {{'method': 'post', 'url': "
        f"'/chat/completions', 'files': None, 'idempotency_key': 'stainless-python-retry-"
        f"{rand_hex(rng, 8)}-{rand_hex(rng, 4)}-{rand_hex(rng, 4)}', 'json_data': {{'messages': "
        f"[{{'role': 'user', 'content': '{pick(rng, PROMPTS)}'}}], 'model': "
        f"'{pick(rng, CHAT_MODELS)}', 'stream': False, 'temperature': 0.2}}}}",
        "DEBUG httpcore.http11: receive_response_headers.complete return_value=(b'HTTP/1.1', 200, "
        "b'OK', [(b'Content-Type', b'application/json; charset=utf-8'), (b'Date', b'Wed, 07 May "
        f"2025 {rng.randint(10, 23)}:{rng.randint(10, 59)}:{rng.randint(10, 59)} GMT'), "
        "(b'Transfer-Encoding', b'chunked')])",
        f"INFO app.chat: request user_id={rng.randint(1000, 99999)} conversation_id={conv} "
        f"model={pick(rng, CHAT_MODELS)} tools={rng.randint(0, 6)} stream=True "
        f"prompt_chars={rng.randint(50, 9000)} question={pick(rng, PROMPTS)!r}",
    )
    return PY, pick(rng, choices) + "\n"


def b_uvicorn_200(rng: random.Random) -> Record:
    return PY, (
        f"INFO uvicorn.access: 10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)}:"
        f'{rng.randint(30000, 65000)} - "{pick(rng, ("POST /v1/ask", "GET /health"))} HTTP/1.1" '
        "200\n"
    )


def traceback(frames: Iterable[tuple[str, int, str, str]], last: str) -> str:
    lines = ["Traceback (most recent call last):\n"]
    for path, lineno, func, code in frames:
        lines.append(f'  File "{path}", line {lineno}, in {func}\n    {code}\n')
    lines.append(last + "\n")
    return "".join(lines)


APP_FRAMES: tuple[tuple[str, int, str, str], ...] = (
    ("/app/app/chat.py", 88, "answer", "resp = client.chat(model=model, messages=messages, tools=tools)"),
    ("/app/app/rag.py", 142, "generate", "return self.llm.invoke(prompt)"),
    ("/app/app/worker.py", 57, "run_job", "result = handler(job.payload)"),
    ("/app/app/api.py", 213, "ask", "answer = await chat.answer(request.question)"),
)

OLLAMA_PY_FRAMES = (
    (f"{SITE}/ollama/_client.py", 333, "chat", "return self._request("),
    (f"{SITE}/ollama/_client.py", 178, "_request", "return cls(**self._request_raw(*args, **kwargs).json())"),
    (
        f"{SITE}/ollama/_client.py",
        122,
        "_request_raw",
        "raise ResponseError(e.response.text, e.response.status_code) from None",
    ),
)
OPENAI_FRAMES = (
    (f"{SITE}/openai/resources/chat/completions/completions.py", 925, "create", "return self._post("),
    (
        f"{SITE}/openai/_base_client.py",
        1242,
        "post",
        "return cast(ResponseT, self.request(cast_to, opts, stream=stream, stream_cls=stream_cls))",
    ),
    (
        f"{SITE}/openai/_base_client.py",
        1037,
        "request",
        "raise self._make_status_error_from_response(err.response) from None",
    ),
)
LANGCHAIN_FRAMES = (
    (f"{SITE}/langchain_core/language_models/llms.py", 385, "invoke", "self.generate_prompt("),
    (f"{SITE}/langchain_community/llms/ollama.py", 237, "_create_stream", "raise ValueError("),
)
REQUESTS_FRAMES = (
    ("/app/app/client.py", 61, "generate", "resp.raise_for_status()"),
    (
        f"{SITE}/requests/models.py",
        1024,
        "raise_for_status",
        "raise HTTPError(http_error_msg, response=self)",
    ),
)
HTTPX_FRAMES = (
    ("/app/app/client.py", 74, "stream_chat", "response.raise_for_status()"),
    (
        f"{SITE}/httpx/_models.py",
        829,
        "raise_for_status",
        "raise HTTPStatusError(message, request=request, response=self)",
    ),
)


def error_record(
    rng: random.Random, logger: str, headline: str, frames: tuple[tuple[str, int, str, str], ...], last: str
) -> Record:
    """An ERROR record: 60 % ``logger.error(e)`` one-liners, 40 % ``logger.exception``."""
    if rng.random() < 0.6:
        # str(exc) is the last traceback line without its "module.Class: " prefix.
        return PY, f"ERROR {logger}: {headline}: {last.split(': ', 1)[1]}\n"
    app_frame = APP_FRAMES[rng.randrange(len(APP_FRAMES))]
    return PY, f"ERROR {logger}: {headline}\n" + traceback((app_frame, *frames), last)


def openai_400_body(message: str, typ: str = "invalid_request_error", code: str = "None") -> str:
    # repr() quotes the message the way the SDK's dict repr does (double quotes around ').
    return (
        f"openai.BadRequestError: Error code: 400 - {{'error': {{'message': {message!r}, "
        f"'type': '{typ}', 'param': None, 'code': {code}}}}}"
    )


# Each cause: messages as Ollama (or a proxy) words them, and how the application reports them.
CAUSE_MESSAGES: dict[str, tuple[str, ...]] = {
    "tools": (
        *(f"registry.ollama.ai/library/{m} does not support tools" for m in NO_TOOLS_MODELS),
        "gemma2:2b does not support tools",
    ),
    "base64": ("illegal base64 data at input byte 4", "illegal base64 data at input byte 0"),
    "unmarshal": (
        "json: cannot unmarshal array into Go struct field ChatRequest.messages.content of type string",
        "json: cannot unmarshal array into Go struct field Message.messages.content of type string",
        "json: cannot unmarshal number into Go struct field GenerateRequest.keep_alive of type string",
    ),
    "context": ("the input length exceeds the context length",),
    "model_required": ("model is required",),
    "invalid_model_name": ("invalid model name",),
    "remote_model": ("this server cannot run this remote model",),
    "unknown": (
        "unexpected server response",
        "request rejected by upstream policy",
        "tool_choice 'required' is not supported",
    ),
}


def b_cause_record(cause: str) -> Builder:
    """Build an application-side record for a 400 whose text names the cause."""

    def build(rng: random.Random) -> Record:
        message = pick(rng, CAUSE_MESSAGES[cause])
        host = pick(rng, OLLAMA_HOSTS)
        client = rng.randrange(5)
        if client == 0:
            return error_record(
                rng,
                "app.chat",
                "chat request failed",
                OLLAMA_PY_FRAMES,
                f"ollama._types.ResponseError: {message} (status code: 400)",
            )
        if client == 1:
            return error_record(rng, "app.chat", "completion failed", OPENAI_FRAMES, openai_400_body(message))
        if client == 2:
            return error_record(
                rng,
                "app.rag",
                "generation failed",
                LANGCHAIN_FRAMES,
                f'ValueError: Ollama call failed with status code 400. Details: {{"error":"{message}"}}',
            )
        if client == 3:
            # requests drops the body; the app logs it on the next line itself.
            record = error_record(
                rng,
                "app.client",
                "request to ollama failed",
                REQUESTS_FRAMES,
                f"requests.exceptions.HTTPError: 400 Client Error: Bad Request for url: "
                f"http://{host}/api/generate",
            )
            body = f'WARNING app.client: ollama error body: {{"error":"{message}"}}\n'
            return MULTI, ((PY, record[1]), (PY, body))
        # LiteLLM wraps the body in its own exception text.
        return PY, (
            f"ERROR app.llm: litellm.BadRequestError: OllamaException - "
            f'{{"error":"{message}"}} model=ollama_chat/{pick(rng, CHAT_MODELS)}\n'
        )

    return build


def b_proxy_rate_limit(rng: random.Random) -> Record:
    host = pick(rng, PROXY_HOSTS)
    key = rand_hex(rng, 4)
    body = openai_400_body(
        f"Rate limit exceeded: {pick(rng, ('60', '120', '30'))} requests per minute for key "
        f"sk-...{key}. Retry after {rng.randint(2, 59)}s.",
        "rate_limit_error",
        "'400'",
    )
    first = httpx_line(host, "/v1/chat/completions", "400 Bad Request")
    return MULTI, (
        (PY, first),
        (PY, error_record(rng, "app.chat", "completion failed", OPENAI_FRAMES, body)[1]),
    )


def b_proxy_api_key(rng: random.Random) -> Record:
    host = pick(rng, PROXY_HOSTS)
    body = openai_400_body(
        f"Invalid API key provided: sk-...{rand_hex(rng, 4)}", "auth_error", "'invalid_api_key'"
    )
    first = httpx_line(host, "/v1/chat/completions", "400 Bad Request")
    return MULTI, (
        (PY, first),
        (PY, error_record(rng, "app.chat", "completion failed", OPENAI_FRAMES, body)[1]),
    )


def b_httpx_400(rng: random.Random) -> Record:
    path = pick(rng, ("/api/chat", "/api/chat", "/v1/chat/completions", "/api/embed", "/api/generate"))
    return PY, httpx_line(pick(rng, OLLAMA_HOSTS), path, "400 Bad Request")


def b_app_unknown_400(rng: random.Random) -> Record:
    host = pick(rng, OLLAMA_HOSTS)
    choices: tuple[Record, ...] = (
        # The wrapper from the blog post: the body is gone, only the status survives.
        (PY, "ERROR app.llm: Error: Failed to communicate with Ollama API, status code 400\n"),
        error_record(
            rng,
            "app.client",
            "streaming chat failed",
            HTTPX_FRAMES,
            f"httpx.HTTPStatusError: Client error '400 Bad Request' for url "
            f"'http://{host}/api/chat'\nFor more information check: "
            "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/400",
        ),
        (
            PY,
            f"WARNING app.chat: ollama returned 400 for model={pick(rng, CHAT_MODELS)}, "
            "retrying without options\n",
        ),
    )
    return choices[rng.randrange(len(choices))]


def b_app_decoy(rng: random.Random) -> Record:
    host = pick(rng, OLLAMA_HOSTS)
    kind = rng.randrange(7)
    if kind == 0:
        status = pick(
            rng,
            (
                "404 Not Found",
                "500 Internal Server Error",
                "429 Too Many Requests",
                "503 Service Unavailable",
            ),
        )
        return PY, httpx_line(host, pick(rng, ("/api/chat", "/api/generate")), status)
    if kind == 1:
        # A frame at line 400 is not an HTTP 400.
        return error_record(
            rng,
            "app.tools",
            "tool dispatch failed",
            (("/app/app/tools.py", 400, "dispatch", "return registry[name](**arguments)"),),
            f"KeyError: '{pick(rng, ('search_docs', 'get_weather', 'run_sql'))}'",
        )
    if kind == 2:
        return error_record(
            rng,
            "app.chat",
            "chat request failed",
            OLLAMA_PY_FRAMES,
            f'ollama._types.ResponseError: model "{pick(rng, CHAT_MODELS)}" not '
            "found, try pulling it first (status code: 404)",
        )
    if kind == 3:
        return error_record(
            rng,
            "app.chat",
            "chat request failed",
            OLLAMA_PY_FRAMES,
            "ollama._types.ResponseError: llama runner process has terminated: "
            "exit status 2 (status code: 500)",
        )
    if kind == 4:
        return error_record(
            rng,
            "app.chat",
            "completion failed",
            OPENAI_FRAMES,
            "openai.RateLimitError: Error code: 429 - {'error': {'message': 'you have reached your "
            "hourly usage limit, please wait or upgrade to continue', 'type': 'rate_limit_error', "
            "'param': None, 'code': None}}",
        )
    if kind == 5:
        return error_record(
            rng,
            "app.rag",
            "generation failed",
            LANGCHAIN_FRAMES,
            "langchain_community.llms.ollama.OllamaEndpointNotFoundError: Ollama call failed with "
            f"status code 404. Maybe your model is not found and you should pull the model with "
            f"`ollama pull {pick(rng, CHAT_MODELS)}`.",
        )
    return PY, f"INFO app.settings: max_tokens=4000 timeout_s=400 retries=3 host={host}\n"


def b_port_4000(rng: random.Random) -> Record:
    return PY, httpx_line(pick(rng, PROXY_HOSTS), "/v1/chat/completions", "200 OK")


# --- JSON-lines application logs (structlog / pino style) ------------------------------------


def json_tail(level: str, logger: str, event: str, **fields: Any) -> Record:
    """The part of a JSON record after its timestamp; keys keep their order."""
    body = {"level": level, "logger": logger, "event": event, **fields}
    return JSON, json.dumps(body, separators=(",", ":"))[1:] + "\n"


def b_json_call_200(rng: random.Random) -> Record:
    path = pick(rng, ("/api/chat", "/api/chat", "/api/embed", "/v1/chat/completions", "/api/generate"))
    duration = rng.randint(30, 30000)
    if duration == 400:
        duration += 1  # "duration_ms":400 is the explicit decoy only
    return json_tail(
        "info",
        "app.ollama",
        "ollama_call",
        endpoint=path,
        status=200,
        duration_ms=duration,
        model=pick(rng, CHAT_MODELS),
        request_id=rand_hex(rng, 16),
    )


def b_json_noise(rng: random.Random) -> Record:
    kind = rng.randrange(4)
    if kind == 0:
        return json_tail(
            "info",
            "app.api",
            "request_handled",
            method="POST",
            path="/v1/ask",
            status=200,
            user_id=rng.randint(1000, 99999),
            duration_ms=rng.randint(200, 30000),
        )
    if kind == 1:
        return json_tail(
            "debug",
            "app.retrieval",
            "retrieved",
            chunks=rng.randint(2, 12),
            top_score=round(rng.uniform(0.3, 0.95), 4),
            query=pick(rng, PROMPTS),
        )
    if kind == 2:
        return json_tail(
            "info",
            "app.worker",
            "job_finished",
            job_id=f"{rand_hex(rng, 8)}-{rand_hex(rng, 4)}",
            seconds=round(rng.uniform(0.2, 60), 2),
            status="ok",
        )
    return json_tail(
        "warning",
        "app.chat",
        "slow_response",
        model=pick(rng, CHAT_MODELS),
        duration_ms=rng.randint(15001, 90000),
        threshold_ms=15000,
    )


def b_json_400(rng: random.Random) -> Record:
    cause = pick(rng, tuple(CAUSE_MESSAGES))
    message = pick(rng, CAUSE_MESSAGES[cause])
    path = pick(rng, ("/api/chat", "/v1/chat/completions", "/api/generate", "/api/embed"))
    if rng.random() < 0.6:
        return json_tail(
            "error",
            "app.ollama",
            "ollama_call",
            endpoint=path,
            status=400,
            duration_ms=rng.randint(1, 40),
            model=pick(rng, CHAT_MODELS),
            message=message,
        )
    return json_tail(
        "error", "app.ollama", "ollama_call", endpoint=path, status_code=400, error={"message": message}
    )


def b_json_decoy(rng: random.Random) -> Record:
    kind = rng.randrange(3)
    if kind == 0:
        status, message = rng.choice(
            (
                (404, 'model "llama3:70b" not found, try pulling it first'),
                (500, "llama runner process has terminated: exit status 2"),
                (429, "you have reached your hourly usage limit"),
                (503, "server busy, please try again.  maximum pending requests exceeded"),
            )
        )
        return json_tail(
            "error", "app.ollama", "ollama_call", endpoint="/api/chat", status=status, message=message
        )
    if kind == 1:
        return json_tail("info", "app", "startup", port=8400, ollama="http://ollama:11434")
    return json_tail(
        "info",
        "app.ollama",
        "ollama_call",
        endpoint="/api/embed",
        status=200,
        duration_ms=400,
        bytes=4000,
    )


# --- nginx access logs (a proxy in front of Ollama) ------------------------------------------

USER_AGENTS = (
    "python-httpx/0.28.1",
    "ollama-python/0.4.8 (x86_64 linux) Python/3.12.3",
    "ollama-js/0.5.9 (x64 linux Node.js/v20.12.2)",
    "OpenAI/Python 1.78.1",
    "curl/8.5.0",
)


def access_record(
    rng: random.Random, method: str, path: str, status: int, size: int, seconds: float
) -> Record:
    upstream = "-" if status in (499, 502) else str(status)
    return ACCESS, (
        f"{pick(rng, CLIENT_IPS)} - - ",
        f'"{method} {path} HTTP/1.1" {status} {size} "-" "{pick(rng, USER_AGENTS)}" '
        f"rt={seconds:.3f} us={upstream} ut={seconds:.3f}\n",
    )


def b_access_200(rng: random.Random) -> Record:
    _, method, path, median, sigma = rng.choices(GIN_200_ROUTES, weights=[r[0] for r in GIN_200_ROUTES])[0]
    seconds = lognormal_ns(rng, median, sigma) / 1e9
    if f"{seconds:.3f}" == "0.400":
        seconds += 0.001  # keep rt=0.400 for the explicit decoy only
    size = rng.randint(20, 90000)
    if size == 400:
        size += 1
    return access_record(rng, method, path, 200, size, seconds)


def b_access_400(rng: random.Random) -> Record:
    method, path, median = GIN_400_PATHS[rng.randrange(len(GIN_400_PATHS))]
    return access_record(rng, method, path, 400, rng.randint(40, 200), lognormal_ns(rng, median, 0.6) / 1e9)


def b_access_decoy(rng: random.Random) -> Record:
    kind = rng.randrange(3)
    if kind == 0:
        status = pick(rng, ("404", "499", "500", "502", "429", "403"))
        return access_record(rng, "POST", "/api/chat", int(status), rng.randint(0, 300), rng.uniform(0, 3))
    if kind == 1:  # a 400-byte body
        return access_record(rng, "GET", "/api/tags", 200, 400, rng.uniform(0.001, 0.01))
    return access_record(rng, "GET", "/api/version", 200, rng.randint(20, 30), 0.4)


# Weights are per mille of records. The 400 and decoy shares are chosen so that about 2 % of all
# lines are 400-related: app 400 records are multi-line, so they get fewer records.
SPECS: dict[str, tuple[tuple[float, str, Builder], ...]] = {
    "ollama-server": (
        (450.0, "noise:gin-200", b_gin_200),
        (10.0, "noise:gin-204", b_gin_options_204),
        (400.0, "noise:slog", b_slog_noise),
        (90.0, "noise:runner", b_runner_noise),
        (17.0, "400:gin", b_gin_400),
        (2.0, "400:runner", b_runner_400),
        (2.0, "400:remote_model", b_remote_model_400),
        (12.0, "decoy:gin-4xx-5xx", b_gin_decoy),
        (4.0, "decoy:latency-400us", b_gin_latency_400),
        (5.0, "decoy:slog", b_slog_decoy),
    ),
    "python-app": (
        (350.0, "noise:httpx-200", b_httpx_200),
        (550.0, "noise:app", b_app_noise),
        (60.0, "noise:uvicorn-200", b_uvicorn_200),
        (12.0, "decoy:port-4000", b_port_4000),
        (5.0, "decoy:app", b_app_decoy),
        (6.0, "400:httpx", b_httpx_400),
        (1.4, "400:tools", b_cause_record("tools")),
        (0.9, "400:base64", b_cause_record("base64")),
        (1.2, "400:unmarshal", b_cause_record("unmarshal")),
        (1.0, "400:context", b_cause_record("context")),
        (0.9, "400:model_required", b_cause_record("model_required")),
        (0.8, "400:invalid_model_name", b_cause_record("invalid_model_name")),
        (0.7, "400:remote_model", b_cause_record("remote_model")),
        (0.7, "400:rate_limit_proxy", b_proxy_rate_limit),
        (0.7, "400:api_key_proxy", b_proxy_api_key),
        (0.8, "400:unknown", b_cause_record("unknown")),
        (1.0, "400:unknown", b_app_unknown_400),
    ),
    "json-app": (
        (500.0, "noise:json-call-200", b_json_call_200),
        (460.0, "noise:json", b_json_noise),
        (20.0, "400:json", b_json_400),
        (20.0, "decoy:json", b_json_decoy),
    ),
    "access-log": (
        (960.0, "noise:access-200", b_access_200),
        (20.0, "400:access", b_access_400),
        (20.0, "decoy:access", b_access_decoy),
    ),
}

POOL_SIZE = 4000  # distinct rendered records per format; more adds variety, not realism


@dataclass
class Pool:
    records: list[Record]
    cum_weights: list[float]
    category: dict[Record, str]
    nlines: dict[Record, int]


def record_lines(record: Record) -> int:
    kind, tail = record
    if kind == MULTI:
        return sum(text.count("\n") for _, text in tail)
    if kind == ACCESS:
        return int(tail[1].count("\n"))
    return int(tail.count("\n"))


def scaled_specs(fmt: str, share_400: float | None) -> tuple[tuple[float, str, Builder], ...]:
    """The format's mix, with the 400 records' weights scaled to ``share_400`` of all records
    (None: as specified). The other records keep their proportions among themselves."""
    specs = SPECS[fmt]
    if share_400 is None:
        return specs
    w400 = sum(w for w, cat, _ in specs if cat.startswith("400:"))
    rest = sum(w for w, cat, _ in specs if not cat.startswith("400:"))
    factor = share_400 * rest / ((1 - share_400) * w400)
    return tuple((w * factor if cat.startswith("400:") else w, cat, b) for w, cat, b in specs)


def build_pool(fmt: str, seed: int, share_400: float | None = None) -> Pool:
    # The pool is drawn as without a share, so a dense corpus holds the same record variants.
    rng = random.Random(f"pool:{fmt}:{seed}")
    specs = scaled_specs(fmt, share_400)
    total = sum(w for w, _, _ in SPECS[fmt])
    weights: dict[Record, float] = {}
    category: dict[Record, str] = {}
    for (weight, cat, builder), (plain_weight, _, _) in zip(specs, SPECS[fmt], strict=True):
        variants = max(12, round(POOL_SIZE * plain_weight / total))
        for _ in range(variants):
            record = builder(rng)
            # Identical renderings merge; their weights add up so the mix stays as specified.
            weights[record] = weights.get(record, 0.0) + weight / variants
            category[record] = cat
    records = list(weights)
    cum: list[float] = []
    acc = 0.0
    for record in records:
        acc += weights[record]
        cum.append(acc)
    return Pool(records, cum, category, {r: record_lines(r) for r in records})


# --------------------------------------------------------------------------------------------
# Writing files


@dataclass(frozen=True)
class FileTask:
    path: str
    fmt: str
    target_bytes: int
    seed: int
    index: int
    start_sec: int
    duration_sec: int
    tz: str
    with_header: bool
    share_400: float | None
    gzip: bool
    zstd: bool
    gz_path: str
    zst_path: str


@dataclass
class FileResult:
    path: str
    fmt: str
    bytes: int
    lines: int
    records: int
    categories: dict[str, list[int]] = field(default_factory=dict)  # name -> [records, lines]
    gz_bytes: int = 0
    zst_bytes: int = 0
    seconds: float = 0.0


def stamp_bytes(kind: int, tz: str) -> int:
    if kind == SLOG:
        return len("time=2025-05-07T00:00:00.000 ") + len(tz)
    if kind == GIN:
        return len("[GIN] 2025/05/07 - 00:00:00 ")
    if kind == PY:
        return len("2025-05-07 00:00:00,000 ")
    if kind == JSON:
        return len('{"timestamp":"2025-05-07T00:00:00.000Z",')
    if kind == ACCESS:
        return len("[07/May/2025:00:00:00 +0000] ")
    return 0


def record_bytes(record: Record, tz: str) -> int:
    kind, tail = record
    if kind == MULTI:
        return sum(stamp_bytes(k, tz) + len(t.encode()) for k, t in tail)
    if kind == ACCESS:
        return stamp_bytes(kind, tz) + len("".join(tail).encode())
    return stamp_bytes(kind, tz) + len(tail.encode())


def mean_record_bytes(pool: Pool, tz: str) -> float:
    total = pool.cum_weights[-1]
    prev = 0.0
    acc = 0.0
    for record, cum in zip(pool.records, pool.cum_weights, strict=True):
        acc += (cum - prev) * record_bytes(record, tz)
        prev = cum
    return acc / total


def header(fmt: str) -> list[Record]:
    """The start-up lines a real log opens with, so format detection sees them."""
    if fmt == "python-app":
        return [
            (PY, "INFO uvicorn.error: Started server process [1]\n"),
            (PY, "INFO uvicorn.error: Application startup complete.\n"),
        ]
    if fmt == "json-app":
        return [(JSON, '"level":"info","logger":"app","event":"startup","port":8400}\n')]
    if fmt == "access-log":
        return []
    return [
        (
            SLOG,
            'level=INFO source=routes.go:1205 msg="server config" '
            'env="map[CUDA_VISIBLE_DEVICES: OLLAMA_CONTEXT_LENGTH:8192 OLLAMA_DEBUG:INFO '
            "OLLAMA_HOST:http://0.0.0.0:11434 OLLAMA_KEEP_ALIVE:5m0s OLLAMA_MAX_LOADED_MODELS:0 "
            'OLLAMA_MAX_QUEUE:512 OLLAMA_MODELS:/root/.ollama/models OLLAMA_NUM_PARALLEL:0]"\n',
        ),
        (SLOG, 'level=INFO source=images.go:463 msg="total blobs: 27"\n'),
        (SLOG, 'level=INFO source=routes.go:1258 msg="Listening on [::]:11434 (version 0.6.8)"\n'),
        (
            BARE,
            "[GIN-debug] [WARNING] Creating an Engine instance with the Logger and Recovery "
            "middleware already attached.\n",
        ),
        (
            BARE,
            "[GIN-debug] POST   /api/chat                 --> github.com/ollama/ollama/server."
            "(*Server).ChatHandler-fm (5 handlers)\n",
        ),
    ]


_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def day_strings(day: int) -> tuple[str, str, str]:
    """ISO, gin and access-log date for START_DATE + day (called once per day boundary)."""
    d = dt.date(*START_DATE) + dt.timedelta(days=day)
    return d.isoformat(), d.strftime("%Y/%m/%d"), f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}"


class Sink:
    """Writes encoded chunks to the plain file and, streaming, to its compressed copies."""

    def __init__(self, task: FileTask) -> None:
        self.plain: IO[bytes] = open(task.path, "wb")  # noqa: SIM115  (closed in close())
        self.gz: IO[bytes] | None = None
        self.deflate: Any = None
        self.zst: subprocess.Popen[bytes] | None = None
        self.zst_out: IO[bytes] | None = None
        if task.gzip:
            self.gz = open(task.gz_path, "wb")  # noqa: SIM115
            # wbits=31 writes a gzip header with mtime 0, so the .gz is byte-for-byte repeatable.
            self.deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        if task.zstd:
            self.zst_out = open(task.zst_path, "wb")  # noqa: SIM115
            # The zstd CLI runs beside us in its own process, so compression overlaps generation.
            self.zst = subprocess.Popen(
                ["zstd", "-q", "-3", "-T1", "-c"], stdin=subprocess.PIPE, stdout=self.zst_out
            )

    def write(self, data: bytes) -> None:
        self.plain.write(data)
        if self.gz is not None:
            self.gz.write(self.deflate.compress(data))
        if self.zst is not None and self.zst.stdin is not None:
            self.zst.stdin.write(data)

    def close(self) -> None:
        self.plain.close()
        if self.gz is not None:
            self.gz.write(self.deflate.flush())
            self.gz.close()
        if self.zst is not None and self.zst.stdin is not None:
            self.zst.stdin.close()
            if self.zst.wait() != 0:
                raise RuntimeError(f"zstd failed with exit code {self.zst.returncode}")
        if self.zst_out is not None:
            self.zst_out.close()


_POOLS: dict[tuple[str, int, float | None], Pool] = {}
FLUSH_CHARS = 4 * 1024 * 1024


def generate_file(task: FileTask) -> FileResult:
    started = time.perf_counter()
    key = (task.fmt, task.seed, task.share_400)
    if key not in _POOLS:
        _POOLS[key] = build_pool(task.fmt, task.seed, task.share_400)
    pool = _POOLS[key]
    rng = random.Random(f"file:{task.seed}:{task.index}")
    choices = rng.choices
    records, cum = pool.records, pool.cum_weights

    # Spread the expected number of records evenly over the file's time window.
    rate = task.target_bytes / mean_record_bytes(pool, task.tz) / task.duration_sec

    # Millisecond strings per stamp kind; GIN and bare lines carry none, so theirs are empty.
    slog_ms = [f"{m:03d}{task.tz} " for m in range(1000)]
    py_ms = [f"{m:03d} " for m in range(1000)]
    json_ms = [f'{m:03d}Z",' for m in range(1000)]
    empty = [""] * 1000
    # Indexed by stamp kind; MULTI's slot is never used.
    ms_tables = (slog_ms, empty, py_ms, empty, empty, json_ms, empty)
    # Sorted millisecond offsets for n records in one second, a few variants per n, so stamps
    # rise monotonically without sorting anything per second.
    ms_variants: dict[int, list[list[int]]] = {}

    result = FileResult(task.path, task.fmt, 0, 0, 0)
    picks_seen: Counter[Record] = Counter()
    sink = Sink(task)
    pending: list[str] = []
    pending_chars = 0
    written = 0
    second = task.start_sec
    emitted = 0.0
    day = -1
    iso_day = gin_day = access_day = ""

    def flush() -> None:
        nonlocal pending, pending_chars, written
        data = "".join(pending).encode()
        sink.write(data)
        written += len(data)
        pending = []
        pending_chars = 0

    header_records = header(task.fmt) if task.with_header else []
    first: list[Record] | None = header_records or None
    try:
        while written + pending_chars < task.target_bytes:
            if second // DAY != day:
                day = second // DAY
                iso_day, gin_day, access_day = day_strings(day)
            hms = _HMS[second % DAY]
            heads = (
                f"time={iso_day}T{hms}.",
                f"[GIN] {gin_day} - {hms} ",
                f"{iso_day} {hms},",
                "",
                "",
                f'{{"timestamp":"{iso_day}T{hms}.',
                f"[{access_day}:{hms} +0000] ",
            )
            if first is not None:
                # The start-up lines own the first second, so later stamps never go backwards.
                picks, first = first, None
                second += 1
            else:
                emitted += rate
                n = int(emitted)
                emitted -= n
                second += 1
                if n == 0:
                    continue
                picks = choices(records, cum_weights=cum, k=n)
                picks_seen.update(picks)
            n = len(picks)
            variants = ms_variants.get(n)
            if variants is None:
                size = min(n, 1000)
                variants = [sorted(rng.sample(range(1000), size)) + [999] * (n - size) for _ in range(8)]
                ms_variants[n] = variants
            parts: list[str] = []
            app = parts.append
            for (kind, tail), ms in zip(picks, variants[rng.randrange(8)], strict=True):
                if kind == MULTI:
                    for sub_kind, text in tail:
                        app(heads[sub_kind])
                        app(ms_tables[sub_kind][ms])
                        app(text)
                elif kind == ACCESS:
                    app(tail[0])  # the client address comes before the time
                    app(heads[kind])
                    app(tail[1])
                else:
                    app(heads[kind])
                    app(ms_tables[kind][ms])
                    app(tail)
            chunk = "".join(parts)
            pending.append(chunk)
            pending_chars += len(chunk)
            if pending_chars >= FLUSH_CHARS:
                flush()
        flush()
    finally:
        sink.close()

    result.bytes = written
    result.records = picks_seen.total() + len(header_records)
    cats: dict[str, list[int]] = {
        "noise:header": [len(header_records), sum(map(record_lines, header_records))]
    }
    for record, count in picks_seen.items():
        entry = cats.setdefault(pool.category[record], [0, 0])
        entry[0] += count
        entry[1] += count * pool.nlines[record]
    result.categories = cats
    result.lines = sum(v[1] for v in cats.values())
    if task.gzip:
        result.gz_bytes = os.path.getsize(task.gz_path)
    if task.zstd:
        result.zst_bytes = os.path.getsize(task.zst_path)
    result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------------------------
# Command line


def source_digest() -> str:
    """Hash of this generator's source: a changed generator invalidates cached corpora."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def set_dirs(out: Path, name: str) -> dict[str, Path]:
    prefix = "" if name == "plain" else f"{name}-"
    return {"plain": out / name, "gz": out / f"{prefix}gz", "zst": out / f"{prefix}zst"}


def make_tasks(args: argparse.Namespace, dirs: dict[str, Path], zstd: bool) -> list[FileTask]:
    many = args.many_small
    n_files = many if many else args.files
    width = max(2, len(str(n_files - 1)))
    per_file = args.size // n_files
    tasks = []
    for i in range(n_files):
        fmt = MIXED_FORMATS[i % len(MIXED_FORMATS)] if args.format == "mixed" else args.format
        name = f"{i:0{width}d}-{fmt}.log"
        if many:
            # Small files are rotated segments: each covers its own slice of the day.
            start, duration = i * DAY // n_files, max(1, DAY // n_files)
        else:
            # Big files are different hosts logging side by side over the whole day.
            start, duration = 0, DAY
        tasks.append(
            FileTask(
                path=str(dirs["plain"] / name),
                fmt=fmt,
                target_bytes=per_file + (args.size - per_file * n_files if i == 0 else 0),
                seed=args.seed,
                index=i,
                start_sec=start,
                duration_sec=duration,
                tz=TIME_ZONES[(i // len(MIXED_FORMATS)) % len(TIME_ZONES)],
                # Rotated segments after the first ones start mid-run, without start-up lines.
                with_header=not many or i < len(MIXED_FORMATS),
                share_400=args.share_400,
                gzip=args.gzip,
                zstd=zstd,
                gz_path=str(dirs["gz"] / f"{name}.gz"),
                zst_path=str(dirs["zst"] / f"{name}.zst"),
            )
        )
    return tasks


def params_of(args: argparse.Namespace, zstd: bool) -> dict[str, Any]:
    return {
        "size": args.size,
        "files": args.many_small or args.files,
        "many_small": bool(args.many_small),
        "format": args.format,
        "share_400": args.share_400,
        "seed": args.seed,
        "gzip": args.gzip,
        "zstd": zstd,
        "generator_version": GENERATOR_VERSION,
        "generator_digest": source_digest(),
    }


def write_manifest(out: Path, name: str, entry: dict[str, Any]) -> None:
    path = out / "manifest.json"
    manifest: dict[str, Any] = {"sets": {}}
    # A damaged manifest only means the other sets get regenerated later.
    if path.exists():
        with contextlib.suppress(json.JSONDecodeError):
            manifest = json.loads(path.read_text())
    manifest.setdefault("sets", {})[name] = entry
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def mix_totals(results: list[FileResult]) -> dict[str, list[int]]:
    """Records and lines per category over all files: the ground truth a scan can be checked by."""
    totals: dict[str, list[int]] = {}
    for r in results:
        for cat, (recs, lines) in r.categories.items():
            entry = totals.setdefault(cat, [0, 0])
            entry[0] += recs
            entry[1] += lines
    return dict(sorted(totals.items()))


def print_mix(results: list[FileResult]) -> None:
    totals = mix_totals(results)
    all_records = sum(v[0] for v in totals.values())
    all_lines = sum(v[1] for v in totals.values())
    print(f"\n{'category':<26} {'records':>11} {'% rec':>7} {'lines':>11} {'% lines':>8}")
    groups: dict[str, list[int]] = {}
    for cat in sorted(totals):
        recs, lines = totals[cat]
        print(
            f"{cat:<26} {recs:>11,} {100 * recs / all_records:>6.2f}% {lines:>11,} "
            f"{100 * lines / all_lines:>7.2f}%"
        )
        g = groups.setdefault(cat.split(":")[0], [0, 0])
        g[0] += recs
        g[1] += lines
    print()
    for group, (recs, lines) in sorted(groups.items()):
        print(
            f"{'all ' + group:<26} {recs:>11,} {100 * recs / all_records:>6.2f}% {lines:>11,} "
            f"{100 * lines / all_lines:>7.2f}%"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--size",
        type=parse_size,
        default=parse_size("1GiB"),
        help="total uncompressed size, e.g. 1GiB, 50MiB (default 1GiB)",
    )
    parser.add_argument("--files", type=int, default=8, help="number of files (default 8)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--gzip", action="store_true", help="also write .gz copies")
    parser.add_argument(
        "--zstd", action="store_true", help="also write .zst copies (skipped if the zstd CLI is missing)"
    )
    parser.add_argument(
        "--many-small",
        type=int,
        default=0,
        metavar="N",
        help="write N small files (into DIR/small) instead of --files big ones",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="parallel worker processes (default: all CPUs)"
    )
    parser.add_argument(
        "--format",
        choices=("mixed", *FORMATS),
        default="mixed",
        help=f"format of every file; 'mixed' alternates between {' and '.join(MIXED_FORMATS)} (default)",
    )
    parser.add_argument(
        "--share-400",
        type=float,
        default=None,
        metavar="FRACTION",
        help="make this fraction of the records 400-related, e.g. 0.10 for a dense corpus "
        "(default: about 0.02, the built-in mix)",
    )
    parser.add_argument(
        "--name",
        help="set name, the folder under --out and the manifest key (default plain, or small "
        "with --many-small)",
    )
    parser.add_argument("--quiet", action="store_true", help="print totals only, no mix table")
    args = parser.parse_args(argv)
    n_files = args.many_small or args.files
    if n_files < 1 or args.size < n_files * 1024:
        parser.error("need at least one file and 1 KiB per file")
    if args.share_400 is not None and not 0 < args.share_400 < 1:
        parser.error("--share-400 must be between 0 and 1")
    name = args.name or ("small" if args.many_small else "plain")
    # The compressed copies of a set live in NAME-gz and NAME-zst (plain's in gz and zst).
    if (
        not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name)
        or name in ("gz", "zst", "out")
        or name.endswith(("-gz", "-zst"))
    ):
        parser.error(f"--name {name!r}: use a-z, 0-9, - and _; not gz, zst, out, *-gz or *-zst")

    zstd = args.zstd and shutil.which("zstd") is not None
    if args.zstd and not zstd:
        print("note: zstd CLI not found, skipping .zst copies", file=sys.stderr)
    dirs = set_dirs(args.out, name)
    for kind, d in dirs.items():
        if d.exists():
            shutil.rmtree(d)  # stale files from a run with other parameters would skew a scan
        if kind == "plain" or (kind == "gz" and args.gzip) or (kind == "zst" and zstd):
            d.mkdir(parents=True)

    tasks = make_tasks(args, dirs, zstd)
    started = time.perf_counter()
    if args.jobs > 1 and len(tasks) > 1:
        # Every file has its own seed, so parallel output is identical to serial output.
        with ProcessPoolExecutor(max_workers=min(args.jobs, len(tasks))) as ex:
            chunksize = max(1, len(tasks) // (args.jobs * 8))
            results = list(ex.map(generate_file, tasks, chunksize=chunksize))
    else:
        results = [generate_file(t) for t in tasks]
    elapsed = time.perf_counter() - started

    total_bytes = sum(r.bytes for r in results)
    total_lines = sum(r.lines for r in results)
    entry: dict[str, Any] = {
        "params": params_of(args, zstd),
        "dirs": {k: str(v.relative_to(args.out)) for k, v in dirs.items()},
        "bytes": total_bytes,
        "lines": total_lines,
        "records": sum(r.records for r in results),
        "gz_bytes": sum(r.gz_bytes for r in results),
        "zst_bytes": sum(r.zst_bytes for r in results),
        "files": [
            {"name": Path(r.path).name, "format": r.fmt, "bytes": r.bytes, "lines": r.lines} for r in results
        ],
        "seconds": round(elapsed, 3),
        "mix": {cat: {"records": r, "lines": n} for cat, (r, n) in mix_totals(results).items()},
    }
    write_manifest(args.out, name, entry)

    if not args.quiet:
        print_mix(results)
    extras = []
    if args.gzip:
        extras.append(f"gz {format_size(entry['gz_bytes'])}")
    if zstd:
        extras.append(f"zst {format_size(entry['zst_bytes'])}")
    print(
        f"\nwrote {len(results)} files to {dirs['plain']}: {total_bytes:,} bytes "
        f"({format_size(total_bytes)}), {total_lines:,} lines, "
        f"{total_bytes / max(total_lines, 1):.1f} bytes/line" + (f"; {', '.join(extras)}" if extras else "")
    )
    print(
        f"took {elapsed:.2f} s ({total_bytes / 2**20 / elapsed:.0f} MiB/s with "
        f"{min(args.jobs, len(tasks))} worker(s))"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
