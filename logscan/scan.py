"""The one place that knows the whole pipeline:

sources -> blocks of lines -> records (format) -> fields -> rules -> events -> aggregate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl

from logscan import (
    aggregate,
    cluster,
    envelopes,
    executors,
    formats,
    reading,
    requests,
    rules,
    shards,
    sources,
    workers,
)
from logscan.results import FileReport, FormatSurvey, ScanResult
from logscan.scanoptions import ScanOptions, TimeBounds, duration, validate
from logscan.shards import Partial, Progress

__all__ = ["Progress", "ScanOptions", "run", "scan_text", "scan_texts", "survey"]


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
    else:
        load_rules()
        found = shards.scan_sources(loaded[0], settings, sources_list, on_progress)
    events = shards.event_frames_of(found.events)
    return _finish(found, events, loaded[0], options, settings.bounds)


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
    found: Partial, events: pl.LazyFrame, ruleset: rules.RuleSet, options: ScanOptions, bounds: TimeBounds
) -> ScanResult:
    """Join the records of each failed request, and sum the requests up."""
    keyed = events.with_row_index("key").with_columns(pl.col("key").cast(pl.Int64))
    counted = keyed.filter(pl.col("suppressed_by").is_null())
    joined = requests.join(counted.select(_JOIN_COLUMNS).collect(), _join_options(options))
    sides = joined.records.group_by("request_id").agg(
        server_records=(pl.col("side") == "server").sum().cast(pl.Int64),
        client_records=(pl.col("side") == "client").sum().cast(pl.Int64),
    )
    tally = aggregate.tally(joined.requests.join(sides, on="request_id"), options.window)
    links = joined.records.select(_LINK_COLUMNS).join(
        joined.requests.select("request_id", request_category="category", request_ollama="ollama"),
        on="request_id",
        how="left",
    )
    matched = links.select(matched_key="key").join(
        keyed.select(matched_key="key", matched_file="file", matched_line="line").collect(), on="matched_key"
    )
    linked_events = keyed.join(links.lazy(), on="key", how="left", maintain_order="left").join(
        matched.lazy(), on="matched_key", how="left", maintain_order="left"
    )
    return ScanResult(
        events=linked_events if options.keep_events else None,
        summary=aggregate.summarize(
            tally,
            options.window,
            list(ruleset.categories),
            options.top,
            span=(bounds.since, bounds.until) if bounds.since and bounds.until else None,
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
        clusters=_unclassified_clusters(joined, keyed),
        regex_timeouts=found.timeouts,
        offsets=joined.offsets,
        join_stats=joined.stats,
        unmatched_server=requests.unmatched_server(joined),
    )


def _unclassified_clusters(joined: requests.Joined, keyed: pl.LazyFrame) -> cluster.Clusters:
    """The unexplained requests of Ollama's, grouped by the message of the record that stands
    for each (the one that carries a reason, if any)."""
    unexplained = joined.requests.filter(pl.col("ollama") & (pl.col("category") == rules.UNCLASSIFIED))
    representatives = (
        keyed.join(unexplained.select(key="representative_key").lazy(), on="key", how="semi")
        .sort("key")
        .with_columns(rule_id=pl.lit(None, pl.String))
        .collect()
    )
    return cluster.cluster_templates(cluster.templates(representatives))


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
                for shape, count in formats.line_shape_counts(inner).items():
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
