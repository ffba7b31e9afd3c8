#!/usr/bin/env python3
"""Peak PSS of a whole ``logscan scan`` process tree, and the time of its requests join.

Two measurements of one corpus folder (``generate.py --name dense --share-400 0.10`` makes the
one the README quotes):

1. ``logscan scan DIR -f csv -o OUT`` as a user runs it, its session sampled by run.py's
   ``SessionMemory``: wall time and the peak of the summed PSS of every process of the tree,
   and the peak PSS of the scan's own process (the join runs there, after the workers stop).
   The logscan measured is the one installed for the Python running this script, wherever it
   is run from: to compare two installs, run the script with each one's Python;
2. with ``--join-time``, the same scan inside this process (the checkout's code), timing the
   step after the last worker is done (the requests join and the sums: ``scan._finish``).

Usage::

    python benchmarks/join_memory.py /tmp/corpus/dense
    python benchmarks/join_memory.py /tmp/corpus/dense --join-time
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import SessionMemory


class DriverMemory(threading.Thread):
    """The peak PSS (MiB) of the scan's own process alone, which joins the records once the
    workers are done, sampled as often as SessionMemory samples PSS: set against the session's
    peak, it tells whether the workers or the join set it."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mib = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        rollup = Path(f"/proc/{self.pid}/smaps_rollup")
        while not self.done.wait(SessionMemory.PSS_EVERY * 0.02):
            with contextlib.suppress(OSError, ValueError):
                for line in rollup.read_text().splitlines():
                    if line.startswith("Pss:"):
                        self.peak_mib = max(self.peak_mib, int(line.split()[1]) / 1024)

    def stop(self) -> None:
        self.done.set()
        self.join()


def tree_pss(folder: Path, logscan: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, peak PSS (MiB) of the session and of the scan's own process, exit code of
    one scan."""
    with tempfile.TemporaryDirectory(prefix="join-memory-") as scratch:
        out = Path(scratch) / "report.csv"
        started = time.perf_counter()
        process = subprocess.Popen(
            [*logscan, "scan", str(folder), "-f", "csv", "-o", str(out)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        sampler = SessionMemory(process.pid, pss=True)
        driver = DriverMemory(process.pid)
        sampler.start()
        driver.start()
        code = process.wait()
        sampler.stop()
        driver.stop()
        return time.perf_counter() - started, sampler.peak_pss_mib, driver.peak_mib, code


def join_seconds(folder: Path) -> tuple[float, float, float]:
    """Seconds of the whole scan, and of its last step (join and sums) in this process: wall
    time, and CPU time of all its threads (less disturbed by other load on the machine)."""
    from logscan import scan  # noqa: PLC0415

    spent: list[tuple[float, float]] = []
    finish = scan._finish

    def timed(*args: object, **kwargs: object) -> object:
        started, cpu = time.perf_counter(), time.process_time()
        result = finish(*args, **kwargs)  # type: ignore[arg-type]
        spent.append((time.perf_counter() - started, time.process_time() - cpu))
        return result

    scan._finish = timed  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="join-memory-") as spill:
        started = time.perf_counter()
        scan.run(scan.ScanOptions(paths=(str(folder),), keep_events=False), spill_dir=Path(spill))
        total = time.perf_counter() - started
    return total, *spent[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--join-time", action="store_true", help="also time the join in this process")
    parser.add_argument("--no-pss", action="store_true", help="leave out the PSS run")
    args = parser.parse_args()
    # The logscan installed for this interpreter: -P keeps the current folder off the path, so
    # that run from a checkout the scan does not import the checkout's code instead.
    logscan = [sys.executable, "-P", "-m", "logscan"]
    if not args.no_pss:
        wall, pss, driver, code = tree_pss(args.folder, logscan)
        print(
            f"scan: {wall:.1f} s, peak PSS of the tree {pss:.0f} MiB (of the scan's own process "
            f"{driver:.0f} MiB), exit {code} ({os.cpu_count()} CPUs)"
        )
    if args.join_time:
        total, joined, cpu = join_seconds(args.folder)
        print(f"in one process: scan {total:.1f} s, of which join and sums {joined:.2f} s ({cpu:.2f} s CPU)")


if __name__ == "__main__":
    main()
