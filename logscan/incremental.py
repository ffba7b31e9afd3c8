"""An incremental scan (``--state FILE``): the state's plan turned into what the scan reads,
the scan continued from the last run, and what the run commits once its outputs are written.

Of each file only the bytes after the last run's offset are read (a plain file up to its last
newline); a file the state knows as another one's duplicate, or with nothing new, is listed
with the reason and not read. Objects in a bucket are planned alike, by key, ETag and size
(see ``state/objects.py``), and read to their end. On a Dask cluster each shard carries its
part of a file (start, end, the identity planned) to the worker, which reads that path.

The commit (offsets, the history row, the records waiting for a partner) is the caller's last
step: a run that fails or is stopped before it commits nothing, and the next run reads the
same bytes again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from logscan import scan, trends
from logscan.executors import Executor
from logscan.inputs import Identity, Source
from logscan.results import FileReport, ScanResult
from logscan.scanoptions import ScanOptions, duration
from logscan.state import CommitResult, FileRead, ObjectPlan, PlanReason, ReadPlan, Run, StateDB

# Log writers may buffer a line for a moment: a file written this long before the match window
# began may still be getting the partner of a record it holds.
WRITE_MARGIN_SECONDS = 60.0
# Marks the sources not read: their reports carry the reason as ``incremental``, not as a skip.
_NOT_READ = "\x00not read: "


@dataclass(frozen=True)
class _Planned:
    """One source of the scan and the plan it is read by (None: read as it is, e.g. stdin)."""

    source: Source
    plan: ReadPlan | ObjectPlan | None
    archive: bool = False  # a member of the archive the plan is for


class IncrementalScan:
    """One run over a locked state: ``plan``, ``scan``, write the outputs, ``commit``."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.started_at = datetime.now(UTC)
        self._planned: list[_Planned] = []
        self._result: ScanResult | None = None
        self._held: pl.DataFrame | None = None

    @classmethod
    def open(cls, state_path: Path) -> IncrementalScan:
        """Lock and open the state (StateLockedError at once when another run holds it)."""
        return cls(StateDB.open(state_path))

    def plan(self, sources_list: Sequence[Source]) -> list[Source]:
        """The sources as this run reads them: parts of files, and files not read at all.
        The state is closed if planning fails."""
        on_disk = list(dict.fromkeys(str(s.path) for s in sources_list if _plannable(s)))
        listed = [s for s in sources_list if _listed_object(s)]
        try:
            planned = self.db.plan([Path(path) for path in on_disk])
            object_plans = self.db.plan_objects(listed)
        except BaseException:
            self.db.close()
            raise
        plans: dict[str, ReadPlan | ObjectPlan] = dict(zip(on_disk, planned, strict=True))
        objects = {id(source): plan for source, plan in zip(listed, object_plans, strict=True)}
        self._planned = [
            _Planned(
                s,
                plans.get(str(s.path)) if _plannable(s) else objects.get(id(s)),
                s.member is not None,
            )
            for s in sources_list
        ]
        return [_to_read(planned) for planned in self._planned]

    def scan(
        self,
        options: ScanOptions,
        sources_list: Sequence[Source],
        on_progress: Callable[[scan.Progress], None] | None = None,
        spill_dir: Path | None = None,
        pool: ProcessPoolExecutor | None = None,
        executor: Executor | None = None,
    ) -> ScanResult:
        """Scan the planned sources, continuing the last run; the result has its trends. On a
        cluster (``executor``) each shard carries its part of a file (start, end, identity),
        and the worker reads it at the same path."""
        lines_before = {
            planned.source.name: planned.plan.lines_before
            for planned in self._planned
            if planned.plan is not None and not planned.archive and planned.plan.lines_before
        }
        continuation = scan.Continuation(lines_before, self.db.pending(), self._still_written(options))
        continued = scan.run_continued(
            options, continuation, sources_list, on_progress, spill_dir, pool, executor
        )
        result = continued.result
        for planned, report in zip(self._planned, result.files, strict=True):
            _note_plan(planned, report)
        counts = result.counts
        result.trends = trends.compare(counts.requests, self.db.history())
        # What the stored runs counted and this one, which is stored at its commit: every
        # request is counted by exactly one run, so these are totals over all of them.
        result.cumulative = self.db.totals() + counts
        self._result, self._held = result, continued.held
        return result

    def _still_written(self, options: ScanOptions) -> bool:
        """Whether a plain file read now was written to lately: within the match window (and
        a margin for buffered writes) of this run's start. Else every partner of a record read
        is on disk already, and nothing waits for the next run."""
        lately = (
            self.started_at.timestamp()
            - duration(options.match_window).total_seconds()
            - WRITE_MARGIN_SECONDS
        )
        for planned in self._planned:
            plan = planned.plan
            # Objects are complete once uploaded: nothing is written to them as they are read.
            if (
                not isinstance(plan, ReadPlan)
                or plan.compression != "none"
                or plan.reads_nothing
                or planned.archive
            ):
                continue
            with contextlib.suppress(OSError):
                if os.stat(plan.path).st_mtime >= lately:
                    return True
        return False

    def commit(self) -> CommitResult:
        """Store what this run read and found; call it once every output is written."""
        result, held = self._result, self._held
        assert result is not None and held is not None, "commit follows scan"
        reads: dict[ReadPlan | ObjectPlan, FileRead] = {}
        for planned, report in zip(self._planned, result.files, strict=True):
            plan = planned.plan
            if plan is not None and plan not in reads:
                reads[plan] = _file_read(plan, report, archive=planned.archive)
        tally = result.tally
        timed = tally.filter(pl.col("first_seen").is_not_null())
        pending = result.pending
        counts = result.counts
        return self.db.commit(
            Run(
                started_at=self.started_at,
                finished_at=datetime.now(UTC),
                files=list(reads.values()),
                lines=result.lines,
                requests=counts.requests,
                records=counts.records,
                other_requests=counts.other_requests,
                first_event=timed.get_column("first_seen").min() if timed.height else None,  # type: ignore[arg-type]
                last_event=timed.get_column("last_seen").max() if timed.height else None,  # type: ignore[arg-type]
                pending=held,
                pending_over_bound=pending.over_bound if pending else 0,
            )
        )


def _plannable(source: Source) -> bool:
    return source.path is not None and source.data is None and not (source.skipped or source.unreadable)


def _listed_object(source: Source) -> bool:
    return source.remote is not None and not (source.skipped or source.unreadable)


def _to_read(planned: _Planned) -> Source:
    source, plan = planned.source, planned.plan
    if plan is None:
        return source
    if plan.reason == PlanReason.UNREADABLE:
        return dataclasses.replace(source, unreadable=plan.error)
    if plan.reason == PlanReason.DUPLICATE:
        kind = "object" if isinstance(plan, ObjectPlan) else "file"
        return dataclasses.replace(
            source, skipped=f"{_NOT_READ}the same {kind} as {plan.known_as}, read under that name"
        )
    if isinstance(plan, ObjectPlan):
        if plan.reads_nothing:
            was = f"was {plan.known_as}, " if plan.known_as else ""
            return dataclasses.replace(source, skipped=f"{_NOT_READ}{was}nothing new since the last run")
        return dataclasses.replace(source, start=plan.start, end=plan.end)
    if planned.archive:
        # An archive does not grow: its members are read the first time it is seen, or when
        # it has been replaced by another one.
        if plan.reason not in (PlanReason.NEW, PlanReason.TRUNCATED):
            return dataclasses.replace(source, skipped=f"{_NOT_READ}an archive read by an earlier run")
        return source
    if plan.reads_nothing:
        return dataclasses.replace(source, skipped=f"{_NOT_READ}nothing new since the last run")
    if plan.compression != "none":
        return dataclasses.replace(source, start=plan.start, end=None)
    return dataclasses.replace(
        source, start=plan.start, end=plan.end, identity=Identity(plan.device, plan.inode, plan.size)
    )


def _note_plan(planned: _Planned, report: FileReport) -> None:
    """What the report says of the plan: how much of the file was new, or why none was read."""
    plan = planned.plan
    if report.skipped and report.skipped.startswith(_NOT_READ):
        report.incremental, report.skipped = report.skipped.removeprefix(_NOT_READ), None
        return
    if plan is None or planned.archive or plan.reason == PlanReason.UNREADABLE:
        return
    was = f"was {plan.known_as}, " if plan.known_as else ""
    if plan.reason == PlanReason.TRUNCATED:
        report.incremental = f"{was}truncated since the last run: read from its start"
    elif plan.reason == PlanReason.REPLACED:
        report.incremental = "replaced by other content since the last run: read from its start"
    elif plan.start > 0 and report.bytes == 0 and not report.error:
        report.incremental = f"{was}nothing new since the last run"
    elif plan.start > 0:
        report.incremental = f"{was}{plan.reason} from line {plan.lines_before + 1:,}"
    elif plan.known_as:
        report.incremental = f"{was}{plan.reason}"


def _file_read(plan: ReadPlan | ObjectPlan, report: FileReport, *, archive: bool) -> FileRead:
    """How far this run got in the planned file. A file not read to its planned end (it
    failed part-way) stops where the read did: its lines read are counted once, now."""
    if plan.reads_nothing or report.skipped or (report.incremental and report.bytes == 0):
        return FileRead(plan, plan.start, plan.lines_before)
    if archive:
        return FileRead(plan, plan.end if plan.end is not None else max(plan.size, 1))
    end = plan.start + report.bytes
    if plan.end is not None:
        end = plan.end if not report.error else min(end, plan.end)
    return FileRead(plan, end, plan.lines_before + report.lines, complete=not report.error)
