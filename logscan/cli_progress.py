"""The progress line a long scan shows on a terminal."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from logscan import sanitize


def total_bytes(sources_list: Sequence[Any]) -> int | None:
    """About what the scan will read (a compressed file's size is guessed from its stored
    size), when the size of every source it reads is known: not for stdin nor archive
    members. Inputs skipped or unreadable are not read."""
    from logscan import workers  # noqa: PLC0415

    read = [source for source in sources_list if not (source.skipped or source.unreadable)]
    if any(source.size is None for source in read):
        return None
    return sum(workers.estimated_size(source) for source in read)


class ProgressLine:
    """One line on stderr, redrawn in place: bytes read of the total, rate, time left, files,
    400s found and the file being read. A compressed file reads to more than its size: once
    the bytes read pass the total, only the rate is shown, not a share or a time left."""

    BAR_WIDTH = 10
    REDRAW_SECONDS = 0.1  # a redraw per block of a fast scan would cost more than the scan

    def __init__(self, total_bytes: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total_bytes = total_bytes
        self.clock = clock
        self.started = clock()
        self.drawn_at: float | None = None

    def __call__(self, progress: Any) -> None:
        now = self.clock()
        last = progress.files_done == progress.files_total
        if not last and self.drawn_at is not None and now - self.drawn_at < self.REDRAW_SECONDS:
            return
        self.drawn_at = now
        # Cut to the width: a line that wraps cannot be redrawn in place.
        width = max(shutil.get_terminal_size().columns - 1, 1)
        click.echo(f"\r{self.line(progress, now - self.started)[:width]}\x1b[K", err=True, nl=False)

    def line(self, progress: Any, elapsed: float) -> str:
        done = progress.bytes_read
        rate = done / elapsed if elapsed > 0 else 0.0
        total = self.total_bytes
        finished = progress.files_done == progress.files_total
        if total is not None and (done <= total or finished):
            share = 1.0 if finished or not total else done / total
            filled = round(share * self.BAR_WIDTH)
            left = _clock_time(max(total - done, 0) / rate) if rate > 0 and not finished else "0:00"
            amount = (
                f"{share:4.0%} [{'#' * filled}{'-' * (self.BAR_WIDTH - filled)}]"
                f" {_bytes(done, total) if done <= total else _bytes(done)} {_bytes(rate)}/s {left} left"
            )
        else:
            amount = f"{_bytes(done)} {_bytes(rate)}/s"
        return (
            f"logscan: {amount} {progress.files_done}/{progress.files_total} files"
            f"{_shards(progress)}"
            f" {progress.occurrences:,} 400s {sanitize.terminal(Path(progress.current).name)}"
        )

    def finish(self) -> None:
        if self.drawn_at is not None:
            click.echo("", err=True)


def _shards(progress: Any) -> str:
    """Shards done, when the scan is spread over workers (a cluster's among them)."""
    total = getattr(progress, "shards_total", 0)
    return f" {progress.shards_done}/{total} shards" if total > 1 else ""


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _bytes(amount: float, total: float | None = None) -> str:
    """1.5 MiB; with a total, both in the total's unit: 1.5/20.0 MiB."""
    scale = total if total is not None else amount
    power = 0
    while scale >= 1024 and power < len(_BYTE_UNITS) - 1:
        scale /= 1024
        power += 1
    digits = 0 if power == 0 else 1
    shown = f"{amount / 1024**power:.{digits}f}"
    if total is not None:
        shown += f"/{total / 1024**power:.{digits}f}"
    return f"{shown} {_BYTE_UNITS[power]}"


def _clock_time(seconds: float) -> str:
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02}:{second:02}" if hours else f"{minute}:{second:02}"
