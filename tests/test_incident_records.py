"""sample_logs/incident/ against tests/requests_expectations.json, which was counted by hand from
the log lines: the requests it names are made of 400 records that today's scan finds, and the
times, clock offsets and categories written there agree with what those records say."""

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from golden_cases import REPO
from logscan import scan

SAMPLES = REPO / "sample_logs"
EXPECTED = json.loads((REPO / "tests" / "requests_expectations.json").read_text())
REQUESTS: list[dict[str, Any]] = EXPECTED["requests"]
OFFSETS = {entry["server_file"]: entry for entry in EXPECTED["offsets"]}

Place = tuple[str, int]


def _place(record: dict[str, Any]) -> Place:
    return record["file"], record["line"]


@pytest.fixture(scope="module")
def found() -> dict[Place, dict[str, Any]]:
    """Every 400 record of sample_logs/incident/ that today's scan finds, by file and first line."""
    events = scan.run(scan.ScanOptions(paths=[str(SAMPLES / "incident")])).events.collect()
    rows = {}
    for row in events.iter_rows(named=True):
        name = str(row["file"]).split("sample_logs/")[1]
        rows[(name, row["line"])] = row
    assert len(rows) == events.height, "two records share a first line"
    return rows


def _listed() -> list[Place]:
    return [_place(record) for request in REQUESTS for record in request["records"]]


def _app_clock(row: dict[str, Any], name: str) -> datetime | None:
    """The record's time on the applications' clock: server records of a file whose clock is off
    are moved back by the offset written by hand."""
    if row["timestamp"] is None:
        return None
    offset = OFFSETS.get(name, {}).get("offset_seconds", 0) if row["side"] == "server" else 0
    return row["timestamp"] - timedelta(seconds=offset)


def test_every_listed_record_is_a_400_record_of_todays_scan(found: dict[Place, dict[str, Any]]) -> None:
    missing = [place for place in _listed() if place not in found]
    assert missing == []
    assert {found[place]["status"] for place in _listed()} == {400}


def test_the_400_records_are_exactly_the_listed_ones_each_in_one_request(
    found: dict[Place, dict[str, Any]],
) -> None:
    listed = _listed()
    assert len(listed) == len(set(listed)), "a record is listed in two requests"
    assert len(found) == len(listed)
    assert sorted(found) == sorted(listed)


def test_not_ollama_records_are_the_records_of_requests_that_never_reached_ollama() -> None:
    outside = sorted(
        _place(record) for request in REQUESTS if not request["ollama"] for record in request["records"]
    )
    assert sorted(_place(record) for record in EXPECTED["not_ollama"]) == outside


def test_ambiguous_server_lines_are_unclassified_requests_of_one_record_alike_in_all_a_join_sees(
    found: dict[Place, dict[str, Any]],
) -> None:
    ambiguous = [_place(record) for record in EXPECTED["ambiguous"]]
    owners = [
        request for request in REQUESTS if any(_place(record) in ambiguous for record in request["records"])
    ]
    assert [(request["category"], len(request["records"])) for request in owners] == [("unclassified", 1)] * 2
    rows = [found[place] for place in ambiguous]
    assert {(row["side"], row["timestamp"], row["method"], row["endpoint"]) for row in rows} == {
        ("server", rows[0]["timestamp"], "POST", "/api/chat")
    }
    addresses = {
        (SAMPLES / name).read_text().splitlines()[line - 1].split("|")[3].strip() for name, line in ambiguous
    }
    assert len(addresses) == 1


@pytest.mark.parametrize("request_id", [request["id"] for request in REQUESTS])
def test_request_time_is_its_earliest_record_on_the_apps_clock(
    found: dict[Place, dict[str, Any]], request_id: str
) -> None:
    request = next(request for request in REQUESTS if request["id"] == request_id)
    times = [_app_clock(found[_place(record)], record["file"]) for record in request["records"]]
    earliest = min(time for time in times if time is not None)
    assert earliest.strftime("%Y-%m-%dT%H:%M:%SZ") == request["time"]


@pytest.mark.parametrize("request_id", [request["id"] for request in REQUESTS])
def test_request_category_is_the_one_its_records_give(
    found: dict[Place, dict[str, Any]], request_id: str
) -> None:
    """The record that carries the reason gives the request its category; the others are
    unclassified today (access lines, httpx lines), never another category."""
    request = next(request for request in REQUESTS if request["id"] == request_id)
    given = {found[_place(record)]["category"] for record in request["records"]} - {"unclassified"}
    assert given == ({request["category"]} - {"unclassified"})


@pytest.mark.parametrize("server_file", sorted(OFFSETS))
def test_clock_offset_is_what_the_matched_records_show(
    found: dict[Place, dict[str, Any]], server_file: str
) -> None:
    """For each request with a server record in the file and a timed record in another file, the
    server record's reading minus that record's time on the apps' clock is the offset, within the
    tolerance. (The GIN lines pasted into the issue are placed by the server.log lines they copy.)"""
    entry = OFFSETS[server_file]
    differences = []
    for request in REQUESTS:
        rows = [(record["file"], found[_place(record)]) for record in request["records"]]
        readings = [row["timestamp"] for name, row in rows if name == server_file and row["side"] == "server"]
        elsewhere = [time for name, row in rows if name != server_file and (time := _app_clock(row, name))]
        if readings and elsewhere:
            differences.append((readings[0] - min(elsewhere)).total_seconds())
    assert differences, f"no request joins {server_file} to a timed record of another file"
    assert all(
        abs(difference - entry["offset_seconds"]) <= entry["tolerance_seconds"] for difference in differences
    )
