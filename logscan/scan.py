"""The one place that knows the whole pipeline:

sources -> blocks of lines -> records (format) -> fields -> rules -> events -> aggregate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from logscan import (
    aggregate,
    cluster,
    envelopes,
    executors,
    reading,
    recordstarts,
    requests,
    rules,
    shards,
    sources,
    workers,
)
from logscan.results import (
    EXAMPLE_COLUMNS,
    EXAMPLES_PER_CAUSE,
    FileReport,
    FormatSurvey,
    PendingRecords,
    ScanResult,
)
from logscan.scanoptions import ScanOptions, TimeBounds, duration, validate
from logscan.shards import Partial, Progress

if TYPE_CHECKING:  # start-up time: no multiprocessing unless workers are started
    from concurrent.futures import ProcessPoolExecutor

__all__ = [
    "Continuation",
    "Continued",
    "Progress",
    "ScanOptions",
    "run",
    "run_continued",
    "scan_text",
    "scan_texts",
    "survey",
]


@dataclass(frozen=True)
class Continuation:
    """What an incremental scan (``--state``) brings from the last run: per source name, the
    lines of the file before the bytes read now (so that lines keep their numbers), and the
    records left waiting for a join partner (EVENT_SCHEMA rows), joined before counting."""

    lines_before: Mapping[str, int]
    pending: pl.DataFrame
    # Whether a log may still be written to as this run reads it: only then can a partner
    # record arrive after the data read, and records wait for the next run.
    hold_back: bool = True


@dataclass(frozen=True)
class Continued:
    """An incremental scan's result, and the records held back for the next run's join."""

    result: ScanResult
    held: pl.DataFrame


def run(
    options: ScanOptions,
    ruleset: rules.RuleSet | None = None,
    sources_list: Sequence[sources.Source] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    spill_dir: Path | None = None,
    pool: ProcessPoolExecutor | None = None,
    executor: executors.Executor | None = None,
) -> ScanResult:
    """Scan ``options.paths`` (or ``sources_list``). With ``options.keep_events`` the result
    holds every occurrence; given a ``spill_dir``, they wait there on disk, not in memory, and
    the result's ``events`` reads them from it. Large inputs are scanned by worker processes:
    those of ``executor`` (a Dask cluster), of ``pool`` (see workers.start), or ones started
    here. Given a ``ruleset``, the scan runs in this process, since workers load the rules
    from the options."""
    return _run(options, ruleset, sources_list, on_progress, spill_dir, pool, None, executor).result


def run_continued(
    options: ScanOptions,
    continuation: Continuation,
    sources_list: Sequence[sources.Source],
    on_progress: Callable[[Progress], None] | None = None,
    spill_dir: Path | None = None,
    pool: ProcessPoolExecutor | None = None,
    executor: executors.Executor | None = None,
) -> Continued:
    """``run`` over the parts of files an incremental scan reads, continuing the last run:
    its pending records are joined with this run's, and the requests near the end of this
    run's data still lacking a partner are held back for the next one (see ``_held_back``)."""
    return _run(options, None, sources_list, on_progress, spill_dir, pool, continuation, executor)


def _run(
    options: ScanOptions,
    ruleset: rules.RuleSet | None,
    sources_list: Sequence[sources.Source] | None,
    on_progress: Callable[[Progress], None] | None,
    spill_dir: Path | None,
    pool: ProcessPoolExecutor | None,
    continuation: Continuation | None,
    executor: executors.Executor | None = None,
) -> Continued:
    options = validate(options)
    if sources_list is None:
        sources_list = sources.expand(options.paths, options.read_policy)
    settings = shards.ShardOptions(options, TimeBounds.of(options), spill_dir)
    jobs = 1 if ruleset is not None else workers.count(sources_list, options.jobs)
    loaded: list[rules.RuleSet] = [ruleset] if ruleset is not None else []

    def load_rules() -> None:
        if not loaded:
            loaded.append(rules.load(options.rule_paths, include_builtin=options.include_builtin_rules))

    if ruleset is None and (executor is not None or jobs > 1):
        # The workers load the rules themselves; here they are only needed for the summary,
        # so they are loaded while the workers run.
        with (
            contextlib.nullcontext(pool) if pool or executor else workers.start(jobs) as running,
            contextlib.ExitStack() as held,
        ):
            chosen = executor or executors.LocalPool(running, jobs)
            found = _scan_in_parallel(chosen, settings, sources_list, on_progress, load_rules, held)
            if executor is None:
                # Idle workers keep what their last blocks took (about 80 MiB each) while the
                # join below runs here: a pool handed in is stopped too, once its work is done.
                running.shutdown(wait=True)
    else:
        load_rules()
        found = shards.scan_sources(loaded[0], settings, sources_list, on_progress)
    events = shards.event_frames_of(found.events)
    if continuation is not None:
        events = _continued_events(events, continuation)
    return _finish(found, events, loaded[0], options, settings.bounds, continuation)


def _continued_events(events: pl.LazyFrame, continuation: Continuation) -> pl.LazyFrame:
    """The last run's pending records first, then this run's with their files' true line
    numbers."""
    before = pl.LazyFrame(
        {"file": list(continuation.lines_before), "lines_before": list(continuation.lines_before.values())},
        schema={"file": pl.String, "lines_before": pl.Int64},
    )
    shifted = (
        events.join(before, on="file", how="left", maintain_order="left")
        .with_columns(
            (pl.col(column) + pl.col("lines_before").fill_null(0)).alias(column)
            for column in ("line", "end_line")
        )
        .drop("lines_before")
    )
    pending = continuation.pending
    if pending.height == 0:
        return shifted
    return pl.concat([aggregate.empty_events().lazy(), pending.lazy(), shifted], how="vertical_relaxed")


def _scan_in_parallel(
    executor: executors.Executor,
    settings: shards.ShardOptions,
    sources_list: Sequence[sources.Source],
    on_progress: Callable[[Progress], None] | None,
    meanwhile: Callable[[], None],
    held: contextlib.ExitStack,
) -> Partial:
    """The shards of the scan read by the executor's workers, and merged. Workers elsewhere
    cannot read through a descriptor held here, nor leave records in a folder of this
    machine: their records come back in their partials."""
    if not executor.shares_files:
        settings = shards.ShardOptions(settings.options, settings.bounds, spill_dir=None)
    if executor.shares_files:
        planned = shards.plan(sources_list, executor.workers, held)
    else:
        planned = shards.plan(sources_list, executor.workers, remote=True)
    return executors.map_reduce(
        executor,
        shards.scan_shard,
        shards.merge,
        planned,
        settings,
        on_done=shards.ShardProgress(len(sources_list), planned, on_progress),
        meanwhile=meanwhile,
        name_of=lambda shard: f"shard of {shard.names}",
    )


# What the requests stage reads of each 400 record (the message text stays on disk).
_JOIN_COLUMNS = (
    "key", "file", "record_no", "line", "timestamp", "side", "kind", "reasonless", "endpoint", "method",
    "model", "client", "address", "user_agent", "latency", "category", "rule_id", "reason", "header",
    "ollama",
)  # fmt: skip
_LINK_COLUMNS = ("key", "request_id", "final_category", "attribution", "matched_key", "corrected_timestamp")


def _finish(
    found: Partial,
    events: pl.LazyFrame,
    ruleset: rules.RuleSet,
    options: ScanOptions,
    bounds: TimeBounds,
    continuation: Continuation | None = None,
) -> Continued:
    """Join the records of each failed request, and sum the requests up."""
    keyed = events.with_row_index("key").with_columns(pl.col("key").cast(pl.Int64))
    counted = keyed.filter(pl.col("suppressed_by").is_null())
    join_options = _join_options(options)
    records = _join_records(counted)
    joined = requests.join(records, join_options)
    held = aggregate.empty_events()
    pending_figures = None
    if continuation is not None:
        carried = continuation.pending.height
        held_keys, over_bound = pl.Series(dtype=pl.Int64), 0
        if continuation.hold_back:
            held_keys, over_bound = _held_back(joined, records, carried, join_options.match_window)
        if held_keys.len():
            # The join again without them: they belong to no request of this run.
            held = (
                keyed.filter(pl.col("key").is_in(held_keys.implode()))
                .drop("key")
                .with_columns(_own_strings())
                .collect(engine="streaming")
            )
            keyed = keyed.filter(~pl.col("key").is_in(held_keys.implode()))
            counted = keyed.filter(pl.col("suppressed_by").is_null())
            joined = requests.join(_join_records(counted), join_options)
        pending_figures = PendingRecords(carried=carried, held=held.height, over_bound=over_bound)
    figures = aggregate.request_figures(joined.records)
    # What the tally counts by: a narrow copy of the requests to join their figures to.
    counted_requests = joined.requests.select(
        "request_id", "timestamp", "category", "rule_id", "method", "endpoint", "model", "ollama"
    )
    tally = aggregate.tally(
        counted_requests.join(figures, on="request_id"), options.window, options.report_tz
    )
    del figures, counted_requests
    linked = _linked_events(keyed, joined) if options.keep_events else None
    failed, offsets, join_stats = joined.requests, joined.offsets, joined.stats
    # What follows reads messages back from the spill, one row per request at most: the
    # frames of one row per record are let go first (the largest of the run here).
    del joined, records
    clusters, examples = _shown_records(failed, keyed)
    result = ScanResult(
        events=linked,
        summary=aggregate.summarize(
            tally,
            options.window,
            list(ruleset.categories),
            options.top,
            span=(bounds.since, bounds.until) if bounds.since and bounds.until else None,
            zone=options.report_tz,
        ),
        tally=tally,
        files=found.reports,
        categories=ruleset.categories,
        window=options.window,
        assume_tz=options.assume_tz,
        excluded=found.excluded,
        rules=ruleset.rules,
        suppressed=aggregate.suppressed_counts(
            keyed.filter(pl.col("suppressed_by").is_not_null())
            .select("suppressed_by", "rule_id", "category")
            .collect()
        ),
        coverage=aggregate.rule_coverage(tally, [(rule.id, rule.category) for rule in ruleset.rules]),
        clusters=clusters,
        examples=examples,
        regex_timeouts=found.timeouts,
        offsets=offsets,
        join_stats=join_stats,
        unmatched_server=requests.unmatched_server_requests(failed),
        pending=pending_figures,
    )
    return Continued(result, held)


def _join_records(counted: pl.LazyFrame) -> pl.DataFrame:
    """What the join reads of the records, each column in one chunk as the join needs them:
    were they rechunked inside the join, the caller would still hold the chunked frame."""
    return requests.compact(counted.select(_JOIN_COLUMNS)).collect(engine="streaming").rechunk()


def _held_back(
    joined: requests.Joined, records: pl.DataFrame, carried: int, match_window: timedelta
) -> tuple[pl.Series, int]:
    """The keys of the records to hold back for the next run, and how many more would have
    waited but are counted now, over MAX_PENDING_RECORDS. Held back: the records of a request
    seen on one side only, all within ``match_window`` of the newest record of their file
    (its partner may be written after this run's data ends). Records carried from the last
    run (keys below ``carried``) are never held again: they are counted now, partner or not."""
    from logscan import state  # noqa: PLC0415 (only with --state: a plain scan needs no SQLite)

    newest = records.filter(pl.col("key") >= carried).group_by("file").agg(newest=pl.col("timestamp").max())
    per_request = (
        joined.records.select("key", "request_id", "side")
        .join(records.select("key", "file", "timestamp"), on="key")
        .join(newest, on="file", how="left")
        .group_by("request_id")
        .agg(
            keys=pl.col("key"),
            one_side=pl.col("side").n_unique() == 1,
            near_end=(pl.col("timestamp") >= pl.col("newest") - match_window).fill_null(value=False).all(),
            carried=(pl.col("key") < carried).any(),
            since=pl.col("timestamp").min(),
        )
        .filter(pl.col("one_side") & pl.col("near_end") & ~pl.col("carried"))
        .sort("since", "request_id", descending=True)
        .with_columns(held_so_far=pl.col("keys").list.len().cum_sum())
    )
    kept = per_request.filter(pl.col("held_so_far") <= state.MAX_PENDING_RECORDS)
    over_bound = int(per_request.get_column("keys").list.len().sum()) - int(
        kept.get_column("keys").list.len().sum()
    )
    return kept.get_column("keys").explode().drop_nulls().cast(pl.Int64), over_bound


def _linked_events(keyed: pl.LazyFrame, joined: requests.Joined) -> pl.LazyFrame:
    """Every occurrence with its request, its cause and the record it took it from (read from
    the spill when the result is read, not now)."""
    links = joined.records.select(_LINK_COLUMNS).join(
        joined.requests.select("request_id", request_category="category", request_ollama="ollama"),
        on="request_id",
        how="left",
    )
    matched = keyed.select(matched_key="key", matched_file="file", matched_line="line")
    return keyed.join(links.lazy(), on="key", how="left", maintain_order="left").join(
        matched, on="matched_key", how="left", maintain_order="left"
    )


def _shown_records(failed: pl.DataFrame, keyed: pl.LazyFrame) -> tuple[cluster.Clusters, pl.DataFrame]:
    """The clusters of unexplained requests and the examples of each cause, from one read of
    the spill for the records that stand for those requests (one a request at most)."""
    unexplained = _unexplained(failed)
    chosen = _chosen_examples(failed)
    wanted = pl.concat([unexplained, chosen["key"]]).unique()
    picked = (
        keyed.select(_SHOWN_COLUMNS)
        .filter(pl.col("key").is_in(wanted.implode()))
        .with_columns(_own_strings())
        .collect(engine="streaming")
        .sort("key")
    )
    representatives = picked.filter(pl.col("key").is_in(unexplained.implode())).with_columns(
        rule_id=pl.lit(None, pl.String)
    )
    clusters = cluster.cluster_templates(cluster.templates(representatives))
    shown = picked.select("key", "file", "line", "side", "message")  # at the request's time
    examples = chosen.join(shown, on="key", maintain_order="left").select(EXAMPLE_COLUMNS)
    return clusters, examples


# What clustering and the examples read of a record.
_SHOWN_COLUMNS = ("key", "file", "line", "timestamp", "side", "reasonless", "message")


def _unexplained(failed: pl.DataFrame) -> pl.Series:
    """The keys of the records that stand for the unexplained requests of Ollama's (of the
    ``failed`` ones, see requests.Joined; the record that carries a reason, if any): they are
    clustered by their messages."""
    return failed.get_column("representative_key").filter(
        failed.select(pl.col("ollama") & (pl.col("category") == rules.UNCLASSIFIED)).to_series()
    )


def _chosen_examples(failed: pl.DataFrame) -> pl.DataFrame:
    """The first EXAMPLES_PER_CAUSE requests of Ollama's of each category in time order (then
    in scan order; untimed ones last), each to be shown by the record that stands for it, at
    the request's time."""
    return (
        failed.select("category", "request_id", "timestamp", "representative_key")
        .filter(failed["ollama"])
        .sort("timestamp", "request_id", nulls_last=True)
        .group_by("category", maintain_order=True)
        .head(EXAMPLES_PER_CAUSE)
        .select("category", "request_id", "timestamp", key="representative_key")
    )


def _own_strings() -> pl.Expr:
    """Every string column copied into buffers of its own. A filtered string column still
    points into the buffers it was read into: the few records picked from the spill would hold
    every message of their files in memory (about 100 MiB per GiB of a dense log) until the end
    of the run. Copied as they stream past, only the records picked are kept."""
    return pl.col(pl.String) + ""


def _join_options(options: ScanOptions) -> requests.JoinOptions:
    return requests.JoinOptions(
        match_window=duration(options.match_window),
        server_offsets={name: duration(offset) for name, offset in options.server_offsets.items()},
        default_server_offset=duration(options.server_offset) if options.server_offset else None,
    )


def survey(options: ScanOptions) -> list[FormatSurvey]:
    """Detect each source's envelopes and format, and count the lines each parser recognises,
    without classifying anything."""
    options = validate(options)
    surveys = []
    for source in sources.expand(options.paths, options.read_policy):
        report = FileReport(source.name, named=source.named)
        shapes: dict[str, int] = {}
        layout: reading.Layout | None = None
        read = sources.ReadCounts()
        try:
            for block in sources.read_blocks(source, options.block_bytes, options.read_policy, read):
                reading.note_read(report, read)
                report.lines_used += block.lines.len()
                if layout is None:
                    layout = reading.detect_layout(source, block.lines, options.format_hint, report)
                inner = envelopes.peel(block.lines, layout.envelopes, layout.journal_year).get_column("line")
                for shape, count in recordstarts.line_shape_counts(inner).items():
                    shapes[shape] = shapes.get(shape, 0) + count
        except sources.SkippedSourceError as skipped:
            report.skipped = skipped.reason
        except sources.SourceReadError as error:
            report.error = error.reason
        reading.note_read(report, read)
        report.unknown_lines = shapes.get("unknown", 0)
        surveys.append(FormatSurvey(report, shapes))
    return surveys


def scan_text(text: str, ruleset: rules.RuleSet, name: str = "<text>") -> pl.DataFrame:
    """The 400 records in one piece of text, as a log file holding it would give them."""
    return scan_texts([(name, text)], ruleset)[0]


def scan_texts(named_texts: Sequence[tuple[str, str]], ruleset: rules.RuleSet) -> list[pl.DataFrame]:
    """The 400 records of each piece of text, each read as a file of its own, in one scan (a
    scan per text costs far more than one of them all). Rule examples are checked with this,
    so they go through exactly the pipeline a scan uses."""
    inputs = [sources.Source(name, data=text.encode("utf-8")) for name, text in named_texts]
    events = run(ScanOptions(paths=()), ruleset, inputs).events
    assert events is not None
    found = events.collect()
    by_file = found.partition_by("file", as_dict=True, maintain_order=True) if found.height else {}
    return [by_file.get((source.name,), found.clear()) for source in inputs]
