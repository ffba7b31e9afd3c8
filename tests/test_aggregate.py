from datetime import UTC, datetime

import polars as pl

from logscan import aggregate


def requests(
    rows: list[tuple[datetime | None, str, str | None, str | None, int, int, bool]],
) -> pl.DataFrame:
    """One row per failed request: time, category, endpoint, model, its server and client
    records, and whether it is Ollama's."""
    return pl.DataFrame(
        [
            {"timestamp": t, "category": category, "endpoint": endpoint, "model": model,
             "method": "POST" if endpoint else None, "rule_id": None if category == "unclassified" else "r",
             "server_records": server, "client_records": client, "ollama": ollama}
            for t, category, endpoint, model, server, client, ollama in rows
        ],
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )  # fmt: skip


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 5, 7, hour, minute, tzinfo=UTC)


SAMPLE = requests(
    [
        (at(6, 5), "unclassified", "/api/chat", None, 1, 0, True),
        (at(6, 55), "request_format", "/api/chat", "llava", 1, 2, True),
        (at(7, 1), "request_format", "/api/embed", "llava", 0, 1, True),
        (None, "auth", None, None, 0, 1, True),
        (at(7, 2), "unclassified", "/login", None, 0, 1, False),
    ]
)
ORDER = ["request_format", "auth", "unclassified"]


def test_windows_long_form_with_untimed_last() -> None:
    summary = aggregate.summarize(aggregate.tally(SAMPLE, "1h"), "1h", ORDER, top=5)
    assert summary.windows.rows() == [
        (at(6), at(7), "request_format", True, 1, 1, 2),
        (at(6), at(7), "unclassified", True, 1, 1, 0),
        (at(7), at(8), "request_format", True, 1, 0, 1),
        (at(7), at(8), "unclassified", False, 1, 0, 1),  # the application's own 400, kept apart
        (None, None, "auth", True, 1, 0, 1),
    ]
    assert (summary.total, summary.untimed, summary.classified) == (4, 1, 3)
    assert (summary.server_records, summary.client_records, summary.records) == (2, 4, 6)


def test_by_category_in_category_order_with_shares_and_records_per_side() -> None:
    summary = aggregate.summarize(aggregate.tally(SAMPLE, "1d"), "1d", ORDER, top=5)
    assert summary.by_category.rows() == [
        ("request_format", 2, 0.5, 1, 3, at(6, 55), at(7, 1)),
        ("auth", 1, 0.25, 0, 1, None, None),
        ("unclassified", 1, 0.25, 1, 0, at(6, 5), at(6, 5)),
    ]


def test_the_applications_own_400s_are_apart() -> None:
    summary = aggregate.summarize(aggregate.tally(SAMPLE, "1h"), "1h", ORDER, top=5)
    assert summary.other_total == 1
    assert summary.other.rows() == [("unclassified", "POST", "/login", 1, 1)]


def test_top_lists_are_ranked_and_cut_and_say_what_showed_none() -> None:
    summary = aggregate.summarize(aggregate.tally(SAMPLE, "1h"), "1h", [], top=1)
    assert summary.top_endpoints.rows() == [("POST", "/api/chat", 2)]
    assert summary.top_models.rows() == [("llava", 2)]
    assert (summary.no_endpoint, summary.no_model) == (1, 2)
    assert summary.rule_hits.rows() == [("r", "request_format", 2), ("r", "auth", 1)]


def test_tallies_of_parts_merge_to_the_tally_of_the_whole() -> None:
    whole = aggregate.summarize(aggregate.tally(SAMPLE, "1h"), "1h", ORDER, top=5)
    parts = aggregate.merge_tallies(
        [aggregate.tally(SAMPLE.slice(0, 2), "1h"), aggregate.tally(SAMPLE.slice(2), "1h")]
    )
    merged = aggregate.summarize(parts, "1h", ORDER, top=5)
    assert merged.windows.equals(whole.windows)
    assert merged.by_category.equals(whole.by_category)
    assert (merged.total, merged.untimed, merged.classified, merged.other_total) == (4, 1, 3, 1)


def test_within_since_and_until_a_window_without_a_400_is_a_row_of_zeros() -> None:
    summary = aggregate.summarize(aggregate.tally(SAMPLE, "1h"), "1h", ORDER, top=5, span=(at(5), at(9)))
    empty = summary.windows.filter(pl.col("category").is_null())
    assert empty.rows() == [(at(5), at(6), None, True, 0, 0, 0), (at(8), at(9), None, True, 0, 0, 0)]
    # Unbounded, the report does not invent empty windows between old and new logs.
    unbounded = aggregate.summarize(aggregate.tally(SAMPLE, "1h"), "1h", ORDER, top=5)
    assert unbounded.windows.filter(pl.col("category").is_null()).is_empty()
