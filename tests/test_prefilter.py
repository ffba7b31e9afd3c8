import re
import string
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from logscan import formats, prefilter, rules, sources
from logscan.rules import escape_literal

SAMPLE_LOGS = Path(__file__).resolve().parent.parent / "sample_logs"
needs_hyperscan = pytest.mark.skipif(
    prefilter.hyperscan is None, reason="the hyperscan package is not installed"
)


# The line reader (pl.read_csv) takes a block starting with one of these for compressed data,
# and fails or yields no lines at all: a fault of the reader, kept out of the reference.
COMPRESSION_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")


def per_line_test(block: bytes, anchors: list[str]) -> list[int]:
    """What the scan asks today: the block's lines as the line reader gives them, each tested
    with Polars' str.contains of the anchors' alternation."""
    assert not block.startswith(COMPRESSION_MAGIC)
    lines, _replaced = sources._decoded_lines(block)
    return lines.str.contains("|".join(anchors)).fill_null(value=False).arg_true().to_list()


def test_lines_are_found_by_their_index_in_the_block() -> None:
    block = (
        b'[GIN] 2025/05/07 - 06:05:59 | 400 |  213.5\xc2\xb5s | 127.0.0.1 | POST "/api/chat"\n'  # 0: 400
        b"\n"  # 1: empty
        b"INFO ok\r\n"  # 2
        b"openai.BadRequestError: BAD REQUEST\r\n"  # 3: bad request, any case
        b"\xff\xfe broken bytes, then 400\n"  # 4: 400 after invalid UTF-8
        b"nothing here\n"  # 5
        b"last line without newline: bad request"  # 6
    )
    anchors = ["400", "(?i:bad request)"]
    assert prefilter.compile_prefilter(anchors, engine="polars").candidate_lines(block) == [0, 3, 4, 6]
    assert per_line_test(block, anchors) == [0, 3, 4, 6]


@needs_hyperscan
def test_hyperscan_finds_the_same_lines_in_that_block() -> None:
    block = b"a 400\n\nxx\r\nBAD REQUEST\r\n\xff\xfe 400\nno\nbad request"
    compiled = prefilter.compile_prefilter(["400", "(?i:bad request)"])
    assert compiled.engine == "hyperscan"
    assert compiled.candidate_lines(block) == [0, 3, 4, 6]


@needs_hyperscan
def test_case_folding_follows_the_rust_engine_not_ascii() -> None:
    # (?i:k) matches the Kelvin sign and (?i:s) the long s in Polars; plain k matches neither.
    block = "\u212a\n\u017f\nK\nx\n\u039c\n\u00b5\n".encode()
    assert prefilter.compile_prefilter(["(?i:k)"]).candidate_lines(block) == [0, 2]
    assert prefilter.compile_prefilter(["(?i:s)"]).candidate_lines(block) == [1]
    assert prefilter.compile_prefilter(["k"]).candidate_lines(block) == []
    assert prefilter.compile_prefilter(["(?i:\u00b5)"]).candidate_lines(block) == [4, 5]
    for anchors in (["(?i:k)"], ["(?i:s)"], ["k"], ["(?i:\u00b5)"]):
        assert prefilter.compile_prefilter(anchors).candidate_lines(block) == per_line_test(block, anchors)


def test_ascii_fold_table_matches_polars_over_every_code_point() -> None:
    every = prefilter._all_characters()
    for letter in string.ascii_lowercase:
        folded = set(every.filter(every.str.contains(f"^(?i:{letter})$")).to_list())
        assert prefilter.fold_class(letter) == folded, letter


@pytest.mark.parametrize(
    ("anchor", "why"),
    [
        (r"status \d+", "is not a literal of the raw bytes"),
        ("(?i)global flag", "is not a literal of the raw bytes"),
        ("one|two", "is not a literal of the raw bytes"),
        ("carriage\r", "is not a literal of the raw bytes"),
        (r"\<word", "is not a literal of the raw bytes"),
        ("", "is not a literal of the raw bytes"),
    ],
)
def test_anchors_beyond_a_literal_run_per_line_with_the_reason(anchor: str, why: str) -> None:
    compiled = prefilter.compile_prefilter(["400", anchor])
    assert compiled.engine == "polars"
    if prefilter.hyperscan is not None:
        assert compiled.why == f"anchor {anchor!r} {why}"
    block = b"status 12\nglobal FLAG\none\ncarriage\r\n<word\nnothing\n400\n\n"
    assert compiled.candidate_lines(block) == per_line_test(block, ["400", anchor])


def test_an_anchor_the_rust_engine_rejects_is_an_error_naming_the_problem() -> None:
    with pytest.raises(prefilter.AnchorError, match="anchors do not compile as one regex"):
        prefilter.compile_prefilter(["400", "(unclosed"])


def test_no_anchors_and_empty_blocks_have_no_candidates() -> None:
    assert prefilter.compile_prefilter([]).candidate_lines(b"400\n") == []
    assert prefilter.compile_prefilter(["400"]).candidate_lines(b"") == []


@needs_hyperscan
def test_builtin_rule_anchors_all_run_in_hyperscan_and_agree_on_the_sample_logs() -> None:
    ruleset = rules.load()
    anchor_sets = {
        "status and implied": ["400", *(anchor.pattern for anchor in ruleset.implied().anchors)],
        "every anchor": [anchor.pattern for anchor in ruleset.prefilter(formats.STATUS_ANCHORS).anchors],
    }
    logs = sorted(p for p in SAMPLE_LOGS.rglob("*") if p.is_file() and p.suffix in (".log", ".txt", ".jsonl"))
    assert logs
    found = 0
    for name, anchors in anchor_sets.items():
        compiled = prefilter.compile_prefilter(anchors)
        assert compiled.engine == "hyperscan", (name, compiled.why)
        for path in logs:
            block = path.read_bytes()
            lines = compiled.candidate_lines(block)
            assert lines == per_line_test(block, anchors), (name, path.name)
            found += len(lines)
    assert found > 0


# Pieces that meet the traps: case folding beyond ASCII, invalid UTF-8, CR, NUL, empty lines.
WORDS = ("400", "Bad Request", "bad request", "error", "\u00b5s", "sk", "\u017f", "\u212a", "K", "a.b", "(x)")
ALPHABET = (
    string.ascii_letters[:8] + "KkSs0 4.()[]|*+?\\" + "\u00b5\u039c\u03bc\u00df\u017f\u212a\u0130\u00c4\u00e4"
)
BYTE_PIECES = (b"\n", b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b" ")
BLOCKS = st.lists(
    st.one_of(
        st.sampled_from(WORDS).map(str.encode),
        st.sampled_from(WORDS).map(lambda w: w.upper().encode()),
        st.sampled_from(BYTE_PIECES),
        st.text(alphabet=ALPHABET + "\r\n\x00", max_size=6).map(str.encode),
        st.binary(max_size=6),
    ),
    max_size=40,
).map(b"".join)
# CR, NUL and U+FFFD are literals the line reader changes; the others read them per line.
LITERALS = st.one_of(
    st.sampled_from(WORDS), st.text(alphabet=ALPHABET + "\r\x00\ufffd", min_size=1, max_size=4)
)
ANCHORS = st.lists(
    st.tuples(LITERALS, st.booleans(), st.sampled_from((escape_literal, re.escape))).map(
        lambda t: f"(?i:{t[2](t[0])})" if t[1] else t[2](t[0])
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=BLOCKS, anchors=ANCHORS)
def test_prefilter_finds_exactly_the_lines_the_per_line_test_finds(block: bytes, anchors: list[str]) -> None:
    assume(not block.startswith(COMPRESSION_MAGIC))
    try:
        expected = per_line_test(block, anchors)
    except pl.exceptions.ComputeError:
        # re.escape spells some characters in ways the Rust engine rejects; so must the prefilter.
        with pytest.raises(prefilter.AnchorError):
            prefilter.compile_prefilter(anchors)
        return
    assert prefilter.compile_prefilter(anchors).candidate_lines(block) == expected
    assert prefilter.compile_prefilter(anchors, engine="polars").candidate_lines(block) == expected


@settings(max_examples=100, deadline=None)
@given(block=BLOCKS, anchors=ANCHORS)
def test_a_block_cut_at_a_line_end_gives_the_same_lines_shifted(block: bytes, anchors: list[str]) -> None:
    try:
        compiled = prefilter.compile_prefilter(anchors)
    except prefilter.AnchorError:
        return
    whole = compiled.candidate_lines(block)
    cut = block.find(b"\n") + 1
    if cut == 0:
        return
    head, tail = block[:cut], block[cut:]
    assert compiled.candidate_lines(head) + [1 + line for line in compiled.candidate_lines(tail)] == whole


@pytest.mark.parametrize("engine", ["polars", "hyperscan"])
def test_a_block_that_starts_like_compressed_data_is_still_lines(engine: str) -> None:
    if engine == "hyperscan" and prefilter.hyperscan is None:
        pytest.skip("the hyperscan package is not installed")
    for block in (b"x^2 grew by 400\nok\n", b"\x1f\x8b then 400\n"):
        assert prefilter.compile_prefilter(["400"], engine=engine).candidate_lines(block) == [0]


def test_series_of_candidate_lines_can_index_the_lines_column() -> None:
    block = b"x\n400\ny\n400 again\n"
    lines = sources._decoded_lines(block)[0]
    rows = pl.Series(prefilter.candidate_lines(block, ["400"]), dtype=pl.UInt32)
    assert lines.gather(rows).to_list() == ["400", "400 again"]
