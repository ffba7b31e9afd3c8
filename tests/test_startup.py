"""Start-up discipline: a scan of a tiny file with a warm rule cache imports nothing it does not
use. Libraries made lazy for start-up time stay lazy (the time itself is the benchmark's
business: benchmarks/run.py --cases startup)."""

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from tabulate import tabulate_formats
from test_rules_cache import USER_RULE

from logscan import allocator
from logscan.cli_common import DEFAULT_TABLE_STYLE
from logscan.executors import ONE_THREAD_MAX_BYTES

TINY_LOG = (
    '[GIN] 2025/05/07 - 06:59:38 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"\n'
    '[GIN] 2025/05/07 - 06:59:39 | 200 |  1.234567891s |       127.0.0.1 | POST     "/api/chat"\n'
    "2025-05-07 06:59:40,112 ERROR app.chat: chat request failed: registry.ollama.ai/library/"
    "gemma2:2b does not support tools (status code: 400)\n"
)
# Two requests: the GIN 400 (no reason shown) and the client error naming a capability; the 200
# is not one.
EXPECTED_CSV = (
    "window_start,window_end,category,ollama,requests,server_records,client_records\n"
    "2025-05-07T06:00:00Z,2025-05-07T07:00:00Z,unclassified,true,1,1,0\n"
    "2025-05-07T06:00:00Z,2025-05-07T07:00:00Z,unsupported_capability,true,1,1,0\n"
)
# Modules a scan needs only for some inputs or options: the YAML reader only to compile a rule
# pack, `regex` only for a rule the Rust engine cannot run, tabulate only for tables, the
# rule tools only for --rules, TOML only when there is a config file, multiprocessing only for
# worker processes, the state (SQLite) only with --state.
LAZY = (
    "ruamel",
    "ruamel.yaml",
    "_ruamel_yaml",
    "_ruamel_yaml_clibz",
    "regex",
    "tabulate",
    "logscan.rulefile",
    "logscan.ruleschema",
    "logscan.ruletools",
    "logscan.patternlint",
    "tomllib",
    "multiprocessing",
    "concurrent.futures.process",
    "sqlite3",
    "logscan.state",
)
SCAN = """
import json, sys
from logscan.cli import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "loaded": [name for name in %r if name in sys.modules]}))
print(sys.modules["polars"].thread_pool_size(), file=sys.stderr)
"""


def scan(
    tmp_path: Path, *args: str, log: str = TINY_LOG, threads: int = 1, **environment: str
) -> tuple[dict[str, object], str]:
    """(exit code and lazy modules loaded, CSV report) of a scan of ``log`` in a fresh
    interpreter, in a folder and home with no config file, the rule cache in
    ``tmp_path/cache``; Polars ran on ``threads`` threads."""
    (tmp_path / "tiny.log").write_text(log, encoding="utf-8")
    report = tmp_path / "report.csv"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "LOGSCAN_CACHE_DIR": str(tmp_path / "cache"),
        **environment,
    }
    run = subprocess.run(
        [sys.executable, "-c", SCAN % (LAZY,), "scan", "tiny.log", "-f", "csv", "-o", str(report), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.stderr == f"{threads}\n"
    return json.loads(run.stdout), report.read_text(encoding="utf-8")


@pytest.mark.skipif(Path("/etc/logscan/config.toml").exists(), reason="a system config file is read")
def test_a_tiny_scan_imports_none_of_the_lazy_modules_with_or_without_a_rule_cache(tmp_path: Path) -> None:
    # The built-in pack is shipped compiled: even the first run needs no cache entry.
    cold, cold_report = scan(tmp_path)
    assert cold == {"code": 0, "loaded": []}
    assert not (tmp_path / "cache").exists()
    # A user's rule file is compiled at the first run: the YAML reader is loaded then, so the
    # check can tell; the second run reads the pack from the cache.
    rule_file = tmp_path / "local.yaml"
    rule_file.write_text(USER_RULE % "quota exceeded", encoding="utf-8")
    compiled, compiled_report = scan(tmp_path, "--rules", str(rule_file))
    assert compiled["code"] == 0
    assert {"ruamel", "logscan.rulefile", "logscan.ruleschema"} <= set(compiled["loaded"])  # type: ignore[arg-type]
    cached, cached_report = scan(tmp_path, "--rules", str(rule_file))
    assert cached["code"] == 0
    assert not {"ruamel", "regex", "logscan.rulefile", "logscan.ruleschema"} & set(cached["loaded"])  # type: ignore[arg-type]
    assert cold_report == EXPECTED_CSV
    assert compiled_report == cached_report


def test_a_tiny_scan_as_a_table_loads_tabulate(tmp_path: Path) -> None:
    scan(tmp_path)
    outcome, _ = scan(tmp_path, "-f", "table")
    assert outcome == {"code": 0, "loaded": ["tabulate"]}


def test_polars_runs_on_one_thread_for_a_small_input_only(tmp_path: Path) -> None:
    scan(tmp_path, threads=1)
    # The user's own setting stands.
    scan(tmp_path, threads=2, POLARS_MAX_THREADS="2")
    # Over ONE_THREAD_MAX_BYTES of input (no 400 in it): Polars' own pool, as in this process.
    filler = "2025-05-07 06:59:40,112 INFO app: fine\n"
    outcome, _ = scan(
        tmp_path, log=filler * (ONE_THREAD_MAX_BYTES // len(filler) + 1), threads=pl.thread_pool_size()
    )
    assert outcome["code"] == 0


def test_the_default_table_style_is_one_of_tabulate() -> None:
    # check_table_style lets it through without asking tabulate.
    assert DEFAULT_TABLE_STYLE in tabulate_formats


# --- the end of the process -------------------------------------------------------------------

ENDING = """
import atexit, pathlib, sys, threading, time
import click
from logscan.cli_exit import run_and_exit

marker = pathlib.Path(sys.argv[1])

@click.command()
@click.argument("marker")
@click.option("--thread", is_flag=True)
@click.option("--status", default="0")
def command(marker, thread, status):
    atexit.register(lambda: pathlib.Path(marker + ".atexit").write_text("ran"))
    if thread:
        threading.Thread(target=lambda: (time.sleep(0.3), pathlib.Path(marker).write_text("done"))).start()
    print("x" * 100_000, end="")  # more than a pipe's buffer: flushed at the end
    sys.exit(int(status) if status.isdigit() else status)

run_and_exit(command)
"""


def end(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    marker = tmp_path / "marker"
    return subprocess.run(
        [sys.executable, "-c", ENDING, str(marker), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_program_ends_with_its_status_after_atexit_handlers_and_with_stdout_flushed(
    tmp_path: Path,
) -> None:
    ended = end(tmp_path, "--status", "3")
    assert (ended.returncode, ended.stdout, ended.stderr) == (3, "x" * 100_000, "")
    assert (tmp_path / "marker.atexit").read_text() == "ran"


def test_a_status_that_is_not_a_number_is_printed_and_is_1(tmp_path: Path) -> None:
    ended = end(tmp_path, "--status", "stopped")
    assert (ended.returncode, ended.stderr) == (1, "stopped\n")


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    ended = end(tmp_path, "--thread")
    assert ended.returncode == 0
    assert (tmp_path / "marker").read_text() == "done"


def tiny_scan(tmp_path: Path, program: list[str], *options: str) -> subprocess.CompletedProcess[str]:
    """``program scan tiny.log -f csv -q options...`` in a folder with no config file, no cache."""
    (tmp_path / "tiny.log").write_text(TINY_LOG, encoding="utf-8")
    return subprocess.run(
        [*program, "scan", "tiny.log", "-f", "csv", "-q", *options],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LOGSCAN_CACHE_DIR": ""},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_module_runs_as_the_program(tmp_path: Path) -> None:
    ran = tiny_scan(tmp_path, [sys.executable, "-m", "logscan"], "--fail-above", "1")
    breach = "logscan: threshold breached: 2 failed requests, above --fail-above 1\n"
    assert (ran.returncode, ran.stdout, ran.stderr) == (1, EXPECTED_CSV, breach)


GARBAGE = """
import gc, sys
import click
from logscan import scan
from logscan.cli import run
from logscan.cli_exit import run_and_exit, started_up

if sys.argv[1] == "command":
    @click.command()
    @click.argument("mode")
    def command(mode):
        before = gc.isenabled()
        started_up()
        print(before, gc.isenabled(), gc.get_freeze_count() > 0)
    run_and_exit(command)

original = scan.run
def recording(*args, **kwargs):
    print(gc.isenabled(), gc.get_freeze_count() > 0, file=sys.stderr)
    return original(*args, **kwargs)
scan.run = recording
run()
"""


def test_the_collector_is_off_until_the_work_starts(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-c", GARBAGE, "command"], capture_output=True, text=True, check=False, timeout=60
    )
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "False True True\n", "")


def test_a_scan_collects_garbage_while_it_reads(tmp_path: Path) -> None:
    ran = tiny_scan(tmp_path, [sys.executable, "-c", GARBAGE])
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, EXPECTED_CSV, "True True\n")


# --- Polars' allocator ------------------------------------------------------------------------

ALLOCATOR = """
import atexit, json, os, sys
from logscan import cli
loaded_first = "polars" in sys.modules
atexit.register(lambda: print(json.dumps([loaded_first, os.environ.get("_RJEM_MALLOC_CONF")])))
sys.argv = ["logscan", "scan", "tiny.log", "-f", "csv", "-o", "report.csv"]
cli.run()
"""


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, allocator.SETTINGS), ({allocator.VARIABLE: "narenas:2"}, "narenas:2")],
)
def test_the_program_configures_the_allocator_before_polars_is_loaded_unless_the_user_did(
    tmp_path: Path, environment: dict[str, str], expected: str
) -> None:
    (tmp_path / "tiny.log").write_text(TINY_LOG, encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, "-c", ALLOCATOR],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LOGSCAN_CACHE_DIR": "", **environment},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (ran.returncode, ran.stderr) == (0, "")
    loaded_first, seen = json.loads(ran.stdout)
    assert not loaded_first
    # Polars puts its own defaults first; of jemalloc's settings the last one given counts.
    assert seen.endswith(f",{expected}")
    assert (tmp_path / "report.csv").read_text(encoding="utf-8") == EXPECTED_CSV
