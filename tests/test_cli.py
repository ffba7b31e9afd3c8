import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from golden_cases import REPRODUCIBLE_EPOCH
from logscan import __version__
from logscan.cli import main


@pytest.fixture(autouse=True)
def reproducible_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports stamped with SOURCE_DATE_EPOCH (and no duration), so that they compare exactly."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", REPRODUCIBLE_EPOCH)


SMALL_LOG = """\
[GIN] 2025/05/07 - 06:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"
[GIN] 2025/05/07 - 06:06:00 | 200 |     1.218ms |       127.0.0.1 | POST     "/api/chat"
"""


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin)


def test_csv_from_stdin_exact() -> None:
    result = invoke("scan", "-", "-f", "csv", stdin=SMALL_LOG)
    assert result.exit_code == 0
    assert result.stdout == (
        "window_start,window_end,category,ollama,requests,server_records,client_records\n"
        "2025-05-07T06:00:00Z,2025-05-07T07:00:00Z,unclassified,true,1,1,0\n"
    )


def test_table_from_stdin_exact() -> None:
    result = invoke("scan", "-", "--table-style", "plain", stdin=SMALL_LOG)
    assert result.exit_code == 0
    assert (
        result.stdout
        == """\
logscan: 1 request failed with HTTP 400, seen in 1 record (1 server, 0 client); 1 file, 2 lines read; times in UTC, window 1h
Run: 2026-01-01T00:00:00Z by logscan <version>; bounds: none (every 400 found); inputs: -

Causes (failed requests; the records each left in server and client logs)
cause         category        requests    share    server records    client records           first seen            last seen
Unclassified  unclassified           1   100.0%                 1                 0  2025-05-07 06:05:59  2025-05-07 06:05:59
Total                                1   100.0%                 1                 0

What to do
  unclassified: Log the response body (`{"error": ...}`) in the client, or set OLLAMA_DEBUG_LOG_REQUESTS=1 (v0.19.0+) to capture rejected requests, then scan again.

Failed requests per 1h window
window start        unclassified    total
2025-05-07 06:00               1        1

Top endpoints
endpoint          requests
POST /api/chat           1

Server 400s no client record explains (collect the logs of these clients to learn why)
endpoint    client address      requests    latency  hint (not a cause)
/api/chat   127.0.0.1                  1       fast  rejected before any model work: request format, an unsupported capability or the model name; the reason is in the client's log

Unclassified requests by message (1 group; `logscan rules suggest PATH...` drafts rules for the client-side ones)
  1 server, 2025-05-07 06:05:59 .. 2025-05-07 06:05:59
    [GIN] <time> | 400 | <num>µs | <ip> | POST "<path>"
    e.g. <stdin>:1: [GIN] 2025/05/07 - 06:05:59 | 400 | 213.546µs | 127.0.0.1 | POST "/api/chat"

Input
file     format         compressed      lines    records    400s  problem
<stdin>  ollama-server                      2          2       1

Notes
- Explained by a rule: 0 of 1 request (0.0%; 65 rules loaded, 0 fired). Unclassified: 1.
""".replace("<version>", __version__)
    )


def test_no_400s_says_so() -> None:
    result = invoke("scan", "-", "--table-style", "plain", stdin="nothing here\n")
    assert result.exit_code == 0
    assert result.stdout == (
        "logscan: no request to Ollama failed with HTTP 400; 1 file, 1 line read; times in UTC, window 1h\n"
        f"Run: 2026-01-01T00:00:00Z by logscan {__version__}; bounds: none (every 400 found); inputs: -\n"
        "\n"
        "Input\n"
        "file     format    compressed      lines    records    400s  problem\n"
        "<stdin>  plain                         1          1       0\n"
        "\n"
        "Notes\n"
        "- 1 line matched no known log format and was scanned as plain text (see `logscan formats PATH`).\n"
    )


def test_missing_path_exits_2_and_names_it() -> None:
    result = invoke("scan", "no/such/dir")
    assert result.exit_code == 2
    assert result.stderr == "logscan: warning: no/such/dir: No such file or directory\n"


def test_bad_window_and_zone_exit_2() -> None:
    assert invoke("scan", "-", "--window", "hourly", stdin="").stderr == (
        "logscan: error: --window 'hourly' is not a duration such as 30s, 5m, 1h, 1d or 1w\n"
    )
    result = invoke("scan", "-", "--assume-tz", "Mars/Olympus", stdin="")
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --assume-tz 'Mars/Olympus' is not a known time zone (an IANA name such as"
        " Europe/Berlin, UTC, local, or an offset such as +02:00)\n",
    )


def test_broken_rule_file_exits_2_with_every_place(tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: mine.quota\n"
        "    category: rate_limit\n"
        "    match: {message: {regex: 'quota (exceeded'}}\n"
        "  - id: mine.other\n"
        "    category: nonsense\n"
        "    match: {message: {contains: 'x'}}\n"
        "    priority: 1.5\n"
    )
    result = invoke("scan", "-", "--rules", str(rules), stdin="")
    assert result.exit_code == 2
    assert result.stderr == (
        f"logscan: error: {rules}:4:46: regex does not compile: missing )\n"
        f"{rules}:6:15: unknown category 'nonsense'\n"
        f"{rules}:8:15: 'priority' must be an integer, not a number\n"
    )


def test_user_rule_classifies_and_output_files_are_written(tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: mine.frobnicator\n"
        "    category: server_misconfig\n"
        "    match: {message: {contains: 'frobnicator queue rejected'}}\n"
    )
    log = tmp_path / "app.log"
    log.write_text("ResponseError: frobnicator queue rejected the request (status code: 400)\n")
    report, events = tmp_path / "out.csv", tmp_path / "events.csv"
    result = invoke(
        "scan", str(log), "--rules", str(rules), "-f", "csv", "-o", str(report), "--events", str(events)
    )
    assert (result.exit_code, result.stdout) == (0, "")
    assert (
        report.read_text()
        == "window_start,window_end,category,ollama,requests,server_records,client_records\n,,server_misconfig,true,1,0,1\n"
    )
    assert events.read_text() == (
        "file,line,end_line,timestamp,side,status,method,endpoint,model,category,rule_id,client,format,message,"
        "request_id,attribution,matched_file,matched_line\n"
        f"{log},1,1,,client,400,,,,server_misconfig,mine.frobnicator,ollama-python,plain,"
        "ResponseError: frobnicator queue rejected the request (status code: 400),0,own,,\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log", "events.csv", "mine.yaml", "out.csv"]


def test_output_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "out.txt"
    result = invoke("scan", "-", "-o", str(target), stdin="")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"logscan: error: cannot write '{target}': folder '{tmp_path / 'missing-dir'}' does not exist\n"
    )


def test_unreadable_file_is_a_warning_and_counted(tmp_path: Path) -> None:
    broken = tmp_path / "server.log.1.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = invoke("scan", str(broken), "-f", "csv")
    assert result.exit_code == 2  # named on the command line, as grep
    assert result.stderr.startswith(f"logscan: warning: {broken}: read failed: ")


def test_help_teaches() -> None:
    result = invoke("scan", "--help")
    assert result.exit_code == 0
    for needle in ("logscan scan /var/log/myapp/", "--window", "Exit codes: 0 ok"):
        assert needle in result.stdout


# A command added to the real command group whose code has a bug, as any command could.
_BUGGY_COMMAND = """
import sys
from logscan.cli import main

@main.command()
def buggy() -> None:
    raise RuntimeError("no such column \\x1b[31m\\nsecond line")

main(["buggy"])
"""


def _run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_an_unexpected_exception_is_one_line_and_exit_3() -> None:
    finished = _run_python(_BUGGY_COMMAND, {"LOGSCAN_DEBUG": ""})
    assert (finished.returncode, finished.stdout) == (3, "")
    assert finished.stderr == (
        "logscan: internal error: RuntimeError: no such column \\e[31m; please report"
        " (set LOGSCAN_DEBUG=1 for the traceback)\n"
    )


def test_logscan_debug_adds_the_traceback() -> None:
    finished = _run_python(_BUGGY_COMMAND, {"LOGSCAN_DEBUG": "1"})
    assert finished.returncode == 3
    assert finished.stderr.startswith("Traceback (most recent call last):\n")
    assert '  File "<string>", line 7, in buggy\n' in finished.stderr
    assert finished.stderr.endswith("; please report (set LOGSCAN_DEBUG=1 for the traceback)\n")


@pytest.mark.parametrize("to_stdout", [[], ["-o", "report.csv", "--events", "-"]], ids=["report", "events"])
def test_a_reader_that_leaves_early_is_no_error(tmp_path: Path, to_stdout: list[str]) -> None:
    """`logscan scan ... | head`: the pipe is closed before the report (or the events CSV,
    which Polars writes) is written."""
    log = tmp_path / "server.log"
    log.write_text(SMALL_LOG)
    process = subprocess.Popen(
        [sys.executable, "-m", "logscan", "scan", str(log), *to_stdout],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read()
    assert (process.wait(timeout=60), stderr) == (141, b"")


def test_a_given_server_offset_moves_that_log_and_a_wrong_name_is_a_warning(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(SMALL_LOG)
    moved = invoke("scan", str(log), "-f", "csv", "--server-offset", f"{log}=+2h")
    assert (moved.exit_code, moved.stderr) == (0, "")
    assert moved.stdout.splitlines()[1] == "2025-05-07T08:00:00Z,2025-05-07T09:00:00Z,unclassified,true,1,1,0"
    wrong = invoke("scan", str(log), "-f", "csv", "--server-offset", "other.log=+2h")
    assert wrong.stdout.splitlines()[1].startswith("2025-05-07T06:00:00Z,")
    assert wrong.stderr == (
        "logscan: warning: --server-offset other.log=...: no server log of this scan has that name; ignored\n"
    )
