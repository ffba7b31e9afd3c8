#!/usr/bin/env python3
"""The scan on a Dask cluster beside the local worker pool, on the same files.

Generates (or reuses) a corpus with ``generate.py`` under ``--out``: ``--files`` plain files of
``--size`` in all, and their ``.gz`` copies. Then times, interleaved ``--repeat`` times, the
whole ``logscan scan -f csv`` as a user runs it:

* ``local``: the local worker pool (one process per core);
* ``dask-local:2``: a LocalCluster of 2 worker processes started by the run itself, so its
  start-up is in the time;
* ``dask, running``: a cluster of 2 workers started once beforehand (by this script), as a
  user with a cluster has it: the difference to ``local`` is the per-scan cost of Dask
  (connecting, the version check, shipping shards and partials).

It also times starting a LocalCluster of 2 workers alone. Every run's CSV report is checked
to be the same as the local one's. Medians are printed, with overheads against ``local``.

Usage::

    python benchmarks/dask_case.py --size 256MiB --repeat 3
    python benchmarks/dask_case.py --size 1GiB --repeat 3 --json dask.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path

import distributed

from logscan import executors

HERE = Path(__file__).resolve().parent
UNITS = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def _bytes(text: str) -> int:
    for unit, factor in UNITS.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def _corpus(out: Path, size: str, files: int) -> Path:
    manifest = out / "manifest.json"
    wanted = {"size": size, "files": files}
    if not (manifest.exists() and json.loads(manifest.read_text()).get("dask_case") == wanted):
        subprocess.run(
            [sys.executable, str(HERE / "generate.py"), "--out", str(out), "--size", size,
             "--files", str(files), "--seed", "42", "--gzip", "--quiet"],
            check=True,
        )  # fmt: skip
        manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"dask_case": wanted}))
    return out


def _timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="256MiB", help="plain corpus size (default 256MiB)")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "data" / "dask-case")
    parser.add_argument("--json", type=Path, help="write every run here")
    arguments = parser.parse_args()

    corpus = _corpus(arguments.out, arguments.size, arguments.files)
    logscan = str(Path(sys.executable).parent / "logscan")
    started = time.perf_counter()
    with executors.local_cluster(2) as cluster, distributed.Client(cluster) as client:
        executors.prepared(client)
        start_seconds = time.perf_counter() - started
        address = client.scheduler.address
        runs: dict[str, dict[str, list[float]]] = {}
        for kind in ("plain", "gz"):
            base = [logscan, "scan", str(corpus / kind), "-f", "csv", "-q"]
            cases = {
                "local": base,
                "dask-local:2": [*base, "--executor", "dask-local:2"],
                "dask, running": [*base, "--executor", "dask", "--scheduler", address],
            }
            runs[kind] = {name: [] for name in cases}
            reports = {}
            for _ in range(arguments.repeat):
                for name, command in cases.items():
                    seconds, report = _timed(command)
                    runs[kind][name].append(seconds)
                    reports.setdefault(name, report)
            if len(set(reports.values())) != 1:
                sys.exit(f"{kind}: the executors' CSV reports differ")
    print(f"LocalCluster of 2 workers started and checked in {start_seconds:.2f} s")
    size = _bytes(arguments.size)
    print("\n| corpus | executor | median s | MiB/s | overhead vs local |\n|---|---|---:|---:|---:|")
    for kind, cases in runs.items():
        local = statistics.median(cases["local"])
        for name, seconds in cases.items():
            median = statistics.median(seconds)
            overhead = "" if name == "local" else f"{median - local:+.2f} s ({median / local - 1:+.0%})"
            print(
                f"| {kind}, {arguments.size} | {name} | {median:.2f} | {size / 1024**2 / median:,.0f} | {overhead} |"
            )
    if arguments.json:
        arguments.json.write_text(
            json.dumps({"size": arguments.size, "start_seconds": start_seconds, "runs": runs}, indent=1)
        )


if __name__ == "__main__":
    logging.getLogger("distributed").setLevel(logging.ERROR)
    main()
