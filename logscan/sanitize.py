"""Text from logs and file names made harmless for where it is shown: a terminal shows control
characters and escape sequences instead of obeying them, a spreadsheet shows a formula instead
of running it, JSON stays valid UTF-8 and HTML stays text.

Nothing here imports Polars: the command line uses it before the pipeline is loaded.
"""

from __future__ import annotations

import html
import re

# Escapes as `ls -b`, `printf %q` and C spell them; ESC as `\e`, as bash and `less` do.
_NAMED_CONTROLS = {
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
}
# C0, DEL and C1: C1 holds single-character forms of CSI (U+009B) and OSC (U+009D) that some
# terminals obey.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
# Bidi embeddings, overrides and isolates reorder what follows them (CVE-2021-42574, "Trojan
# Source"); line and paragraph separators break a line where no newline shows.
_INVISIBLE_LAYOUT = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
# Lone surrogates: a file name's bytes that are not UTF-8 come back from the OS as U+DC80..U+DCFF
# (surrogateescape), and no UTF-8 writer accepts them.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)
_SURROGATES = re.compile("[\ud800-\udfff]")


def _escape(code: int) -> str:
    if chr(code) in _NAMED_CONTROLS:
        return _NAMED_CONTROLS[chr(code)]
    if code in _ESCAPED_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_VISIBLE = {code: _escape(code) for code in (*_CONTROLS, *_INVISIBLE_LAYOUT, *range(0xD800, 0xE000))}
# Newlines and tabs that lay out a text already made of safe parts (tabulate's tsv style).
_VISIBLE_KEEPING_LAYOUT = {**_VISIBLE, ord("\n"): "\n", ord("\t"): "\t"}


def terminal(text: str) -> str:
    """``text`` as one line that a terminal shows and does not obey: every control character
    (newline and tab included), bidi control and stray surrogate as a visible escape such as
    ``\\e``, ``\\n``, ``\\x9b`` or ``\\u202e``. Printable text, UTF-8 of any script, is kept."""
    return text.translate(_VISIBLE)


def terminal_lines(text: str) -> str:
    """As :func:`terminal`, but newlines and tabs are kept: for text already laid out (whose
    parts from logs went through :func:`terminal` first)."""
    return text.translate(_VISIBLE_KEEPING_LAYOUT)


def html_text(text: str) -> str:
    """``text`` for an HTML element or attribute value: markup escaped, and the characters a
    terminal must not obey shown as escapes too (they are invalid in HTML or reorder it)."""
    return html.escape(terminal(text), quote=True)


def json_document(dumped: str) -> str:
    """The output of ``json.dumps(..., ensure_ascii=False)`` made valid UTF-8 and safe to print:
    a lone surrogate becomes the text of its escape (``\\xff`` for a byte of a file name that
    is not UTF-8), and C1 and bidi controls become JSON ``\\u`` escapes, which decode to the
    same string. json.dumps escapes C0 controls itself."""

    def escaped(match: re.Match[str]) -> str:
        # Doubled backslash: inside a JSON string it stands for the backslash of the escape.
        return "\\" + _escape(ord(match[0]))

    without_surrogates = _SURROGATES.sub(escaped, dumped)
    return without_surrogates.translate(_JSON_ESCAPES)


_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x7F, 0xA0), *_INVISIBLE_LAYOUT)}

# OWASP "CSV injection": a cell starting with one of these is run as a formula by Excel,
# LibreOffice or Google Sheets; a leading single quote makes it text.
FORMULA_START = re.compile(r"^[=+\-@\t\r]")
FORMULA_PREFIX = "'"


def spreadsheet_cell(text: str) -> str:
    """``text`` as a CSV cell that a spreadsheet shows as text instead of running it."""
    return FORMULA_PREFIX + text if FORMULA_START.match(text) else text
