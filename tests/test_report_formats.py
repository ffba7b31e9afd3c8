"""-f markdown, -f ndjson and -f prom: exact output for a small input, the formats agreeing
on sample_logs, and the Prometheus text checked by promtool and by prometheus_client."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from golden_cases import REPRODUCIBLE_EPOCH
from logscan import __version__, sanitize
from logscan.aggregate import WINDOW_COLUMNS
from logscan.cli import main
from logscan.render import RENDERERS
from logscan.render.markdown import cell
from logscan.render.prom import label_value


@pytest.fixture(autouse=True)
def reproducible_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports stamped with SOURCE_DATE_EPOCH (and no duration), so that they compare exactly."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", REPRODUCIBLE_EPOCH)


SAMPLE_LOGS = Path(__file__).parent.parent / "sample_logs"

# Counted by hand: Ollama answered one POST /api/chat with 400 (no client record within the
# match window explains it); the application logged two failed Ollama calls, one for a model
# without tools (unsupported_capability), one it gives no known reason for (its message holds
# a pipe and backticks), and one 400 it answered itself (POST /login: an "other" 400).
SERVER_LOG = """\
[GIN] 2025/05/07 - 06:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"
[GIN] 2025/05/07 - 06:06:00 | 200 |     1.218ms |       127.0.0.1 | POST     "/api/chat"
"""
APP_LOG = """\
2025-05-07 06:20:01,100 ERROR bot: chat failed: ResponseError: registry.ollama.ai/library/gemma:2b does not support tools (status code: 400)
2025-05-07 06:30:02,200 ERROR bot: chat failed: ResponseError: shard | `3` is draining (status code: 400)
2025-05-07 06:40:03,300 INFO app: POST /login -> 400 Bad Request
"""


@pytest.fixture
def small_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    (tmp_path / "server.log").write_text(SERVER_LOG)
    (tmp_path / "app.log").write_text(APP_LOG)
    monkeypatch.chdir(tmp_path)  # short, fixed file names in the output
    return ["server.log", "app.log"]


def scan(*args: str) -> str:
    result = CliRunner().invoke(main, ["scan", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_format_is_a_choice_of_the_command_line() -> None:
    result = CliRunner().invoke(main, ["scan", "--help"])
    for name in RENDERERS:
        assert name in result.stdout
    assert set(RENDERERS) == {"table", "csv", "json", "markdown", "html", "ndjson", "prom"}


def test_markdown_exact(small_logs: list[str]) -> None:
    assert scan(*small_logs, "-f", "markdown") == MARKDOWN.replace("<version>", __version__)


def test_ndjson_exact(small_logs: list[str]) -> None:
    assert scan(*small_logs, "-f", "ndjson") == NDJSON.replace("<version>", __version__)


def test_prom_exact(small_logs: list[str]) -> None:
    # Made under SOURCE_DATE_EPOCH: the run's time is that one, and no duration is written.
    text = scan(*small_logs, "-f", "prom")
    assert text == PROM_WITHOUT_TIME + f"logscan_last_run_timestamp_seconds {REPRODUCIBLE_EPOCH}\n"


def test_ndjson_of_nothing_is_no_line(tmp_path: Path) -> None:
    empty = tmp_path / "quiet.log"
    empty.write_text(SERVER_LOG.splitlines()[1] + "\n")
    assert scan(str(empty), "-f", "ndjson") == ""


def test_prom_of_nothing_still_has_every_known_cause_at_zero(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.log"
    quiet.write_text(SERVER_LOG.splitlines()[1] + "\n")
    families = _families(scan(str(quiet), "-f", "prom"))
    failed = families["logscan_failed_requests"]
    assert {sample.labels["category"] for sample in failed} >= {"request_format", "unclassified"}
    assert all(sample.value == 0 for sample in failed)
    assert families["logscan_other_400_requests"] == []


def test_log_text_is_inert_in_markdown_and_ndjson(tmp_path: Path) -> None:
    log = tmp_path / "hostile.log"
    log.write_text(
        "2025-05-07 06:30:02,200 ERROR bot: ResponseError: a|b `c` \x07red\u202e <img src=x> (status code: 400)\n"
    )
    markdown = scan(str(log), "-f", "markdown")
    # Shown twice: as the example of its cause and as that of its unclassified message shape.
    cause_example, cluster_example = (line for line in markdown.splitlines() if "hostile.log:1" in line)
    assert "\x07" not in markdown and "\u202e" not in markdown
    # Each still one table row: every cell boundary is one of the table's own pipes.
    for example, header_start, pipes in (
        (cause_example, "| category     | time", 6),
        (cluster_example, "|   # ", 9),
    ):
        assert "a\\|b \\`c\\` \\\\ared\\\\u202e &lt;img src=x&gt;" in example
        header = next(line for line in markdown.splitlines() if line.startswith(header_start))
        assert len(_bare(example, "|")) == len(_bare(header, "|")) == pipes
    for line in scan(str(log), "-f", "ndjson").splitlines():
        json.loads(line)


def _bare(text: str, char: str) -> list[int]:
    """Where ``char`` stands unescaped in ``text`` (a backslash escapes the next character)."""
    return [match.start() for match in re.finditer(r"\\.|.", text) if match[0] == char]


@given(st.text())
def test_a_markdown_cell_is_one_line_with_nothing_markdown_would_read(text: str) -> None:
    escaped = cell(text)
    assert "\n" not in escaped and "\r" not in escaped
    for special in "|`<>":
        assert _bare(escaped, special) == []
    assert escaped == sanitize.terminal(escaped)


@given(st.text())
def test_a_label_value_reads_back_as_the_text_made_inert(text: str) -> None:
    line = f'm_total{{category="{label_value(text)}"}} 1\n'
    (family,) = text_string_to_metric_families(f"# TYPE m_total counter\n{line}")
    (sample,) = family.samples
    assert sample.labels == {"category": sanitize.terminal_lines(text)}


# On sample_logs: every format from the same scan, and the same figures in each.


@pytest.fixture(scope="module")
def sample_outputs() -> dict[str, str]:
    return {
        name: scan(str(SAMPLE_LOGS), "-f", name) for name in ("json", "csv", "ndjson", "prom", "markdown")
    }


def _families(text: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_formats_agree_on_sample_logs(sample_outputs: dict[str, str]) -> None:
    document = json.loads(sample_outputs["json"])
    by_category = {row["category"]: row for row in document["categories"]}
    expected_requests = {category: row["requests"] for category, row in by_category.items()}
    assert sum(expected_requests.values()) == document["requests"] == 76  # as in the README

    lines = [json.loads(line) for line in sample_outputs["ndjson"].splitlines()]
    windows = [{key: line[key] for key in WINDOW_COLUMNS} for line in lines]
    assert windows == document["windows"]
    # Each line names its run as the JSON does (the two were made by two runs: times differ).
    for line in lines:
        assert (line["version"], line["inputs"], line["report_tz"]) == (
            document["version"],
            document["inputs"],
            document["bounds"]["report_tz"],
        )
    csv_rows = sample_outputs["csv"].splitlines()[1:]
    assert len(csv_rows) == len(windows)
    ndjson_requests: dict[str, int] = {}
    for window in windows:
        if window["ollama"]:
            ndjson_requests[window["category"]] = (
                ndjson_requests.get(window["category"], 0) + window["requests"]
            )
    assert ndjson_requests == expected_requests
    other = sum(window["requests"] for window in windows if not window["ollama"])
    assert other == document["other_400s"]["requests"]

    families = _families(sample_outputs["prom"])
    prom_requests = {
        sample.labels["category"]: sample.value
        for sample in families["logscan_failed_requests"]
        if sample.value
    }
    assert prom_requests == expected_requests
    for side in ("server", "client"):
        records = {
            sample.labels["category"]: sample.value
            for sample in families["logscan_400_records"]
            if sample.labels["side"] == side and sample.labels["category"] in by_category
        }
        assert records == {category: row[f"{side}_records"] for category, row in by_category.items()}
        assert sum(records.values()) == document["records"][side]
    prom_other = sum(sample.value for sample in families["logscan_other_400_requests"])
    assert prom_other == document["other_400s"]["requests"]

    markdown = sample_outputs["markdown"]
    total_row = next(line for line in markdown.splitlines() if line.startswith("| **Total**"))
    cells = [part.strip() for part in total_row.strip("|").split("|")]
    assert cells[2:6] == [
        str(document["requests"]),
        "100.0%",
        str(document["records"]["server"]),
        str(document["records"]["client"]),
    ]
    for category, requests in expected_requests.items():
        row = next(line for line in markdown.splitlines() if f"| {category} " in line)
        assert [part.strip() for part in row.strip("|").split("|")][2] == str(requests)


def check_with_promtool(text: str) -> None:
    """``promtool check metrics`` finds no problem in ``text`` (the test skips without it)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found (Debian package prometheus; .ci/run installs it)")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_prom_passes_promtool(sample_outputs: dict[str, str]) -> None:
    check_with_promtool(sample_outputs["prom"])


def test_prom_samples_carry_no_timestamp(sample_outputs: dict[str, str]) -> None:
    text = sample_outputs["prom"]
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples
    # name, optional labels (quoted values, escapes inside), one space, the value, nothing else
    sample_line = re.compile(
        r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? \S+'
    )
    for line in samples:
        assert sample_line.fullmatch(line), line
        float(line.rsplit(" ", 1)[1])
    for family_samples in _families(text).values():
        assert all(sample.timestamp is None for sample in family_samples)


def test_prom_families_have_help_type_and_counter_names(sample_outputs: dict[str, str]) -> None:
    lines = sample_outputs["prom"].splitlines()
    types = dict(line.split(" ")[2:4] for line in lines if line.startswith("# TYPE "))
    helps = {line.split(" ")[2] for line in lines if line.startswith("# HELP ")}
    assert types == {
        "logscan_failed_requests_total": "counter",
        "logscan_400_records_total": "counter",
        "logscan_other_400_requests_total": "counter",
        "logscan_last_run_timestamp_seconds": "gauge",
        "logscan_last_run_duration_seconds": "gauge",
    }
    assert helps == set(types)


MARKDOWN = """\
# logscan: HTTP 400 report

- **Generated:** 2026-01-01T00:00:00Z by logscan <version>
- **Bounds:** none (every 400 found); windows cut in UTC
- **Inputs named:** server.log, app.log
- **Failed requests:** 3 (in 3 records: 1 server, 2 client)
- **Seen:** 2025-05-07 06:05:59 .. 2025-05-07 06:30:02 UTC
- **Window:** 1h; times in UTC, times without a zone read as UTC
- **Inputs:** 2 files, 5 lines read (5 scanned, 0 skipped), 0 inputs skipped, 0 unreadable
- **Coverage:** 1 of 3 requests explained by a rule (33.3%; 65 rules loaded, 1 fired)
- **Other 400s:** 1 request the applications answered themselves, in none of the counts above

## Failed requests by cause

| cause                      | category               |   requests |   share |   server records |   client records | first seen (UTC)    | last seen (UTC)     |
|----------------------------|------------------------|------------|---------|------------------|------------------|---------------------|---------------------|
| Model lacks the capability | unsupported_capability |          1 |   33.3% |                0 |                1 | 2025-05-07 06:20:01 | 2025-05-07 06:20:01 |
| Unclassified               | unclassified           |          2 |   66.7% |                1 |                1 | 2025-05-07 06:05:59 | 2025-05-07 06:30:02 |
| **Total**                  |                        |          3 |  100.0% |                1 |                2 |                     |                     |

## What to do

| category               | remediation                                                                                                                                                                                                                  |
|------------------------|------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------|
| unsupported_capability | Pull a model that supports tools/thinking (\\`ollama show MODEL\\` lists capabilities) or re-pull it to get an updated template; use embedding models only with /api/embed and send one image per request to one-image models. |
| unclassified           | Log the response body (\\`{"error": ...}\\`) in the client, or set OLLAMA_DEBUG_LOG_REQUESTS=1 (v0.19.0+) to capture rejected requests, then scan again.                                                                       |

## Examples per cause

| category               | time (UTC)          | at           | side   | record                                                                                                                                       |
|------------------------|---------------------|--------------|--------|----------------------------------------------------------------------------------------------------------------------------------------------|
| unsupported_capability | 2025-05-07 06:20:01 | app.log:1    | client | 2025-05-07 06:20:01,100 ERROR bot: chat failed: ResponseError: registry.ollama.ai/library/gemma:2b does not support tools (status code: 400) |
| unclassified           | 2025-05-07 06:05:59 | server.log:1 | server | [GIN] 2025/05/07 - 06:05:59 \\| 400 \\| 213.546µs \\| 127.0.0.1 \\| POST "/api/chat"                                                             |
| unclassified           | 2025-05-07 06:30:02 | app.log:2    | client | 2025-05-07 06:30:02,200 ERROR bot: chat failed: ResponseError: shard \\| \\`3\\` is draining (status code: 400)                                 |

## Top endpoints

| endpoint       |   requests |
|----------------|------------|
| POST /api/chat |          1 |

## Top models

| model    |   requests |
|----------|------------|
| gemma:2b |          1 |

## Top clients (1 request showed none)

| client        |   requests |   share |
|---------------|------------|---------|
| ollama-python |          2 |   66.7% |

## Server 400s no client record explains

| endpoint   | client address   |   requests |   latency | hint (not a cause)                                                                                                             |
|------------|------------------|------------|-----------|--------------------------------------------------------------------------------------------------------------------------------|
| /api/chat  | 127.0.0.1        |          1 |      fast | rejected before any model work: request format, an unsupported capability or the model name; the reason is in the client's log |

## Unclassified requests by message

|   # |   requests | side   | first seen          | last seen           | message shape                                                                                               | example at   | example                                                                                                      |
|-----|------------|--------|---------------------|---------------------|-------------------------------------------------------------------------------------------------------------|--------------|--------------------------------------------------------------------------------------------------------------|
|   1 |          1 | server | 2025-05-07 06:05:59 | 2025-05-07 06:05:59 | [GIN] &lt;time&gt; \\| 400 \\| &lt;num&gt;µs \\| &lt;ip&gt; \\| POST "&lt;path&gt;"                             | server.log:1 | [GIN] 2025/05/07 - 06:05:59 \\| 400 \\| 213.546µs \\| 127.0.0.1 \\| POST "/api/chat"                             |
|   2 |          1 | client | 2025-05-07 06:30:02 | 2025-05-07 06:30:02 | &lt;time&gt; ERROR bot: chat failed: ResponseError: shard \\| \\`&lt;num&gt;\\` is draining (status code: 400) | app.log:2    | 2025-05-07 06:30:02,200 ERROR bot: chat failed: ResponseError: shard \\| \\`3\\` is draining (status code: 400) |

## Other 400s (the applications answered them; in none of the counts above)

| endpoint    | category     |   requests |
|-------------|--------------|------------|
| POST /login | unclassified |          1 |

## Clock offsets (applied to the server files' times before matching)

1 server log: no offset estimated (too few requests matched without ambiguity), read as written.

## Inputs

| file       | format         | compressed   |   lines |   records |   400s | problem   |
|------------|----------------|--------------|---------|-----------|--------|-----------|
| server.log | ollama-server  |              |       2 |         2 |      1 |           |
| app.log    | python-logging |              |       3 |         3 |      3 |           |
"""

NDJSON = """\
{"window_start": "2025-05-07T06:00:00Z", "window_end": "2025-05-07T07:00:00Z", "category": "unclassified", "ollama": true, "requests": 2, "server_records": 1, "client_records": 1, "generated_at": "2026-01-01T00:00:00Z", "version": "<version>", "inputs": ["server.log", "app.log"], "duration_seconds": null, "since": null, "until": null, "report_tz": "UTC"}
{"window_start": "2025-05-07T06:00:00Z", "window_end": "2025-05-07T07:00:00Z", "category": "unsupported_capability", "ollama": true, "requests": 1, "server_records": 0, "client_records": 1, "generated_at": "2026-01-01T00:00:00Z", "version": "<version>", "inputs": ["server.log", "app.log"], "duration_seconds": null, "since": null, "until": null, "report_tz": "UTC"}
{"window_start": "2025-05-07T06:00:00Z", "window_end": "2025-05-07T07:00:00Z", "category": "unclassified", "ollama": false, "requests": 1, "server_records": 0, "client_records": 1, "generated_at": "2026-01-01T00:00:00Z", "version": "<version>", "inputs": ["server.log", "app.log"], "duration_seconds": null, "since": null, "until": null, "report_tz": "UTC"}
"""

PROM_WITHOUT_TIME = """\
# HELP logscan_failed_requests_total Requests to Ollama that failed with HTTP 400, by cause, in the scanned logs.
# TYPE logscan_failed_requests_total counter
logscan_failed_requests_total{category="request_format"} 0
logscan_failed_requests_total{category="invalid_model_name"} 0
logscan_failed_requests_total{category="unsupported_capability"} 1
logscan_failed_requests_total{category="context_or_options"} 0
logscan_failed_requests_total{category="rate_limit"} 0
logscan_failed_requests_total{category="auth"} 0
logscan_failed_requests_total{category="server_misconfig"} 0
logscan_failed_requests_total{category="unclassified"} 2
# HELP logscan_400_records_total HTTP 400 records those requests left in server-side and client-side logs, by cause.
# TYPE logscan_400_records_total counter
logscan_400_records_total{category="request_format",side="server"} 0
logscan_400_records_total{category="request_format",side="client"} 0
logscan_400_records_total{category="invalid_model_name",side="server"} 0
logscan_400_records_total{category="invalid_model_name",side="client"} 0
logscan_400_records_total{category="unsupported_capability",side="server"} 0
logscan_400_records_total{category="unsupported_capability",side="client"} 1
logscan_400_records_total{category="context_or_options",side="server"} 0
logscan_400_records_total{category="context_or_options",side="client"} 0
logscan_400_records_total{category="rate_limit",side="server"} 0
logscan_400_records_total{category="rate_limit",side="client"} 0
logscan_400_records_total{category="auth",side="server"} 0
logscan_400_records_total{category="auth",side="client"} 0
logscan_400_records_total{category="server_misconfig",side="server"} 0
logscan_400_records_total{category="server_misconfig",side="client"} 0
logscan_400_records_total{category="unclassified",side="server"} 1
logscan_400_records_total{category="unclassified",side="client"} 1
# HELP logscan_other_400_requests_total HTTP 400s the applications answered themselves (nothing shows they reached Ollama), by cause.
# TYPE logscan_other_400_requests_total counter
logscan_other_400_requests_total{category="unclassified"} 1
# HELP logscan_last_run_timestamp_seconds When logscan made this report, in seconds since the Unix epoch.
# TYPE logscan_last_run_timestamp_seconds gauge
"""
