"""Pairs of records close in time, and a one-to-one assignment that refuses to guess.

Times here are Int64 microseconds. A *probe* frame and a *build* frame each have ``id``, ``t``
and ``endpoint`` columns; candidates are found with one sorted search per probe row, never a
cross join, so the work grows with the number of real candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from logscan.errors import ScanError

# User agents (product token, lower-cased) that each client library family sends. A family that
# is not listed agrees with any agent: only a known family can disagree.
_AGENTS_OF_FAMILY: dict[str, tuple[str, ...]] = {
    "ollama-python": ("ollama-python", "python-httpx"),
    "ollama-js": ("ollama-js",),
    "openai": ("openai",),
    "httpx": ("python-httpx", "ollama-python", "openai"),
    "requests": ("python-requests",),
    "langchain": ("ollama-python", "python-httpx", "python-requests", "langchain"),
    "litellm": ("litellm", "openai", "python-httpx", "ollama-python"),
}
_AGREEING = [f"{family}\t{agent}" for family, agents in _AGENTS_OF_FAMILY.items() for agent in agents]

_PAIR_SCHEMA = {"probe": pl.Int64, "build": pl.Int64, "diff": pl.Int64}


def window_pairs(
    probe: pl.DataFrame,
    build: pl.DataFrame,
    low: int,
    high: int,
    *,
    by_endpoint: bool,
    max_pairs: int | None = None,
) -> tuple[pl.DataFrame, float]:
    """Every (probe, build) with ``build.t - probe.t`` in [low, high] (and the same endpoint).

    Returns the pairs (``probe``, ``build`` ids and ``diff``) and the share of probe rows used:
    above ``max_pairs`` candidates, every k-th probe row in time order is kept instead.
    """
    probe = probe.filter(pl.col("t").is_not_null())
    build = build.filter(pl.col("t").is_not_null())
    if by_endpoint:
        probe = probe.filter(pl.col("endpoint").is_not_null())
        build = build.filter(pl.col("endpoint").is_not_null())
    if probe.is_empty() or build.is_empty():
        return pl.DataFrame(schema=_PAIR_SCHEMA), 1.0
    origin = min(probe["t"].min(), build["t"].min())  # type: ignore[type-var]
    latest = max(probe["t"].max(), build["t"].max())  # type: ignore[type-var]
    margin = max(abs(low), abs(high)) + 1
    # Endpoint and time in one sortable integer: each endpoint owns a block of `stride`.
    stride = latest - origin + 2 * margin + 1  # type: ignore[operator]
    if by_endpoint:
        codes = (
            pl.concat([probe.select("endpoint"), build.select("endpoint")])
            .unique()
            .sort("endpoint")
            .with_row_index("code")
            .with_columns(pl.col("code").cast(pl.Int64))
        )
        if codes.height * stride >= 2**62:
            raise ScanError("the records span too long a time to be joined by endpoint")
        probe = probe.join(codes, on="endpoint")
        build = build.join(codes, on="endpoint")
    else:
        probe = probe.with_columns(code=pl.lit(0, pl.Int64))
        build = build.with_columns(code=pl.lit(0, pl.Int64))
    place = pl.col("code") * stride + (pl.col("t") - origin + margin)
    build = build.with_columns(place=place).sort("place")
    places = build["place"]
    probe = probe.sort("code", "t")
    probe = probe.with_columns(
        start=places.search_sorted(probe.select(place + low).to_series(), side="left"),
        end=places.search_sorted(probe.select(place + high).to_series(), side="right"),
    )
    share = 1.0
    if max_pairs is not None:
        total = int((probe["end"].cast(pl.Int64) - probe["start"].cast(pl.Int64)).sum())
        if total > max_pairs:
            every = -(-total // max_pairs)
            probe = probe.gather_every(every)
            share = 1 / every
    pairs = (
        probe.filter(pl.col("end") > pl.col("start"))
        .select(probe=pl.col("id"), probe_t=pl.col("t"), row=pl.int_ranges("start", "end", dtype=pl.UInt32))
        .explode("row")
    )
    # The rows index the sorted build frame: gather, no join.
    pairs = pairs.select(
        "probe",
        build=pl.lit(build["id"]).gather("row"),
        diff=pl.lit(build["t"]).gather("row") - pl.col("probe_t"),
    )
    return pairs.cast(_PAIR_SCHEMA), share  # type: ignore[arg-type]


@dataclass(frozen=True)
class StageMatch:
    clean: pl.DataFrame  # left, right: the only candidate of each other
    paired: pl.DataFrame  # left, right: paired in time order inside an ambiguous burst
    ambiguous: pl.Series  # ids (left and right) that had more than one candidate or rival


def match_one_to_one(
    left: pl.DataFrame, right: pl.DataFrame, low: int, high: int, slice_rows: int
) -> StageMatch:
    """Link left rows (id, t, endpoint, family) to right rows (id, t, endpoint, agent); both
    also carry file and first_record, their place in the logs.

    A candidate has ``left.t - right.t`` in [low, high], the same endpoint where both show one,
    and agreeing client family and user agent. A pair is *clean* when each is the other's only
    candidate. Rows with several candidates or rivals are ambiguous: inside each burst of them
    (same endpoint, gaps no wider than the window) the k-th left and the k-th right in time
    order are paired, so that a burst of n requests seen on both sides counts n, not 2 n, while
    no cause is handed across such a pair.

    Candidates are found for ``slice_rows`` left rows at a time, in time order, against the
    right rows of their time span (in a dense log a row has several, and only those of one
    slice are held at once); what is kept of each slice is per row (its number of candidates,
    its only one, its earliest one that shows an endpoint), so the result is the same for any
    slice size.
    """
    empty = pl.DataFrame(schema={"left": pl.Int64, "right": pl.Int64})
    agreeing = None
    if right["agent"].null_count() < right.height and left["family"].null_count() < left.height:
        agreeing = _agreeing(left, right)
    # Candidates are searched by time and endpoint alone: the sorted copies hold nothing else.
    probes = left.select("id", "t", "endpoint").filter(pl.col("t").is_not_null()).sort("t", "id")
    builds = right.select("id", "t", "endpoint").filter(pl.col("t").is_not_null()).sort("t", "id")
    # Per id (a position): the row's place in time order, if it shows an endpoint.
    size = int(max(left["id"].max() or 0, right["id"].max() or 0)) + 1  # type: ignore[call-overload]
    left_rank, right_rank = _ranks(probes, size), _ranks(builds, size)
    lefts: list[pl.DataFrame] = []
    rights: list[pl.DataFrame] = []
    for start in range(0, probes.height, slice_rows):
        chunk = probes.slice(start, slice_rows)
        # The right rows a slice can meet: right.t - left.t lies in [-high, -low].
        first = builds["t"].search_sorted(chunk["t"][0] - high, side="left")
        last = builds["t"].search_sorted(chunk["t"][-1] - low, side="right")
        edges = _candidates(chunk, builds.slice(first, last - first), low, high)
        if agreeing is not None:
            edges = edges.filter(agreeing)
        lefts.append(_per_row(edges, "left", "right", right_rank))
        rights.append(_per_row(edges, "right", "left", left_rank))
    if not sum(frame.height for frame in lefts):
        return StageMatch(empty, empty, pl.Series("id", [], pl.Int64))
    of_left = pl.concat(lefts)  # each left row lies in one slice
    of_right = (
        pl.concat(rights)  # a right row may meet the left rows of two slices
        .group_by("right")
        .agg(pl.col("count").sum(), pl.col("only").first(), pl.col("earliest").min())
    )
    sole = of_left.filter(pl.col("count") == 1).select("left", right="only")
    clean = sole.join(of_right.filter(pl.col("count") == 1).select("right", back="only"), on="right").filter(
        pl.col("back") == pl.col("left")
    )
    clean = clean.select("left", "right").sort("left")
    contested_left = of_left.filter(~_marked(clean["left"], of_left["left"]))
    contested_right = of_right.filter(~_marked(clean["right"], of_right["right"]))
    ambiguous = pl.concat([contested_left["left"], contested_right["right"]]).unique().rename("id")
    return StageMatch(
        clean,
        _pair_in_bursts(
            left,
            right,
            contested_left.select(
                id="left", candidate_endpoint=pl.lit(builds["endpoint"]).gather("earliest")
            ),
            contested_right.select(
                id="right", candidate_endpoint=pl.lit(probes["endpoint"]).gather("earliest")
            ),
            low,
            high,
            slice_rows,
        ),
        ambiguous,
    )


def _candidates(probe: pl.DataFrame, build: pl.DataFrame, low: int, high: int) -> pl.DataFrame:
    """(left, right) pairs of probe and build rows that may be one request."""
    with_endpoint = pl.col("endpoint").is_not_null()
    searches = [
        (probe.filter(with_endpoint), build.filter(with_endpoint), True),
        (probe.filter(~with_endpoint), build, False),
        (probe.filter(with_endpoint), build.filter(~with_endpoint), False),
    ]
    found = [
        window_pairs(rows, others, -high, -low, by_endpoint=keyed)[0] for rows, others, keyed in searches
    ]
    return pl.concat(found).select(left="probe", right="build")


def _ranks(rows: pl.DataFrame, size: int) -> pl.Series:
    """Indexed by id: the row's place in ``rows``, or null when it shows no endpoint."""
    place = rows.select(
        "id", rank=pl.when(pl.col("endpoint").is_not_null()).then(pl.int_range(pl.len(), dtype=pl.Int64))
    )
    return (
        pl.Series("rank", [None], pl.Int64)
        .extend_constant(None, size - 1)
        .scatter(place["id"], place["rank"])
    )


def _per_row(edges: pl.DataFrame, side: str, other_side: str, rank: pl.Series) -> pl.DataFrame:
    """Per row of ``side`` in the pairs: how many candidates, the first of them (its only one
    when it has one), and the place of the earliest (by time, then id) that shows an endpoint."""
    return (
        edges.with_columns(earliest=pl.lit(rank).gather(pl.col(other_side)))
        .group_by(side)
        .agg(
            count=pl.len().cast(pl.Int64), only=pl.col(other_side).first(), earliest=pl.col("earliest").min()
        )
    )


def _agreeing(left: pl.DataFrame, right: pl.DataFrame) -> pl.Expr:
    """Over (left, right) id pairs: whether the left row's client family agrees with the right
    row's user agent. Few families and agents occur, so their agreement is worked out once per
    combination, and each pair only looks its combination up by number."""
    families = _codes(left, "family")
    agents = _codes(right, "agent")
    combinations = families.select("family", family_code="code").join(
        agents.select("agent", agent_code="code"), how="cross"
    )
    width = agents.height + 1
    allowed = combinations.filter(_agrees(pl.col("family"), pl.col("agent"))).select(
        pl.col("family_code") * width + pl.col("agent_code")
    )
    family_code = _by_id(left, families, "family").gather(pl.col("left"))
    agent_code = _by_id(right, agents, "agent").gather(pl.col("right"))
    return (family_code * width + agent_code).is_in(allowed.to_series().implode())


def _codes(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    """The distinct values of a column (null among them) numbered from 0."""
    return (
        rows.select(pl.col(column).unique())
        .with_row_index("code")
        .with_columns(pl.col("code").cast(pl.Int64))
    )


def _by_id(rows: pl.DataFrame, codes: pl.DataFrame, column: str) -> pl.Expr:
    """A column indexed by row id (ids are positions) holding each row's code of ``column``."""
    coded = rows.select("id", code=pl.col(column).replace_strict(codes[column], codes["code"]))
    size = int(rows["id"].max() or 0) + 1  # type: ignore[arg-type]
    lookup = pl.Series("code", [0], pl.Int64).extend_constant(0, size - 1).scatter(coded["id"], coded["code"])
    return pl.lit(lookup)


def _agrees(family: pl.Expr, agent: pl.Expr) -> pl.Expr:
    return (
        family.is_null()
        | agent.is_null()
        | ~family.is_in(list(_AGENTS_OF_FAMILY))
        | pl.concat_str([family, agent], separator="\t").is_in(_AGREEING)
    )


# Where a unit is in its log: ties in time are broken by it, not by the order records came in.
_PLACE = ("id", "file", "first_record")


def _pair_in_bursts(
    left: pl.DataFrame,
    right: pl.DataFrame,
    contested_left: pl.DataFrame,
    contested_right: pl.DataFrame,
    low: int,
    high: int,
    slice_rows: int,
) -> pl.DataFrame:
    """Contested rows (``id``, ``candidate_endpoint``: that of the earliest candidate showing
    one) paired in time order inside each burst."""
    if contested_left.is_empty() or contested_right.is_empty():
        return pl.DataFrame(schema={"left": pl.Int64, "right": pl.Int64})
    lefts = _burst_endpoint(left, contested_left)
    rights = _burst_endpoint(right, contested_right)
    middle = (low + high) // 2
    rows = (
        pl.concat(
            [
                lefts.lazy().select(*_PLACE, "burst_endpoint", place=pl.col("t"), is_left=pl.lit(value=True)),
                rights.lazy().select(
                    *_PLACE, "burst_endpoint", place=pl.col("t") + middle, is_left=pl.lit(value=False)
                ),
            ]
        )
        .sort("burst_endpoint", "place", "file", "first_record", "id", nulls_last=True)
        .select(
            "id",
            "is_left",
            burst=(
                (pl.col("burst_endpoint").ne_missing(pl.col("burst_endpoint").shift(1)))
                | (pl.col("place") - pl.col("place").shift(1) > high - low)
            )
            .fill_null(value=True)
            .cum_sum(),
        )
        .collect()
    )
    # Bursts are paired a slice of whole bursts at a time, which bounds what pairing holds: a
    # slice runs from the first burst starting at or past a multiple of slice_rows rows. Rows
    # are in burst order, so the slices are views of them, not copies.
    burst_starts = rows.select(
        start=pl.int_range(pl.len(), dtype=pl.Int64).filter(pl.col("burst").diff().fill_null(1) != 0)
    ).get_column("start")
    cuts = burst_starts.filter((burst_starts // slice_rows).diff().fill_null(1) != 0).to_list()
    ends = [*cuts[1:], rows.height]
    return pl.concat(
        [_paired_in_order(rows.slice(start, end - start)) for start, end in zip(cuts, ends, strict=True)],
        how="vertical",
    )


def _paired_in_order(rows: pl.DataFrame) -> pl.DataFrame:
    """The k-th left and the k-th right of each burst (``rows`` in time order)."""
    # Counts since the burst began.
    rank = pl.int_range(pl.len(), dtype=pl.Int64).over("burst", "is_left")
    ranked = rows.with_columns(rank=rank)
    return (
        ranked.filter("is_left")
        .select("burst", "rank", left="id")
        .join(ranked.filter(~pl.col("is_left")).select("burst", "rank", right="id"), on=["burst", "rank"])
        .select("left", "right")
    )


def _burst_endpoint(rows: pl.DataFrame, contested: pl.DataFrame) -> pl.DataFrame:
    """The contested rows, with the endpoint their burst is on: their own, or (when they show
    none) their earliest candidate's."""
    return (
        rows.select(*_PLACE, "t", "endpoint")
        .join(contested, on="id")
        .with_columns(burst_endpoint=pl.coalesce("endpoint", "candidate_endpoint"))
    )


def _marked(ids: pl.Series, among: pl.Series) -> pl.Series:
    """Whether each of ``among`` (ids, which are positions) is one of ``ids``: a lookup by
    position, not a hash of them."""
    size = int(max(ids.max() or 0, among.max() or 0)) + 1  # type: ignore[call-overload]
    return pl.repeat(value=False, n=size, eager=True).scatter(ids, values=True).gather(among)
