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


def match_one_to_one(left: pl.DataFrame, right: pl.DataFrame, low: int, high: int) -> StageMatch:
    """Link left rows (id, t, endpoint, family) to right rows (id, t, endpoint, agent); both
    also carry file and first_record, their place in the logs.

    A candidate has ``left.t - right.t`` in [low, high], the same endpoint where both show one,
    and agreeing client family and user agent. A pair is *clean* when each is the other's only
    candidate. Rows with several candidates or rivals are ambiguous: inside each burst of them
    (same endpoint, gaps no wider than the window) the k-th left and the k-th right in time
    order are paired, so that a burst of n requests seen on both sides counts n, not 2 n, while
    no cause is handed across such a pair.
    """
    empty = pl.DataFrame(schema={"left": pl.Int64, "right": pl.Int64})
    with_endpoint = pl.col("endpoint").is_not_null()
    searches = [
        (left.filter(with_endpoint), right.filter(with_endpoint), True),
        (left.filter(~with_endpoint), right, False),
        (left.filter(with_endpoint), right.filter(~with_endpoint), False),
    ]
    found = [
        window_pairs(probe, build, -high, -low, by_endpoint=keyed)[0] for probe, build, keyed in searches
    ]
    edges = pl.concat(found).select(left="probe", right="build")
    if right["agent"].null_count() < right.height and left["family"].null_count() < left.height:
        edges = edges.filter(_agreeing(left, right))
    if edges.is_empty():
        return StageMatch(empty, empty, pl.Series("id", [], pl.Int64))
    edges = edges.with_columns(single=pl.col("left").is_unique() & pl.col("right").is_unique())
    clean = edges.filter("single").select("left", "right")
    contested = edges.filter(~pl.col("single"))
    ambiguous = pl.concat([contested["left"], contested["right"]]).unique().rename("id")
    return StageMatch(clean, _pair_in_bursts(left, right, contested, low, high), ambiguous)


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
    left: pl.DataFrame, right: pl.DataFrame, contested: pl.DataFrame, low: int, high: int
) -> pl.DataFrame:
    if contested.is_empty():
        return pl.DataFrame(schema={"left": pl.Int64, "right": pl.Int64})
    lefts = left.filter(_marked(contested["left"], left["id"]))
    rights = right.filter(_marked(contested["right"], right["id"]))
    lefts = _burst_endpoint(lefts, contested, right, "left", "right")
    rights = _burst_endpoint(rights, contested, left, "right", "left")
    middle = (low + high) // 2
    rows = (
        pl.concat(
            [
                lefts.select(*_PLACE, "burst_endpoint", place=pl.col("t"), is_left=pl.lit(value=True)),
                rights.select(
                    *_PLACE, "burst_endpoint", place=pl.col("t") + middle, is_left=pl.lit(value=False)
                ),
            ]
        )
        .sort("burst_endpoint", "place", "file", "first_record", "id", nulls_last=True)
        .with_columns(
            burst=(
                (pl.col("burst_endpoint").ne_missing(pl.col("burst_endpoint").shift(1)))
                | (pl.col("place") - pl.col("place").shift(1) > high - low)
            )
            .fill_null(value=True)
            .cum_sum(),
            lefts_so_far=pl.col("is_left").cum_sum(),
            rights_so_far=(~pl.col("is_left")).cum_sum(),
        )
    )
    # The k-th left and the k-th right of a burst in time order: counts since the burst began.
    burst = pl.col("burst").set_sorted()
    rows = rows.with_columns(
        rank=pl.when("is_left")
        .then(pl.col("lefts_so_far") - (pl.col("lefts_so_far") - pl.col("is_left")).first().over(burst))
        .otherwise(
            pl.col("rights_so_far") - (pl.col("rights_so_far") - ~pl.col("is_left")).first().over(burst)
        )
    )
    return (
        rows.filter("is_left")
        .select("burst", "rank", left="id")
        .join(rows.filter(~pl.col("is_left")).select("burst", "rank", right="id"), on=["burst", "rank"])
        .select("left", "right")
    )


def _burst_endpoint(
    rows: pl.DataFrame, contested: pl.DataFrame, others: pl.DataFrame, side: str, other_side: str
) -> pl.DataFrame:
    """The endpoint a row's burst is on: its own, or (when it shows none) its first candidate's."""
    if not rows["endpoint"].null_count():
        return rows.with_columns(burst_endpoint="endpoint")
    # Ids are positions: columns indexed by them stand in for joins on millions of candidates.
    size = int(max(rows["id"].max(), others["id"].max()) or 0) + 1  # type: ignore[type-var, operator]
    endpoint_of = pl.Series("endpoint", [None], others.schema["endpoint"]).extend_constant(None, size - 1)
    endpoint_of = endpoint_of.scatter(others["id"], others["endpoint"])
    lacking = rows.filter(pl.col("endpoint").is_null())["id"]
    candidate = (
        contested.filter(_marked(lacking, contested[side]))
        .select(side, candidate_endpoint=pl.lit(endpoint_of).gather(other_side))
        .group_by(side)
        .agg(pl.col("candidate_endpoint").drop_nulls().first())
    )
    return rows.join(candidate, left_on="id", right_on=side, how="left").with_columns(
        burst_endpoint=pl.coalesce("endpoint", "candidate_endpoint")
    )


def _marked(ids: pl.Series, among: pl.Series) -> pl.Series:
    """Whether each of ``among`` (ids, which are positions) is one of ``ids``: a lookup by
    position, not a hash of them."""
    size = int(max(ids.max() or 0, among.max() or 0)) + 1  # type: ignore[call-overload]
    return pl.repeat(value=False, n=size, eager=True).scatter(ids, values=True).gather(among)
