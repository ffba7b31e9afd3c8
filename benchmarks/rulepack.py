#!/usr/bin/env python3
"""How logscan copes with a large rule pack: load it, and scan with it.

Generates a seeded pack of ``--rules`` rules (default 5,000) in one YAML file: each rule has its
own wording (a service, a component and an error phrase), conditions mixing ``contains`` and
``regex`` (a few with look-behind, which run on the ``regex`` engine), some ``any`` groups, some
``side`` and ``none`` conditions. Then it times, each step in a fresh process so that its peak
RSS is its own (wall and CPU time: on a busy machine CPU time is the steadier figure):

- ``load-cold``: ``rules.load`` with the pack and an empty cache (YAML parsing, validation,
  compiling);
- ``load-cached``: the same call again, the pack coming from the cache;
- ``scan-small``: ``logscan scan`` of a 200-line log with the pack;
- ``scan-large``: ``logscan scan`` of a ``--size`` log (default 100 MiB) with the pack;
- ``scan-large-builtin`` (not run by default): the same log with the built-in rules only, the
  yardstick.

The logs are about 2 % 400s, half of them worded like pack rules, the rest like built-in ones
or like nothing at all, between 200s and noise. Usage::

    python benchmarks/rulepack.py                      # 5,000 rules, 100 MiB, in a temp folder
    python benchmarks/rulepack.py --rules 1000 --size 20MiB --keep /tmp/pack
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SERVICES = ("billing", "gateway", "search", "tenant", "ingest", "vector", "chatbot", "router", "embedder")
COMPONENTS = ("quota", "schema", "token", "payload", "session", "shard", "cursor", "prompt", "upload")
PHRASES = (
    "rejected the request",
    "failed validation",
    "refused oversized input",
    "could not parse field",
    "exceeded the allowed budget",
    "returned an invalid reply",
    "saw a malformed header",
)
CATEGORIES = ("request_format", "rate_limit", "auth", "context_or_options", "server_misconfig")


def wording(number: int) -> tuple[str, str]:
    """The code and the phrase of rule ``number``: unique together, realistic apart."""
    rng = random.Random(number)
    code = f"{rng.choice(SERVICES)}-{rng.choice(COMPONENTS)}-E{number:05d}"
    return code, rng.choice(PHRASES)


def rule_yaml(number: int) -> str:
    code, phrase = wording(number)
    rng = random.Random(-number)
    kind = number % 10
    if kind < 4:  # one literal
        match = f"      all:\n        - message: {{contains: '{code}'}}\n"
    elif kind < 6:  # a Rust-engine regex
        service, component, digits = code.split("-")
        match = f"      all:\n        - message: {{regex: '{service}[-_]{component}[-_]{digits} {phrase.split()[0]}'}}\n"
    elif kind < 8:  # any of two wordings, on the client side
        match = (
            "      all:\n        - side: {equals: client}\n"
            f"      any:\n        - message: {{contains: '{code} {phrase}'}}\n"
            f"        - message: {{regex: '(?i){code}: {phrase.split()[-1]}'}}\n"
        )
    elif kind < 9:  # a literal with an exception
        match = (
            f"      all:\n        - message: {{contains: '{code}'}}\n"
            "      none:\n        - message: {contains: 'dry run'}\n"
        )
    else:  # look-behind: the `regex` engine
        match = f"      all:\n        - message: {{regex: '(?<!no ){code} {phrase}'}}\n"
    return (
        f"  - id: pack.r{number:05d}\n"
        f"    title: {code} {phrase}\n"
        f"    category: {CATEGORIES[number % len(CATEGORIES)]}\n"
        f"    priority: {rng.randint(40, 70)}\n"
        f"    match:\n{match}"
    )


def write_pack(path: Path, count: int) -> None:
    path.write_text("rules:\n" + "".join(rule_yaml(number) for number in range(count)), encoding="utf-8")


def log_lines(count: int, rules: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        stamp = f"2025-06-01 {index // 3600 % 24:02d}:{index // 60 % 60:02d}:{index % 60:02d},123"
        roll = rng.random()
        if roll < 0.01:
            code, phrase = wording(rng.randrange(rules))
            lines.append(f"{stamp} ERROR app.client: {code} {phrase} (status code: 400)")
        elif roll < 0.015:
            lines.append(f"{stamp} ERROR app.client: model 'x' does not support tools (status code: 400)")
        elif roll < 0.02:
            lines.append(
                f'{stamp} INFO httpx: HTTP Request: POST http://ollama:11434/api/chat "HTTP/1.1 400 Bad Request"'
            )
        elif roll < 0.6:
            lines.append(
                f'{stamp} INFO httpx: HTTP Request: POST http://ollama:11434/api/chat "HTTP/1.1 200 OK"'
            )
        else:
            lines.append(
                f"{stamp} INFO app.worker: processed batch {rng.randrange(10**6)} in {rng.random():.3f}s"
            )
    return lines


def write_log(path: Path, size: int, rules: int) -> None:
    chunk = "\n".join(log_lines(20_000, rules, seed=1)) + "\n"
    with path.open("w", encoding="utf-8") as out:
        written = 0
        seed = 1
        while written < size:
            out.write(chunk)
            written += len(chunk)
            seed += 1
            chunk = "\n".join(log_lines(20_000, rules, seed)) + "\n"


def _descendants(root: int) -> list[int]:
    parents = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = status.read_text().rsplit(")", 1)[1].split()
            parents[int(status.parent.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _cpu_ticks(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    return 0


def _peak_kib(pid: int) -> int:
    with contextlib.suppress(OSError, StopIteration):
        status = Path(f"/proc/{pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
    return 0


class _WorkerPeaks(threading.Thread):
    """The peak RSS of every process this one starts (workers, and the server that forks
    them), sampled while they run: ru_maxrss does not see grandchildren."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, int] = {}
        self.ticks: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for pid in _descendants(os.getpid()):
                self.peaks[pid] = max(self.peaks.get(pid, 0), _peak_kib(pid))
                self.ticks[pid] = max(self.ticks.get(pid, 0), _cpu_ticks(pid))


def step(name: str, pack: Path, log: Path | None) -> None:
    """Run one measured step in this process and print its figures as JSON."""
    peaks = _WorkerPeaks()
    peaks.start()
    started = time.perf_counter()
    if name.startswith("load"):
        from logscan import rules  # noqa: PLC0415

        ruleset = rules.load([pack])
        detail = f"{len(ruleset.rules)} rules"
    else:
        from click.testing import CliRunner  # noqa: PLC0415

        from logscan.cli import main  # noqa: PLC0415

        with_pack = [] if name.endswith("-builtin") else ["--rules", str(pack)]
        result = CliRunner().invoke(main, ["scan", *with_pack, "-f", "json", str(log)])
        if result.exit_code != 0:
            raise SystemExit(f"{name}: exit {result.exit_code}: {result.stderr[-2000:]}")
        report = json.loads(result.stdout)
        detail = f"{report['requests']} requests, {report['records']['total']} records, {report['classified']} classified"
    seconds = time.perf_counter() - started
    peaks.done.set()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # A large input is scanned by worker processes: the largest of them.
    worker_mib = max(peaks.peaks.values(), default=0) / 1024
    # CPU time, of this process and its workers: on a busy machine it varies less than wall time.
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu = own.ru_utime + own.ru_stime + sum(peaks.ticks.values()) / os.sysconf("SC_CLK_TCK")
    figures = {
        "step": name,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mib": peak_mib,
        "worker_rss_mib": worker_mib,
    }
    print(json.dumps({**figures, "detail": detail}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=5000, help="rules in the pack (default 5000)")
    parser.add_argument("--size", default="100MiB", help="size of the large log (default 100MiB)")
    parser.add_argument("--keep", type=Path, help="write pack, logs and cache here and keep them")
    parser.add_argument("--steps", default="load-cold,load-cached,scan-small,scan-large")
    parser.add_argument("--step", help=argparse.SUPPRESS)  # internal: one step in a child process
    parser.add_argument("--pack", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        step(args.step, args.pack, args.log)
        return 0

    units = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
    unit = next((u for u in units if args.size.endswith(u)), "")
    size = int(float(args.size.removesuffix(unit)) * units.get(unit, 1))
    with tempfile.TemporaryDirectory(prefix="rulepack-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        pack, small, large, cache = (folder / n for n in ("pack.yaml", "small.log", "large.log", "cache"))
        write_pack(pack, args.rules)
        small.write_text("\n".join(log_lines(200, args.rules, seed=0)) + "\n", encoding="utf-8")
        # A log kept from an earlier run of the same size is used again.
        kept = large.exists() and size <= large.stat().st_size < size + 2**22
        if "scan-large" in args.steps and not kept:
            write_log(large, size, args.rules)
        large_note = f"; large log {size / 2**20:.0f} MiB" if "scan-large" in args.steps else ""
        print(f"pack: {args.rules:,} rules, {pack.stat().st_size / 2**20:.1f} MiB{large_note}")
        if cache.exists():
            for entry in cache.iterdir():
                entry.unlink()
        environment = {**os.environ, "LOGSCAN_CACHE_DIR": str(cache)}
        for name in args.steps.split(","):
            log = {"scan-small": small, "scan-large": large, "scan-large-builtin": large}.get(name)
            command = [sys.executable, __file__, "--step", name, "--pack", str(pack)]
            command += ["--log", str(log)] if log else []
            done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{name}: failed: {done.stderr.strip()[-2000:]}")
                continue
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            workers = figures["worker_rss_mib"]
            print(
                f"{name:12} {figures['seconds']:7.2f} s wall {figures['cpu_seconds']:7.2f} s CPU"
                f"  peak RSS {figures['peak_rss_mib']:5.0f} MiB"
                + (f", largest worker {workers:.0f} MiB" if workers else "")
                + f"  ({figures['detail']})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
