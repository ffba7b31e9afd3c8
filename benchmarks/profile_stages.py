#!/usr/bin/env python3
"""Where the time of a scan goes: CPU seconds per pipeline stage, for one file or folder.

The scan runs as ``logscan scan --jobs 1 PATH -f csv`` does, inside this process, with Polars
on one thread, so that CPU time is the work of one core and each stage can be timed by
wrapping the function that does it. Stages nest: the lines under a stage are part of it.
Wall and CPU time of each stage are shown; "rest" is what no stage covers (start-up, imports,
reading the rule pack, writing the report).

Usage::

    python benchmarks/profile_stages.py benchmarks/data/plain/01-python-app.log
    python benchmarks/profile_stages.py benchmarks/data/dense --repeat 3

The figures are those of this interpreter and machine; compare them only with figures taken
the same way.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Read by Polars when it is imported.
os.environ["POLARS_MAX_THREADS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from click.testing import CliRunner

from logscan import classify, cli, reading, recordstarts, rulemodel, scan, sources

# (label, depth, owner, attribute): the function whose calls make up the stage.
STAGES: list[tuple[str, int, Any, str]] = [
    ("decoding blocks into lines", 0, sources, "_decoded_lines"),
    ("record starts and unknown lines", 0, recordstarts, "record_starts_and_unknown"),
    ("candidate records", 0, reading, "_candidate_records"),
    ("literal searches (all lines, then record lines)", 1, rulemodel.LiteralSearch, "hits"),
    ("fields and rules of candidates", 0, reading.Pipeline, "occurrences"),
    ("rules (classify)", 1, classify, "classify"),
    ("requests join and sums", 0, scan, "_finish"),
]


class StageClock:
    """Wall and CPU seconds spent in each wrapped function, summed over its calls."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def wrap(self, label: str, owner: Any, attribute: str) -> None:
        function: Callable[..., Any] = getattr(owner, attribute)

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.wall[label] = self.wall.get(label, 0.0) + time.perf_counter() - wall
                self.cpu[label] = self.cpu.get(label, 0.0) + time.process_time() - cpu

        setattr(owner, attribute, timed)

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()


def input_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path, help="a log file or folder")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the last one is shown (default 1)")
    args = parser.parse_args()
    clock = StageClock()
    for label, _depth, owner, attribute in STAGES:
        clock.wrap(label, owner, attribute)
    size = input_bytes(args.path)
    with tempfile.TemporaryDirectory(prefix="profile-stages-") as scratch:
        for _ in range(args.repeat):
            clock.reset()
            wall, cpu = time.perf_counter(), time.process_time()
            result = CliRunner().invoke(
                cli.main, ["scan", "--jobs", "1", str(args.path), "-f", "csv", "-o", f"{scratch}/report.csv"]
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if result.exit_code != 0:
                sys.exit(f"logscan scan exited with {result.exit_code}:\n{result.output}")
    print(
        f"{args.path}: {size / 2**20:.0f} MiB, {wall:.2f} s wall, {cpu:.2f} s CPU, {size / 2**20 / cpu:.0f} MiB/s per core"
    )
    print(f"{'stage':52} {'wall s':>8} {'CPU s':>8} {'share':>7}")
    covered = 0.0
    for label, depth, _owner, _attribute in STAGES:
        spent = clock.cpu.get(label, 0.0)
        covered += spent if depth == 0 else 0.0
        name = ("  of which " if depth else "") + label
        print(f"{name:52} {clock.wall.get(label, 0.0):8.2f} {spent:8.2f} {spent / cpu:7.1%}")
    print(f"{'rest (start-up, rules, report)':52} {'':8} {cpu - covered:8.2f} {(cpu - covered) / cpu:7.1%}")


if __name__ == "__main__":
    main()
