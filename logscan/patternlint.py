"""Patterns that look catastrophic for a backtracking engine: a quantified group whose body is
itself only quantified (``(a+)+``, ``(.*)*``, ``(\\w+\\s?)+``), or alternatives that can match the
same text under a quantifier (``(a|a)+``, ``(\\w|\\d)*``). On such a pattern the `regex` engine
can take exponential time on a line that almost matches.

The shapes are read from the parse tree of Python's ``re`` (close enough to the `regex`
package for this); it is a heuristic, so ``rules check`` prints a note, not an error. The
Rust engine in Polars runs in linear time whatever the pattern, so only `regex`-engine
patterns are worth a note.
"""

from __future__ import annotations

import re
import string
from re import _parser as re_parser  # type: ignore[attr-defined]
from typing import Any

NESTED = "a quantified group whose body is only quantified, as in (a+)+"
OVERLAPPING = "alternatives that can match the same text under a quantifier, as in (a|a)+"

_REPEATS = (re_parser.MAX_REPEAT, re_parser.MIN_REPEAT)
_ZERO_WIDTH = (re_parser.AT, re_parser.ASSERT, re_parser.ASSERT_NOT)
# The characters first-character sets are compared on.
_PROBE = frozenset(string.printable) | frozenset("é\u00a0\u212a")
_CATEGORIES = {
    re_parser.CATEGORY_DIGIT: frozenset(string.digits),
    re_parser.CATEGORY_WORD: frozenset(string.ascii_letters + string.digits + "_é\u212a"),
    re_parser.CATEGORY_SPACE: frozenset(string.whitespace + "\u00a0"),
}
_NEGATED_CATEGORIES = {
    re_parser.CATEGORY_NOT_DIGIT: re_parser.CATEGORY_DIGIT,
    re_parser.CATEGORY_NOT_WORD: re_parser.CATEGORY_WORD,
    re_parser.CATEGORY_NOT_SPACE: re_parser.CATEGORY_SPACE,
}

Items = list[tuple[Any, Any]]


def catastrophic_shape(source: str) -> str | None:
    """Why ``source`` looks catastrophic for a backtracking engine, or None."""
    try:
        parsed = re_parser.parse(source)
    except (re.error, RecursionError, OverflowError):
        return None
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    return _shape(list(parsed), under_repeat=False, ignore_case=ignore_case)


def _shape(items: Items, *, under_repeat: bool, ignore_case: bool) -> str | None:
    for op, argument in items:
        found = None
        if op in _REPEATS:
            _, high, body = argument
            unbounded = high == re_parser.MAXREPEAT
            if unbounded and _only_repeated(list(body)):
                return NESTED
            found = _shape(list(body), under_repeat=under_repeat or unbounded, ignore_case=ignore_case)
        elif op is re_parser.BRANCH:
            branches = [list(branch) for branch in argument[1]]
            if under_repeat and _overlapping(branches, ignore_case):
                return OVERLAPPING
            for branch in branches:
                found = found or _shape(branch, under_repeat=under_repeat, ignore_case=ignore_case)
        elif op is re_parser.SUBPATTERN:
            found = _shape(list(argument[3]), under_repeat=under_repeat, ignore_case=ignore_case)
        if found:
            return found
    return None


def _only_repeated(body: Items) -> bool:
    """The body holds an unbounded repeat and nothing it must match besides repeats: each
    iteration can be cut up in many ways."""
    unbounded = [_unbounded(op, argument) for op, argument in body]
    optional = [_nullable([item]) for item in body]
    return any(unbounded) and all(u or o for u, o in zip(unbounded, optional, strict=True))


def _unbounded(op: Any, argument: Any) -> bool:
    """An unbounded repeat, or a group or alternative that is only one."""
    if op in _REPEATS:
        return argument[1] == re_parser.MAXREPEAT
    if op is re_parser.SUBPATTERN:
        return _only_repeated(list(argument[3]))
    if op is re_parser.BRANCH:
        return any(_only_repeated(list(branch)) for branch in argument[1])
    return False


def _nullable(items: Items) -> bool:
    """Whether the items can match the empty string."""
    for op, argument in items:
        if op in _ZERO_WIDTH:
            continue
        if op in _REPEATS:
            if argument[0] == 0 or _nullable(list(argument[2])):
                continue
            return False
        if op is re_parser.SUBPATTERN:
            if _nullable(list(argument[3])):
                continue
            return False
        if op is re_parser.BRANCH:
            if any(_nullable(list(branch)) for branch in argument[1]):
                continue
            return False
        return False
    return True


def _overlapping(branches: list[Items], ignore_case: bool) -> bool:
    for index, first in enumerate(branches):
        for second in branches[index + 1 :]:
            if _nullable(first) and _nullable(second):
                return True
            literals = _literal(first), _literal(second)
            if literals[0] is not None and literals[1] is not None:
                shorter, longer = sorted(literals, key=len)
                if ignore_case:
                    shorter, longer = shorter.lower(), longer.lower()
                if longer.startswith(shorter):
                    return True
                continue
            if _first_chars(first, ignore_case) & _first_chars(second, ignore_case):
                return True
    return False


def _literal(items: Items) -> str | None:
    if all(op is re_parser.LITERAL for op, _ in items):
        return "".join(chr(argument) for _, argument in items)
    return None


def _first_chars(items: Items, ignore_case: bool) -> frozenset[str]:
    """The characters (of a probe alphabet) a match of ``items`` can start with."""
    found: frozenset[str] = frozenset()
    for op, argument in items:
        if op in _ZERO_WIDTH:
            continue
        if op is re_parser.LITERAL:
            char = chr(argument)
            found |= {char, char.lower(), char.upper()} if ignore_case else {char}
        elif op is re_parser.IN:
            found |= _class_chars(argument)
        elif op in _REPEATS:
            found |= _first_chars(list(argument[2]), ignore_case)
        elif op is re_parser.SUBPATTERN:
            found |= _first_chars(list(argument[3]), ignore_case)
        elif op is re_parser.BRANCH:
            for branch in argument[1]:
                found |= _first_chars(list(branch), ignore_case)
        else:  # any character, a negated literal, a back-reference...
            return _PROBE
        if not _nullable([(op, argument)]):
            return found
    return found


def _class_chars(items: Items) -> frozenset[str]:
    chars: set[str] = set()
    negate = False
    for op, argument in items:
        if op is re_parser.NEGATE:
            negate = True
        elif op is re_parser.LITERAL:
            chars.add(chr(argument))
        elif op is re_parser.RANGE:
            low, high = argument
            chars |= {c for c in _PROBE if low <= ord(c) <= high}
        elif op is re_parser.CATEGORY:
            if argument in _CATEGORIES:
                chars |= _CATEGORIES[argument]
            else:
                chars |= _PROBE - _CATEGORIES[_NEGATED_CATEGORIES[argument]]
    return frozenset(_PROBE - chars if negate else chars)
