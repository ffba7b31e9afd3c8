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

from logscan.requests.encoding import as_strings
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
# What the summary of a request reads (sorting only these keeps the copy small).
_SUMMARISED = [
    "request_id",
    "pos",
    "unit",
    "component",
    "corrected_timestamp",
    "request_category",
    "request_rule_id",
    "endpoint",
    "method",
    "model",
    "address",
    "side",
    "kind",
    "ollama",
    "ambiguous",
    "latency",
    "reasonless",
    "category",
]
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


def _causes(records: pl.DataFrame, count: int) -> pl.DataFrame:
    """Per record (in position order): the position of the cause of its unit, component and
    request, and of its request's first record.

    The cause is the record that comes first in cause rank, then position: a rank packed with
    the position, so that a plain minimum finds it. The windows run on a slim copy sorted by
    request, component and unit, with each label renumbered in that order, since a window
    over sorted groups takes slices instead of hashing.
    """
    order = _CAUSE_RANK.cast(pl.Int64) * count + pl.col("pos")

    def renumbered(*labels: str) -> pl.Expr:
        """Dense, ascending ids of the groups of ``labels`` (the frame being sorted by them)."""
        changed = pl.any_horizontal([pl.col(label) != pl.col(label).shift(1) for label in labels])
        return changed.fill_null(value=True).cum_sum().set_sorted()

    grouped = (
        records.select("pos", "unit", "component", "request", order=order)
        .sort("request", "component", "unit")
        .with_columns(
            request=renumbered("request"),
            component=renumbered("request", "component"),
            unit=renumbered("request", "component", "unit"),
        )
    )
    return (
        grouped.with_columns(
            unit_cause=pl.col("order").min().over("unit") % count,
            component_cause=pl.col("order").min().over("component") % count,
            request_cause=pl.col("order").min().over("request") % count,
            request_first=pl.col("pos").min().over("request"),
        )
        .sort("pos")
        .select("unit_cause", "component_cause", "request_cause", "request_first")
    )


def attribute(records: pl.DataFrame) -> pl.DataFrame:
    """Add request_id, request_category, request_rule_id, attribution, final_category and
    matched_key to records (in position order: ``pos`` is 0..n-1) that carry ``unit``,
    ``component`` and ``request`` labels (positions too)."""
    count = max(records.height, 1)
    numbered = records.hstack(_causes(records, count)).hstack(_component_partner(records))
    # Requests numbered in the order of their first record: count the first records so far.
    opens = pl.col("pos") == pl.col("request_first")
    numbered = numbered.with_columns(request_id=opens.cast(pl.Int64).cum_sum().gather("request_first") - 1)
    in_component = pl.col("component_cause") == pl.col("request_cause")
    numbered = numbered.with_columns(
        taken=pl.when(in_component).then("request_cause").otherwise("component_cause")
    )
    is_cause = pl.col("pos") == pl.col("taken")
    # A server line that had rival candidates is ambiguous, paired in its burst or left over.
    contested_server = pl.col("ambiguous") & (pl.col("side") == "server")
    attribution = (
        pl.when(is_cause & in_component & ~contested_server)
        .then(pl.lit("own"))
        .when(is_cause)
        .then(pl.lit("ambiguous"))
        .when(pl.col("unit_cause") == pl.col("taken"))
        .then(pl.lit("stitched"))
        .otherwise(pl.lit("joined"))
    )
    takes_cause = pl.col("attribution").is_in(["stitched", "joined"])
    matched = (
        pl.when(takes_cause)
        .then("taken")
        .when(pl.col("attribution") == "own")
        .then(pl.coalesce("partner_gin", "partner_outside"))
    )
    return numbered.with_columns(attribution=attribution).with_columns(
        request_category=pl.col("category").gather("request_cause"),
        request_rule_id=pl.col("rule_id").gather("request_cause"),
        final_category=pl.when(takes_cause).then(pl.col("category").gather("taken")).otherwise("category"),
        matched_key=pl.col("key").gather(matched),
    )


def _component_partner(records: pl.DataFrame) -> pl.DataFrame:
    """What an own cause record was joined to: its component's GIN line if that is another
    record, else the component's first proxy line outside the record's own unit."""
    staged = records.select(
        "pos",
        "unit",
        gin=pl.when(pl.col("kind") == "gin").then("pos").min().over("component"),
        proxy=pl.when(pl.col("kind") == "proxy").then("pos").min().over("component"),
    )
    return staged.select(
        partner_gin=pl.when(pl.col("gin") != pl.col("pos")).then("gin"),
        partner_outside=pl.when(pl.col("unit").gather("proxy") != pl.col("unit")).then("proxy"),
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
        .when(endpoint == "/v1/completions")
        .then(
            pl.lit(
                "a /v1/completions request, as scripts that print 'Failed to communicate with Ollama "
                "API' send: the client dropped Ollama's reason; OLLAMA_DEBUG_LOG_REQUESTS=1 on the "
                "server (v0.18.3+) keeps the body"
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
    count = max(records.height, 1)
    representative = _REPRESENTATIVE_RANK.cast(pl.Int64) * count + pl.col("pos")
    summary = (
        records.select(_SUMMARISED)
        .sort("request_id", _CAUSE_RANK, "pos")
        .group_by("request_id", maintain_order=True)
        .agg(
            timestamp=pl.col("corrected_timestamp").min(),
            category=pl.col("request_category").first(),
            rule_id=pl.col("request_rule_id").first(),
            endpoint=pl.col("endpoint").first(ignore_nulls=True),
            method=pl.col("method").first(ignore_nulls=True),
            model=pl.col("model").first(ignore_nulls=True),
            address=pl.col("address").first(ignore_nulls=True),
            has_client=(pl.col("side") == "client").any(),
            has_server=(pl.col("side") == "server").any(),
            has_gin=(pl.col("kind") == "gin").any(),
            ollama=(pl.col("ollama") | pl.col("kind").is_in(["gin", "ollama"])).any(),
            records=pl.len().cast(pl.Int64),
            joined=(pl.col("component").n_unique() < pl.col("unit").n_unique()),
            ambiguous=pl.col("ambiguous").any(),
            latency=pl.col("latency").max(),
            representative=representative.min() % count,
        )
    )
    summary = as_strings(summary).with_columns(
        representative_key=records["key"].gather(summary["representative"])
    )
    needs_hint = (pl.col("category") == UNCLASSIFIED) & pl.col("has_server") & ~pl.col("has_client")
    sides = (
        pl.when(pl.col("has_client") & pl.col("has_server"))
        .then(pl.lit("both"))
        .when(pl.col("has_client"))
        .then(pl.lit("client"))
        .otherwise(pl.lit("server"))
    )
    hint = pl.when(needs_hint).then(_hint(pl.col("endpoint"), pl.col("latency"), pl.col("has_gin")))
    return summary.with_columns(sides=sides, hint=hint).select(REQUEST_COLUMNS)


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
