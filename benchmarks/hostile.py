#!/usr/bin/env python3
"""Peak memory and time of ``logscan scan`` on hostile input, next to grep and rg.

The inputs are written into a scratch folder (``--scratch``, default a temporary folder) and
deleted after:

* ``no-newline``: 2 GB of bytes without a newline (``--no-newline-size``);
* ``long-line``: one 200 MB line, then a 400 line;
* ``sparse``: a sparse file of 50 GiB without data (``/var/log/lastlog`` looks like that);
* ``gzip-bomb``: 8 GiB of zeros in about 8 MB of gzip (128 members of 64 MiB each), read as
  logscan reads it by default (binary: skipped), with ``--binary`` (then the decompressed-size
  cap of 4 GiB stops it), and through ``zcat`` alone;
* ``newline-bomb``: 64 MiB of empty lines in about 64 kB of gzip: every line costs a row.

Wall time and peak memory come from ``run.py``'s harness (``os.wait4``, and the summed RSS of every
process the tool starts, workers included).

Usage::

    python benchmarks/hostile.py
    python benchmarks/hostile.py --cases sparse,gzip-bomb --json benchmarks/results/hostile.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Job, become_subreaper, logscan_base, run_once

CASES = ("no-newline", "long-line", "sparse", "gzip-bomb", "newline-bomb")
CLIENT_400 = (
    b'2025-05-07 07:14:04,512 INFO httpx: HTTP Request: POST http://x/api/chat "HTTP/1.1 400 Bad Request"\n'
)


def write_repeated(path: Path, piece: bytes, total: int, tail: bytes = b"") -> None:
    with path.open("wb") as stream:
        written = 0
        while written < total:
            chunk = piece[: total - written]
            stream.write(chunk)
            written += len(chunk)
        stream.write(tail)


def gzip_members(path: Path, content: bytes, members: int) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = compressor.compress(content) + compressor.flush()
    with path.open("wb") as stream:
        for _ in range(members):
            stream.write(member)


def make_input(case: str, scratch: Path, no_newline_bytes: int) -> Path:
    if case == "no-newline":
        path = scratch / "no-newline.log"
        write_repeated(path, b"x" * (16 * 2**20), no_newline_bytes)
    elif case == "long-line":
        path = scratch / "long-line.log"
        write_repeated(path, b"y" * (16 * 2**20), 200 * 10**6, b"\n" + CLIENT_400)
    elif case == "sparse":
        path = scratch / "lastlog"
        with path.open("wb") as stream:
            stream.truncate(50 * 2**30)
    elif case == "gzip-bomb":
        path = scratch / "bomb.log.gz"
        gzip_members(path, b"\x00" * (64 * 2**20), 128)
    else:
        path = scratch / "newlines.log.gz"
        gzip_members(path, b"\n" * (64 * 2**20), 1)
    return path


def jobs_for(case: str, path: Path, logscan: list[str]) -> list[Job]:
    scan = [*logscan, "scan", "-f", "csv", str(path)]
    jobs = [Job("logscan", scan, ok_codes=(0, 2))]
    if case == "gzip-bomb":
        jobs.append(Job("logscan --binary", [*scan, "--binary"], ok_codes=(0, 2)))
        # Not grep: on one 8 GiB line it holds the line (11 GiB resident, 227 s, once).
        jobs.append(Job("zcat > /dev/null", [f"zcat {path} > /dev/null"], shell=True))
        return jobs
    if case == "newline-bomb":
        jobs.append(Job("zcat | grep -c 400", [f"zcat {path} | grep -c 400"], shell=True))
        return jobs
    for tool, argv in (("grep -c 400", ["grep", "-c", "400"]), ("rg -c 400", ["rg", "-c", "400"])):
        # rg maps the sparse file and reads its 50 GiB of zeros: 13 GiB resident after 40 s.
        if shutil.which(argv[0]) and not (case == "sparse" and tool.startswith("rg")):
            jobs.append(Job(tool, [*argv, str(path)]))
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"any of {', '.join(CASES)}")
    parser.add_argument(
        "--scratch", type=Path, help="where the inputs are written (default: a temporary folder)"
    )
    parser.add_argument("--no-newline-size", type=int, default=2 * 10**9, help="bytes of the no-newline case")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is killed")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--logscan", help="the logscan command (default: found as run.py finds it)")
    args = parser.parse_args(argv)
    cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    logscan, _, _ = logscan_base(args.logscan)
    if logscan is None:
        parser.error("no logscan to run (install it, or pass --logscan)")
    subreaper = become_subreaper()
    results = []
    print("| case | tool | s | peak RSS MiB | exit |\n|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="logscan-hostile-", dir=args.scratch) as directory:
        scratch = Path(directory)
        for case in cases:
            path = make_input(case, scratch, args.no_newline_size)
            for job in jobs_for(case, path, logscan):
                run = run_once(job, scratch / "out.txt", args.timeout, subreaper)
                stderr = (scratch / "out.stderr").read_text(errors="replace").strip().splitlines()
                row = {
                    "case": case,
                    "tool": job.tool,
                    "seconds": round(run.wall, 2),
                    "peak_rss_mib": round(run.rss_mib),
                }
                row |= {"exit": run.rc, "timed_out": run.timed_out, "stderr": stderr[-1:] or [""]}
                results.append(row)
                print(f"| {case} | {job.tool} | {run.wall:.2f} | {run.rss_mib:,.0f} | {run.rc} |", flush=True)
            path.unlink()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
