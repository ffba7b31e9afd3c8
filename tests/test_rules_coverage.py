"""Coverage and suppressed counts: the aggregate side of the rule tools."""

import polars as pl

from logscan import aggregate


def requests(rules: list[tuple[str | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"timestamp": None, "category": category, "rule_id": rule, "method": None, "endpoint": None,
             "model": None, "ollama": True, "server_records": 0, "client_records": 1}
            for rule, category in rules
        ],
        schema_overrides={"timestamp": pl.Datetime("us", "UTC"), "rule_id": pl.String},
    )  # fmt: skip


def test_coverage_lists_every_loaded_rule_with_zero_for_those_that_never_fired() -> None:
    found = requests([("b", "auth"), ("c", "auth"), ("b", "auth"), (None, "unclassified")])
    loaded = [("a", "request_format"), ("b", "auth"), ("c", "auth"), ("d", "rate_limit")]
    assert aggregate.rule_coverage(aggregate.tally(found, "1h"), loaded).rows() == [
        ("b", "auth", 2),
        ("c", "auth", 1),
        ("a", "request_format", 0),  # never fired: in the order the rules were given
        ("d", "rate_limit", 0),
    ]


def test_coverage_of_no_requests_and_no_rules() -> None:
    assert aggregate.rule_coverage(aggregate.empty_tally(), []).rows() == []
    assert aggregate.rule_coverage(aggregate.empty_tally(), [("a", "auth")]).rows() == [("a", "auth", 0)]


def test_suppressed_counts_per_entry_rule_and_category() -> None:
    suppressed = pl.DataFrame(
        {
            "rule_id": ["r", "r", None, "s", "t"],
            "category": ["auth", "auth", "unclassified", "auth", "auth"],
            "suppressed_by": ["rule:r", "rule:r", "probe", "probe", None],
        }
    )
    assert aggregate.suppressed_counts(suppressed).rows() == [
        ("rule:r", "r", "auth", 2),
        ("probe", "s", "auth", 1),
        ("probe", None, "unclassified", 1),
    ]
