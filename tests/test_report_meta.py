"""What every report says about its run (when, which version, bounds, inputs, how long), the
Prometheus file as the textfile collector takes it, reports that follow the umask, and --help."""

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from logscan import __version__
from logscan.aggregate import WINDOW_COLUMNS
from logscan.cli import main

LOG = """\
[GIN] 2025/05/07 - 06:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"
[GIN] 2025/05/07 - 06:06:00 | 200 |     1.218ms |       127.0.0.1 | POST     "/api/chat"
2025-05-07 07:20:01,100 ERROR bot: chat failed: ResponseError: registry.ollama.ai/library/gemma:2b does not support tools (status code: 400)
"""
BOUNDS = ("--since", "2025-05-07T06:00Z", "--until", "2025-05-08")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    (tmp_path / "server.log").write_text(LOG.splitlines(keepends=True)[0] + LOG.splitlines(keepends=True)[1])
    (tmp_path / "app.log").write_text(LOG.splitlines(keepends=True)[2])
    return tmp_path


def timed_scan(*args: str) -> tuple[str, float, float, float]:
    """The report, the wall-clock times before and after the run, and how long it took."""
    before, started = time.time(), time.monotonic()
    result = CliRunner().invoke(main, ["scan", *args])
    elapsed, after = time.monotonic() - started, time.time()
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return result.stdout, before, after, elapsed


def test_the_json_begins_with_the_run(in_tmp: Path) -> None:
    text, before, after, elapsed = timed_scan("server.log", "app.log", "-f", "json", *BOUNDS)
    document = json.loads(text)
    assert list(document)[:5] == ["generated_at", "version", "bounds", "inputs", "duration_seconds"]
    generated = datetime.fromisoformat(document["generated_at"])
    assert document["generated_at"].endswith("Z")
    assert int(before) <= generated.timestamp() <= after
    assert document["version"] == __version__
    assert document["bounds"] == {
        "since": "2025-05-07T06:00:00Z",
        "until": "2025-05-08T00:00:00Z",
        "report_tz": "UTC",
    }
    assert document["inputs"] == ["server.log", "app.log"]
    assert 0 < document["duration_seconds"] <= elapsed


def test_a_span_back_from_now_is_named_as_the_instant_applied(in_tmp: Path) -> None:
    text, before, after, _ = timed_scan("server.log", "-f", "json", "--since", "2h")
    since = datetime.fromisoformat(json.loads(text)["bounds"]["since"])
    assert before - 7200 - 1 <= since.timestamp() <= after - 7200


def test_every_ndjson_line_carries_the_run(in_tmp: Path) -> None:
    text, before, after, elapsed = timed_scan("server.log", "app.log", "-f", "ndjson", *BOUNDS)
    lines = [json.loads(line) for line in text.splitlines()]
    # Windows 06:00 and 07:00 each have their 400 (the bounds run to midnight: 16 empty windows).
    assert len(lines) == 18
    assert [line["requests"] for line in lines[:2]] == [1, 1]
    for line in lines:
        assert list(line)[: len(WINDOW_COLUMNS)] == list(WINDOW_COLUMNS)
        run = {key: value for key, value in line.items() if key not in WINDOW_COLUMNS}
        generated = datetime.fromisoformat(run.pop("generated_at"))
        assert int(before) <= generated.timestamp() <= after
        assert 0 < run.pop("duration_seconds") <= elapsed
        assert run == {
            "version": __version__,
            "inputs": ["server.log", "app.log"],
            "since": "2025-05-07T06:00:00Z",
            "until": "2025-05-08T00:00:00Z",
            "report_tz": "UTC",
        }


def test_the_csv_stays_pure_csv(in_tmp: Path) -> None:
    text, *_ = timed_scan("server.log", "app.log", "-f", "csv", *BOUNDS)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(WINDOW_COLUMNS)
    assert all(len(row) == len(WINDOW_COLUMNS) for row in table)
    assert not any(row[0].startswith("#") for row in table)
    assert table[1:3] == [
        ["2025-05-07T06:00:00Z", "2025-05-07T07:00:00Z", "unclassified", "true", "1", "1", "0"],
        ["2025-05-07T07:00:00Z", "2025-05-07T08:00:00Z", "unsupported_capability", "true", "1", "0", "1"],
    ]


def test_the_table_and_markdown_headers_under_a_fixed_epoch(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    table = CliRunner().invoke(main, ["scan", "server.log", "app.log", *BOUNDS]).stdout.splitlines()
    assert table[1] == (
        f"Run: 2026-01-01T00:00:00Z by logscan {__version__}; bounds: from 2025-05-07T06:00:00Z to"
        " 2025-05-08T00:00:00Z (until excluded); inputs: server.log, app.log"
    )
    markdown = CliRunner().invoke(main, ["scan", "server.log", "--since", "2025-05-07", "-f", "markdown"])
    assert markdown.stdout.splitlines()[2:5] == [
        f"- **Generated:** 2026-01-01T00:00:00Z by logscan {__version__}",
        "- **Bounds:** from 2025-05-07T00:00:00Z to the last 400; windows cut in UTC",
        "- **Inputs named:** server.log",
    ]


def test_the_table_names_ten_inputs_and_counts_the_rest(in_tmp: Path) -> None:
    names = [f"quiet{number}.log" for number in range(12)]
    for name in names:
        (in_tmp / name).write_text("nothing\n")
    text, *_ = timed_scan(*names, "-q")
    run = text.splitlines()[1]
    assert run.endswith("; inputs: " + ", ".join(names[:10]) + " and 2 more")
    assert " in " in run.split(";")[0]  # the duration: "... by logscan X in 0.31 s"


def test_the_duration_is_measured(in_tmp: Path) -> None:
    text, _, _, elapsed = timed_scan("server.log", "app.log")
    run = text.splitlines()[1]
    took = float(run.split(" in ", 1)[1].split(" s;", 1)[0])
    assert 0 < took <= elapsed + 0.005  # printed to the hundredth


def test_a_bad_source_date_epoch_is_a_usage_error(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    result = CliRunner().invoke(main, ["scan", "server.log"])
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        "logscan: error: SOURCE_DATE_EPOCH='yesterday' is not a time in whole seconds since the Unix epoch\n",
    )


# --- Prometheus --------------------------------------------------------------------------------


def test_prom_gauges_of_the_run_and_no_sample_timestamps(in_tmp: Path) -> None:
    text, before, after, elapsed = timed_scan("server.log", "app.log", "-f", "prom")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    stamp = families["logscan_last_run_timestamp_seconds"]
    duration = families["logscan_last_run_duration_seconds"]
    assert (stamp.type, duration.type) == ("gauge", "gauge")
    assert int(before) <= stamp.samples[0].value <= after
    assert 0 < duration.samples[0].value <= elapsed
    assert all(sample.timestamp is None for family in families.values() for sample in family.samples)
    # Each sample line is a name (with labels) and a value: a third field would be a timestamp.
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples and all(
        len(line.rsplit("} ", 1)[-1].split(" ")) == (1 if "}" in line else 2) for line in samples
    )


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) is not installed"
)
def test_promtool_accepts_the_file(in_tmp: Path) -> None:
    text, *_ = timed_scan("server.log", "app.log", "-f", "prom")
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


# --- reports follow the umask ------------------------------------------------------------------


def run_with_umask(umask: int, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """logscan in a real process whose umask is ``umask``."""
    return subprocess.run(
        [sys.executable, "-m", "logscan", "scan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=lambda: os.umask(umask),
    )


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_report_follows_the_umask(in_tmp: Path, umask: int, mode: int) -> None:
    done = run_with_umask(
        umask, "server.log", "-f", "csv", "-o", "report.csv", "--events", "events.csv", cwd=in_tmp
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert stat.S_IMODE((in_tmp / "report.csv").stat().st_mode) == mode
    assert stat.S_IMODE((in_tmp / "events.csv").stat().st_mode) == mode


def test_an_existing_report_keeps_its_mode(in_tmp: Path) -> None:
    report = in_tmp / "report.csv"
    report.write_text("last night\n")
    report.chmod(0o644)
    done = run_with_umask(0o077, "server.log", "-f", "csv", "-o", "report.csv", cwd=in_tmp)
    assert (done.returncode, done.stderr) == (0, "")
    assert stat.S_IMODE(report.stat().st_mode) == 0o644
    assert report.read_text().startswith("window_start,")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_an_existing_report_keeps_its_owner(in_tmp: Path) -> None:
    report = in_tmp / "report.csv"
    report.write_text("last night\n")
    os.chown(report, 65534, 65534)
    report.chmod(0o640)
    done = run_with_umask(0o022, "server.log", "-f", "csv", "-o", "report.csv", cwd=in_tmp)
    assert (done.returncode, done.stderr) == (0, "")
    info = report.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)
    assert report.read_text().startswith("window_start,")


# --- --help ------------------------------------------------------------------------------------


def test_help_documents_exit_codes_and_the_new_options() -> None:
    text = " ".join(CliRunner().invoke(main, ["scan", "--help"]).stdout.split())
    for code in (
        "Exit codes: 0 ok;",
        "1 a --fail-above or --fail-on threshold breached",
        "2 usage or rule-file error",
        "3 runtime failure",
        "130 interrupted",
    ):
        assert code in text
    assert "--report-tz ZONE Zone of the report" in text
    assert "--config FILE Take option defaults from this TOML file" in text
    assert "~/.config/logscan/config.toml ($XDG_CONFIG_HOME) and /etc/logscan/config.toml" in text


def test_the_main_help_names_the_exit_codes_too() -> None:
    text = " ".join(CliRunner().invoke(main, ["--help"]).stdout.split())
    assert (
        "Exit codes: 0 ok; 1 a threshold breached; 2 usage or rule-file error; 3 runtime failure;"
        " 130 interrupted (details in `logscan scan --help`)." in text
    )
