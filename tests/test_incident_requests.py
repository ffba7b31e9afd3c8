"""sample_logs/incident/ — one incident seen from the server, a proxy and several clients —
against tests/requests_expectations.json, counted by hand: which records make up each failed
request, its cause, the server log's clock offset, the ambiguous pairs and the 400s that
never reached Ollama."""

import json
from datetime import datetime

import polars as pl
import pytest

from golden_cases import REPO
from logscan import scan

EXPECTATIONS = REPO / "tests" / "requests_expectations.json"
pytestmark = pytest.mark.skipif(not EXPECTATIONS.exists(), reason="no incident sample set")


@pytest.fixture(scope="module")
def result() -> scan.ScanResult:
    return scan.run(scan.ScanOptions(paths=[str(REPO / "sample_logs" / "incident")]))


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(EXPECTATIONS.read_text())


@pytest.fixture(scope="module")
def records(result: scan.ScanResult) -> dict[tuple[str, int], dict]:
    events = result.events.collect().with_columns(pl.col("file").str.split("sample_logs/").list.last())
    return {(row["file"], row["line"]): row for row in events.iter_rows(named=True)}


def place(record: dict) -> tuple[str, int]:
    return record["file"], record["line"]


def test_every_400_record_belongs_to_exactly_one_expected_request(records: dict, expected: dict) -> None:
    listed = [place(record) for request in expected["requests"] for record in request["records"]]
    assert sorted(listed) == sorted(records)


def _in_ambiguous_groups(expected: dict) -> set[str]:
    return {name for group in expected["ambiguous_groups"] for name in group["requests"]}


def test_the_records_of_each_request_are_joined_and_nothing_else(records: dict, expected: dict) -> None:
    for request in expected["requests"]:
        if request["id"] in _in_ambiguous_groups(expected):
            continue
        ids = {records[place(record)]["request_id"] for record in request["records"]}
        assert len(ids) == 1, f"{request['id']} ({request.get('note')}) is split: {ids}"
        others = [key for key, row in records.items() if row["request_id"] in ids]
        assert sorted(others) == sorted(place(record) for record in request["records"]), request["id"]


def test_an_ambiguous_group_counts_its_distinct_requests(records: dict, expected: dict) -> None:
    by_name = {request["id"]: request for request in expected["requests"]}
    for group in expected["ambiguous_groups"]:
        places = [place(record) for name in group["requests"] for record in by_name[name]["records"]]
        assert len({records[key]["request_id"] for key in places}) == group["count"]
        gin = [key for key in places if records[key]["kind"] == "gin"]
        assert [records[key]["final_category"] for key in gin] == ["unclassified"] * len(gin)


def test_each_request_has_its_cause(records: dict, expected: dict) -> None:
    # A GIN line of an ambiguous group belongs to a request that cannot be known: only the
    # group's client requests are checked by their own records.
    checked = [
        request
        for request in expected["requests"]
        if request["id"] not in _in_ambiguous_groups(expected) or request["category"] != "unclassified"
    ]
    got = {request["id"]: records[place(request["records"][0])]["request_category"] for request in checked}
    assert got == {request["id"]: request["category"] for request in checked}


def test_the_headline_counts_the_distinct_failed_requests_of_ollama(
    result: scan.ScanResult, expected: dict
) -> None:
    ollama = [request for request in expected["requests"] if request["ollama"]]
    merged = sum(len(group["requests"]) - group["count"] for group in expected["ambiguous_groups"])
    assert result.summary.total == len(ollama) - merged
    assert result.summary.other_total == len(expected["requests"]) - len(ollama)
    assert result.summary.records == sum(len(request["records"]) for request in ollama)


def test_request_times_on_the_apps_clock(records: dict, result: scan.ScanResult, expected: dict) -> None:
    for request in expected["requests"]:
        if request.get("time") is None:
            continue
        times = [records[place(record)]["corrected_timestamp"] for record in request["records"]]
        earliest = min(time for time in times if time is not None)
        want = datetime.fromisoformat(request["time"].replace("Z", "+00:00"))
        assert abs((earliest - want).total_seconds()) <= 1, request["id"]


def test_the_server_clock_offset_is_found(result: scan.ScanResult, expected: dict) -> None:
    found = {offset.server_file.split("sample_logs/")[-1]: offset for offset in result.offsets}
    for offset in expected["offsets"]:
        got = found[offset["server_file"]]
        if not offset.get("estimable", True):
            assert (got.source, got.offset.total_seconds()) == ("none", 0.0)
            continue
        assert got.reference_file is not None, f"no offset estimated for {offset['server_file']}"
        # The file gives the server's reading minus true time; logscan, client minus server.
        assert abs(got.offset.total_seconds() + offset["offset_seconds"]) <= offset["tolerance_seconds"]


def test_ambiguous_server_records_are_not_given_a_cause(records: dict, expected: dict) -> None:
    for record in expected["ambiguous"]:
        row = records[place(record)]
        assert row["final_category"] == "unclassified"
        assert row["matched_file"] is None or row["attribution"] == "ambiguous"


def test_the_applications_own_400s_are_not_ollamas(records: dict, expected: dict) -> None:
    for record in expected["not_ollama"]:
        assert records[place(record)]["request_ollama"] is False, record
