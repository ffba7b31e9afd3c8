"""The golden cases: each is a `logscan` command line over sample_logs/ and the file holding its
expected output. `python tests/regenerate_golden.py` rewrites the files after a deliberate
change; review the diff before committing it."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
# Reports made under SOURCE_DATE_EPOCH carry it as generated_at and no duration: the same bytes
# on every run (2026-01-01T00:00:00Z).
REPRODUCIBLE_EPOCH = "1767225600"

CASES: dict[str, list[str]] = {
    "table.txt": ["scan", "sample_logs/"],
    "table-github-15m.txt": ["scan", "sample_logs/", "--table-style", "github", "--window", "15m"],
    "windows.csv": ["scan", "sample_logs/", "-f", "csv"],
    "report.json": ["scan", "sample_logs/", "-f", "json"],
    "berlin.csv": ["scan", "sample_logs/", "-f", "csv", "--assume-tz", "Europe/Berlin", "--window", "1d"],
}
# The events file is written with -o/--events; this case names the file it writes.
EVENTS_CASE = ("events.csv", ["scan", "sample_logs/", "-f", "csv", "--events"])
