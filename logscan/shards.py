"""Shards: the map and the reduce of a scan, wherever it runs.

A shard is a part of a large uncompressed file, one compressed file, or a run of small files.
``scan_shard`` reads one into a ``Partial`` (per-file figures and the 400 records found), and
``merge`` adds the partials of a scan up into the partial the whole input would have given.
Both are pure: a shard's result depends on nothing but the shard and the options, so the
local process pool and a Dask cluster run the same two functions. The join of the records
into requests runs after the merge, on the records of every shard, so it does not depend on
how the input was split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from logscan import aggregate, classify, envelopes, reading, recordstarts, rules, sources, workers
from logscan.results import FileReport, TimeExclusions
from logscan.scanoptions import ScanOptions, TimeBounds

# Shards are about a quarter of each worker's share of the input, so that workers finish
# together, within these bounds: a shard has a fixed cost (a second of reading at the least
# pays Dask's few milliseconds per task many times over), and its size bounds nothing in
# memory. Large uncompressed files are cut into parts of that size; small files run together.
MIN_PART_BYTES = 32 * 1024 * 1024
MAX_PART_BYTES = 128 * 1024 * 1024
# Shards for workers elsewhere (a Dask cluster) grow up to this size, when the input is large
# enough to keep every worker busy with them: a second of work for one core (the scan reads
# about 180 MiB/s per core), which pays a task's fixed cost (a few milliseconds, and the
# partial's trip back) a hundred times over.
REMOTE_PART_BYTES = 192 * 1024 * 1024
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
    shards_done: int = 0  # of shards_total, when the scan is spread over workers
    shards_total: int = 0


@dataclass(frozen=True)
class ShardOptions:
    """What every shard of one scan shares, in this process or in a worker."""

    options: ScanOptions
    bounds: TimeBounds
    spill_dir: Path | None  # where kept records wait (on this machine); None keeps them in the partial


@dataclass(frozen=True)
class Shard:
    """Sources read by one worker call: a part of a large file, or a run of whole files."""

    indexes: tuple[int, ...]  # of the sources in the scan's list
    parts: tuple[sources.Source, ...]
    part_numbers: tuple[int, ...]  # 0 for a whole file; 0, 1, 2... for the parts of a split one

    @property
    def names(self) -> str:
        """The files it reads, for messages."""
        names = list(dict.fromkeys(part.name for part in self.parts))
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@dataclass
class Partial:
    """What reading some sources gives, in forms that add up across the shards of a scan:
    a report per source read (``indexes`` and ``part_numbers`` place them in the scan) and the
    400 records found, as Polars frames (or, on this machine, Arrow IPC files they were
    spilled to), which the requests stage joins once every shard is in."""

    indexes: tuple[int, ...]
    part_numbers: tuple[int, ...]
    reports: list[FileReport]
    counted: int  # records inside the time bounds and not suppressed
    excluded: TimeExclusions
    timeouts: list[classify.RegexTimeout]
    events: list[pl.DataFrame | pl.LazyFrame | Path]


def scan_shard(shard: Shard, options: ShardOptions) -> Partial:
    """The partial of one shard, read with the rules the options name (loaded once per
    process). Its line numbers count from the start of each part: ``merge`` shifts them."""
    found = scan_sources(_worker_rules(options.options), options, shard.parts)
    return dataclasses.replace(found, indexes=shard.indexes, part_numbers=shard.part_numbers)


def merge(partials: Sequence[Partial]) -> Partial:
    """The partials of every shard of one scan (in any order) put together as one: per-part
    reports summed per file, and the line numbers (and scan-order record numbers) of later
    parts of a file shifted by those of the parts before them."""
    ordered = sorted(partials, key=lambda partial: (partial.indexes[:1], partial.part_numbers[:1]))
    sources_count = max((index + 1 for partial in ordered for index in partial.indexes), default=0)
    reports = [FileReport("") for _ in range(sources_count)]
    lines_before: dict[int, int] = {}
    records_before: dict[int, int] = {}
    counted = 0
    excluded = TimeExclusions()
    event_frames: list[pl.DataFrame | pl.LazyFrame | Path] = []
    timeouts: dict[str, classify.RegexTimeout] = {}
    for partial in ordered:
        events = event_frames_of(partial.events)
        for index, part_number, part_report in zip(
            partial.indexes, partial.part_numbers, partial.reports, strict=True
        ):
            offset = lines_before.get(index, 0)
            if part_number:
                events = _shift_lines(events, part_report.name, offset, ("line", "end_line"))
                events = _shift_lines(events, part_report.name, records_before.get(index, 0), ("record_no",))
            lines_before[index] = offset + part_report.lines
            records_before[index] = records_before.get(index, 0) + part_report.records
            _add_part(reports[index], part_report, first=part_number == 0)
        event_frames.append(events)
        counted += partial.counted
        excluded = excluded + partial.excluded
        for timeout in partial.timeouts:
            timeouts.setdefault(timeout.where, timeout)
    return Partial(
        indexes=tuple(range(sources_count)),
        part_numbers=(0,) * sources_count,
        reports=reports,
        counted=counted,
        excluded=excluded,
        timeouts=list(timeouts.values()),
        events=event_frames,
    )


def plan(
    sources_list: Sequence[sources.Source],
    workers_count: int,
    held: contextlib.ExitStack | None = None,
    *,
    remote: bool = False,
) -> list[Shard]:
    """The shards of a scan by ``workers_count`` workers, on this machine or ``remote``. A file
    cut into parts is held open in ``held`` (when given: workers on this machine), and its
    parts are read through that descriptor, so that each reads the file listed."""
    total = sum(workers.estimated_size(source) for source in sources_list)
    largest = REMOTE_PART_BYTES if remote else MAX_PART_BYTES
    part_bytes = max(MIN_PART_BYTES, min(largest, total // (workers_count * TASKS_PER_WORKER)))
    shards: list[Shard] = []
    run: list[tuple[int, sources.Source]] = []
    run_bytes = 0

    def close_run() -> None:
        nonlocal run, run_bytes
        if run:
            shards.append(Shard(tuple(i for i, _ in run), tuple(s for _, s in run), (0,) * len(run)))
        run, run_bytes = [], 0

    for index, source in enumerate(sources_list):
        size = source.size or 0
        splittable = source
        if size >= 2 * part_bytes and held is not None and source.path is not None:
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
                shards.append(Shard((index,), (part,), (number,)))
            continue
        run.append((index, source))
        run_bytes += workers.estimated_size(source)
        if run_bytes >= part_bytes:
            close_run()
    close_run()
    return shards


class ShardProgress:
    """Progress of a scan spread over shards, told to ``on_progress`` as each one is in: a
    file is done once all its parts are."""

    def __init__(
        self, sources_count: int, shards: Sequence[Shard], on_progress: Callable[[Progress], None] | None
    ) -> None:
        self.sources_count = sources_count
        self.shards = shards
        self.on_progress = on_progress
        self.parts_left = Counter(index for shard in shards for index in shard.indexes)
        self.shards_done = self.bytes_read = self.occurrences = 0

    def __call__(self, number: int, partial: Partial) -> None:
        self.shards_done += 1
        self.bytes_read += sum(report.bytes for report in partial.reports)
        self.occurrences += partial.counted
        self.parts_left.subtract(self.shards[number].indexes)
        if self.on_progress:
            files_done = sum(1 for left in self.parts_left.values() if left == 0)
            name = self.shards[number].parts[-1].name
            self.on_progress(
                Progress(
                    files_done,
                    self.sources_count,
                    self.bytes_read,
                    self.occurrences,
                    name,
                    self.shards_done,
                    len(self.shards),
                )
            )


def scan_sources(
    ruleset: rules.RuleSet,
    options: ShardOptions,
    sources_list: Sequence[sources.Source],
    on_progress: Callable[[Progress], None] | None = None,
) -> Partial:
    """Read the sources one after the other in this process."""
    scan_options = options.options
    pipeline = reading.Pipeline(ruleset, scan_options)
    found = Partial(
        indexes=tuple(range(len(sources_list))),
        part_numbers=(0,) * len(sources_list),
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
        events, excluded = _within_time_bounds(events, options.bounds)
        found.excluded = found.excluded + excluded
        found.counted += events.filter(pl.col("suppressed_by").is_null()).height
        if not events.is_empty():
            spill_dir = options.spill_dir
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

    for indexes in _reading_runs(sources_list, scan_options.block_bytes):
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
            if read - batch_started >= scan_options.block_bytes:
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


def event_frames_of(parts: Sequence[pl.DataFrame | pl.LazyFrame | Path]) -> pl.LazyFrame:
    """The records of a partial as one frame (those spilled are read from their files)."""
    frames = [part if isinstance(part, pl.LazyFrame) else _lazy(part) for part in parts]
    return pl.concat([aggregate.empty_events().lazy(), *frames], how="vertical_relaxed")


def _lazy(part: pl.DataFrame | Path) -> pl.LazyFrame:
    return part.lazy() if isinstance(part, pl.DataFrame) else pl.scan_ipc(part)


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


def _split_points(source: sources.Source, part_bytes: int) -> list[int]:
    """Where a large file can be cut for workers: only an uncompressed file with no envelope,
    whose lines can be read from any point with the same layout."""
    if (source.path is None and source.remote is None) or source.member is not None:
        return [0]
    try:
        first = next(sources.read_blocks(source, 1024 * 1024), None)
        if first is None or first.compression != "none" or envelopes.detect_envelopes(first.lines):
            return [0]
        starts_record = re.compile(recordstarts.RECORD_START).search
        return sources.split_points(source, part_bytes, lambda line: starts_record(line) is not None)
    except (sources.SourceReadError, OSError):
        return [0]


_worker_ruleset: dict[tuple[tuple[Path, ...], bool], rules.RuleSet] = {}


def _worker_rules(options: ScanOptions) -> rules.RuleSet:
    key = (tuple(options.rule_paths), options.include_builtin_rules)
    if key not in _worker_ruleset:
        _worker_ruleset[key] = rules.load(options.rule_paths, include_builtin=options.include_builtin_rules)
    return _worker_ruleset[key]


def _shift_lines(frame: pl.LazyFrame, file: str, offset: int, columns: tuple[str, ...]) -> pl.LazyFrame:
    """Line numbers counted from the start of a part made to count from the start of ``file``."""
    in_file = pl.col("file") == file
    return frame.with_columns(pl.when(in_file).then(pl.col(c) + offset).otherwise(pl.col(c)) for c in columns)


def _add_part(report: FileReport, part: FileReport, *, first: bool) -> None:
    if first:
        report.name = part.name
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
