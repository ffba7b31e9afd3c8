"""Which record gives a request its cause, what each record takes from it, and the hints for
server 400s whose client never showed up.

The cause is chosen at three levels: the stitched unit, the component (units linked cleanly)
and the request (components paired in an ambiguous burst). A classified reason-carrying record
wins, client side first; then a classified reasonless one; then any reason-carrying record.
A record takes the cause of its request when that cause is in its own component; otherwise
the request was paired across an ambiguous burst and the record keeps to its component.
"""

from __future__ import annotations

import polars as pl

from logscan.requests.model import UNCLASSIFIED

_CAUSE_RANK = (
    (pl.col("category") == UNCLASSIFIED).cast(pl.Int8) * 4
    + pl.col("reasonless").cast(pl.Int8) * 2
    + (pl.col("side") != "client").cast(pl.Int8)
)
_REPRESENTATIVE_RANK = pl.col("reasonless").cast(pl.Int8) * 2 + (pl.col("side") != "client").cast(pl.Int8)

# Latency classes of a GIN line: rejected while the body was read and checked, or after the
# model had to be loaded (catalogue section 3, "Heuristics").
_FAST_SECONDS = 0.1
_SLOW_SECONDS = 1.0
REQUEST_COLUMNS = [
    "request_id",
    "timestamp",
    "category",
    "rule_id",
    "endpoint",
    "method",
    "model",
    "address",
    "sides",
    "ollama",
    "records",
    "has_server",
    "joined",
    "ambiguous",
    "latency",
    "hint",
    "representative_key",
]
_MODEL_MANAGEMENT = ["/api/pull", "/api/push", "/api/create", "/api/show", "/api/delete", "/api/copy"]


def _best(rank: pl.Expr, level: str) -> pl.Expr:
    return pl.col("key").sort_by(rank, pl.col("key")).first().over(level)


def attribute(records: pl.DataFrame) -> pl.DataFrame:
    """Add request_id, request_category, request_rule_id, attribution, final_category and
    matched_key to records that carry ``unit``, ``component`` and ``request`` labels."""
    numbered = records.with_columns(
        unit_cause=_best(_CAUSE_RANK, "unit"),
        component_cause=_best(_CAUSE_RANK, "component"),
        request_cause=_best(_CAUSE_RANK, "request"),
        request_id=pl.col("key").min().over("request").rank("dense").cast(pl.Int64) - 1,
    )
    in_component = pl.col("component_cause") == pl.col("request_cause")
    taken = pl.when(in_component).then("request_cause").otherwise("component_cause")
    is_cause = pl.col("key") == taken
    attribution = (
        pl.when(is_cause & in_component)
        .then(pl.lit("own"))
        .when(is_cause)
        .then(pl.lit("ambiguous"))
        .when(pl.col("unit_cause") == taken)
        .then(pl.lit("stitched"))
        .otherwise(pl.lit("joined"))
    )
    causes = numbered.select(
        taken="key", taken_category="category", taken_rule_id="rule_id", taken_unit="unit"
    )
    partner = _component_partner(numbered)
    attributed = (
        numbered.with_columns(taken=taken, attribution=attribution)
        .join(causes, on="taken", how="left")
        .join(
            causes.select(
                request_cause="taken", request_category="taken_category", request_rule_id="taken_rule_id"
            ),
            on="request_cause",
            how="left",
        )
        .join(partner, on="component", how="left")
    )
    takes_cause = pl.col("attribution").is_in(["stitched", "joined"])
    own_partner = (
        pl.when((pl.col("partner_gin") != pl.col("key")) & (pl.col("partner_gin_unit") != pl.col("unit")))
        .then("partner_gin")
        .when(pl.col("partner_proxy_unit") != pl.col("unit"))
        .then("partner_proxy")
    )
    return attributed.with_columns(
        final_category=pl.when(takes_cause).then("taken_category").otherwise("category"),
        matched_key=pl.when(takes_cause)
        .then("taken")
        .when(pl.col("attribution") == "own")
        .then(own_partner)
        .cast(pl.Int64),
    )


def _component_partner(records: pl.DataFrame) -> pl.DataFrame:
    """Per component, the GIN line and the first proxy line it holds (what an own cause record
    was joined to)."""

    def first_of(kind: str) -> pl.Expr:
        return pl.col("key").filter(pl.col("kind") == kind).min()

    def unit_of(kind: str) -> pl.Expr:
        return pl.col("unit").filter(pl.col("key") == first_of(kind)).first()

    return records.group_by("component").agg(
        partner_gin=first_of("gin"),
        partner_gin_unit=unit_of("gin"),
        partner_proxy=first_of("proxy"),
        partner_proxy_unit=unit_of("proxy"),
    )


def latency_class(latency: pl.Expr) -> pl.Expr:
    """``fast`` (under 0.1 s: rejected before any model work), ``medium``, ``slow`` (a second
    or more: the model was loaded first) or ``unknown``."""
    return (
        pl.when(latency.is_null())
        .then(pl.lit("unknown"))
        .when(latency < _FAST_SECONDS)
        .then(pl.lit("fast"))
        .when(latency < _SLOW_SECONDS)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("slow"))
    )


def _hint(endpoint: pl.Expr, latency: pl.Expr, has_gin: pl.Expr) -> pl.Expr:
    speed = latency_class(latency)
    return (
        pl.when(~has_gin)
        .then(
            pl.lit(
                "a proxy answered 400 and no Ollama access line matched it: the proxy may have "
                "rejected the request itself (header too large, plain HTTP to an HTTPS port)"
            )
        )
        .when(endpoint.is_in(["/api/embed", "/api/embeddings"]) & (speed == "slow"))
        .then(
            pl.lit(
                "an embedding that failed after the model loaded: since Ollama v0.13.3 a runner "
                "crash, out-of-memory or NaN result on /api/embed is answered with 400; look for "
                "OOM or runner errors in the server log"
            )
        )
        .when(endpoint.is_in(_MODEL_MANAGEMENT) | endpoint.str.starts_with("/api/blobs"))
        .then(
            pl.lit(
                "model management rejected: an invalid model name or digest, or (v0.15.5+) a "
                "server that cannot read its model directory"
            )
        )
        .when(speed == "slow")
        .then(
            pl.lit(
                "rejected after the model had to load: most likely the input exceeds the context "
                "length, or a runtime failure"
            )
        )
        .when(speed == "fast")
        .then(
            pl.lit(
                "rejected before any model work: request format, an unsupported capability or the "
                "model name; the reason is in the client's log"
            )
        )
        .when(speed == "medium")
        .then(
            pl.lit(
                "rejected without a long model load: request format or capability if the model was "
                "already loaded, else the context length"
            )
        )
        .otherwise(pl.lit("no latency shown: the reason is in the client's log"))
    )


def summarise(records: pl.DataFrame) -> pl.DataFrame:
    """One row per request."""

    def first_seen(column: str) -> pl.Expr:
        return pl.col(column).sort_by(_CAUSE_RANK, "key").drop_nulls().first()

    summary = (
        records.group_by("request_id")
        .agg(
            timestamp=pl.col("corrected_timestamp").min(),
            category=pl.col("request_category").first(),
            rule_id=pl.col("request_rule_id").first(),
            endpoint=first_seen("endpoint"),
            method=first_seen("method"),
            model=first_seen("model"),
            address=first_seen("address"),
            has_client=(pl.col("side") == "client").any(),
            has_server=(pl.col("side") == "server").any(),
            has_gin=(pl.col("kind") == "gin").any(),
            ollama=(pl.col("ollama") | pl.col("kind").is_in(["gin", "ollama"])).any(),
            records=pl.len().cast(pl.Int64),
            joined=(pl.col("component").n_unique() < pl.col("unit").n_unique()),
            latency=pl.col("latency").max(),
            representative_key=pl.col("key").sort_by(_REPRESENTATIVE_RANK, "key").first(),
        )
        .sort("request_id")
    )
    ambiguous = records.group_by("request_id").agg(ambiguous=pl.col("ambiguous").any())
    needs_hint = (pl.col("category") == UNCLASSIFIED) & pl.col("has_server") & ~pl.col("has_client")
    sides = (
        pl.when(pl.col("has_client") & pl.col("has_server"))
        .then(pl.lit("both"))
        .when(pl.col("has_client"))
        .then(pl.lit("client"))
        .otherwise(pl.lit("server"))
    )
    hint = pl.when(needs_hint).then(_hint(pl.col("endpoint"), pl.col("latency"), pl.col("has_gin")))
    return (
        summary.join(ambiguous, on="request_id")
        .sort("request_id")
        .with_columns(sides=sides, hint=hint)
        .select(REQUEST_COLUMNS)
    )


def unmatched_server_requests(requests: pl.DataFrame) -> pl.DataFrame:
    """Server 400s no client record explains, per endpoint, client address and latency class:
    whose logs to collect next."""
    return (
        requests.filter(pl.col("sides") == "server")
        .with_columns(latency_class=latency_class(pl.col("latency")))
        .group_by("endpoint", "address", "latency_class")
        .agg(
            count=pl.len().cast(pl.Int64),
            hint=pl.col("hint").drop_nulls().first(),
            first_seen=pl.col("timestamp").min(),
            last_seen=pl.col("timestamp").max(),
        )
        .sort(
            ["count", "endpoint", "address", "latency_class"],
            descending=[True, False, False, False],
            nulls_last=True,
        )
    )
