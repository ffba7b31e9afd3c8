"""Every real log shape in tests/shapes/ against expectations counted by hand
(tests/shapes/expectations.json): each occurrence's lines, side, category and time. Then the
shapes that clients in any language print, as properties: a status field in any notation, a
header block with its body, an error inside a stream."""

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logscan import formats, rules, scan, sources

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


BUILTIN = rules.load()
TOOLS = "registry.ollama.ai/library/gemma2:2b does not support tools"
# A status field as dumps in different languages write it.
STATUS_FIELDS = (
    "status: {code}",  # JavaScript, Elixir, Ruby 3.4, Rust
    "statusCode: {code}",  # axios, Vercel AI SDK
    '"status":{code}',  # JSON
    "'status_code': {code}",  # Python repr
    "status_code={code}",  # Python kwargs, logfmt
    "StatusCode:{code}",  # Go %+v
    "StatusCode: {code}",  # .NET HttpResponseMessage
    ":status=>{code}",  # Ruby <= 3.3 inspect
    "[status] => {code}",  # PHP print_r
    "'status' => {code}",  # PHP var_export
    "Status({code}, None)",  # Rust reqwest Debug
    "Status Code: {code}",  # Swift NSHTTPURLResponse
    "http_status={code}",
    "\u201cstatus\u201d: {code}",  # typographic quotes of text retyped by hand
)
MESSAGE_FIELDS = ("error: '{m}'", '"error":"{m}"', '"error" => "{m}"', "ErrorMessage:{m}", "message='{m}'")


def occurrences_in(text: str) -> list[tuple[int, int, str]]:
    events = scan.scan_text(text, BUILTIN)
    return [(row["line"], row["end_line"], row["category"]) for row in events.iter_rows(named=True)]


@settings(max_examples=30, deadline=None)
@given(
    field=st.sampled_from(STATUS_FIELDS),
    message_field=st.sampled_from(MESSAGE_FIELDS),
    code=st.sampled_from([400, 404, 429, 500, 503, 200]),
    status_first=st.booleans(),
)
def test_a_status_field_in_any_notation_is_the_status_of_its_record(
    field: str, message_field: str, code: int, status_first: bool
) -> None:
    status, message = field.format(code=code), message_field.format(m=TOOLS)
    fields = f"{status}, {message}" if status_first else f"{message}, {status}"
    text = f"2025-05-07 06:59:38 ERROR chat failed: {{{fields}}}\n"
    expected = [(1, 1, "unsupported_capability")] if code == 400 else []
    assert occurrences_in(text) == expected


HEADER_NAMES = st.from_regex(r"[A-Z][a-z]{1,9}(?:-[A-Z][a-z]{1,9})?", fullmatch=True)
HEADER_VALUES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ;=/.,:-]{0,40}", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=12),
    blank=st.booleans(),
    verbose=st.booleans(),
)
def test_a_status_line_its_headers_and_its_body_are_one_record(
    headers: list[tuple[str, str]], blank: bool, verbose: bool
) -> None:
    mark = "< " if verbose else ""  # curl -v marks the response's lines
    lines = [
        "$ curl -sS -D - http://localhost:11434/api/chat -d @request.json",
        f"{mark}HTTP/1.1 400 Bad Request",
        *(f"{mark}{name}: {value}" for name, value in headers),
        *([""] if blank else []),
        f'{{"error":"{TOOLS}"}}',
        "$ echo done",
    ]
    assert occurrences_in("\n".join(lines) + "\n") == [(2, len(lines) - 1, "unsupported_capability")]


# Examples that count as 400s by their message alone: they show no status number.
IMPLIED_400S = [
    example.text
    for rule in BUILTIN.rules
    if rule.implies_400
    for example in rule.examples
    if example.category != rules.NO_OCCURRENCE
    and not pl.Series([example.text]).str.contains(formats.STATUS_PATTERN).item()
]


@settings(max_examples=20, deadline=None)
@given(text=st.sampled_from(IMPLIED_400S))
def test_an_error_inside_a_stream_is_no_400_whatever_its_message(text: str) -> None:
    assert len(occurrences_in(text + "\n")) == 1
    # ollama-python marks an error that came inside a streamed 200 with `(status code: -1)`.
    assert occurrences_in(f"{text} (status code: -1)\n") == []


def test_the_message_field_of_a_dump_is_in_the_records_message() -> None:
    # No rule names this message: only the dump's key brings its line among the lines rules see.
    text = (
        "08:59:40.118 [error] Ollama embed failed: %Req.Response{\n"
        "  status: 400,\n"
        '  headers: %{"content-type" => ["application/json; charset=utf-8"]},\n'
        "  body: %{\n"
        '    "error" => "embedding shard 3 is sealed"\n'
        "  },\n"
        "  private: %{}\n"
        "}\n"
    )
    [event] = scan.scan_text(text, BUILTIN).iter_rows(named=True)
    assert (event["line"], event["end_line"], event["category"]) == (1, 8, "unclassified")
    assert event["message"] == '  status: 400,\n    "error" => "embedding shard 3 is sealed"'
