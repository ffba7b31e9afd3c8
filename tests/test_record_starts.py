"""Where records start: the shortcuts the record-start pass takes (JSON lines tested only as
error bodies, the access-log shape tried only on lines holding its literal) give the starts
that the full tests give."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from logscan import formats, recordstarts

JSON_LINES = formats.FORMATS_BY_ID["json-lines"]
PYTHON = formats.FORMATS_BY_ID["python-logging"]


def starts_of(lines: list[str | None], fmt: formats.FileFormat) -> list[bool]:
    return recordstarts.record_starts_and_unknown(pl.Series(lines, dtype=pl.String), fmt)[0].to_list()


def test_json_lines_each_start_a_record_but_an_error_body_under_a_status_line() -> None:
    lines = [
        '{"level":"info","event":"start"}',  # 0: starts
        '{"level":"error","event":"ollama_call","status":400}',  # 1: JSON under JSON: starts
        "HTTP/1.1 400 Bad Request",  # 2: starts (a status line)
        '{"error":"invalid model name"}',  # 3: the body under it: continues
        None,  # 4: blank: never starts
        '{"error":"x"}',  # 5: under a blank under a JSON body: starts
        "  indented",  # 6: continues
        '{"message":"m"}',  # 7: under an indented line that is not JSON: continues
    ]
    assert starts_of(lines, JSON_LINES) == [True, True, True, False, False, True, False, False]


def test_an_error_body_under_a_log_line_continues_it_in_a_strict_format_too() -> None:
    lines = [
        "2025-05-07 10:00:00,000 ERROR app: request failed",
        '{"error":"model is required"}',
        '{"error":"json under json"}',
    ]
    assert starts_of(lines, PYTHON) == [True, False, True]


def test_a_json_line_shaped_like_an_access_line_is_a_record_start() -> None:
    access = '{"a" b c [07/May/2025:10:00:00 +0000] "POST /api/chat HTTP/1.1" 400'
    lines = ["2025-05-07 10:00:00,000 INFO app: x", "  more", access, "  under it"]
    assert starts_of(lines, JSON_LINES) == [True, False, True, False]


def reference_starts(lines: pl.Series, loose: bool) -> list[bool]:
    """The starts as the full tests give them: the whole record-start pattern on every line,
    and every line of no known shape, JSON lines included, tested as a continuation."""
    not_json_known = lines.str.contains(recordstarts._NON_JSON_RECORD_START).fill_null(value=False)
    other_rows = (~not_json_known & lines.is_not_null()).arg_true()
    json_start = lines.gather(other_rows).str.starts_with('{"').fill_null(value=False)
    json_rows = other_rows.filter(json_start)
    known = not_json_known.scatter(json_rows, True) if json_rows.len() else not_json_known
    starts = known
    if loose and other_rows.len():
        starts = known.scatter(other_rows, ~recordstarts._loose_continuation(lines, known, other_rows, None))
    elif json_rows.len():
        rows = json_rows.cast(pl.Int64)
        above = recordstarts._Above(rows, None)
        body = recordstarts._error_body(
            lines.gather(rows), above.back(lines, 1).fill_null(above.back(lines, 2))
        )
        starts = starts.scatter(rows, ~body)
    return starts.scatter([0], True).to_list() if starts.len() else []


LINE_POOL = [
    '{"level":"info","event":"x"}',
    '{"error":"invalid model name"}',
    '{"type":"error","message":"bad"}',
    '{"a" b c [07/May/2025:10:00:00 +0000] "GET / HTTP/1.1" 400',
    '10.0.0.1 - - [07/May/2025:10:00:00 +0000] "POST /api/chat HTTP/1.1" 400 12 "-" "curl/8"',
    "2025-05-07 10:00:00,000 ERROR app: failed",
    "HTTP/1.1 400 Bad Request",
    "Content-Type: application/json",
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in <module>',
    "ValueError: boom",
    "a line of no known shape that is long enough to have been cut at the edge of a terminal",
    "rest of it",
    'an "open quote',
    "{",
    "}",
    "",
    None,
]


@settings(max_examples=300, deadline=None)
@given(
    picks=st.lists(st.sampled_from(range(len(LINE_POOL))), min_size=1, max_size=40),
    fmt_id=st.sampled_from(["json-lines", "python-logging", "ollama-server", "access-log", "plain"]),
)
def test_the_shortcuts_give_the_starts_of_the_full_tests(picks: list[int], fmt_id: str) -> None:
    lines = pl.Series([LINE_POOL[pick] for pick in picks], dtype=pl.String).replace("", None)
    fmt = formats.FORMATS_BY_ID[fmt_id]
    found = recordstarts.record_starts_and_unknown(lines, fmt)[0].to_list()
    assert found == reference_starts(lines, fmt.loose_records)
