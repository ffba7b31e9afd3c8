"""--fail-above and --fail-on: exit 1 after the report is written, naming the threshold."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from logscan import thresholds, trends
from logscan.cli import main

# Three failed requests: one httpx line with the traceback under it (one request), and two
# GIN lines that no client record explains.
LOG = """\
2025-05-07 07:14:03,509 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 400 Bad Request"
2025-05-07 07:14:03,512 ERROR chatbot: chat failed
Traceback (most recent call last):
ollama._types.ResponseError: registry.ollama.ai/library/gemma2:2b does not support tools (status code: 400)
"""
SERVER = """\
[GIN] 2025/05/07 - 09:00:01 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/embed"
[GIN] 2025/05/07 - 09:30:01 | 400 |      88.1µs |       127.0.0.1 | POST     "/api/generate"
"""


def scan(tmp_path: Path, *args: str):
    (tmp_path / "app.log").write_text(LOG)
    (tmp_path / "server.log").write_text(SERVER)
    report = tmp_path / "report.csv"
    result = CliRunner().invoke(
        main,
        [
            "scan",
            str(tmp_path / "app.log"),
            str(tmp_path / "server.log"),
            "-f",
            "csv",
            "-o",
            str(report),
            *args,
        ],
    )
    return result, report


def test_more_requests_than_allowed_exit_1_after_the_report(tmp_path: Path) -> None:
    result, report = scan(tmp_path, "--fail-above", "2")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "logscan: threshold breached: 3 failed requests, above --fail-above 2\n"
    assert report.read_text().startswith("window_start,window_end,category,ollama,requests")


def test_at_the_limit_is_no_breach(tmp_path: Path) -> None:
    result, _ = scan(tmp_path, "--fail-above", "3", "--fail-on", "unsupported_capability=1")
    assert (result.exit_code, result.stderr) == (0, "")


def test_a_category_over_its_limit_and_one_that_must_not_appear(tmp_path: Path) -> None:
    result, _ = scan(tmp_path, "--fail-on", "unclassified=1", "--fail-on", "unsupported_capability")
    assert result.exit_code == 1
    assert result.stderr == (
        "logscan: threshold breached: 2 unclassified requests, above --fail-on unclassified=1\n"
        "logscan: threshold breached: 1 unsupported_capability requests, above --fail-on unsupported_capability=0\n"
    )


def test_a_threshold_on_no_category_is_a_usage_error(tmp_path: Path) -> None:
    result, _ = scan(tmp_path, "--fail-on", "tools")
    assert result.exit_code == 2
    assert result.stderr.startswith("logscan: error: --fail-on names no category: tools (categories: auth, ")
    result, _ = scan(tmp_path, "--fail-on", "Auth=x")
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --fail-on 'Auth=x' is not CATEGORY or CATEGORY=N (e.g. auth or request_format=10)\n",
    )


def test_only_new_categories_breach_naming_each_with_its_count() -> None:
    stored = [StoredRequests({"auth": 4, "unclassified": 0})]
    now = {"auth": 9, "unclassified": 2, "request_format": 3}
    assert thresholds.new_categories(trends.compare(now, stored)) == [
        "3 request_format requests, a category no stored run had (--fail-on-new-category)",
        "2 unclassified requests, a category no stored run had (--fail-on-new-category)",
    ]
    # A first run has nothing to compare with: nothing is new.
    assert thresholds.new_categories(trends.compare(now, [])) == []


@dataclass(frozen=True)
class StoredRequests:
    requests: Mapping[str, int]
