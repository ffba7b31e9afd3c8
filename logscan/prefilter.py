"""Candidate lines of a block of raw bytes: the lines that hold one of the rules' literal anchors.

The scan's cheapest pass asks, for every line, whether it contains one of a set of literal
anchors (regex fragments as ``RuleSet.anchors`` and ``RuleSet.implied_anchors`` give them: plain
escaped literals, some wrapped in ``(?i:...)``). Asked of a Polars column, that needs every line
to become a row first. Asked of the raw bytes of a block, it does not: Hyperscan runs all
anchors in one pass over the block, and only the end offsets of its matches are mapped to line
numbers.

The answer is defined as the one the per-line test gives: the lines of the block as the line
reader yields them (split at ``\\n``; one trailing ``\\r`` dropped; NUL and invalid UTF-8
replaced by U+FFFD; an empty line is null and matches nothing), tested with Polars'
``str.contains`` of the anchors' alternation. Matching raw bytes gives the same lines for
literals: a literal's UTF-8 bytes start with a lead byte and hold whole characters, so they
never overlap the bytes a decoder replaces. Case-insensitive literals become classes of
every character the Rust regex engine folds together (``k`` also matches the Kelvin sign).

Fragments that are more than a literal (classes, repeats, escapes such as ``\\d``), or
literals whose bytes the line reader changes (``\\r``, ``\\n``, NUL, U+FFFD, the empty
string), make the whole set run the per-line Polars test itself, which is exact by
construction. So does a machine without the ``hyperscan`` package.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

try:
    import hyperscan
except ImportError:  # not built for every platform; the Polars engine gives the same lines
    hyperscan = None

Engine = Literal["hyperscan", "polars"]

# Non-ASCII characters that the Rust regex engine's simple case folding puts beside an ASCII
# letter: U+212A KELVIN SIGN with k, U+017F LATIN SMALL LETTER LONG S with s. The test suite
# checks this table against Polars over every code point.
ASCII_FOLD_EXTRAS: dict[str, str] = {"k": "\u212a", "s": "\u017f"}
# Characters the line reader changes or removes, so a literal holding one is tested per line.
_READER_CHANGES = frozenset("\r\n\x00\ufffd")
_REPLACEMENT = "\ufffd".encode()


class AnchorError(ValueError):
    """An anchor is not a valid regex fragment for the Rust regex engine."""


@dataclass(frozen=True)
class Prefilter:
    """A compiled anchor set; ``candidate_lines(block)`` gives the block's candidate lines.

    One scan at a time: a Hyperscan database scans with the one scratch space it owns, so
    two threads must not share a Prefilter (processes each have their own copy)."""

    anchors: tuple[str, ...]
    engine: Engine
    why: str  # why this engine: a reason a person can read in a verbose report
    _database: Any = field(default=None, repr=False, compare=False)

    @property
    def alternation(self) -> str:
        return "|".join(self.anchors)

    def candidate_lines(self, block: bytes) -> list[int]:
        """0-based indexes, ascending, of the lines of ``block`` that contain an anchor.

        ``block`` holds whole lines, each ended by ``\\n``; a last line without one counts as
        a line too.
        """
        if not self.anchors or not block:
            return []
        if self._database is None:
            return _polars_candidate_lines(block, self.alternation)
        ends: list[int] = []
        on_match = _collector(ends)
        self._database.scan(block, match_event_handler=on_match)
        return _lines_of_offsets(block, ends)


def _collector(ends: list[int]) -> Any:
    append = ends.append

    def on_match(_id: int, _start: int, end: int, _flags: int, _context: object) -> None:
        append(end)

    return on_match


def _lines_of_offsets(block: bytes, ends: list[int]) -> list[int]:
    """The distinct lines holding the byte before each match end offset.

    The newlines are counted between consecutive match ends, so the cost is one pass of
    ``bytes.count`` over the block plus a step per match; Hyperscan reports matches in
    ascending end order, the sort is a guard that costs nothing then.
    """
    ends.sort()
    lines: list[int] = []
    line = 0
    counted_to = 0
    count = block.count
    for end in ends:
        # The byte at end - 1 belongs to the match, never a newline: count up to it.
        line += count(b"\n", counted_to, end)
        counted_to = end
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def _polars_candidate_lines(block: bytes, alternation: str) -> list[int]:
    """The per-line test the prefilter must agree with: the block's lines as the line reader
    gives them, and ``str.contains`` of the anchors' alternation on each.

    The lines are split here rather than by ``pl.read_csv``, which takes a block that starts
    with a compression magic number (``x^``, ``\\x1f\\x8b`` ...) for compressed data.
    """
    text = block.replace(b"\x00", _REPLACEMENT).decode("utf-8", "replace")
    lines = pl.Series("line", [text], dtype=pl.String).str.split("\n").explode()
    if text.endswith("\n"):
        lines = lines.head(-1)
    lines = lines.str.strip_suffix("\r")
    hits = lines.str.contains(alternation) & (lines.str.len_bytes() > 0)
    return hits.arg_true().to_list()


def compile_prefilter(anchors: Sequence[str], *, engine: Engine | None = None) -> Prefilter:
    """Compile ``anchors`` once; the same anchors give the same compiled object.

    ``engine=None`` takes Hyperscan when it is installed and every anchor is a literal it can
    run exactly; ``"polars"`` forces the per-line test. AnchorError if an anchor is not valid.
    """
    return _compile(tuple(anchors), engine)


@functools.lru_cache(maxsize=32)
def _compile(anchors: tuple[str, ...], engine: Engine | None) -> Prefilter:
    alternation = "|".join(anchors)
    if anchors:
        try:
            pl.select(pl.lit("").str.contains(alternation))
        except pl.exceptions.ComputeError as error:
            raise AnchorError(f"anchors do not compile as one regex: {error}") from error
    if engine == "polars":
        return Prefilter(anchors, "polars", "asked for")
    if hyperscan is None:
        if engine == "hyperscan":
            raise AnchorError("the hyperscan package is not installed")
        return Prefilter(anchors, "polars", "the hyperscan package is not installed")
    patterns: list[bytes] = []
    for anchor in anchors:
        literal = literal_of(anchor)
        if literal is None:
            if engine == "hyperscan":
                raise AnchorError(f"anchor {anchor!r} is not a literal Hyperscan can run exactly")
            return Prefilter(anchors, "polars", f"anchor {anchor!r} is not a literal of the raw bytes")
        patterns.append(_byte_pattern(*literal))
    if not patterns:
        return Prefilter(anchors, "hyperscan", "no anchors")
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    # Byte mode (no UTF-8 flag): every pattern is spelled in \xHH bytes, so invalid UTF-8 in
    # the input is just bytes, and the patterns say exactly which byte sequences match.
    database.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns), flags=0)
    return Prefilter(anchors, "hyperscan", "every anchor is a literal", database)


# A plain literal, or one in a (?i:...) group: characters other than regex metacharacters, and
# metacharacters escaped. Other escapes (\d, \x41, \<, octal ...) mean more than one character,
# or something else to Python than to Rust, and are left to the per-line test.
_LITERAL_FRAGMENT = re.compile(
    r"(?P<open>\(\?i:)?(?P<text>(?:[^\\.+*?()|\[\]{}^$]|\\[^0-9A-Za-z<>])+)(?(open)\))"
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def literal_of(fragment: str) -> tuple[str, bool] | None:
    """The text ``fragment`` matches and whether it ignores case, when it is a plain literal
    (``(?i:...)`` allowed) that the line reader leaves as it is; else None."""
    found = _LITERAL_FRAGMENT.fullmatch(fragment)
    if found is None:
        return None
    text = _ESCAPE.sub(r"\1", found["text"])
    if _READER_CHANGES.intersection(text):
        return None
    return text, found["open"] is not None


def _byte_pattern(text: str, ignore_case: bool) -> bytes:
    """A Hyperscan pattern, in bytes, matching exactly the UTF-8 spellings of the literal."""
    if not ignore_case:
        return _hex(text.encode()).encode("ascii")
    parts: list[str] = []
    for char in text:
        encoded = [spelling.encode() for spelling in sorted(fold_class(char))]
        if len(encoded) == 1:
            parts.append(_hex(encoded[0]))
        elif all(len(e) == 1 for e in encoded):
            parts.append("[" + "".join(_hex(e) for e in encoded) + "]")
        else:
            parts.append("(?:" + "|".join(_hex(e) for e in encoded) + ")")
    return "".join(parts).encode("ascii")


def _hex(data: bytes) -> str:
    return "".join(f"\\x{byte:02x}" for byte in data)


@functools.lru_cache(maxsize=512)
def fold_class(char: str) -> frozenset[str]:
    """Every character that ``(?i:char)`` matches in Polars (Rust regex, Unicode simple case
    folding), ``char`` included."""
    if char.isascii():
        if not char.isalpha():
            return frozenset(char)
        lower = char.lower()
        return frozenset({lower, char.upper(), *ASCII_FOLD_EXTRAS.get(lower, "")})
    # Rare in anchors: ask the engine itself, over every code point.
    hits = _all_characters().str.contains(f"^(?i:{re.escape(char)})$")
    return frozenset(_all_characters().filter(hits).to_list())


@functools.lru_cache(maxsize=1)
def _all_characters() -> pl.Series:
    """Every Unicode scalar value as a one-character string (surrogates are not text)."""
    return pl.Series(
        "char", [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF], dtype=pl.String
    )


def candidate_lines(block: bytes, anchors: Sequence[str]) -> list[int]:
    """0-based indexes of the lines of ``block`` holding one of ``anchors``; see Prefilter."""
    return compile_prefilter(anchors).candidate_lines(block)
