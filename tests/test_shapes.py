"""Every real log shape in tests/shapes/ against expectations counted by hand
(tests/shapes/expectations.json): each occurrence's lines, side, category and time."""

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from logscan import scan, sources

SHAPES = Path(__file__).resolve().parent / "shapes"
EXPECTED: dict[str, dict] = json.loads((SHAPES / "expectations.json").read_text())
# Files whose lines carry no year at all: the year comes from the file's modification time,
# which git does not keep, so the test sets it.
MODIFIED_AT = {"62-journald-new-year.log": datetime(2025, 1, 1, 0, 20, tzinfo=UTC)}


def events_of(path: Path, assume_tz: str) -> pl.DataFrame:
    options = scan.ScanOptions(paths=(), assume_tz=assume_tz)
    return scan.run(options, sources_list=[sources.Source(path.name, path)]).events.collect()


def found_in(path: Path, assume_tz: str) -> list[tuple]:
    events = events_of(path, assume_tz)
    return [
        (row["line"], row["end_line"], row["side"], row["category"], _second(row["timestamp"]))
        for row in events.iter_rows(named=True)
    ]


def _second(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") if moment else None


@pytest.mark.parametrize("name", list(EXPECTED))
def test_shape(name: str, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    path = SHAPES / name
    if name in MODIFIED_AT:
        path = Path(shutil.copy(path, tmp_path / name))
        stamp = MODIFIED_AT[name].timestamp()
        os.utime(path, (stamp, stamp))
    wanted = [
        (o["line"], o["end_line"], o["side"], o["category"], o["time_utc"][:19] if o["time_utc"] else None)
        for o in expected["occurrences"]
    ]
    assert found_in(path, expected["assume_tz"]) == wanted, expected["notes"]


def test_go_byte_escapes_are_kept_as_written() -> None:
    name = "75-go-byte-escapes.log"
    [expected] = [o for o in EXPECTED[name]["occurrences"] if "text_contains" in o]
    events = events_of(SHAPES / name, EXPECTED[name]["assume_tz"])
    message = events.filter(pl.col("line") == expected["line"]).item(0, "message")
    assert expected["text_contains"] in message
