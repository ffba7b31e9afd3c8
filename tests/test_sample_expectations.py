"""sample_logs/ against an expectation counted by hand (tests/sample_expectations.json), not
produced by logscan: every occurrence's place, side, category and time."""

import json
from datetime import datetime

from golden_cases import REPO
from logscan import scan

EXPECTED = json.loads((REPO / "tests" / "sample_expectations.json").read_text())


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value else None


def test_every_occurrence_is_found_where_and_as_expected() -> None:
    events = scan.run(scan.ScanOptions(paths=[str(REPO / "sample_logs")])).events.collect()
    found = sorted(
        (
            str(row["file"]).split("sample_logs/")[1],
            row["line"],
            row["end_line"],
            row["side"],
            row["category"],
            _iso(row["timestamp"]),
        )
        for row in events.iter_rows(named=True)
    )
    expected = sorted(
        (
            o["file"],
            o["line"],
            o.get("end_line", o["line"]),
            o["side"],
            o["category"],
            o["time"][:19] if o.get("time") else None,
        )
        for o in EXPECTED["occurrences"]
    )
    assert found == expected


def test_per_file_totals_match() -> None:
    result = scan.run(scan.ScanOptions(paths=[str(REPO / "sample_logs")]))
    by_file = {report.name.split("sample_logs/")[1]: report.occurrences for report in result.files}
    expected = {
        name: sum(sum(side.values()) for side in sides.values()) for name, sides in EXPECTED["files"].items()
    }
    assert by_file == expected
