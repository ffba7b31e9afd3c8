"""Hostile input: every case is skipped or read as far as it can be, reported with the file
and the reason, and counted, and every line read is used or counted as skipped."""

import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_cases import REPO, REPRODUCIBLE_EPOCH
from logscan import __version__, compression, envelopes, formats, scan, shards, sources
from logscan.cli import main


@pytest.fixture(autouse=True)
def reproducible_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports stamped with SOURCE_DATE_EPOCH (and no duration), so that they compare exactly."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", REPRODUCIBLE_EPOCH)


HOSTILE = REPO / "tests" / "hostile"
EXPECTED = {
    name: expected
    for name, expected in json.loads((REPO / "tests" / "hostile_expectations.json").read_text()).items()
    if not name.startswith("_")
}
CLIENT_400 = '2025-05-07 07:14:04,512 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 400 Bad Request"\n'
CLIENT_200 = '2025-05-07 07:14:03,512 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 200 OK"\n'


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin)


def scan_json(*args: str):
    result = invoke("scan", *args, "-f", "json")
    return result, json.loads(result.stdout)


def assert_accounted(document: dict) -> None:
    for report in document["files"]:
        assert report["lines"] == report["lines_used"] + report["lines_skipped"], report["name"]
    totals = document["input"]
    for figure in ("bytes", "lines", "lines_used", "lines_skipped", "lines_cut", "records", "replaced_lines"):
        assert totals[figure] == sum(report[figure] for report in document["files"]), figure
    assert totals["lines"] == totals["lines_used"] + totals["lines_skipped"]


def independently_decoded(data: bytes, decoder) -> bytes:
    """What a decoder of the standard library (or python-zstandard) gives, fed a byte at a
    time, before it fails."""
    out = []
    try:
        for byte in data:
            out.append(decoder.decompress(bytes((byte,))))
    except (zlib.error, zstandard.ZstdError):
        pass
    return b"".join(out)


def line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def test_hostile_corpus_file_by_file_with_every_line_accounted_for() -> None:
    result, document = scan_json(str(HOSTILE))
    assert result.exit_code == 0  # nothing was named that could not be read
    reports = {report["name"].removeprefix(f"{HOSTILE}/"): report for report in document["files"]}
    decoded = {
        "damaged.log.gz": independently_decoded(
            (HOSTILE / "damaged.log.gz").read_bytes(), zlib.decompressobj(31)
        ),
        "truncated.log.zst": independently_decoded(
            (HOSTILE / "truncated.log.zst").read_bytes(), zstandard.ZstdDecompressor().decompressobj()
        ),
    }
    assert sorted(reports) == sorted([*EXPECTED, *decoded])
    for name, expected in EXPECTED.items():
        report = reports[name]
        got = {
            "lines": report["lines"],
            "used": report["lines_used"],
            "skipped_lines": report["lines_skipped"],
            "cut": report["lines_cut"],
            "replaced": report["replaced_lines"],
            "400s": report["occurrences"],
        }
        assert got == {key: expected[key] for key in got}, name
        for reason in ("skipped", "error"):
            if expected[reason] is None:
                assert report[reason] is None, name
            else:
                assert report[reason].startswith(expected[reason]), name
    # Damage keeps every line the decoder gave before it, the partial last one too.
    for name, data in decoded.items():
        assert (reports[name]["bytes"], reports[name]["lines"]) == (len(data), line_count(data)), name
        assert 0 < reports[name]["lines"] < 20_000
    assert reports["damaged.log.gz"]["error"].startswith("read failed: ")
    assert (
        reports["truncated.log.zst"]["error"]
        == "read failed: compressed data ends early (the file is truncated)"
    )
    assert document["records"]["total"] == sum(expected["400s"] for expected in EXPECTED.values())
    assert_accounted(document)
    totals = document["input"]
    assert (totals["files"], totals["empty"], totals["skipped"], totals["failed"]) == (20, 3, 4, 3)


def test_hostile_corpus_notices_on_stderr() -> None:
    result = invoke("scan", str(HOSTILE), "-f", "csv")
    lines = result.stderr.splitlines()
    binary = "skipped: binary file (NUL bytes in its first 32 KiB): not read (--binary reads it)"
    assert [line for line in lines if "damaged" not in line and "garbage" not in line] == [
        f"logscan: notice: {HOSTILE}/backup.bin: {binary}",
        f"logscan: notice: {HOSTILE}/emptied.log.1.gz: empty",
        f"logscan: notice: {HOSTILE}/emptied.log.2.zst: empty",
        f"logscan: notice: {HOSTILE}/empty.log: empty",
        f"logscan: notice: {HOSTILE}/history.sqlite: {binary}",
        f"logscan: notice: {HOSTILE}/logs.tar.gz:current.log: skipped: a link in the archive",
        f"logscan: notice: {HOSTILE}/outside.log: skipped: a symbolic link, not followed (--follow follows links)",
        f"logscan: warning: {HOSTILE}/truncated.log.zst: read failed: compressed data ends early (the file is truncated)",
    ]
    assert [line.split(": read failed: ")[0] for line in lines if "damaged" in line or "garbage" in line] == [
        f"logscan: warning: {HOSTILE}/damaged.log.gz",
        f"logscan: warning: {HOSTILE}/trailing-garbage.log.gz",
    ]


@pytest.mark.parametrize("content", [b"", gzip.compress(b""), zstandard.ZstdCompressor().compress(b"")])
def test_only_empty_inputs_scan_and_suggest_without_a_crash(tmp_path: Path, content: bytes) -> None:
    empty = tmp_path / "app.log"
    empty.write_bytes(content)
    result = invoke("scan", str(empty), "--table-style", "plain")
    assert result.exit_code == 0
    assert result.stderr == f"logscan: notice: {empty}: empty\n"
    compression = {b"\x1f": "gzip", b"\x28": "zstd"}.get(content[:1], "")
    assert result.stdout.splitlines()[:5] == [
        "logscan: no request to Ollama failed with HTTP 400; 1 file, 0 lines read; times in UTC, window 1h",
        f"Run: 2026-01-01T00:00:00Z by logscan {__version__}; bounds: none (every 400 found); inputs: {empty}",
        "",
        "Input",
        "file"
        + " " * (len(str(empty)) - 4)
        + "  format    compressed      lines    records    400s  problem",
    ]
    assert result.stdout.splitlines()[5].split() == [
        str(empty),
        "-",
        *([compression] if compression else []),
        "0",
        "0",
        "0",
        "empty",
    ]
    suggested = invoke("rules", "suggest", str(empty))
    assert suggested.exit_code == 0
    assert suggested.stderr.endswith("logscan: 0 stub rule(s) for 0 unclassified 400(s)\n")


def test_a_small_file_that_vanishes_affects_only_itself(tmp_path: Path) -> None:
    for number in range(300):
        (tmp_path / f"app-{number:03}.log").write_text(CLIENT_200 + CLIENT_400)
    listed = sources.expand([str(tmp_path)])
    (tmp_path / "app-150.log").unlink()  # logrotate removes it between listing and reading
    result = scan.run(scan.ScanOptions(paths=(), jobs=1), sources_list=listed)
    assert result.summary.total == 299
    failed = [(report.name, report.error) for report in result.files if report.error]
    assert failed == [(str(tmp_path / "app-150.log"), "vanished after it was listed (rotated or deleted)")]
    assert sum(report.lines for report in result.files) == 598


def parts_of(path: Path, part_bytes: int, held=None) -> list[sources.Source]:
    [source] = sources.expand([str(path)])
    if held is not None:
        source, release = sources.hold(source)
        held.append(release)
    points = sources.split_points(source, part_bytes, lambda line: line.startswith("2025"))
    ends = [*points[1:], source.identity.size]
    assert len(points) > 3
    return [
        sources.Source(
            source.name, source.path, start=start, end=end, identity=source.identity, held_at=source.held_at
        )
        for start, end in zip(points, ends, strict=True)
    ]


def read_parts(parts: list[sources.Source]) -> tuple[list[str], list[str]]:
    lines, errors = [], []
    for part in parts:
        try:
            for block in sources.read_blocks(part, 4096):
                lines += block.lines.to_list()
        except sources.SourceReadError as error:
            errors.append(error.reason)
    return lines, errors


def numbered_log(count: int) -> str:
    return "".join(f"2025-05-07 07:14:03,000 INFO app: request {number} done\n" for number in range(count))


def test_parts_read_through_the_held_descriptor_survive_rotation_and_deletion(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(numbered_log(5000))
    held: list = []
    parts = parts_of(log, 40_000, held)
    assert all(part.held_at and part.held_at.startswith(f"/proc/{os.getpid()}/fd/") for part in parts)
    # Rotated (renamed, a new file in its place), then the old one deleted, before any part is read.
    log.rename(tmp_path / "app.log.1")
    log.write_text("2025-05-08 new file\n")
    (tmp_path / "app.log.1").unlink()
    lines, errors = read_parts(parts)
    for release in held:
        release()
    assert errors == []
    assert lines == numbered_log(5000).splitlines()


def test_a_part_of_a_file_replaced_under_its_name_is_reported_not_mixed_in(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(numbered_log(5000))
    parts = parts_of(log, 40_000)  # not held: each part reopens the path and checks it
    log.rename(tmp_path / "app.log.1")
    log.write_text(numbered_log(5000))
    lines, errors = read_parts(parts)
    assert lines == []
    assert errors == ["replaced by another file during the scan (rotated?): this part is not read"] * len(
        parts
    )


def test_a_file_truncated_during_the_scan_says_by_how_much(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    text = numbered_log(5000)
    log.write_text(text)
    held: list = []
    parts = parts_of(log, 40_000, held)
    os.truncate(log, 100_000)
    lines, errors = read_parts(parts)
    for release in held:
        release()
    shrank = f"shrank by {len(text) - 100_000:,} bytes while it was read"
    assert set(errors) == {shrank}
    assert len(errors) == sum(1 for part in parts if part.end > 100_000)
    assert lines == text.encode()[:100_000].decode().splitlines()


def test_a_whole_file_truncated_while_it_is_read_is_reported(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(numbered_log(200_000))
    counts = sources.ReadCounts()
    blocks = sources.read_blocks(sources.expand([str(log)])[0], 1024 * 1024, counts=counts)
    next(blocks)
    os.truncate(log, 2 * 1024 * 1024)
    with pytest.raises(sources.SourceReadError, match=r"^.*: shrank by [\d,]+ bytes while it was read$"):
        list(blocks)
    assert counts.bytes <= 2 * 1024 * 1024 + 1024 * 1024


def test_binary_files_are_skipped_unless_asked(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100 + CLIENT_400.encode())
    result, document = scan_json(str(db))
    assert (result.exit_code, document["records"]["total"], document["files"][0]["skipped"]) == (
        0,
        0,
        "binary file (NUL bytes in its first 32 KiB): not read (--binary reads it)",
    )
    assert (
        result.stderr
        == f"logscan: notice: {db}: skipped: binary file (NUL bytes in its first 32 KiB): not read (--binary reads it)\n"
    )
    result, document = scan_json(str(db), "--binary")
    assert (document["records"]["total"], document["files"][0]["skipped"], document["files"][0]["lines"]) == (
        1,
        None,
        1,
    )
    assert invoke("scan", str(db), "--strict").exit_code == 3


def test_fifos_sockets_and_devices_are_skipped_and_stdin_is_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "sock"))
        (tmp_path / "app.log").write_text(CLIENT_400)
        result, document = scan_json(str(tmp_path), "/dev/null", "-")
    assert result.exit_code == 0
    assert [(report["name"], report["skipped"]) for report in document["files"]] == [
        (str(tmp_path / "app.log"), None),
        (str(tmp_path / "pipe"), "a FIFO (give it as - on standard input to read it): not read"),
        (str(tmp_path / "sock"), "a socket: not read"),
        ("/dev/null", "a device: not read"),
        ("<stdin>", None),
    ]
    result = invoke("scan", "-", "-f", "csv", stdin=CLIENT_400)
    assert result.stdout.splitlines()[1:] == [
        "2025-05-07T07:00:00Z,2025-05-07T08:00:00Z,unclassified,true,1,0,1"
    ]


def test_links_in_folders_are_not_followed_unless_asked_and_loops_are_reported(tmp_path: Path) -> None:
    outside = tmp_path / "outside.log"
    outside.write_text(CLIENT_400)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "app.log").write_text(CLIENT_400)
    (tree / "link.log").symlink_to(outside)
    (tree / "up").symlink_to(tree)
    result, document = scan_json(str(tree))
    link = "a symbolic link, not followed (--follow follows links)"
    assert [(r["name"], r["skipped"]) for r in document["files"]] == [
        (str(tree / "app.log"), None),
        (str(tree / "link.log"), link),
        (str(tree / "up"), link),
    ]
    assert document["records"]["total"] == 1
    result, document = scan_json(str(tree), "--follow")
    assert [(r["name"], r["skipped"]) for r in document["files"]] == [
        (str(tree / "app.log"), None),
        (str(tree / "link.log"), None),
        (str(tree / "up"), "a symbolic link loop: not followed"),
    ]
    assert document["records"]["total"] == 2
    # A link named on the command line is followed; a named loop is an input not read.
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result, document = scan_json(str(tree / "link.log"), str(tmp_path / "a"))
    assert [(r["name"], r["error"]) for r in document["files"]] == [
        (str(tree / "link.log"), None),
        (str(tmp_path / "a"), "a symbolic link loop"),
    ]
    assert result.exit_code == 2
    assert result.stderr == f"logscan: warning: {tmp_path / 'a'}: a symbolic link loop\n"


def test_a_missing_path_among_others_is_reported_and_the_rest_scanned(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text(CLIENT_400)
    result, document = scan_json(
        str(tmp_path / "app.log"), str(tmp_path / "typo.log"), str(tmp_path / "*.nothing")
    )
    assert result.exit_code == 2
    assert document["records"]["total"] == 1
    assert result.stderr == (
        f"logscan: warning: {tmp_path / 'typo.log'}: No such file or directory\n"
        f"logscan: warning: {tmp_path / '*.nothing'}: no file matches the pattern\n"
    )


def test_strict_makes_any_skipped_input_exit_3(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text(CLIENT_400)
    assert invoke("scan", str(tmp_path), "--strict").exit_code == 0
    (tmp_path / "link.log").symlink_to(tmp_path / "app.log")
    assert invoke("scan", str(tmp_path)).exit_code == 0
    assert invoke("scan", str(tmp_path), "--strict").exit_code == 3


def as_unprivileged(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """logscan run as a user without read rights on what the test locks (root reads all)."""
    command = [sys.executable, "-m", "logscan", *args]
    if os.geteuid() == 0:
        # Root without the capabilities that let it read and search past permissions.
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {**os.environ, "LOGSCAN_CACHE_DIR": ""}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_unreadable_files_and_folders_are_warnings_rows_and_exit_2_when_named() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        root.chmod(0o755)
        (root / "logs").mkdir()
        (root / "logs" / "app.log").write_text(CLIENT_400)
        (root / "logs" / "secret.log").write_text(CLIENT_400)
        (root / "logs" / "secret.log").chmod(0)
        (root / "logs" / "locked").mkdir()
        (root / "logs" / "locked").chmod(0)
        found = as_unprivileged("scan", "logs", "-f", "json", cwd=root)
        named = as_unprivileged("scan", "logs/secret.log", "-f", "csv", cwd=root)
    assert found.returncode == 0
    document = json.loads(found.stdout)
    assert [(r["name"], r["error"]) for r in document["files"]] == [
        ("logs/app.log", None),
        ("logs/locked", "folder not read: Permission denied"),
        ("logs/secret.log", "Permission denied"),
    ]
    assert found.stderr == (
        "logscan: warning: logs/locked: folder not read: Permission denied\n"
        "logscan: warning: logs/secret.log: Permission denied\n"
    )
    assert (named.returncode, named.stderr) == (2, "logscan: warning: logs/secret.log: Permission denied\n")


def test_decompressed_size_cap_stops_a_bomb_and_says_so(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.log.gz"
    bomb.write_bytes(gzip.compress(CLIENT_400.encode() * 100_000))  # 11 MB of lines in 40 kB
    result, document = scan_json(str(bomb), "--max-decompressed", "1MiB")
    [report] = document["files"]
    assert report["error"] == "stopped after 1,048,576 decompressed bytes (--max-decompressed raises the cap)"
    assert report["bytes"] == 1024 * 1024
    assert report["lines"] == 1024 * 1024 // len(CLIENT_400) + 1  # the last one cut by the cap
    assert document["records"]["total"] == report["lines"] - 1
    assert result.exit_code == 2
    assert scan_json(str(bomb), "--max-decompressed", "0")[1]["records"]["total"] == 100_000
    assert invoke("scan", str(bomb), "--max-decompressed", "lots").stderr == (
        "logscan: error: --max-decompressed 'lots' is not a size such as 4GiB, 500MB or 0 (no cap)\n"
    )


def test_a_zip_member_bomb_is_capped_too(tmp_path: Path) -> None:
    import zipfile  # noqa: PLC0415

    with zipfile.ZipFile(tmp_path / "logs.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.log", CLIENT_400 * 50_000)
    _, document = scan_json(str(tmp_path / "logs.zip"), "--max-decompressed", "100kB")
    [report] = document["files"]
    assert (report["name"], report["bytes"]) == (f"{tmp_path / 'logs.zip'}:app.log", 100_000)
    assert report["error"] == "stopped after 100,000 decompressed bytes (--max-decompressed raises the cap)"


def test_sparse_files_skip_their_holes(tmp_path: Path) -> None:
    # copytruncate without O_APPEND: the writer goes on at its old offset behind a hole.
    log = tmp_path / "app.log"
    with log.open("wb") as stream:
        stream.seek(64 * 1024 * 1024)
        stream.write(CLIENT_400.encode() * 3)
    huge = tmp_path / "lastlog"
    with huge.open("wb") as stream:
        stream.truncate(50 * 1024**3)
    started = time.monotonic()
    result, document = scan_json(str(log), str(huge))
    assert time.monotonic() - started < 20
    first, second = document["files"]
    assert (first["hole_bytes"], first["bytes"], first["lines"], first["occurrences"]) == (
        64 * 1024 * 1024,
        3 * len(CLIENT_400),
        3,
        3,
    )
    assert (second["hole_bytes"], second["bytes"], second["lines"]) == (50 * 1024**3, 0, 0)
    assert result.exit_code == 0


def test_split_points_of_a_sparse_file_and_a_file_without_newlines_are_bounded(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.log"
    with sparse.open("wb") as stream:
        stream.truncate(50 * 1024**3)
    assert sources.split_points(sources.expand([str(sparse)])[0], 32 * 1024 * 1024, bool) == [0]
    one_line = tmp_path / "one-line.log"
    one_line.write_bytes(b"x" * (40 * 1024 * 1024))
    assert sources.split_points(sources.expand([str(one_line)])[0], 4 * 1024 * 1024, bool) == [0]


def test_lines_of_any_length_are_cut_for_matching_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    head = CLIENT_400.rstrip("\n")
    log.write_bytes(
        head.encode()
        + b"x" * (20 * 1024 * 1024)
        + b"\n"
        + b"y" * (3 * 1024 * 1024)
        + b"\n"
        + CLIENT_400.encode()
    )
    lines = []
    counts = sources.ReadCounts()
    for block in sources.read_blocks(sources.expand([str(log)])[0], 1024 * 1024, counts=counts):
        lines += block.lines.to_list()
    assert [len(line.encode()) for line in lines] == [
        sources.MAX_LINE_BYTES,
        sources.MAX_LINE_BYTES,
        len(head),
    ]
    assert lines[0].startswith(head)
    assert (counts.lines, counts.cut_lines, counts.bytes) == (3, 2, log.stat().st_size)
    _, document = scan_json(str(log))
    assert (document["records"]["total"], document["input"]["lines_cut"]) == (2, 2)


def test_a_long_line_in_the_last_part_of_a_split_file_is_read_past_not_held(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    text = numbered_log(3000)
    log.write_bytes(text.encode() + b"z" * (5 * 1024 * 1024) + b"\n" + CLIENT_400.encode())
    lines, errors = read_parts(parts_of(log, 30_000))
    assert errors == []
    assert lines == [*text.splitlines(), "z" * sources.MAX_LINE_BYTES, CLIENT_400.rstrip("\n")]


ARBITRARY = st.binary(max_size=3000)


def compressed_and_cut(data: bytes, how: str, cut: int) -> bytes:
    packed = {"gzip": gzip.compress, "zstd": zstandard.ZstdCompressor().compress, "none": lambda d: d}[how](
        data
    )
    return packed[: max(0, len(packed) - cut)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=ARBITRARY,
    how=st.sampled_from(["none", "gzip", "zstd"]),
    cut=st.integers(min_value=0, max_value=40),
    binary=st.booleans(),
)
def test_any_bytes_read_with_documented_errors_only_and_every_line_accounted(
    data: bytes, how: str, cut: int, binary: bool
) -> None:
    source = sources.Source("fuzz", data=compressed_and_cut(data, how, cut))
    counts = sources.ReadCounts()
    rows = 0
    try:
        for block in sources.read_blocks(source, 257, sources.ReadPolicy(binary=binary), counts=counts):
            rows += block.lines.len()
            formats.detect_format(block.lines)
            envelopes.detect_envelopes(block.lines)
    except sources.SourceReadError:
        pass
    assert counts.lines == rows + counts.skipped_lines
    text = how == "none" and not cut and compression.compression_of(data) == "none"
    if text and (binary or b"\x00" not in data[:32768]) and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        assert counts.lines == line_count(data.removeprefix(b"\xef\xbb\xbf"))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=ARBITRARY, how=st.sampled_from(["none", "gzip", "zstd"]), cut=st.integers(min_value=0, max_value=40)
)
def test_any_file_scans_with_every_line_accounted(tmp_path: Path, data: bytes, how: str, cut: int) -> None:
    path = tmp_path / "fuzz.log"
    path.write_bytes(compressed_and_cut(data, how, cut))
    result = scan.run(scan.ScanOptions(paths=[str(path)], jobs=1))
    [report] = result.files
    assert report.accounted
    assert result.summary.total == report.occurrences


@pytest.mark.parametrize("small_file_bytes", [1024 * 1024, -1])
def test_a_long_line_is_cut_alike_in_small_files_read_together_and_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_file_bytes: int
) -> None:
    monkeypatch.setattr(shards, "SMALL_FILE_BYTES", small_file_bytes)
    (tmp_path / "a.log").write_bytes(b"x" * (600 * 1024) + b" 400\n" + CLIENT_400.encode())
    (tmp_path / "b.log").write_text(CLIENT_200)
    result = scan.run(scan.ScanOptions(paths=[str(tmp_path)], jobs=1))
    assert [(r.lines, r.lines_used, r.lines_cut, r.occurrences) for r in result.files] == [
        (2, 2, 1, 1),
        (1, 1, 0, 0),
    ]
