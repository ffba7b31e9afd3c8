"""The one place that knows the whole pipeline:

sources -> blocks of lines -> records (format) -> fields -> rules -> events -> aggregate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl

from logscan import (
    aggregate,
    classify,
    cluster,
    envelopes,
    formats,
    reading,
    requests,
    rules,
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
    TimeExclusions,
)
from logscan.scanoptions import ScanOptions, TimeBounds, duration, validate
from logscan.state import MAX_PENDING_RECORDS

# Workers get tasks of about a quarter of their share of the input, so that they finish
# together, within these bounds: a task has a fixed cost, and its size bounds nothing in memory.
# Large uncompressed files are cut into parts of that size; small files are run together.
MIN_PART_BYTES = 32 * 1024 * 1024
MAX_PART_BYTES = 128 * 1024 * 1024
TASKS_PER_WORKER = 4
# Files up to this size are read whole, many at a time (see reading.Pipeline.prepare_small).
SMALL_FILE_BYTES = 1024 * 1024
RECORDS_PER_CLASSIFICATION = 20_000


@dataclass(frozen=True)
class Progress:
    files_done: int
    files_total: int
    bytes_read: int
    occurrences: int
    current: str


@dataclass(frozen=True)
class _Settings:
    """What every part of one scan shares, in this process or in a worker."""

    options: ScanOptions
    bounds: TimeBounds
    spill_dir: Path | None  # where kept occurrences wait; None keeps them in memory


@dataclass
class _Partial:
    """What scanning some sources gives, in forms that add up across parts of a scan: per-file
    figures and the 400 records found (in memory, or spilled to Arrow IPC files), which the
    requests stage joins once every part is in."""

    reports: list[FileReport]
    counted: int  # records inside the time bounds and not suppressed
    excluded: TimeExclusions
    timeouts: list[classify.RegexTimeout]
    events: list[pl.DataFrame | Path]


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
) -> ScanResult:
    """Scan ``options.paths`` (or ``sources_list``). With ``options.keep_events`` the result
    holds every occurrence; given a ``spill_dir``, they wait there on disk, not in memory, and
    the result's ``events`` reads them from it. Large inputs are scanned by worker processes:
    those of ``pool`` (see workers.start), or ones started here. Given a ``ruleset``, the scan
    runs in this process, since workers load the rules from the options."""
    return _run(options, ruleset, sources_list, on_progress, spill_dir, pool, None).result


def run_continued(
    options: ScanOptions,
    continuation: Continuation,
    sources_list: Sequence[sources.Source],
    on_progress: Callable[[Progress], None] | None = None,
    spill_dir: Path | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> Continued:
    """``run`` over the parts of files an incremental scan reads, continuing the last run:
    its pending records are joined with this run's, and the requests near the end of this
    run's data still lacking a partner are held back for the next one (see ``_held_back``)."""
    return _run(options, None, sources_list, on_progress, spill_dir, pool, continuation)


def _run(
    options: ScanOptions,
    ruleset: rules.RuleSet | None,
    sources_list: Sequence[sources.Source] | None,
    on_progress: Callable[[Progress], None] | None,
    spill_dir: Path | None,
    pool: ProcessPoolExecutor | None,
    continuation: Continuation | None,
) -> Continued:
    options = validate(options)
    if sources_list is None:
        sources_list = sources.expand(options.paths, options.read_policy)
    settings = _Settings(options, TimeBounds.of(options), spill_dir)
    jobs = 1 if ruleset is not None else workers.count(sources_list, options.jobs)
    loaded: list[rules.RuleSet] = [ruleset] if ruleset is not None else []

    def load_rules() -> None:
        if not loaded:
            loaded.append(rules.load(options.rule_paths, include_builtin=options.include_builtin_rules))

    if jobs > 1:
        # The workers load the rules themselves; here they are only needed for the summary,
        # so they are loaded while the workers run.
        with (
            contextlib.nullcontext(pool) if pool else workers.start(jobs) as running,
            contextlib.ExitStack() as held,
        ):
            found, events = _scan_in_parallel(
                settings, sources_list, running, jobs, on_progress, load_rules, held
            )
    else:
        load_rules()
        found = _scan(loaded[0], settings, sources_list, on_progress)
        events = _event_frames(found.events)
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


# What the requests stage reads of each 400 record (the message text stays on disk).
_JOIN_COLUMNS = (
    "key", "file", "record_no", "line", "timestamp", "side", "kind", "reasonless", "endpoint", "method",
    "model", "client", "address", "user_agent", "latency", "category", "rule_id", "reason", "header",
    "ollama",
)  # fmt: skip
_LINK_COLUMNS = ("key", "request_id", "final_category", "attribution", "matched_key", "corrected_timestamp")


def _finish(
    found: _Partial,
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
    records = requests.compact(counted.select(_JOIN_COLUMNS)).collect(engine="streaming")
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
            held = keyed.filter(pl.col("key").is_in(held_keys.implode())).drop("key").collect()
            keyed = keyed.filter(~pl.col("key").is_in(held_keys.implode()))
            counted = keyed.filter(pl.col("suppressed_by").is_null())
            joined = requests.join(
                requests.compact(counted.select(_JOIN_COLUMNS)).collect(engine="streaming"), join_options
            )
        pending_figures = PendingRecords(carried=carried, held=held.height, over_bound=over_bound)
    figures = aggregate.request_figures(joined.records)
    tally = aggregate.tally(joined.requests.join(figures, on="request_id"), options.window, options.report_tz)
    result = ScanResult(
        events=_linked_events(keyed, joined) if options.keep_events else None,
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
        clusters=_unclassified_clusters(joined, keyed),
        examples=_cause_examples(joined, keyed),
        regex_timeouts=found.timeouts,
        offsets=joined.offsets,
        join_stats=joined.stats,
        unmatched_server=requests.unmatched_server(joined),
        pending=pending_figures,
    )
    return Continued(result, held)


def _held_back(
    joined: requests.Joined, records: pl.DataFrame, carried: int, match_window: timedelta
) -> tuple[pl.Series, int]:
    """The keys of the records to hold back for the next run, and how many more would have
    waited but are counted now, over MAX_PENDING_RECORDS. Held back: the records of a request
    seen on one side only, all within ``match_window`` of the newest record of their file
    (its partner may be written after this run's data ends). Records carried from the last
    run (keys below ``carried``) are never held again: they are counted now, partner or not."""
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
    kept = per_request.filter(pl.col("held_so_far") <= MAX_PENDING_RECORDS)
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


def _unclassified_clusters(joined: requests.Joined, keyed: pl.LazyFrame) -> cluster.Clusters:
    """The unexplained requests of Ollama's, grouped by the message of the record that stands
    for each (the one that carries a reason, if any)."""
    unexplained = joined.requests.filter(pl.col("ollama") & (pl.col("category") == rules.UNCLASSIFIED))
    representatives = (
        keyed.select(_CLUSTERED_COLUMNS)
        .filter(pl.col("key").is_in(unexplained["representative_key"].implode()))
        .with_columns(rule_id=pl.lit(None, pl.String))
        .collect(engine="streaming")
        .sort("key")
    )
    return cluster.cluster_templates(cluster.templates(representatives))


# What clustering reads of a record.
_CLUSTERED_COLUMNS = ("key", "file", "line", "timestamp", "side", "reasonless", "message")


def _cause_examples(joined: requests.Joined, keyed: pl.LazyFrame) -> pl.DataFrame:
    """The first EXAMPLES_PER_CAUSE requests of Ollama's of each category in time order (then
    in scan order; untimed ones last), each shown by the record that stands for it, at the
    request's time. Only those records are read back from the spill."""
    chosen = (
        joined.requests.filter(pl.col("ollama"))
        .sort("timestamp", "request_id", nulls_last=True)
        .group_by("category", maintain_order=True)
        .head(EXAMPLES_PER_CAUSE)
        .select("category", "request_id", "timestamp", key="representative_key")
    )
    shown = (
        keyed.select("key", "file", "line", "side", "message")
        .filter(pl.col("key").is_in(chosen["key"].implode()))
        .collect(engine="streaming")
    )
    return chosen.join(shown, on="key", maintain_order="left").select(EXAMPLE_COLUMNS)


def _join_options(options: ScanOptions) -> requests.JoinOptions:
    return requests.JoinOptions(
        match_window=duration(options.match_window),
        server_offsets={name: duration(offset) for name, offset in options.server_offsets.items()},
        default_server_offset=duration(options.server_offset) if options.server_offset else None,
    )


def _scan(
    ruleset: rules.RuleSet,
    settings: _Settings,
    sources_list: Sequence[sources.Source],
    on_progress: Callable[[Progress], None] | None = None,
) -> _Partial:
    """Scan the sources one after the other in this process."""
    options = settings.options
    pipeline = reading.Pipeline(ruleset, options)
    found = _Partial(
        reports=[FileReport(source.name) for source in sources_list],
        counted=0,
        excluded=TimeExclusions(),
        timeouts=[],
        events=[],
    )
    # Lines of several sources are classified together, a block's worth at a time, so that
    # many small files cost about what one large file does.
    batch: list[pl.DataFrame] = []
    # Candidate records are classified many blocks at a time: each classification has a cost
    # of its own, whatever the number of records.
    pending: list[pl.DataFrame] = []
    pending_records = bytes_read = batch_started = 0

    def add(events: pl.DataFrame) -> None:
        events, excluded = _within_time_bounds(events, settings.bounds)
        found.excluded = found.excluded + excluded
        found.counted += events.filter(pl.col("suppressed_by").is_null()).height
        if not events.is_empty():
            spill_dir = settings.spill_dir
            found.events.append(_spill(events, spill_dir) if spill_dir else events)

    def flush(*, last: bool = False) -> None:
        nonlocal batch, pending, pending_records
        if batch:
            records = pipeline.candidates(pl.concat(batch))
            if not records.is_empty():
                pending.append(records)
                pending_records += records.height
        batch = []
        if pending and (last or pending_records >= RECORDS_PER_CLASSIFICATION):
            add(pipeline.occurrences(pl.concat(pending, how="vertical_relaxed"), found.reports))
            pending, pending_records = [], 0

    for indexes in _reading_runs(sources_list, options.block_bytes):
        reports = [found.reports[index] for index in indexes]
        if _is_small(sources_list[indexes[0]]):
            chunks = pipeline.prepare_small(
                [(index, sources_list[index], found.reports[index]) for index in indexes]
            )
        else:
            chunks = pipeline.prepare(sources_list[indexes[0]], indexes[0], reports[0])
        name = sources_list[indexes[-1]].name
        for chunk in chunks:
            batch.append(chunk)
            read = bytes_read + sum(report.bytes for report in reports)
            if read - batch_started >= options.block_bytes:
                flush()
                batch_started = read
                if on_progress:
                    on_progress(Progress(indexes[0], len(sources_list), read, found.counted, name))
        bytes_read += sum(report.bytes for report in reports)
        if on_progress:
            on_progress(Progress(indexes[-1] + 1, len(sources_list), bytes_read, found.counted, name))
    flush(last=True)
    found.timeouts = pipeline.regex_guard.reports
    return found


def _is_small(source: sources.Source) -> bool:
    on_disk = source.path is not None and source.data is None and source.end is None
    return on_disk and source.size is not None and source.size <= SMALL_FILE_BYTES


def _reading_runs(sources_list: Sequence[sources.Source], block_bytes: int) -> Iterator[list[int]]:
    """The sources' indexes in scan order, in runs: small files read together up to about a
    block's worth, any other file alone."""
    run: list[int] = []
    run_bytes = 0
    for index, source in enumerate(sources_list):
        if not _is_small(source):
            if run:
                yield run
                run, run_bytes = [], 0
            yield [index]
            continue
        run.append(index)
        run_bytes += source.size or 0
        if run_bytes >= block_bytes:
            yield run
            run, run_bytes = [], 0
    if run:
        yield run


def _spill(events: pl.DataFrame, spill_dir: Path) -> Path:
    path = spill_dir / f"{uuid.uuid4().hex}.arrow"
    events.write_ipc(path)
    return path


def _event_frames(parts: Sequence[pl.DataFrame | Path]) -> pl.LazyFrame:
    frames = [part.lazy() if isinstance(part, pl.DataFrame) else pl.scan_ipc(part) for part in parts]
    return pl.concat([aggregate.empty_events().lazy(), *frames], how="vertical_relaxed")


@dataclass(frozen=True)
class _Task:
    """Sources for one worker call: a part of a large file, or a run of small files."""

    indexes: tuple[int, ...]  # of the sources in the scan's list
    parts: tuple[sources.Source, ...]
    part_numbers: tuple[int, ...]  # 0 for a whole file; 0, 1, 2... for the parts of a split one


def _tasks(
    sources_list: Sequence[sources.Source], jobs: int, held: contextlib.ExitStack | None = None
) -> list[_Task]:
    """The worker calls for a scan. A file cut into parts is held open in ``held`` (when
    given), and its parts are read through that descriptor: each reads the file listed."""
    total = sum(workers.estimated_size(source) for source in sources_list)
    part_bytes = max(MIN_PART_BYTES, min(MAX_PART_BYTES, total // (jobs * TASKS_PER_WORKER)))
    tasks: list[_Task] = []
    run: list[tuple[int, sources.Source]] = []
    run_bytes = 0

    def close_run() -> None:
        nonlocal run, run_bytes
        if run:
            tasks.append(_Task(tuple(i for i, _ in run), tuple(s for _, s in run), (0,) * len(run)))
        run, run_bytes = [], 0

    for index, source in enumerate(sources_list):
        size = source.size or 0
        splittable = source
        if size >= 2 * part_bytes and held is not None:
            try:
                splittable, release = sources.hold(source)
            except sources.SourceReadError:
                size = 0  # gone: read (and reported) as a whole
            else:
                held.callback(release)
        points = _split_points(splittable, part_bytes) if size >= 2 * part_bytes else [0]
        # A file continued from an earlier scan is cut within the part still to read.
        points = [source.start, *(p for p in points if source.start < p < (source.end or size))]
        if len(points) > 1:
            close_run()
            ends = [*points[1:], source.end or size]
            for number, (start, end) in enumerate(zip(points, ends, strict=True)):
                part = dataclasses.replace(splittable, start=start, end=end)
                tasks.append(_Task((index,), (part,), (number,)))
            continue
        run.append((index, source))
        run_bytes += workers.estimated_size(source)
        if run_bytes >= part_bytes:
            close_run()
    close_run()
    return tasks


def _split_points(source: sources.Source, part_bytes: int) -> list[int]:
    """Where a large file can be cut for workers: only an uncompressed file with no envelope,
    whose lines can be read from any point with the same layout."""
    if source.path is None or source.member is not None:
        return [0]
    try:
        first = next(sources.read_blocks(source, 1024 * 1024), None)
        if first is None or first.compression != "none" or envelopes.detect_envelopes(first.lines):
            return [0]
        starts_record = re.compile(formats.RECORD_START).search
        return sources.split_points(source, part_bytes, lambda line: starts_record(line) is not None)
    except (sources.SourceReadError, OSError):
        return [0]


def _scan_task(settings: _Settings, task: _Task) -> _Partial:
    return _scan(_worker_rules(settings.options), settings, task.parts)


_worker_ruleset: dict[tuple[tuple[Path, ...], bool], rules.RuleSet] = {}


def _worker_rules(options: ScanOptions) -> rules.RuleSet:
    key = (tuple(options.rule_paths), options.include_builtin_rules)
    if key not in _worker_ruleset:
        _worker_ruleset[key] = rules.load(options.rule_paths, include_builtin=options.include_builtin_rules)
    return _worker_ruleset[key]


def _scan_in_parallel(
    settings: _Settings,
    sources_list: Sequence[sources.Source],
    pool: ProcessPoolExecutor,
    jobs: int,
    on_progress: Callable[[Progress], None] | None,
    meanwhile: Callable[[], None],
    held: contextlib.ExitStack | None = None,
) -> tuple[_Partial, pl.LazyFrame]:
    """Scan tasks in worker processes and put their results back together: per-part reports
    summed per file, tallies and templates merged, and the line numbers (and scan-order
    numbers) of later parts shifted by those before them."""
    tasks = _tasks(sources_list, jobs, held)
    results: dict[int, _Partial] = {}
    futures = {pool.submit(_scan_task, settings, task): number for number, task in enumerate(tasks)}
    meanwhile()
    bytes_read = occurrences = 0
    parts_left = Counter(index for task in tasks for index in task.indexes)
    for future in as_completed(futures):
        number = futures[future]
        results[number] = future.result()
        bytes_read += sum(report.bytes for report in results[number].reports)
        occurrences += results[number].counted
        parts_left.subtract(tasks[number].indexes)
        if on_progress:
            files_done = sum(1 for left in parts_left.values() if left == 0)
            name = tasks[number].parts[-1].name
            on_progress(Progress(files_done, len(sources_list), bytes_read, occurrences, name))

    reports = [FileReport(source.name) for source in sources_list]
    lines_before: dict[int, int] = {}
    records_before: dict[int, int] = {}
    counted = 0
    excluded = TimeExclusions()
    event_frames: list[pl.LazyFrame] = []
    timeouts: dict[str, classify.RegexTimeout] = {}
    for number, task in enumerate(tasks):
        part = results[number]
        events = _event_frames(part.events)
        for index, part_number, part_report in zip(
            task.indexes, task.part_numbers, part.reports, strict=True
        ):
            offset = lines_before.get(index, 0)
            if part_number:
                events = _shift_lines(events, part_report.name, offset, ("line", "end_line"))
                events = _shift_lines(events, part_report.name, records_before.get(index, 0), ("record_no",))
            lines_before[index] = offset + part_report.lines
            records_before[index] = records_before.get(index, 0) + part_report.records
            _add_part(reports[index], part_report, first=part_number == 0)
        event_frames.append(events)
        counted += part.counted
        excluded = excluded + part.excluded
        for timeout in part.timeouts:
            timeouts.setdefault(timeout.where, timeout)
    found = _Partial(
        reports=reports,
        counted=counted,
        excluded=excluded,
        timeouts=list(timeouts.values()),
        events=[],
    )
    return found, pl.concat(event_frames, how="vertical_relaxed")


def _shift_lines(frame: pl.LazyFrame, file: str, offset: int, columns: tuple[str, ...]) -> pl.LazyFrame:
    """Line numbers counted from the start of a part made to count from the start of ``file``."""
    in_file = pl.col("file") == file
    return frame.with_columns(pl.when(in_file).then(pl.col(c) + offset).otherwise(pl.col(c)) for c in columns)


def _add_part(report: FileReport, part: FileReport, *, first: bool) -> None:
    if first:
        report.format, report.envelopes, report.compression = part.format, part.envelopes, part.compression
        report.zone = part.zone
        report.named = part.named
    for figure in _ADDED_FIGURES:
        setattr(report, figure, getattr(report, figure) + getattr(part, figure))
    report.error = report.error or part.error
    report.skipped = report.skipped or part.skipped


_ADDED_FIGURES = (
    "bytes", "hole_bytes", "lines", "lines_used", "lines_skipped", "lines_cut", "records", "occurrences",
    "replaced_lines", "unknown_lines",
)  # fmt: skip


def _within_time_bounds(events: pl.DataFrame, bounds: TimeBounds) -> tuple[pl.DataFrame, TimeExclusions]:
    """Apply --since/--until. An occurrence without a timestamp cannot be placed inside the
    bounds, so it is left out too, and counted as such."""
    if bounds.since is None and bounds.until is None:
        return events, TimeExclusions()
    timestamp = pl.col("timestamp")
    inside = pl.lit(value=True)
    if bounds.since is not None:
        inside = inside & (timestamp >= bounds.since)
    if bounds.until is not None:
        inside = inside & (timestamp < bounds.until)
    kept = events.filter(inside.fill_null(value=False))
    untimed = events.get_column("timestamp").null_count()
    return kept, TimeExclusions(outside=events.height - kept.height - untimed, untimed=untimed)


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
