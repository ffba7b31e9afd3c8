from datetime import UTC, datetime

import polars as pl

from logscan import aggregate


def events(rows: list[tuple[datetime | None, str, str, str | None, str | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [
            {"timestamp": t, "side": side, "category": category, "endpoint": endpoint, "model": model,
             "method": "POST" if endpoint else None, "rule_id": None if category == "unclassified" else "r"}
            for t, side, category, endpoint, model in rows
        ]
    )  # fmt: skip
    return pl.concat([aggregate.empty_events(), frame], how="diagonal_relaxed")


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 5, 7, hour, minute, tzinfo=UTC)


SAMPLE = events(
    [
        (at(6, 5), "server", "unclassified", "/api/chat", None),
        (at(6, 55), "client", "request_format", "/api/chat", "llava"),
        (at(7, 1), "client", "request_format", "/api/embed", "llava"),
        (None, "client", "auth", None, None),
    ]
)


def test_windows_long_form_with_untimed_last() -> None:
    summary = aggregate.summarize(
        aggregate.tally(SAMPLE, "1h"), "1h", ["request_format", "auth", "unclassified"], top=5
    )
    assert summary.windows.rows() == [
        (at(6), at(7), "request_format", "client", 1),
        (at(6), at(7), "unclassified", "server", 1),
        (at(7), at(8), "request_format", "client", 1),
        (None, None, "auth", "client", 1),
    ]
    assert (summary.total, summary.untimed, summary.classified) == (4, 1, 3)


def test_by_category_in_category_order_with_shares_and_split() -> None:
    summary = aggregate.summarize(
        aggregate.tally(SAMPLE, "1d"), "1d", ["request_format", "auth", "unclassified"], top=5
    )
    assert summary.by_category.rows() == [
        ("request_format", 2, 0.5, 0, 2, at(6, 55), at(7, 1)),
        ("auth", 1, 0.25, 0, 1, None, None),
        ("unclassified", 1, 0.25, 1, 0, at(6, 5), at(6, 5)),
    ]


def test_top_lists_are_ranked_and_cut() -> None:
    summary = aggregate.summarize(aggregate.tally(SAMPLE, "1h"), "1h", [], top=1)
    assert summary.top_endpoints.rows() == [("POST", "/api/chat", 2)]
    assert summary.top_models.rows() == [("llava", 2)]
    assert summary.rule_hits.rows() == [("r", "request_format", 2), ("r", "auth", 1)]


def test_tallies_of_parts_merge_to_the_tally_of_the_whole() -> None:
    whole = aggregate.summarize(aggregate.tally(SAMPLE, "1h"), "1h", ["auth"], top=5)
    parts = aggregate.merge_tallies(
        [aggregate.tally(SAMPLE.slice(0, 2), "1h"), aggregate.tally(SAMPLE.slice(2), "1h")]
    )
    merged = aggregate.summarize(parts, "1h", ["auth"], top=5)
    assert merged.windows.equals(whole.windows)
    assert merged.by_category.equals(whole.by_category)
    assert (merged.total, merged.untimed, merged.classified, merged.server_unclassified) == (4, 1, 3, 1)


def test_suppressed_occurrences_are_in_no_summary_figure() -> None:
    suppressed = SAMPLE.with_columns(
        suppressed_by=pl.when(pl.col("category") == "auth").then(pl.lit("probe"))
    )
    summary = aggregate.summarize(aggregate.tally(suppressed, "1h"), "1h", [], top=5)
    assert (summary.total, summary.untimed) == (3, 0)
