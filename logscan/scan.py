"""The one place that knows the whole pipeline:

sources -> blocks of lines -> records (format) -> fields -> rules -> events -> aggregate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import re
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path

import polars as pl

from logscan import (
    aggregate,
    classify,
    cluster,
    envelopes,
    fields,
    formats,
    requests,
    rules,
    sources,
    timestamps,
    workers,
)
from logscan.errors import UsageError
from logscan.results import FileReport, FormatSurvey, ScanResult, TimeExclusions

# Workers get tasks of about a quarter of their share of the input, so that they finish
# together, within these bounds: a task has a fixed cost, and its size bounds nothing in memory.
# Large uncompressed files are cut into parts of that size; small files are run together.
MIN_PART_BYTES = 32 * 1024 * 1024
MAX_PART_BYTES = 128 * 1024 * 1024
TASKS_PER_WORKER = 4
# Files up to this size are read whole, many at a time (see _Pipeline.prepare_small).
SMALL_FILE_BYTES = 1024 * 1024
RECORDS_PER_CLASSIFICATION = 20_000
# A record longer than this many lines is cut: bounded memory matters more than one record.
MAX_CARRIED_LINES = 100_000
MAX_MESSAGE_CHARS = 2000
MAX_REASON_CHARS = 300
# Lines of a record's text that rules see besides its hit lines (a wrapped message goes on
# in lines without any hit).
MAX_RECORD_TEXT_LINES = 50
MAX_TRAILING_BLANK_LINES = 20
# Ollama's server log writes GIN lines in local time without a zone beside slog lines with one.
ZONE_FROM_FILE_FORMAT = "ollama-server"
_DURATION = re.compile(r"^(?:\d+(?:ns|us|ms|s|m|h|d|w|mo|q|y))+$")


@dataclass(frozen=True)
class ScanOptions:
    paths: Sequence[str]
    rule_paths: Sequence[Path] = ()
    include_builtin_rules: bool = True
    window: str = "1h"
    assume_tz: str = "UTC"
    top: int = 5
    block_bytes: int = sources.DEFAULT_BLOCK_BYTES
    # Worker processes for large inputs; 0 means one per core.
    jobs: int = 0
    format_hint: str | None = None
    # Keep only occurrences at or after `since` and before `until`: ISO 8601 times (zone-less
    # ones in assume_tz) or a span back from now such as 24h or 7d.
    since: str | None = None
    until: str | None = None
    # Keep every occurrence in the result (``ScanResult.events``), not only the summaries.
    keep_events: bool = True
    # How far apart the client's and the server's records of one request may be (--match-window).
    match_window: str = "3s"
    # Clock offsets of server files given by the user instead of estimated: one for every
    # server file, and per file name (signed durations such as -2h or +7203s).
    server_offset: str | None = None
    server_offsets: Mapping[str, str] = field(default_factory=dict)
    read_policy: sources.ReadPolicy = field(default_factory=sources.ReadPolicy)


@dataclass(frozen=True)
class Progress:
    files_done: int
    files_total: int
    bytes_read: int
    occurrences: int
    current: str


_SPAN_BACK = re.compile(r"^(\d+)([smhdw])$")
_SPAN_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# As journalctl takes them: a day's midnight in --assume-tz, or a time of that day.
_DAY_WORD = re.compile(r"^(today|yesterday|tomorrow)(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$", re.IGNORECASE)
_DAYS_FROM_TODAY = {"yesterday": -1, "today": 0, "tomorrow": 1}


def time_bound(text: str, assume_tz: str, option: str, now: datetime | None = None) -> datetime:
    """A --since/--until value as a UTC time: ISO 8601 (zone-less in ``assume_tz``), a span
    back from ``now`` (24h, 7d), or today/yesterday/tomorrow with an optional HH:MM[:SS] of
    that day in ``assume_tz``."""
    try:
        return _time_bound(text, assume_tz, option, now or datetime.now(UTC))
    except OverflowError as error:  # 999999999d, 0001-01-01 in a zone east of UTC
        raise UsageError(f"{option} '{text}' is out of range: times run from year 1 to 9999") from error


def _time_bound(text: str, assume_tz: str, option: str, now: datetime) -> datetime:
    stripped = text.strip()
    span = _SPAN_BACK.match(stripped)
    if span:
        amount, unit = int(span.group(1)), _SPAN_UNITS[span.group(2)]
        return now - timedelta(**{unit: amount})
    if stripped.lower() == "now":
        return now.astimezone(UTC)
    day_word = _DAY_WORD.match(stripped)
    if day_word:
        return _day_time(day_word, timestamps.tzinfo_of(assume_tz), now, text, option)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError as error:
        raise UsageError(
            f"{option} '{text}' is neither an ISO 8601 time (2025-05-07T06:00, 2025-05-07),"
            " a span back from now (30m, 24h, 7d), nor today, yesterday or tomorrow"
            " (with an optional time such as 'yesterday 06:00')"
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timestamps.tzinfo_of(assume_tz))
    return moment.astimezone(UTC)


def _day_time(day_word: re.Match[str], zone: tzinfo, now: datetime, text: str, option: str) -> datetime:
    """'yesterday 06:00' as a UTC time: the day counted from today in ``zone``. A wall time a
    DST change skips reads as the time before the change (02:30 on a spring-forward day is
    03:30 summer time), as timestamps in the logs do."""
    word, hours, minutes, seconds = day_word.groups()
    day = now.astimezone(zone).date() + timedelta(days=_DAYS_FROM_TODAY[word.lower()])
    try:
        wall = time(int(hours or 0), int(minutes or 0), int(seconds or 0))
    except ValueError as error:
        raise UsageError(f"{option} '{text}': {error} (use HH:MM or HH:MM:SS, 00:00 to 23:59:59)") from error
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def validate(options: ScanOptions) -> ScanOptions:
    """Check the options; return them with the time zone resolved (``local``, ``utc``...)."""
    if options.format_hint is not None and options.format_hint not in formats.FORMATS_BY_ID:
        known = ", ".join(formats.FORMATS_BY_ID)
        raise UsageError(f"--format-hint '{options.format_hint}' is not a format; use one of: {known}")
    if not _DURATION.match(options.window):
        raise UsageError(f"--window '{options.window}' is not a duration such as 30s, 5m, 1h, 1d or 1w")
    if not any(int(amount) for amount in re.findall(r"\d+", options.window)):
        raise UsageError(f"--window '{options.window}' is zero: windows need a width such as 5m, 1h or 1d")
    options = replace(options, assume_tz=resolve_zone(options.assume_tz))
    bounds = _TimeBounds.of(options)
    if bounds.since is not None and bounds.until is not None and bounds.since >= bounds.until:
        raise UsageError(
            f"--since '{options.since}' ({_shown(bounds.since)}) is not before"
            f" --until '{options.until}' ({_shown(bounds.until)}): no 400 could be counted"
        )
    if not _SIGNED_DURATION.match(options.match_window) or options.match_window.startswith("-"):
        raise UsageError(f"--match-window '{options.match_window}' is not a duration such as 3s or 1500ms")
    for offset in [options.server_offset, *options.server_offsets.values()]:
        if offset is not None and not _SIGNED_DURATION.match(offset):
            raise UsageError(f"--server-offset '{offset}' is not a signed duration such as -2h, +7203s or 0")
    return options


def _shown(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


_SIGNED_DURATION = re.compile(r"^[+-]?(?:0|(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_PART_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _timedelta(text: str) -> timedelta:
    """A signed duration (checked by validate) as a timedelta."""
    seconds = sum(float(amount) * _PART_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=-seconds if text.startswith("-") else seconds)


def resolve_zone(text: str) -> str:
    """--assume-tz as a zone Polars knows: an IANA name, ``UTC`` in any case, ``local`` (the
    machine's zone, honouring TZ), or a fixed offset such as +02:00."""
    if text.lower() == "utc":
        return "UTC"
    if text.lower() == "local":
        import tzlocal  # noqa: PLC0415

        return tzlocal.get_localzone_name() or "UTC"
    if timestamps.fixed_offset_minutes(text) is not None:
        return text
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise UsageError(
            f"--assume-tz '{text}' is not a known time zone (an IANA name such as Europe/Berlin,"
            " UTC, local, or an offset such as +02:00)"
        ) from error
    return text


@dataclass(frozen=True)
class _TimeBounds:
    """--since/--until as UTC times, fixed once per scan (a span back from now moves)."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(cls, options: ScanOptions, now: datetime | None = None) -> _TimeBounds:
        # One now for both, so that --since 24h --until 1h is a day less an hour wide.
        now = now or datetime.now(UTC)
        return cls(
            since=time_bound(options.since, options.assume_tz, "--since", now) if options.since else None,
            until=time_bound(options.until, options.assume_tz, "--until", now) if options.until else None,
        )


@dataclass(frozen=True)
class _Settings:
    """What every part of one scan shares, in this process or in a worker."""

    options: ScanOptions
    bounds: _TimeBounds
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
    options = validate(options)
    if sources_list is None:
        sources_list = sources.expand(options.paths, options.read_policy)
    settings = _Settings(options, _TimeBounds.of(options), spill_dir)
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
    return _finish(found, events, loaded[0], options, settings.bounds)


# What the requests stage reads of each 400 record (the message text stays on disk).
_JOIN_COLUMNS = (
    "key", "file", "record_no", "line", "timestamp", "side", "kind", "reasonless", "endpoint", "method",
    "model", "client", "address", "user_agent", "latency", "category", "rule_id", "reason", "header",
    "ollama",
)  # fmt: skip
_LINK_COLUMNS = ("key", "request_id", "final_category", "attribution", "matched_key", "corrected_timestamp")


def _finish(
    found: _Partial, events: pl.LazyFrame, ruleset: rules.RuleSet, options: ScanOptions, bounds: _TimeBounds
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
        match_window=_timedelta(options.match_window),
        server_offsets={name: _timedelta(offset) for name, offset in options.server_offsets.items()},
        default_server_offset=_timedelta(options.server_offset) if options.server_offset else None,
    )


def _scan(
    ruleset: rules.RuleSet,
    settings: _Settings,
    sources_list: Sequence[sources.Source],
    on_progress: Callable[[Progress], None] | None = None,
) -> _Partial:
    """Scan the sources one after the other in this process."""
    options = settings.options
    pipeline = _Pipeline(ruleset, options)
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
        if len(points) > 1:
            close_run()
            ends = [*points[1:], size]
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


def _within_time_bounds(events: pl.DataFrame, bounds: _TimeBounds) -> tuple[pl.DataFrame, TimeExclusions]:
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


class _Pipeline:
    def __init__(self, ruleset: rules.RuleSet, options: ScanOptions) -> None:
        self.ruleset = ruleset
        self.options = options
        # One guard per scan: a regex-engine pattern's timeout budget spans all blocks.
        self.regex_guard = classify.RegexGuard()
        # Literal searches that stay fast with thousands of rules.
        self.prefilter = ruleset.prefilter(formats.STATUS_ANCHORS)
        self.implied = ruleset.implied()
        # Every line that shows a 400 or holds an implying rule's literal holds one of these.
        self.relevant_anchors = ruleset.implied(["400"])
        # Each source's format, by the source's index in the scan (a line only carries that).
        self.source_formats: dict[int, str] = {}
        # The zone of each source's zone-less times, where its other lines show one.
        self.source_zones: dict[int, str] = {}

    def prepare(self, source: sources.Source, index: int, report: FileReport) -> Iterator[pl.DataFrame]:
        """Yield ``source``'s lines, peeled of envelopes and marked where records start, in
        chunks that end at a record boundary; fill ``report``'s reading figures."""
        layout: _Layout | None = None
        carried: pl.DataFrame | None = None
        carried_starts = pl.Series(dtype=pl.Boolean)
        report.named = source.named
        read = sources.ReadCounts()
        policy = self.options.read_policy
        try:
            for block in sources.read_blocks(source, self.options.block_bytes, policy, read):
                lines = block.lines
                _note_read(report, read)
                if layout is None:
                    layout = _detect_layout(source, lines, self.options.format_hint, report)
                    self.source_formats[index] = layout.format.id
                    if layout.zone:
                        self.source_zones[index] = layout.zone
                # Series, not expressions: a query costs a tenth of a millisecond, many times
                # over when the files are small.
                first, rows = block.first_line, lines.len()
                frame = envelopes.peel(lines, layout.envelopes, layout.journal_year).hstack(
                    [
                        pl.Series("lineno", range(first, first + rows), pl.Int64),
                        pl.Series("source", [index], pl.UInt32).new_from_index(0, rows),
                    ]
                )
                carried_rows = 0 if carried is None else carried.height
                if carried is not None:
                    frame = pl.concat([carried, frame])
                # Carried lines were counted with the block they came from.
                starts, unknown = formats.record_starts_and_unknown(
                    frame.get_column("line"), layout.format, count_from=carried_rows
                )
                report.unknown_lines += unknown
                cut = _open_record_start(starts)
                carried = frame.slice(cut) if cut < frame.height else None
                carried_starts = starts.slice(cut)
                chunk = frame.slice(0, cut).with_columns(
                    starts=starts.slice(0, cut), record_base=_constant(report.records, cut)
                )
                report.records += int(starts.slice(0, cut).sum())
                report.lines_used += cut
                yield chunk
        except sources.SkippedSourceError as skipped:
            report.skipped = skipped.reason
        except sources.SourceReadError as error:
            report.error = error.reason
        _note_read(report, read)
        if carried is not None:
            # The end of the input ends the last record: its starts, found with the lines
            # above for context, stand.
            chunk = carried.with_columns(
                starts=carried_starts, record_base=_constant(report.records, carried.height)
            )
            report.records += int(carried_starts.sum())
            report.lines_used += carried.height
            yield chunk

    def prepare_small(
        self, entries: Sequence[tuple[int, sources.Source, FileReport]]
    ) -> Iterator[pl.DataFrame]:
        """`prepare` for small files, read together: one read of their lines, one format
        detection and one record-start pass for them all, with the figures each would have
        alone. A file that cannot be read whole, or may be in an envelope, is prepared alone,
        in its place."""
        contents: dict[int, bytes] = {}
        for index, source, _ in entries:
            with contextlib.suppress(sources.SourceReadError):
                contents[index] = sources.read_whole(source, self.options.read_policy)
        read = sources.read_small_files(list(contents.values()))
        counts = dict(zip(contents, read.counts, strict=True))
        replaced = dict(zip(contents, read.replaced_lines, strict=True))
        cut = dict(zip(contents, read.cut_lines, strict=True))
        first_row = dict(zip(contents, itertools.accumulate(read.counts, initial=0), strict=False))
        with_lines = [index for index in contents if counts[index]]
        source = (
            pl.concat(
                [
                    pl.Series([index], dtype=pl.UInt32).new_from_index(0, counts[index])
                    for index in with_lines
                ],
            )
            if with_lines
            else pl.Series(dtype=pl.UInt32)
        )
        frame = pl.DataFrame({"line": read.lines, "source": source}).with_columns(
            lineno=(pl.int_range(pl.len()).over("source") + 1).cast(pl.Int64)
        )
        sample = frame.filter(pl.col("lineno") <= formats.DETECTION_SAMPLE_LINES)
        enveloped = set(
            sample.filter(envelopes.may_be_enveloped(sample.get_column("line"))).get_column("source")
        )
        reports = {index: report for index, _, report in entries}
        run: list[int] = []

        def read_together() -> Iterator[pl.DataFrame]:
            if run:
                start, rows = first_row[run[0]], sum(counts[index] for index in run)
                file_starts = [first_row[index] - start for index in run if counts[index]]
                if rows:  # not only empty files
                    yield self._small_files(frame.slice(start, rows), file_starts, reports)
                for index in run:
                    reports[index].lines_used = counts[index]
                run.clear()

        for index, source, report in entries:
            if index not in contents or index in enveloped:
                yield from read_together()
                yield from self.prepare(source, index, report)
                continue
            report.bytes = len(contents[index])
            report.lines = counts[index]
            report.replaced_lines = replaced[index]
            report.lines_cut = cut[index]
            report.named = source.named
            run.append(index)
        yield from read_together()

    def _small_files(
        self, frame: pl.DataFrame, first_rows: list[int], reports: dict[int, FileReport]
    ) -> pl.DataFrame:
        """The lines of whole small files, marked where records start; fills their reports."""
        lines, source = frame.get_column("line"), frame.get_column("source")
        hint = self.options.format_hint
        detected = (
            dict.fromkeys(source.unique().to_list(), formats.FORMATS_BY_ID[hint])
            if hint
            else formats.detect_formats(lines, source)
        )
        for index, fmt in detected.items():
            reports[index].format = self.source_formats[index] = fmt.id
        for index, zone in formats.detect_zones(lines, source).items():
            if detected[index].id == ZONE_FROM_FILE_FORMAT:
                self.source_zones[index] = reports[index].zone = zone
        loose_files = {index: fmt.loose_records for index, fmt in detected.items()}
        loose = source.replace_strict(loose_files, return_dtype=pl.Boolean)
        starts, unknown_rows = formats.record_starts_of_files(
            lines, loose, pl.Series(first_rows, dtype=pl.Int64)
        )
        for index, count in source.gather(unknown_rows).value_counts().iter_rows():
            reports[index].unknown_lines += count
        for index, count in source.filter(starts).value_counts().iter_rows():
            reports[index].records += count
        return frame.select(
            "line",
            envelope_ts=pl.lit(None, pl.String),
            in_container=pl.lit(value=False),
            lineno="lineno",
            source="source",
            starts=starts,
            record_base=_constant(0, frame.height),
        )

    def candidates(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The records among ``frame``'s lines (of one or more sources) that may be 400s."""
        records = _candidate_records(frame, self)
        if records.is_empty():
            return records
        return records.filter(
            ~formats.strip_ansi(pl.col("header")).str.contains(formats.NOISE_RECORD)
        ).with_columns(format=pl.col("source").replace_strict(self.source_formats, return_dtype=pl.String))

    def occurrences(self, records: pl.DataFrame, reports: list[FileReport]) -> pl.DataFrame:
        """The 400 occurrences among candidate records; adds each source's count to its report."""
        if records.is_empty():
            return aggregate.empty_events()
        default_side = pl.col("format").replace_strict(_FORMAT_SIDES, return_dtype=pl.String)
        # The shape is a column of its own: side and client both read it, and an expression
        # used twice is evaluated twice.
        side, client = formats.side_and_client(pl.col("shape"), default_side)
        method, endpoint = formats.method_and_endpoint(pl.col("text"))
        shape_names = {number: shape.name for number, shape in enumerate(formats.SHAPES)}
        text = pl.col("text")
        records = (
            records.with_columns(
                text=formats.strip_ansi(text),
                message=formats.strip_ansi(pl.col("message")),
                shape=formats.shape_expr(text),
            )
            .with_columns(
                status=formats.status_expr(text),
                side=fields.side_of(text, side),
                client=client,
                method=method,
                endpoint=fields.normalised_endpoint(endpoint),
                model=fields.normalised_model(formats.model_expr(pl.col("message"), text)),
                timestamp=_record_timestamp(records, self.source_zones, self.options.assume_tz),
                kind=fields.kind_expr(
                    text, pl.col("shape").replace_strict(shape_names, default=None, return_dtype=pl.String)
                ),
                reasonless=fields.reasonless_expr(text),
                address=fields.address_expr(text),
                user_agent=fields.user_agent_expr(text),
                latency=fields.latency_expr(text),
            )
            .with_columns(method=fields.default_method(pl.col("method"), pl.col("endpoint")))
        )
        events = classify.classify(records, self.ruleset, self.regex_guard)
        counted = events.filter(pl.col("suppressed_by").is_null()).get_column("source").value_counts()
        for index, count in counted.iter_rows():
            reports[index].occurrences += count
        names = pl.Series([report.name for report in reports], dtype=pl.String)
        return events.select(
            file=pl.lit(names).gather(pl.col("source")),
            record_no="record_no",
            line="line",
            end_line="end_line",
            timestamp="timestamp",
            side="side",
            kind="kind",
            status="status",
            method="method",
            endpoint="endpoint",
            model="model",
            client=pl.when(pl.col("side") == "client").then("client"),
            address="address",
            user_agent="user_agent",
            latency="latency",
            format="format",
            category="category",
            rule_id="rule_id",
            reasonless="reasonless",
            reason=fields.reason_expr(pl.col("message"), pl.col("reasonless")).str.slice(0, MAX_REASON_CHARS),
            header=fields.header_expr(text),
            ollama=fields.ollama_evidence(
                text, pl.col("kind"), pl.col("endpoint"), pl.col("client"), pl.col("rule_id")
            ),
            message=pl.col("message").str.slice(0, MAX_MESSAGE_CHARS),
            suppressed_by="suppressed_by",
        )


_FORMAT_SIDES = {fmt.id: fmt.side for fmt in formats.FORMATS}


def _note_read(report: FileReport, read: sources.ReadCounts) -> None:
    """A source's reading figures, as far as it has been read."""
    report.bytes, report.hole_bytes, report.compression = read.bytes, read.hole_bytes, read.compression
    report.lines, report.lines_skipped, report.lines_cut = read.lines, read.skipped_lines, read.cut_lines
    report.replaced_lines = read.replaced_lines


@dataclass(frozen=True)
class _Layout:
    """How one source is written, decided from its first block."""

    envelopes: tuple[envelopes.Envelope, ...]
    format: formats.FileFormat
    journal_year: envelopes.JournalYear
    zone: str | None  # of the zone-less times, where the file's other lines show one


def _detect_layout(
    source: sources.Source, sample: pl.Series, format_hint: str | None, report: FileReport
) -> _Layout:
    """How ``source`` is written, from its first block; noted in ``report`` too."""
    stack = envelopes.detect_envelopes(sample)
    inner = envelopes.peel(sample.head(2000), stack, envelopes.JournalYear(2000)).get_column("line")
    fmt = formats.FORMATS_BY_ID[format_hint] if format_hint else formats.detect_format(inner)
    first_month = envelopes.first_journal_month(sample, stack)
    # Only journald's short prefix lacks a year.
    year = _year_hint(source, inner, first_month) if first_month is not None else 0
    # Only a file of one program's lines says what zone its zone-less lines are in: in logs
    # pasted together from several machines, one part's offset says nothing of another's.
    single_source = fmt.id == ZONE_FROM_FILE_FORMAT and not stack
    zone = formats.detect_zones(inner, _constant(0, inner.len())).get(0) if single_source else None
    report.format = fmt.id
    report.envelopes = "+".join(e.id for e in stack)
    report.zone = zone
    return _Layout(stack, fmt, envelopes.JournalYear(year), zone)


def _year_hint(source: sources.Source, inner_lines: pl.Series, first_month: int | None) -> int:
    """The year journald short timestamps start in: that of the first dated inner line, else
    that of the file's modification time (a year earlier if the file starts in a later month
    than it was last written), else this year."""
    dated = inner_lines.str.extract(r"\b((?:19|20)\d{2})[-/]\d{2}[-/]\d{2}").drop_nulls()
    if dated.len():
        return int(dated[0])
    try:
        modified = source.path.stat().st_mtime if source.path else None
    except OSError:
        modified = None
    last_written = datetime.fromtimestamp(modified or datetime.now(UTC).timestamp(), UTC)
    started_last_year = first_month is not None and first_month > last_written.month
    return last_written.year - started_last_year


def _record_timestamp(records: pl.DataFrame, zones: dict[int, str], assume_tz: str) -> pl.Series:
    """The record's most precise timestamp: that of its first line, or that of the envelope
    around it. Zone-less times inside a container are UTC; elsewhere they are in the zone of
    their source (``zones``, by source index: the one the file's other lines show), else in
    assume_tz."""
    zone_of_record = records.get_column("source").replace_strict(
        zones, default=assume_tz, return_dtype=pl.String
    )
    distinct = zone_of_record.unique().to_list()
    if len(distinct) == 1:
        return _timestamps_in_zone(records, distinct[0])
    found = pl.Series("timestamp", [None] * records.height, dtype=pl.Datetime("us", "UTC"))
    for zone in distinct:
        rows = (zone_of_record == zone).arg_true()
        found = found.scatter(rows, _timestamps_in_zone(records[rows], zone))
    return found


def _timestamps_in_zone(records: pl.DataFrame, assume_tz: str) -> pl.Series:
    """(Timestamp parsing is the costliest field: envelope times are parsed only where they win.)"""
    inner = formats.strip_ansi(pl.col("header"))
    inner_time = timestamps.parse_timestamps(
        records.select(inner).to_series(), assume_tz, records.get_column("in_container")
    )
    envelope = records.get_column("envelope_ts")
    if envelope.null_count() == records.height:
        return inner_time
    envelope_wins = records.select(
        timestamps.timestamp_precision(pl.col("envelope_ts")).fill_null(-1)
        > timestamps.timestamp_precision(inner, pl.col("in_container")).fill_null(-1)
    ).to_series()
    envelope_time = timestamps.parse_timestamps(envelope.filter(envelope_wins), assume_tz)
    return inner_time.scatter(envelope_wins.arg_true(), envelope_time)


def _constant(value: int, rows: int) -> pl.Series:
    return pl.Series([value], dtype=pl.Int64).new_from_index(0, rows)


def _open_record_start(starts: pl.Series) -> int:
    """Row where the last record of a block starts: it may go on in the next block, so it is
    carried over, unless it is already too long to keep."""
    last_start = int(starts.arg_true()[-1]) if starts.len() else 0
    if starts.len() - last_start >= MAX_CARRIED_LINES:
        return starts.len()
    return last_start


# Per-line columns whose value on a record's first line is the record's.
_RECORD_ATTRIBUTES = ("envelope_ts", "in_container", "source")


def _candidate_records(frame: pl.DataFrame, pipeline: _Pipeline) -> pl.DataFrame:
    """One row per record that may be a 400: one with a line that shows a 400 or carries a
    message only ever sent with one. Each row has the record's first and last line number, its
    first line (``header``, where the timestamp is) and envelope timestamp, its ``text`` (its
    lines: the first MAX_RECORD_TEXT_LINES and every line a rule or status anchor hits) and its
    ``message`` (those hit lines)."""
    lines = frame.get_column("line")
    starts = frame.get_column("starts")
    # A cheap literal pass over every line ("400" or an implying message) and the exact test
    # on the few lines it finds; the rules' anchors are only tried inside the records kept.
    maybe_rows = pipeline.relevant_anchors.hits(lines).arg_true()
    maybe = lines.gather(maybe_rows)
    shows_400 = maybe.str.contains(formats.STATUS_400_PATTERN).fill_null(value=False)
    relevant = shows_400 | pipeline.implied.hits(maybe)
    relevant_rows = maybe_rows.filter(relevant)
    if relevant_rows.is_empty():
        return pl.DataFrame()
    record_of_row = starts.cast(pl.UInt32).cum_sum() - 1
    start_rows = starts.arg_true().cast(pl.Int64)
    bounds = pl.concat([start_rows, pl.Series([frame.height], dtype=pl.Int64)])
    records_kept = record_of_row.gather(relevant_rows).unique(maintain_order=True)
    first_rows = bounds.gather(records_kept)
    end_rows = bounds.gather(records_kept + 1)
    record_rows = pl.int_ranges(first_rows, end_rows, eager=True).explode()
    hit_rows = record_rows.filter(pipeline.prefilter.hits(lines.gather(record_rows)))
    text_rows = pl.int_ranges(
        first_rows, pl.min_horizontal(end_rows, first_rows + MAX_RECORD_TEXT_LINES), eager=True
    )
    rows = pl.concat([hit_rows, text_rows.explode()]).unique().sort()
    linenos = frame.get_column("lineno")
    # A record's ordinal in its source: counted from the first row of its chunk (a chunk's
    # rows are together), plus the records the source had before the chunk.
    source, record_base = frame.get_column("source"), frame.get_column("record_base")
    chunk_starts = (
        ((source != source.shift(1)) | (record_base != record_base.shift(1))).fill_null(value=True).arg_true()
    )
    own_start = chunk_starts.gather(chunk_starts.search_sorted(first_rows, side="right") - 1)
    record_no = (
        record_of_row.gather(first_rows).cast(pl.Int64)
        - record_of_row.gather(own_start).cast(pl.Int64)
        + record_base.gather(first_rows)
    )
    records = (
        pl.DataFrame(
            {
                "record": record_of_row.gather(rows),
                "lineno": linenos.gather(rows),
                "line": lines.gather(rows).fill_null(""),
                "hit": rows.is_in(hit_rows.implode()),
                **{column: frame.get_column(column).gather(rows) for column in _RECORD_ATTRIBUTES},
            }
        )
        .group_by("record", maintain_order=True)
        .agg(
            *(pl.col(column).first() for column in _RECORD_ATTRIBUTES),
            line=pl.col("lineno").first(),
            header=pl.col("line").first(),
            text=pl.col("line").str.join("\n"),
            message=pl.col("line").filter(pl.col("hit")).str.join("\n"),
        )
    )
    return records.with_columns(
        end_line=linenos.gather(_last_non_blank(lines, first_rows, end_rows)), record_no=record_no
    )


def _last_non_blank(lines: pl.Series, first_rows: pl.Series, end_rows: pl.Series) -> pl.Series:
    """The last row of each record, not counting the blank lines that trail it."""
    last = end_rows - 1
    for _ in range(MAX_TRAILING_BLANK_LINES):
        trailing_blank = lines.gather(last).is_null() & (last > first_rows)
        if not trailing_blank.any():
            break
        last = last - trailing_blank.cast(pl.Int64)
    return last


def survey(options: ScanOptions) -> list[FormatSurvey]:
    """Detect each source's envelopes and format, and count the lines each parser recognises,
    without classifying anything."""
    options = validate(options)
    surveys = []
    for source in sources.expand(options.paths, options.read_policy):
        report = FileReport(source.name, named=source.named)
        shapes: dict[str, int] = {}
        layout: _Layout | None = None
        read = sources.ReadCounts()
        try:
            for block in sources.read_blocks(source, options.block_bytes, options.read_policy, read):
                _note_read(report, read)
                report.lines_used += block.lines.len()
                if layout is None:
                    layout = _detect_layout(source, block.lines, options.format_hint, report)
                inner = envelopes.peel(block.lines, layout.envelopes, layout.journal_year).get_column("line")
                for shape, count in formats.line_shape_counts(inner).items():
                    shapes[shape] = shapes.get(shape, 0) + count
        except sources.SkippedSourceError as skipped:
            report.skipped = skipped.reason
        except sources.SourceReadError as error:
            report.error = error.reason
        _note_read(report, read)
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
