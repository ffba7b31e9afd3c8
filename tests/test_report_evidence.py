"""The evidence half of a report: a few example records per cause (kept by the scan, without
--events) and the top clients, on sample_logs/incident/ against counts made by hand, in every
report format, and the client tally adding up over parts of a scan."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from golden_cases import REPRODUCIBLE_EPOCH
from logscan import aggregate
from logscan import scan as pipeline
from logscan.cli import main
from logscan.scanoptions import ScanOptions

INCIDENT = Path(__file__).parent.parent / "sample_logs" / "incident"


@pytest.fixture(autouse=True)
def reproducible_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", REPRODUCIBLE_EPOCH)


def scan(*args: str) -> str:
    result = CliRunner().invoke(main, ["scan", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


# Counted by hand from the logs (tests/requests_expectations.json names each request's records):
# the API's direct ollama-python calls R01, R05 and R09 (paired with one of the two GIN lines of
# 10:29:16), the issue author's R12 and R13 (ResponseError tracebacks), and the worker's R02,
# R08 and R14, whose JSON lines name no library but whose nginx lines show the user agent
# ollama-python/0.4.8: 8 requests. The bot's R03 (an ollama-js stack) and R07 (an axios dump;
# nginx shows axios/1.7.9), the API's R04 through the OpenAI SDK: one each. R06 and R11 are
# GIN lines alone, whose clients' logs are missing: they show no client.
INCIDENT_CLIENTS = [
    {"client": "ollama-python", "requests": 8, "share": 8 / 13},
    {"client": "axios", "requests": 1, "share": 1 / 13},
    {"client": "ollama-js", "requests": 1, "share": 1 / 13},
    {"client": "openai", "requests": 1, "share": 1 / 13},
]
# The first three requests in time of each cause, each shown by its record that carries the
# reason (a client's exception, not its httpx line or the GIN line), at the request's time on
# the apps' clock. R09 and R13 are the 4th and 5th of unsupported_capability.
INCIDENT_EXAMPLES = [
    ("request_format", "2025-05-07T08:16:09Z", "node/bot.log", 5, "client"),  # R03
    ("request_format", "2025-05-07T08:24:12Z", "node/bot.log", 25, "client"),  # R07
    ("invalid_model_name", "2025-05-07T08:26:40Z", "worker/jobs.jsonl", 9, "client"),  # R08
    ("invalid_model_name", "2025-05-07T08:31:20Z", "pasted/issue-1234.txt", 17, "client"),  # R12
    ("unsupported_capability", "2025-05-07T08:12:41Z", "app/api.log", 20, "client"),  # R01
    ("unsupported_capability", "2025-05-07T08:14:55Z", "worker/jobs.jsonl", 5, "client"),  # R02
    ("unsupported_capability", "2025-05-07T08:18:30Z", "app/api.log", 41, "client"),  # R04
    ("context_or_options", "2025-05-07T08:21:47Z", "app/api.log", 64, "client"),  # R05
    ("context_or_options", "2025-05-07T08:35:51Z", "worker/jobs.jsonl", 17, "client"),  # R14
    ("unclassified", "2025-05-07T08:23:05Z", "ollama/server.log", 52, "server"),  # R06
    ("unclassified", "2025-05-07T08:29:13Z", "ollama/server.log", 60, "server"),  # R11
]


@pytest.fixture(scope="module")
def incident_json() -> dict[str, object]:
    return json.loads(CliRunner().invoke(main, ["scan", str(INCIDENT), "-f", "json"]).stdout)


def test_top_clients_of_the_incident_are_the_hand_counted_ones(incident_json: dict[str, object]) -> None:
    assert incident_json["top_clients"] == INCIDENT_CLIENTS
    assert incident_json["no_client"] == 2


def test_examples_of_the_incident_are_the_first_requests_of_each_cause(
    incident_json: dict[str, object],
) -> None:
    examples = incident_json["examples"]
    assert isinstance(examples, list)
    shown = [
        (e["category"], e["timestamp"], str(Path(e["file"]).relative_to(INCIDENT)), e["line"], e["side"])
        for e in examples
    ]
    assert sorted(shown) == sorted(INCIDENT_EXAMPLES)
    by_place = {(str(Path(e["file"]).relative_to(INCIDENT)), e["line"]): e["message"] for e in examples}
    # The whole record: the exception line under the traceback, not the access line before it.
    assert by_place[("app/api.log", 20)].endswith("gemma2:2b does not support tools (status code: 400)")
    assert by_place[("ollama/server.log", 52)].startswith("[GIN] 2025/05/07 - 10:23:08 | 400 |")


def test_examples_come_from_the_spill_without_keeping_events(tmp_path: Path) -> None:
    result = pipeline.run(ScanOptions(paths=(str(INCIDENT),), keep_events=False), spill_dir=tmp_path)
    assert result.events is None
    assert list(tmp_path.iterdir())  # the records waited on disk
    assert result.examples.height == len(INCIDENT_EXAMPLES)
    assert result.examples.get_column("category").value_counts(sort=True).rows()[0] == (
        "unsupported_capability",
        3,
    )


APP_LOG = """\
2025-05-07 06:20:00,900 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 400 Bad Request"
2025-05-07 06:20:01,100 ERROR bot: chat failed: ResponseError: registry.ollama.ai/library/gemma:2b does not support tools (status code: 400)
2025-05-07 06:21:00,000 ERROR bot: httpx.HTTPStatusError: Client error '400 Bad Request' for url 'http://localhost:11434/api/generate'
2025-05-07 06:22:00,000 ERROR bot: chat failed: ResponseError: model is required (status code: 400)
2025-05-07 06:23:00,000 ERROR bot: chat failed: ResponseError: model is required (status code: 400)
2025-05-07 06:24:00,000 ERROR bot: chat failed: ResponseError: model is required (status code: 400)
2025-05-07 06:25:00,000 ERROR bot: chat failed: ResponseError: model is required (status code: 400)
"""
NGINX_LOG = (
    '10.0.0.9 - - [07/May/2025:06:40:00 +0000] "POST /api/embed HTTP/1.1" 400 30 "-" "python-httpx/0.27.0"\n'
)


@pytest.fixture
def small_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """By hand: the httpx access line and the ResponseError under it are one request of
    ollama-python's (the SDK named, not its transport); the HTTPStatusError is httpx's own;
    four `model is required` requests of ollama-python; nginx saw python-httpx (httpx). Five of the seven
    requests show ollama-python, two httpx."""
    (tmp_path / "app.log").write_text(APP_LOG)
    (tmp_path / "nginx.log").write_text(NGINX_LOG)
    monkeypatch.chdir(tmp_path)
    return ["app.log", "nginx.log"]


TABLE_CLIENTS = """\
Top clients
client           requests    share
-------------  ----------  -------
ollama-python           5    71.4%
httpx                   2    28.6%
"""


def test_table_shows_top_clients_and_examples_only_with_explain(small_logs: list[str]) -> None:
    plain = scan(*small_logs)
    assert "Examples per cause" not in plain
    explained = scan(*small_logs, "--explain")
    section = explained[explained.index("Examples per cause") :]
    assert section[: section.index("\n\n") + 1] == EXAMPLES_TABLE
    assert TABLE_CLIENTS in plain


EXAMPLES_TABLE = """\
Examples per cause (the first requests of each, by the record that carries the reason)
category                time                 at           side    record
----------------------  -------------------  -----------  ------  --------------------------------------------------------------------------------------------------------------------------------------------
invalid_model_name      2025-05-07 06:22:00  app.log:4    client  2025-05-07 06:22:00,000 ERROR bot: chat failed: ResponseError: model is required (status code: 400)
invalid_model_name      2025-05-07 06:23:00  app.log:5    client  2025-05-07 06:23:00,000 ERROR bot: chat failed: ResponseError: model is required (status code: 400)
invalid_model_name      2025-05-07 06:24:00  app.log:6    client  2025-05-07 06:24:00,000 ERROR bot: chat failed: ResponseError: model is required (status code: 400)
unsupported_capability  2025-05-07 06:20:00  app.log:2    client  2025-05-07 06:20:01,100 ERROR bot: chat failed: ResponseError: registry.ollama.ai/library/gemma:2b does not support tools (status code: 400)
unclassified            2025-05-07 06:21:00  app.log:3    client  2025-05-07 06:21:00,000 ERROR bot: httpx.HTTPStatusError: Client error '400 Bad Request' for url 'http://localhost:11434/api/generate'
unclassified            2025-05-07 06:40:00  nginx.log:1  server  10.0.0.9 - - [07/May/2025:06:40:00 +0000] "POST /api/embed HTTP/1.1" 400 30 "-" "python-httpx/0.27.0"
"""


def test_markdown_and_html_show_the_same_clients(small_logs: list[str]) -> None:
    markdown = scan(*small_logs, "-f", "markdown")
    assert (
        "## Top clients\n\n"
        "| client        |   requests |   share |\n"
        "|---------------|------------|---------|\n"
        "| ollama-python |          5 |   71.4% |\n"
        "| httpx         |          2 |   28.6% |\n"
    ) in markdown
    assert "| invalid_model_name     | 2025-05-07 06:22:00 | app.log:4   | client |" in markdown
    html = scan(*small_logs, "-f", "html")
    assert "<h2>Top clients</h2>" in html
    assert '<tr><td>ollama-python</td><td class="n">5</td><td class="n">71.4%</td></tr>' in html
    assert "<h2>Examples per cause</h2>" in html


def requests_frame(rows: list[tuple[int, str | None, str]]) -> pl.DataFrame:
    """Requests at ``minute`` past 06:00 with a client and a category."""
    start = datetime(2025, 5, 7, 6, tzinfo=UTC)
    return pl.DataFrame(
        {
            "timestamp": [start + timedelta(minutes=minute) for minute, _, _ in rows],
            "category": [category for _, _, category in rows],
            "rule_id": [None] * len(rows),
            "method": ["POST"] * len(rows),
            "endpoint": ["/api/chat"] * len(rows),
            "model": [None] * len(rows),
            "client": [client for _, client, _ in rows],
            "ollama": [True] * len(rows),
            "server_records": [1] * len(rows),
            "client_records": [1] * len(rows),
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC"), "rule_id": pl.String, "model": pl.String},
    )


@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),
            st.sampled_from([None, "ollama-python", "openai", "httpx"]),
            st.sampled_from(["request_format", "unclassified"]),
        ),
        max_size=40,
    ),
    st.integers(0, 40),
)
def test_client_counts_of_parts_add_up_to_those_of_the_whole(
    rows: list[tuple[int, str | None, str]], cut: int
) -> None:
    whole = requests_frame(rows)
    merged = aggregate.merge_tallies(
        [aggregate.tally(whole.head(cut), "1h"), aggregate.tally(whole.slice(cut), "1h")]
    )
    summary = aggregate.summarize(merged, "1h", ["request_format", "unclassified"], top=10)
    expected: dict[str, int] = {}
    for _, client, _ in rows:
        if client is not None:
            expected[client] = expected.get(client, 0) + 1
    assert dict(summary.top_clients.select("client", "requests").iter_rows()) == expected
    assert summary.no_client == sum(client is None for _, client, _ in rows)
    assert summary.top_clients.get_column("share").sum() * len(rows) == pytest.approx(sum(expected.values()))
