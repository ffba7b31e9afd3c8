"""Outputs that do no harm: to the system (devices, FIFOs and symlinks stay what they are, a
failed run leaves the old report in place), to a terminal (escape sequences from logs and file
names are shown, not obeyed), to a spreadsheet (formulas are not run) and to a JSON reader
(the document stays valid whatever bytes the input holds)."""

from __future__ import annotations

import html
import json
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from logscan import render, sanitize
from logscan.cli import main

GIN_400 = '[GIN] 2025/05/07 - 06:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"\n'
REPORT_CSV = (
    "window_start,window_end,category,ollama,requests,server_records,client_records\n"
    "2025-05-07T06:00:00Z,2025-05-07T07:00:00Z,unclassified,true,1,1,0\n"
)
# One line that tries each trick: a formula at the start of the cell, an OSC sequence that
# sets the terminal's title, markup, and a bidi override; then text that must survive as is.
HOSTILE = (
    '=HYPERLINK("http://x","y") \x1b]0;pwned\x07 <script>alert(1)</script>'
    " \u202eResponseError: bad (status code: 400) µ 模型\n"
)
IS_ROOT = os.geteuid() == 0


def scan(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["scan", *args], input=stdin)


@pytest.fixture
def gin_log(tmp_path: Path) -> Path:
    path = tmp_path / "server.log"
    path.write_text(GIN_400)
    return path


def _identity(path: str | Path) -> tuple[int, int, int, int]:
    found = os.lstat(path)
    return found.st_ino, found.st_mode, found.st_rdev, found.st_size


# --- the system ---------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_dev_null_stays_the_null_device(gin_log: Path) -> None:
    before = _identity("/dev/null")
    result = scan(str(gin_log), "-f", "csv", "-o", "/dev/null", "--events", "/dev/null")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert _identity("/dev/null") == before
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def _make_device(path: Path, kind: int, major: int, minor: int) -> None:
    try:
        os.mknod(path, kind | 0o666, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("making device nodes needs CAP_MKNOD")


def test_a_character_device_is_written_in_place(gin_log: Path, tmp_path: Path) -> None:
    device = tmp_path / "null"
    _make_device(device, stat.S_IFCHR, 1, 3)  # the null device, under another name
    before = _identity(device)
    result = scan(str(gin_log), "-f", "csv", "-o", str(device))
    assert (result.exit_code, result.stderr) == (0, "")
    assert _identity(device) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "server.log"]


def test_a_block_device_is_refused_before_the_scan(gin_log: Path, tmp_path: Path) -> None:
    device = tmp_path / "disk"
    _make_device(device, stat.S_IFBLK, 7, 0)
    result = scan(str(gin_log), "-o", str(device))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"logscan: error: cannot write '{device}': it is neither a file, a FIFO nor a character device\n"
    )


def test_a_fifo_is_written_in_place(gin_log: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = scan(str(gin_log), "-f", "csv", "-o", str(fifo))
    reader.join(timeout=30)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert received == [REPORT_CSV.encode()]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_has_its_target_replaced_not_itself(gin_log: Path, tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    target = tmp_path / "reports" / "report.csv"
    target.write_text("last night\n")
    target.chmod(0o640)
    link = tmp_path / "latest.csv"
    link.symlink_to(Path("reports") / "report.csv")
    result = scan(str(gin_log), "-f", "csv", "-o", str(link))
    assert (result.exit_code, result.stderr) == (0, "")
    assert link.is_symlink() and os.readlink(link) == str(Path("reports") / "report.csv")
    assert target.read_text() == REPORT_CSV
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["report.csv"]


@pytest.mark.skipif(not IS_ROOT, reason="planting another user's symlink needs root")
def test_another_users_symlink_in_a_shared_folder_is_not_followed(gin_log: Path, tmp_path: Path) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    precious = tmp_path / "shadow"
    precious.write_text("root's secrets\n")
    planted = shared / "report.csv"
    planted.symlink_to(precious)
    os.lchown(planted, 4321, 4321)
    result = scan(str(gin_log), "-o", str(planted))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"logscan: error: cannot write '{planted}': '{planted}' is another user's symlink"
        " in a shared folder (sticky, world-writable)\n"
    )
    assert precious.read_text() == "root's secrets\n"
    os.lchown(planted, 0, 0)  # a link of one's own is followed
    assert scan(str(gin_log), "-f", "csv", "-o", str(planted)).exit_code == 0
    assert precious.read_text() == REPORT_CSV


def test_a_dangling_symlink_gets_its_target_created(gin_log: Path, tmp_path: Path) -> None:
    link = tmp_path / "latest.csv"
    link.symlink_to("new.csv")
    result = scan(str(gin_log), "-f", "csv", "-o", str(link))
    assert result.exit_code == 0
    assert link.is_symlink()
    assert (tmp_path / "new.csv").read_text() == REPORT_CSV


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask_027")
def test_a_new_report_gets_the_mode_open_would_give_it(gin_log: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    assert scan(str(gin_log), "-f", "csv", "-o", str(report)).exit_code == 0
    assert stat.S_IMODE(report.stat().st_mode) == 0o640  # 0666 less the umask, not mkstemp's 0600


@pytest.mark.skipif(not IS_ROOT, reason="only root may give a file to another user")
def test_a_replaced_report_keeps_its_owner(gin_log: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("last night\n")
    os.chown(report, 4321, 4321)
    assert scan(str(gin_log), "-f", "csv", "-o", str(report)).exit_code == 0
    assert (report.stat().st_uid, report.stat().st_gid) == (4321, 4321)
    assert report.read_text() == REPORT_CSV


def test_dash_and_dev_stdout_mean_stdout(
    gin_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stdout_link = _identity("/dev/stdout")
    for spec in ("-", "/dev/stdout"):
        result = scan(str(gin_log), "-f", "csv", "-o", spec)
        assert (result.exit_code, result.stdout, result.stderr) == (0, REPORT_CSV, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.log"]
    assert _identity("/dev/stdout") == stdout_link


def test_events_to_stdout_with_the_report_in_a_file(gin_log: Path, tmp_path: Path) -> None:
    result = scan(str(gin_log), "-f", "csv", "-o", str(tmp_path / "report.csv"), "--events", "-")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "file,line,end_line,timestamp,side,status,method,endpoint,model,category,rule_id,client,format,message,"
        "request_id,attribution,matched_file,matched_line\n"
        f"{gin_log},1,1,2025-05-07T06:05:59Z,server,400,POST,/api/chat,,unclassified,,,ollama-server,"
        '"[GIN] 2025/05/07 - 06:05:59 | 400 |     213.546µs |       127.0.0.1 | POST     ""/api/chat""",0,own,,\n'
    )
    assert (tmp_path / "report.csv").read_text() == REPORT_CSV


def test_report_and_events_on_one_destination_are_refused(gin_log: Path, tmp_path: Path) -> None:
    result = scan(str(gin_log), "--events", "-")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "logscan: error: the report and --events '-' would both be written to stdout\n"
    report = tmp_path / "out.csv"
    result = scan(str(gin_log), "-o", str(report), "--events", str(report))
    assert result.stderr == (
        f"logscan: error: the report and --events '{report}' would both be written to '{report}'\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.log"]


def test_a_folder_is_refused(gin_log: Path, tmp_path: Path) -> None:
    result = scan(str(gin_log), "--events", str(tmp_path))
    assert (result.exit_code, result.stderr) == (
        2,
        f"logscan: error: cannot write '{tmp_path}': it is a folder\n",
    )
    for no_file_name in ("", f"{tmp_path}/new/"):
        result = scan(str(gin_log), "-o", no_file_name)
        assert (result.exit_code, result.stderr) == (
            2,
            f"logscan: error: cannot write '{no_file_name}': a file name is needed\n",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.log"]


def test_a_missing_folder_fails_before_any_input_is_read(tmp_path: Path) -> None:
    """The input is a FIFO nobody writes to: reading it would wait for ever, so the run ends
    at once only if the output is checked first."""
    never_written = tmp_path / "input.fifo"
    os.mkfifo(never_written)
    target = tmp_path / "missing" / "report.csv"
    finished = subprocess.run(
        [sys.executable, "-m", "logscan", "scan", str(never_written), "-o", str(target)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (finished.returncode, finished.stdout) == (2, b"")
    assert finished.stderr.decode() == (
        f"logscan: error: cannot write '{target}': folder '{tmp_path / 'missing'}' does not exist\n"
    )


def test_a_failed_run_leaves_last_nights_report(gin_log: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("last night\n")
    broken_rules = tmp_path / "rules.yaml"
    broken_rules.write_text("rules: [{id: x, category: nonsense, match: {message: {contains: y}}}]\n")
    result = scan(
        str(gin_log),
        "-o",
        str(report),
        "--events",
        str(tmp_path / "events.csv"),
        "--rules",
        str(broken_rules),
    )
    assert result.exit_code == 2
    assert report.read_text() == "last night\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv", "rules.yaml", "server.log"]


# --- the terminal, the spreadsheet, the JSON reader ----------------------------------------


@pytest.fixture
def hostile_logs(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text(HOSTILE)
    # A newline in a file name would forge a row of the input table; OSC 8 makes a hyperlink.
    (logs / "evil\n\x1b]8;;x\x07name.log").write_text(HOSTILE)
    return logs


def test_the_table_shows_escapes_instead_of_obeying_them(
    hostile_logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(hostile_logs)
    result = scan(".", "--table-style", "plain")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    clusters = lines.index("  2 client, no timestamp")
    assert lines[clusters + 1 : clusters + 3] == [
        '    =HYPERLINK("<url>","y") \\e]<num>;pwned\\a <script>alert(<num>)</script>'
        " \\u202eResponseError: bad (status code: 400) µ 模型",
        '    e.g. app.log:1: =HYPERLINK("http://x","y") \\e]0;pwned\\a <script>alert(1)</script>'
        " \\u202eResponseError: bad (status code: 400) µ 模型",
    ]
    inputs = lines.index("Input")
    assert lines[inputs + 1 : inputs + 5] == [
        "file                     format    compressed      lines    records    400s  problem",
        "app.log                  plain                         1          1       1",
        "evil\\n\\e]8;;x\\aname.log  plain                         1          1       1",
        "",
    ]
    for character in ("\x1b", "\x07", "\u202e"):
        assert character not in result.stdout


def test_a_tab_in_a_name_does_not_add_a_column_to_a_tsv_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tab\tx.log").write_text(GIN_400)
    result = scan("tab\tx.log", "--table-style", "tsv")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    inputs = lines.index("Input")
    assert lines[inputs + 1 : inputs + 3] == [
        "file      \tformat       \tcompressed  \t  lines\t  records\t  400s\tproblem",
        "tab\\tx.log\tollama-server\t            \t      1\t        1\t     1",
    ]


def test_html_tables_escape_markup_and_the_unescaped_style_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "<img src=x onerror=alert(1)>.log"
    log.write_text(HOSTILE)
    result = scan(str(log), "--table-style", "html")
    assert result.exit_code == 0
    tables = re.findall(r"<table>.*?</table>", result.stdout, re.DOTALL)
    assert any(f"<td>{html.escape(str(log))}</td>" in table for table in tables)
    assert all("<img" not in table for table in tables)
    refused = scan(str(log), "--table-style", "unsafehtml")
    assert refused.exit_code == 2
    assert "'unsafehtml' is not a table style" in refused.stderr


def test_csv_cells_that_spreadsheets_would_run_are_prefixed(
    hostile_logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(hostile_logs)
    formula_named = "+cmd|' calc'!A0.log"
    (hostile_logs / formula_named).write_text(
        '{"time":"2025-05-07T06:05:59Z","status":400,"model":"@SUM(1+1)*cmd","msg":"bad request"}\n'
    )
    (hostile_logs / "evil\n\x1b]8;;x\x07name.log").unlink()
    result = scan(formula_named, "app.log", "-f", "csv", "-o", "report.csv", "--events", "-")
    assert (result.exit_code, result.stderr) == (0, "")
    hostile_message = HOSTILE.rstrip("\n").replace('"', '""')
    assert result.stdout == (
        "file,line,end_line,timestamp,side,status,method,endpoint,model,category,rule_id,client,format,message,"
        "request_id,attribution,matched_file,matched_line\n"
        "'+cmd|' calc'!A0.log,1,1,2025-05-07T06:05:59Z,client,400,,,'@SUM(1+1)*cmd,unclassified,,,json-lines,"
        '"{""time"":""2025-05-07T06:05:59Z"",""status"":400,""model"":""@SUM(1+1)*cmd"",""msg"":""bad request""}",0,own,,\n'
        f'app.log,1,1,,client,400,,,,unclassified,,ollama-python,plain,"\'{hostile_message}",1,own,,\n'
    )
    assert (hostile_logs / "report.csv").read_text() == (
        "window_start,window_end,category,ollama,requests,server_records,client_records\n"
        # The JSON line shows nothing of Ollama: an application's own 400, kept apart.
        "2025-05-07T06:00:00Z,2025-05-07T07:00:00Z,unclassified,false,1,0,1\n"
        ",,unclassified,true,1,0,1\n"
    )
    raw = scan("app.log", "-f", "csv", "-o", "report.csv", "--events", "-", "--raw-csv")
    assert (
        raw.stdout.splitlines()[1]
        == f'app.log,1,1,,client,400,,,,unclassified,,ollama-python,plain,"{hostile_message}",0,own,,'
    )


def test_json_stays_valid_utf8_with_any_bytes_in_names_and_lines(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    # A name that is not UTF-8, and a line with a byte that is not either, a C1 control (CSI)
    # and a bidi override.
    name = os.fsencode(logs) + b"/\xffname\x1b.log"
    with open(name, "wb") as stream:
        stream.write(b"ResponseError: bad \xfe \xc2\x9b31m \xe2\x80\xae (status code: 400)\n")
    report = tmp_path / "report.json"
    result = scan(str(logs), "-f", "json", "-o", str(report))
    assert (result.exit_code, result.stderr) == (0, "")
    data = report.read_bytes()
    for raw in (b"\x1b", b"\xc2\x9b", b"\xe2\x80\xae"):
        assert raw not in data
    document = json.loads(data.decode("utf-8"))
    assert [file["name"] for file in document["files"]] == [f"{logs}/\\xffname\x1b.log"]
    (example,) = document["clusters"]["groups"][0]["examples"]
    assert example["message"] == "ResponseError: bad \ufffd \x9b31m \u202e (status code: 400)"


def test_warnings_show_escapes(tmp_path: Path) -> None:
    broken = tmp_path / "bad\x1b]0;pwned\x07.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = scan(str(broken), "-f", "csv")
    assert result.exit_code == 2  # a file named on the command line could not be read
    assert result.stderr.startswith(f"logscan: warning: {tmp_path}/bad\\e]0;pwned\\a.gz: read failed: ")
    assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr


# --- the helpers, at their boundary --------------------------------------------------------

_DANGEROUS = {*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


@given(st.text())
def test_terminal_text_holds_no_control_and_encodes(text: str) -> None:
    shown = sanitize.terminal(text)
    assert not {ord(c) for c in shown} & _DANGEROUS
    shown.encode("utf-8")
    laid_out = sanitize.terminal_lines(text)
    assert (laid_out.count("\n"), laid_out.count("\t")) == (text.count("\n"), text.count("\t"))
    assert laid_out.replace("\n", "\\n").replace("\t", "\\t") == shown


@given(st.text(st.characters(blacklist_categories=["Cc", "Cs"]).filter(lambda c: ord(c) not in _DANGEROUS)))
def test_printable_text_is_left_alone(text: str) -> None:
    assert sanitize.terminal(text) == text


def test_escapes_are_spelled_as_ls_and_less_spell_them() -> None:
    assert sanitize.terminal("a\x1b[31mb\nc\td\x00\x7f\x9b\u202e\u2066µ模型\udcff") == (
        "a\\e[31mb\\nc\\td\\0\\x7f\\x9b\\u202e\\u2066µ模型\\xff"
    )
    assert sanitize.html_text('<b title="x">\x1b</b>') == "&lt;b title=&quot;x&quot;&gt;\\e&lt;/b&gt;"


@given(st.text())
def test_json_documents_decode_to_the_text_with_surrogates_spelled_out(text: str) -> None:
    dumped = sanitize.json_document(json.dumps({"text": text}, ensure_ascii=False))
    dumped.encode("utf-8")
    expected = "".join(
        (f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) < 0xDD00 else f"\\u{ord(c):04x}")
        if 0xD800 <= ord(c) < 0xE000
        else c
        for c in text
    )
    assert json.loads(dumped) == {"text": expected}


@given(st.lists(st.text(st.sampled_from("=+-@\t\r a1'\"\n,"), max_size=6), max_size=20))
def test_polars_and_python_agree_on_what_looks_like_a_formula(cells: list[str]) -> None:
    frame = pl.LazyFrame({"cell": cells}, schema={"cell": pl.String})
    neutralised = render._formula_safe(frame, raw=False).collect().get_column("cell").to_list()
    assert neutralised == [sanitize.spreadsheet_cell(cell) for cell in cells]
    assert all(not sanitize.FORMULA_START.match(cell) for cell in neutralised)
