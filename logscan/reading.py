"""Reading sources into 400 records: lines peeled of envelopes and cut into records, the
candidate records picked by a cheap literal pass, their fields extracted and their category
given by the rules. One Pipeline reads the sources of one part of a scan."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from logscan import aggregate, classify, envelopes, fields, formats, recordstarts, rules, sources, timestamps
from logscan.results import FileReport
from logscan.scanoptions import ScanOptions

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


class Pipeline:
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
        layout: Layout | None = None
        carried: pl.DataFrame | None = None
        carried_starts = pl.Series(dtype=pl.Boolean)
        report.named = source.named
        read = sources.ReadCounts()
        policy = self.options.read_policy
        try:
            for block in sources.read_blocks(source, self.options.block_bytes, policy, read):
                lines = block.lines
                note_read(report, read)
                if layout is None:
                    layout = detect_layout(source, lines, self.options.format_hint, report)
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
                starts, unknown = recordstarts.record_starts_and_unknown(
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
        note_read(report, read)
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
        starts, unknown_rows = recordstarts.record_starts_of_files(
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
        shape_names = {number: shape.name for number, shape in enumerate(formats.SHAPES)}
        text = pl.col("text")
        # An access line is one line: its fields are read off the record's first line, not
        # off its whole text (up to MAX_RECORD_TEXT_LINES lines).
        first = pl.col("first_line")
        records = records.with_columns(
            text=formats.strip_ansi(text),
            message=formats.strip_ansi(pl.col("message")),
            first_line=formats.strip_ansi(pl.col("header")),
            shape=formats.shape_expr(text),
        )
        # A column of its own, read twice below; of the text without its colours (an
        # expression beside text=... above would see the text still coloured).
        records = records.with_columns(request=formats.request_expr(text))
        # The costliest extractions run only on the records holding the literals they need.
        model = _only_where(
            records,
            text.str.contains_any(list(formats.MODEL_LITERALS)),
            fields.normalised_model(formats.model_expr(pl.col("message"), text)),
        )
        latency = _only_where(
            records, first.str.contains(fields.GIN_LITERAL, literal=True), fields.latency_expr(first)
        )
        reasonless = _only_where(
            records, fields.access_or_status_only(text), fields.shows_no_reason(text)
        ).fill_null(value=False)
        records = records.with_columns(
            status=formats.status_expr(text),
            side=fields.side_of(first, side),
            client=client,
            method=pl.col("request").struct.field("method"),
            endpoint=fields.normalised_endpoint(pl.col("request").struct.field("endpoint")),
            model=model,
            timestamp=_record_timestamp(records, self.source_zones, self.options.assume_tz),
            kind=fields.kind_expr(
                first, pl.col("shape").replace_strict(shape_names, default=None, return_dtype=pl.String)
            ),
            reasonless=reasonless,
            address=fields.address_expr(first),
            user_agent=fields.user_agent_expr(first),
            latency=latency,
        ).with_columns(method=fields.default_method(pl.col("method"), pl.col("endpoint")))
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
            header=fields.header_expr(pl.col("first_line")),
            ollama=fields.ollama_evidence(
                text, pl.col("kind"), pl.col("endpoint"), pl.col("client"), pl.col("rule_id")
            ),
            message=pl.col("message").str.slice(0, MAX_MESSAGE_CHARS),
            suppressed_by="suppressed_by",
        )


_FORMAT_SIDES = {fmt.id: fmt.side for fmt in formats.FORMATS}


def note_read(report: FileReport, read: sources.ReadCounts) -> None:
    """A source's reading figures, as far as it has been read."""
    report.bytes, report.hole_bytes, report.compression = read.bytes, read.hole_bytes, read.compression
    report.lines, report.lines_skipped, report.lines_cut = read.lines, read.skipped_lines, read.cut_lines
    report.replaced_lines = read.replaced_lines


@dataclass(frozen=True)
class Layout:
    """How one source is written, decided from its first block."""

    envelopes: tuple[envelopes.Envelope, ...]
    format: formats.FileFormat
    journal_year: envelopes.JournalYear
    zone: str | None  # of the zone-less times, where the file's other lines show one


def detect_layout(
    source: sources.Source, sample: pl.Series, format_hint: str | None, report: FileReport
) -> Layout:
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
    return Layout(stack, fmt, envelopes.JournalYear(year), zone)


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


def _only_where(frame: pl.DataFrame, gate: pl.Expr, value: pl.Expr) -> pl.Series:
    """``value`` on the rows of ``frame`` where ``gate`` holds, null on the others. For an
    extraction that cannot find anything where the literals ``gate`` looks for are missing,
    this gives what ``value`` gives on every row, at the cost of the rows that hold them."""
    rows = frame.select(gate.fill_null(value=False)).to_series().arg_true()
    if rows.len() == frame.height:
        return frame.select(value).to_series()
    found = frame[rows].select(value).to_series()
    return pl.Series(found.name, [None], found.dtype).new_from_index(0, frame.height).scatter(rows, found)


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


def _candidate_records(frame: pl.DataFrame, pipeline: Pipeline) -> pl.DataFrame:
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
