"""`logscan scan --state -f prom`: the counters are the totals of every run of the state plus
this one, so they never fall from one nightly run to the next although each run reads only what
is new; and a state of schema version 2 (requests per run only) is upgraded, its runs counted.

Counted by hand, as in test_state_scan: every GIN line is one failed request to /api/embed that
no client record explains (unclassified, one server record); every client failure is one request
to /api/chat for a model without tools (unsupported_capability) that left two client records
(the httpx access line and the traceback); every ``POST /login -> 400`` is a 400 the
application answered itself (an other 400, unclassified)."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from test_report_formats import check_with_promtool
from test_state_scan import CLIENT_FAILURE, gin, settle

from logscan.cli import main
from logscan.state import SCHEMA_VERSION, read_history

COUNTERS = ("logscan_failed_requests", "logscan_400_records", "logscan_other_400_requests")


def client_failure(hour: int) -> str:
    """One failed chat request for a model without tools, and a login the application refused."""
    return CLIENT_FAILURE.format(time=f"2025-05-07 {hour:02}:00:00") + (
        f"2025-05-07 {hour:02}:05:00,300 INFO app: POST /login -> 400 Bad Request\n"
    )


def night(tmp_path: Path, number: int) -> str:
    """One nightly run over the logs folder: the prom file it wrote."""
    settle(tmp_path / "logs")
    report = tmp_path / f"night-{number}.prom"
    result = CliRunner().invoke(
        main,
        [
            "scan",
            "--state",
            str(tmp_path / "state.db"),
            str(tmp_path / "logs"),
            "-f",
            "prom",
            "-o",
            str(report),
        ],
    )
    assert (result.exit_code, result.stdout) == (0, ""), result.output
    return report.read_text()


def counters(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the three counter families, by family and labels."""
    return {
        (family.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name in COUNTERS
        for sample in family.samples
    }


def nonzero(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {key: value for key, value in counters(text).items() if value}


def expected(
    *, unclassified: int, capability: int, other: int, server_records: int, client_records: int
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The non-zero counters for these totals of requests and records (zeros left out)."""
    samples = {
        ("logscan_failed_requests", (("category", "unclassified"),)): unclassified,
        ("logscan_failed_requests", (("category", "unsupported_capability"),)): capability,
        ("logscan_400_records", (("category", "unclassified"), ("side", "server"))): server_records,
        ("logscan_400_records", (("category", "unsupported_capability"), ("side", "client"))): client_records,
        ("logscan_other_400_requests", (("category", "unclassified"),)): other,
    }
    return {key: float(value) for key, value in samples.items() if value}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def test_counters_over_three_rotated_nights_are_the_totals_so_far(tmp_path: Path, logs: Path) -> None:
    # Night 1: three GIN 400s, one client failure, one login refused.
    (logs / "server.log").write_text(gin(1, 2, 3))
    (logs / "app.log").write_text(client_failure(10))
    first = night(tmp_path, 1)

    # Night 2: two more GIN 400s, then logrotate renames server.log and a new one gets a third;
    # the application logs one more failure and one more refused login.
    with (logs / "server.log").open("a") as log:
        log.write(gin(4, 5))
    os.rename(logs / "server.log", logs / "server.log.1")
    (logs / "server.log").write_text(gin(6))
    with (logs / "app.log").open("a") as log:
        log.write(client_failure(11))
    second = night(tmp_path, 2)

    # Night 3: server.log.1 is compressed (nothing new in it), server.log gets one more 400 and
    # is renamed, a new server.log holds two; app.log is rotated by copytruncate, and the
    # truncated file gets one failure without a refused login.
    with (logs / "server.log.1").open("rb") as plain, gzip.open(logs / "server.log.2.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    os.remove(logs / "server.log.1")
    with (logs / "server.log").open("a") as log:
        log.write(gin(7))
    os.rename(logs / "server.log", logs / "server.log.1")
    (logs / "server.log").write_text(gin(8, 9))
    shutil.copyfile(logs / "app.log", logs / "app.log.1")
    (logs / "app.log").write_text(CLIENT_FAILURE.format(time="2025-05-07 12:00:00"))
    third = night(tmp_path, 3)

    # Each night read only its own lines: 4, 4 and 4 requests.
    assert [run.total_requests for run in reversed(read_history(tmp_path / "state.db"))] == [4, 4, 4]
    assert nonzero(first) == expected(
        unclassified=3, capability=1, other=1, server_records=3, client_records=2
    )
    assert nonzero(second) == expected(
        unclassified=6, capability=2, other=2, server_records=6, client_records=4
    )
    assert nonzero(third) == expected(
        unclassified=9, capability=3, other=2, server_records=9, client_records=6
    )
    for before, after in ((first, second), (second, third)):
        # The same series every night (none vanishes), and none of them falls.
        assert counters(before).keys() == counters(after).keys()
        assert all(counters(after)[key] >= value for key, value in counters(before).items())
    for text in (first, second, third):
        check_with_promtool(text)


def test_a_night_with_nothing_new_repeats_the_totals(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1, 2))
    (logs / "app.log").write_text(client_failure(10))
    first = night(tmp_path, 1)
    again = night(tmp_path, 2)
    assert [run.total_requests for run in read_history(tmp_path / "state.db")] == [0, 3]
    assert counters(again) == counters(first)
    assert nonzero(again) == expected(
        unclassified=2, capability=1, other=1, server_records=2, client_records=2
    )


def test_the_help_says_what_the_counters_count(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1))
    helps = [
        line
        for line in night(tmp_path, 1).splitlines()
        if line.startswith("# HELP logscan_") and "_total " in line
    ]
    assert helps == [
        "# HELP logscan_failed_requests_total Requests to Ollama that failed with HTTP 400, by cause,"
        " over every run of the --state file (this one included).",
        "# HELP logscan_400_records_total HTTP 400 records those requests left in server-side and"
        " client-side logs, by cause, over every run of the --state file that stored them (this one"
        " included).",
        "# HELP logscan_other_400_requests_total HTTP 400s the applications answered themselves"
        " (nothing shows they reached Ollama), by cause, over every run of the --state file that"
        " stored them (this one included).",
    ]


def test_a_run_that_stores_nothing_adds_nothing_to_the_next_totals(tmp_path: Path, logs: Path) -> None:
    (logs / "server.log").write_text(gin(1, 2))
    settle(logs)
    report = tmp_path / "failed.prom"
    failed = CliRunner().invoke(
        main,
        ["scan", "--state", str(tmp_path / "state.db"), str(logs), "-f", "prom", "-o", str(report),
         "--events", "/dev/full"],  # a device that is always full: the run fails before its commit
    )  # fmt: skip
    assert failed.exit_code == 3
    assert not report.exists()  # the outputs are replaced together, or neither is
    # The next run reads the same two lines again and counts them once.
    assert nonzero(night(tmp_path, 1)) == expected(
        unclassified=2, capability=0, other=0, server_records=2, client_records=0
    )


# The schema of a version-2 state, as logscan wrote it before records were stored per run.
VERSION_2_SCHEMA = (
    "CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL, fingerprint BLOB NOT NULL,"
    " fingerprint_length INTEGER NOT NULL, device INTEGER NOT NULL, inode INTEGER NOT NULL,"
    " compression TEXT NOT NULL, size INTEGER NOT NULL, offset INTEGER NOT NULL,"
    " missing_runs INTEGER NOT NULL DEFAULT 0, lines INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX files_by_inode ON files (device, inode)",
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,"
    " first_event TEXT, last_event TEXT, files INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " lines INTEGER NOT NULL, pending_dropped INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE run_requests (run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    " category TEXT NOT NULL, requests INTEGER NOT NULL, PRIMARY KEY (run_id, category))",
    "CREATE TABLE pending (id INTEGER PRIMARY KEY CHECK (id = 1), records INTEGER NOT NULL,"
    " frame BLOB NOT NULL)",
)


def version_2_state(path: Path) -> None:
    """A version-2 state with two runs: 5 unclassified and 2 auth requests, then 1 unclassified."""
    connection = sqlite3.connect(path)
    with connection:
        for statement in (
            *VERSION_2_SCHEMA,
            "INSERT INTO runs VALUES (1, '2026-11-01T02:15:00+00:00', '2026-11-01T02:16:00+00:00',"
            " NULL, NULL, 1, 900, 9, 0)",
            "INSERT INTO runs VALUES (2, '2026-11-02T02:15:00+00:00', '2026-11-02T02:16:00+00:00',"
            " NULL, NULL, 1, 100, 1, 0)",
            "INSERT INTO run_requests VALUES (1, 'auth', 2), (1, 'unclassified', 5), (2, 'unclassified', 1)",
            "PRAGMA user_version = 2",
        ):
            connection.execute(statement)
    connection.close()


def test_a_version_2_state_is_upgraded_and_its_runs_count_what_they_stored(
    tmp_path: Path, logs: Path
) -> None:
    version_2_state(tmp_path / "state.db")
    (logs / "server.log").write_text(gin(1, 2, 3))
    (logs / "app.log").write_text(client_failure(10))
    text = night(tmp_path, 1)
    # Requests: the two stored runs' and this run's. Records and other 400s: this run's alone,
    # the stored runs did not keep them.
    assert nonzero(text) == {
        **expected(unclassified=5 + 1 + 3, capability=1, other=1, server_records=3, client_records=2),
        ("logscan_failed_requests", (("category", "auth"),)): 2.0,
    }
    check_with_promtool(text)
    connection = sqlite3.connect(tmp_path / "state.db")
    assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (4,)
    connection.close()
    assert [(run.run_id, dict(run.requests)) for run in read_history(tmp_path / "state.db")] == [
        (3, {"unclassified": 3, "unsupported_capability": 1}),
        (2, {"unclassified": 1}),
        (1, {"auth": 2, "unclassified": 5}),
    ]
