"""Coverage and suppressed counts: the aggregate side of the rule tools."""

import polars as pl

from logscan import aggregate


def events(rows: list[tuple[str | None, str, str | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [{"rule_id": rule, "category": category, "suppressed_by": by} for rule, category, by in rows],
        schema={"rule_id": pl.String, "category": pl.String, "suppressed_by": pl.String},
    )
    return pl.concat([aggregate.empty_events(), frame], how="diagonal_relaxed")


def test_coverage_lists_every_loaded_rule_with_zero_for_those_that_never_fired() -> None:
    found = events(
        [("b", "auth", None), ("c", "auth", None), ("b", "auth", None), (None, "unclassified", None)]
    )
    loaded = [("a", "request_format"), ("b", "auth"), ("c", "auth"), ("d", "rate_limit")]
    assert aggregate.rule_coverage(aggregate.tally(found, "1h"), loaded).rows() == [
        ("b", "auth", 2),
        ("c", "auth", 1),
        ("a", "request_format", 0),  # never fired: in the order the rules were given
        ("d", "rate_limit", 0),
    ]


def test_coverage_of_no_events_and_no_rules() -> None:
    assert aggregate.rule_coverage(aggregate.empty_tally(), []).rows() == []
    assert aggregate.rule_coverage(aggregate.empty_tally(), [("a", "auth")]).rows() == [("a", "auth", 0)]


def test_suppressed_counts_per_entry_rule_and_category() -> None:
    suppressed = events(
        [
            ("r", "auth", "rule:r"),
            ("r", "auth", "rule:r"),
            (None, "unclassified", "probe"),
            ("s", "auth", "probe"),
        ]
    )
    assert aggregate.suppressed_counts(aggregate.tally(suppressed, "1h")).rows() == [
        ("rule:r", "r", "auth", 2),
        ("probe", "s", "auth", 1),
        ("probe", None, "unclassified", 1),
    ]
