import bz2
import gzip
import lzma
from pathlib import Path

import pytest
import zstandard

from logscan import sources

DEFAULT_POLICY = sources.ReadPolicy()


def lines_of(
    source: sources.Source,
    block_bytes: int = sources.DEFAULT_BLOCK_BYTES,
    policy: sources.ReadPolicy = DEFAULT_POLICY,
) -> list[tuple[int, str | None]]:
    numbered = []
    for block in sources.read_blocks(source, block_bytes, policy):
        numbered += list(enumerate(block.lines.to_list(), start=block.first_line))
    return numbered


def test_expand_files_directories_globs_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("x\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.log.1.gz").write_bytes(gzip.compress(b"y\n"))
    (tmp_path / ".hidden").write_text("z\n")
    names = [s.name for s in sources.expand([str(tmp_path), f"{tmp_path}/*.log", "-"])]
    assert names == [str(tmp_path / "a.log"), str(tmp_path / "sub" / "b.log.1.gz"), "<stdin>"]


def test_missing_paths_are_sources_that_say_why_and_the_rest_is_listed(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("x\n")
    found = sources.expand([str(tmp_path / "nope.log"), str(tmp_path / "a.log"), str(tmp_path / "*.nothing")])
    assert [(s.name, s.unreadable, s.named) for s in found] == [
        (str(tmp_path / "nope.log"), "No such file or directory", True),
        (str(tmp_path / "a.log"), None, True),
        (str(tmp_path / "*.nothing"), "no file matches the pattern", True),
    ]


@pytest.mark.parametrize(
    ("compress", "expected"),
    [
        (gzip.compress, "gzip"),
        (bz2.compress, "bzip2"),
        (lzma.compress, "xz"),
        (lambda b: b, "none"),
    ],
)
def test_compression_is_recognised_by_magic_bytes_not_name(tmp_path: Path, compress, expected: str) -> None:
    path = tmp_path / "server.log"  # no suffix on purpose
    path.write_bytes(compress(b"one\ntwo\n"))
    blocks = list(sources.read_blocks(sources.Source("s", path)))
    assert [b.compression for b in blocks] == [expected]
    assert lines_of(sources.Source("s", path)) == [(1, "one"), (2, "two")]


def test_crlf_bom_blank_lines_and_missing_final_newline() -> None:
    data = b"\xef\xbb\xbffirst\r\n\r\nthird\r\nlast"
    assert lines_of(sources.Source("m", data=data)) == [
        (1, "first"),
        (2, None),
        (3, "third"),
        (4, "last"),
    ]


def test_invalid_utf8_and_nul_are_replaced_not_fatal() -> None:
    data = b"ok\nbad \xff\xfe byte\nnul\x00here\n"
    assert lines_of(sources.Source("m", data=data), policy=sources.ReadPolicy(binary=True)) == [
        (1, "ok"),
        (2, "bad \ufffd\ufffd byte"),
        (3, "nul\ufffdhere"),
    ]


def test_utf16_with_bom_is_reencoded() -> None:
    data = "a 400 line\r\nzweite Zeile\r\n".encode("utf-16")
    assert lines_of(sources.Source("m", data=data)) == [(1, "a 400 line"), (2, "zweite Zeile")]


def test_small_blocks_keep_whole_lines_and_numbers() -> None:
    text = "".join(f"line {i} {'x' * (i % 7)}\n" for i in range(1, 200))
    expected = [(i, f"line {i} {'x' * (i % 7)}") for i in range(1, 200)]
    assert lines_of(sources.Source("m", data=text.encode()), block_bytes=37) == expected


def test_truncated_archive_yields_what_was_read_then_reports(tmp_path: Path) -> None:
    body = "".join(f"line {i}\n" for i in range(5000)).encode()
    path = tmp_path / "cut.log.gz"
    path.write_bytes(gzip.compress(body)[:-200])
    read: list[tuple[int, str | None]] = []
    with pytest.raises(sources.SourceReadError) as raised:
        for block in sources.read_blocks(sources.Source("cut.log.gz", path), block_bytes=4096):
            read += list(enumerate(block.lines.to_list(), start=block.first_line))
    assert "read failed" in raised.value.reason
    assert read[:3] == [(1, "line 0"), (2, "line 1"), (3, "line 2")]
    assert 0 < len(read) < 5000


def test_corrupt_deflate_data_is_a_read_failure_not_a_crash(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(bytes(range(256)) * 10000, compresslevel=1))
    data[30:60] = b"\x07" * 30
    with pytest.raises(sources.SourceReadError, match="read failed"):
        lines_of(sources.Source("bad.log.gz", data=bytes(data)))


def test_concatenated_zstd_frames_are_all_read_and_a_cut_frame_is_reported() -> None:
    compress = zstandard.ZstdCompressor().compress
    data = compress(b"one\n") + compress(b"two\n")
    assert lines_of(sources.Source("m.zst", data=data)) == [(1, "one"), (2, "two")]
    with pytest.raises(sources.SourceReadError, match="compressed data ends early"):
        lines_of(sources.Source("m.zst", data=data[:-3]))
