"""Which patterns `rules check` calls catastrophic for a backtracking engine."""

import pytest

from logscan.patternlint import NESTED, OVERLAPPING, catastrophic_shape


@pytest.mark.parametrize(
    ("pattern", "shape"),
    [
        ("(a+)+", NESTED),
        ("(.*)*", NESTED),
        (r"(\w+\s?)+", NESTED),
        ("(x+x+)+y", NESTED),
        (r"^(\d+)*$", NESTED),
        ("(?:[^,]+,?)+$", NESTED),
        ("(a|a)+", OVERLAPPING),
        ("(a|ab)*c", OVERLAPPING),
        (r"(?:\w+|-)+(?=;)", NESTED),
        (r"(?:[a-z]x|[b-d]y)+", OVERLAPPING),
        # A required literal in each iteration, or alternatives that start apart: linear.
        ("(ab+)+", None),
        (r"(\w+-)+", None),
        ("(GET|POST|PUT)+", None),
        (r"(?:\s*,\s*\w+)+", None),
        ("(?:ab)+", None),
        (r"\d+", None),
        ("foo (bar|baz)", None),
        ("(unclosed", None),
    ],
)
def test_shapes(pattern: str, shape: str | None) -> None:
    assert catastrophic_shape(pattern) == shape
