import gzip
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logscan import rules, scan, sources

BUILTIN = rules.load()

APP_LOG = """\
2025-05-07 07:14:03,512 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 200 OK"
2025-05-07 07:14:04,512 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 400 Bad Request"
2025-05-07 07:14:04,600 ERROR bot: chat failed
Traceback (most recent call last):
  File "/app/bot.py", line 400, in handle
    resp = client.chat(model="gemma2:2b", messages=msgs, tools=tools)
  File "/venv/lib/python3.12/site-packages/ollama/_client.py", line 120, in _request_raw
    raise ResponseError(e.response.text, e.response.status_code) from None
ollama._types.ResponseError: registry.ollama.ai/library/gemma2:2b does not support tools (status code: 400)
2025-05-07 08:20:00,000 ERROR bot: chat failed
Traceback (most recent call last):
  File "/app/bot.py", line 400, in handle
ollama._types.ResponseError: model "llama3:70b" not found, try pulling it first (status code: 404)
2025-05-07 08:21:00,000 INFO app: listening on port 4000
2025-05-07 09:00:00,000 ERROR bot: image failed
Traceback (most recent call last):
httpx.HTTPStatusError: Client error '400 Bad Request' for url 'http://localhost:11434/api/chat'
For more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/400

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
ollama._types.ResponseError: illegal base64 data at input byte 4 (status code: 400)
"""


def run_on(text: str, block_bytes: int = sources.DEFAULT_BLOCK_BYTES, name: str = "app.log"):
    options = scan.ScanOptions(paths=(), block_bytes=block_bytes)
    return scan.run(options, BUILTIN, [sources.Source(name, data=text.encode())])


def test_records_count_once_with_their_first_and_last_line() -> None:
    result = run_on(APP_LOG)
    events = result.events.collect().select("line", "end_line", "category", "client", "model", "timestamp")
    assert events.with_columns(pl.col("timestamp").dt.strftime("%H:%M:%S")).rows() == [
        (2, 2, "unclassified", "httpx", None, "07:14:04"),
        (3, 9, "unsupported_capability", "ollama-python", "gemma2:2b", "07:14:04"),
        (15, 23, "request_format", "ollama-python", None, "09:00:00"),
    ]
    [report] = result.files
    assert (report.format, report.lines, report.records, report.occurrences) == ("python-logging", 23, 6, 3)


def test_block_size_does_not_change_the_result() -> None:
    expected = run_on(APP_LOG).events.collect()
    for block_bytes in (1, 17, 100, 333):
        assert run_on(APP_LOG, block_bytes=block_bytes).events.collect().equals(expected)


def test_an_unreadable_file_is_reported_and_the_scan_goes_on(tmp_path: Path) -> None:
    broken = tmp_path / "server.log.1.gz"
    broken.write_bytes(gzip.compress(APP_LOG.encode() * 5000)[:-100])
    good = tmp_path / "app.log"
    good.write_text(APP_LOG)
    result = scan.run(scan.ScanOptions(paths=(str(broken), str(good))), BUILTIN)
    assert [(r.name, r.error is not None) for r in result.files] == [(str(broken), True), (str(good), False)]
    assert "read failed" in (result.files[0].error or "")
    assert result.files[0].lines > 0
    assert result.summary.records == result.files[0].occurrences + 3


def test_summary_numbers_agree() -> None:
    # Each copy of the log holds two failed requests in three records: the httpx line and the
    # traceback under it are one request.
    result = run_on(APP_LOG * 3)
    summary = result.summary
    assert (summary.total, summary.records, summary.client_records) == (6, 9, 9)
    assert summary.by_category.get_column("requests").sum() == 6
    assert summary.windows.get_column("requests").sum() == 6
    assert summary.windows.get_column("client_records").sum() == 9
    assert summary.classified == 6
    assert "unclassified" not in summary.by_category.get_column("category").to_list()


LOGGY_TEXT = st.lists(
    st.one_of(
        st.sampled_from(APP_LOG.splitlines()),
        st.sampled_from(["", "  indented", "\ttab", "\x1b[90;43m 400 \x1b[0m", "}", "status: 400"]),
        st.text(max_size=80),
    ),
    max_size=40,
).map("\n".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600), LOGGY_TEXT.map(str.encode)))
def test_any_bytes_give_no_exception_and_counts_add_up(data: bytes) -> None:
    result = scan.run(scan.ScanOptions(paths=()), BUILTIN, [sources.Source("fuzz", data=data)])
    summary = result.summary
    records = summary.records + int(summary.other.get_column("records").sum() or 0)
    assert summary.by_category.get_column("requests").sum() == summary.total
    assert records == result.events.collect().height >= summary.total + summary.other_total
    windows = summary.windows.filter(pl.col("ollama"))
    assert windows.get_column("requests").sum() == summary.total
    report = result.files[0]
    if report.error is None and report.compression == "none" and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        text = data.removeprefix(b"\xef\xbb\xbf")
        assert report.lines == text.count(b"\n") + (0 if text.endswith(b"\n") or not text else 1)
