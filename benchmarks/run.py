#!/usr/bin/env python3
"""Benchmark ``logscan scan`` against ripgrep and GNU grep on a generated corpus.

Generates the corpus with ``generate.py`` into ``benchmarks/data/`` (reused while its manifest
matches the parameters), then times every tool side by side in one run, case by case:

* ``plain``: 8 big uncompressed files;
* ``gz``: the same files gzipped (logscan reads ``.gz``, ``rg -z``, ``zcat | grep``);
* ``zst``: the same files as ``.zst`` (not in the default set);
* ``small``: many small files, which shows per-file overhead;
* ``huge``: one uncompressed file of ``--size`` bytes (a Python application log unless
  ``--huge-format`` says otherwise), which logscan cuts into byte ranges for its workers
  (16 of them at 1 GiB; below 128 MiB it does not cut at all). Not in the default set;
  cached in ``DIR/huge`` like the other corpora;
* ``scale10``: ten times the ``plain`` corpus (10 GiB at the default size): ten copies of each
  plain file, written into a temporary folder under ``--scratch`` before the case and deleted
  after it, also on failure or Ctrl-C (not in the default set). With ``plain`` in the same run,
  a scale summary follows: time at 10x over time at 1x, and peak memory at both sizes;
* ``inflate``: not logscan, a yardstick for its decompression: output MiB/s of the gz corpus
  through Python's ``zlib``, ``isal.isal_zlib`` and ``zlib_ng.zlib_ng`` (streamed in-process,
  1 MiB input chunks, output discarded), ``zcat`` and ``pigz -dc``, and of the zst corpus
  through ``zstandard`` and ``zstd -dc``. A missing package or CLI reads "not installed".
  Cheap, so in the default set; it needs the gz and zst copies of the plain corpus.

Each tool runs ``--repeat`` times, interleaved with the others so drift hits all of them alike,
and the median counts. Wall time comes from ``os.wait4`` on the child; peak memory from
sampling every process of the tool's session (see ``SessionMemory``: summed PSS, and summed
RSS). MiB/s is uncompressed input bytes divided by the median wall time.

Usage::

    python benchmarks/run.py --size 1GiB
    python benchmarks/run.py --size 50MiB --repeat 3 --json results.json --cases plain,gz,small
    python benchmarks/run.py --size 1GiB --cases plain,huge,scale10 --json scale.json
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from ruamel.yaml import YAML
except ImportError:  # run.py stays usable without it; rules then fall back to the built-ins
    YAML = None

# Optional decoders for the inflate case; without its package a row reads "not installed".
try:
    import isal
    from isal import isal_zlib
except ImportError:
    isal = isal_zlib = None
try:
    import zlib_ng
    from zlib_ng import zlib_ng as zlib_ng_zlib
except ImportError:
    zlib_ng = zlib_ng_zlib = None
try:
    import zstandard
except ImportError:
    zstandard = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (sibling script, not a package)

STATUS_400 = r"\b400\b"
# Used only while rules/ holds no YAML yet: one pattern per cause in the catalogue, so the grep
# and rg rows still do comparable work.
BUILTIN_PATTERNS: tuple[str, ...] = (
    r"does not support (tools|insert|thinking|chat|generate)",
    r"illegal base64 data",
    r"json: cannot unmarshal",
    r"input length exceeds the context length",
    r"model is required",
    r"invalid model name",
    r"this server cannot run this remote model",
    r"[Rr]ate limit",
    r"[Ii]nvalid API key",
    r"status code:? 400",
    r"Error code: 400",
    r"400 (Bad Request|Client Error)",
    r"\| 400 \|",
)
CASES = (
    "plain",
    "dense",
    "formats",
    "gz",
    "zst",
    "small",
    "huge",
    "scale10",
    "inflate",
    "startup",
    "prefilter",
)
DEFAULT_CASES = "plain,dense,formats,gz,small,inflate,startup"
DENSE_SHARE = 0.10  # the dense case: this share of the records is 400-related (plain: about 0.02)
FORMAT_CASES = {fmt: f"format-{fmt}" for fmt in generate.FORMATS}  # the formats case, one per format
# The yardsticks first: the ratio columns compare with them. The rule-pack rows run the pack's
# own patterns, which change whenever the pack does.
GREP41 = "grep yardstick"
RG41 = "rg yardstick"
GREP_RULES = "grep rules"
RG_RULES = "rg rules"
TOOLS = ("logscan", GREP41, RG41, GREP_RULES, RG_RULES, "wc -l")
YARDSTICK_ERE = "yardstick-ere41.txt"
YARDSTICK_RUST = "yardstick-rust41.txt"
YARDSTICK_JOBS = 2  # the yardsticks run on two cores, as logscan does on the reference machine
SCALE = 10  # the scale10 case: this many copies of every plain file
INFLATE_CHUNK = 1 << 20  # input bytes handed to an in-process decompressor at a time


# --------------------------------------------------------------------------------------------
# Patterns


@dataclass
class Patterns:
    source: str
    all: list[str]
    rg: list[str]
    grep: list[str]
    notes: list[str] = field(default_factory=list)


def literal_regex(text: str) -> str:
    """Escape only the regex metacharacters, so both rg and grep -E read the text literally."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def rule_texts(node: Any, found: list[str]) -> None:
    """Collect every search text in one rule, whatever shape its matcher has.

    The rule schema is still moving: a flat ``patterns:`` list, or ``match:`` trees whose
    leaves are ``{regex: ...}`` or ``{contains: ...}``. Negated branches and examples say
    what must not match, so they add nothing to a prefilter-style search.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("examples", "not", "none"):
                continue
            if key in ("patterns", "regex"):
                found.extend(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
            elif key == "contains":
                found.extend(
                    literal_regex(v)
                    for v in (value if isinstance(value, list) else [value])
                    if isinstance(v, str)
                )
            else:
                rule_texts(value, found)
    elif isinstance(node, list):
        for item in node:
            rule_texts(item, found)


def load_rule_patterns(rules_dir: Path) -> tuple[list[str], str, list[str]]:
    """Every pattern of every rule under a top-level ``rules:`` list in ``rules/*.yaml``."""
    notes: list[str] = []
    files = sorted([*rules_dir.glob("*.yaml"), *rules_dir.glob("*.yml")])
    if not files:
        notes.append(f"no YAML in {rules_dir}: using {len(BUILTIN_PATTERNS)} built-in patterns")
        return list(BUILTIN_PATTERNS), "built-in", notes
    if YAML is None:
        notes.append("ruamel.yaml is not installed: using the built-in patterns, not rules/")
        return list(BUILTIN_PATTERNS), "built-in", notes
    yaml = YAML(typ="safe")
    found: list[str] = []
    n_rules = 0
    for path in files:
        data = yaml.load(path.read_text(encoding="utf-8"))
        rules = data.get("rules") if isinstance(data, dict) else None
        if not isinstance(rules, list):
            continue  # e.g. the categories file: it carries no patterns
        n_rules += len(rules)
        rule_texts(rules, found)
    if not found:
        notes.append(f"rules in {rules_dir} hold no patterns: using the built-in patterns")
        return list(BUILTIN_PATTERNS), "built-in", notes
    where = rules_dir.relative_to(REPO) if rules_dir.is_relative_to(REPO) else rules_dir
    return found, f"{n_rules} rules in {where}/*.yaml", notes


ERE_SPECIALS = set(".[]()*+?{}|^$\\")


def to_ere(pattern: str) -> str | None:
    """Translate a Python-style regex to GNU ERE, or None where ERE cannot say it.

    Only what changes the set of matching lines matters: lazy quantifiers become greedy,
    ``(?:``/``(?P<n>`` become plain groups, ``\\d`` becomes ``[0-9]`` and ``(?i)`` becomes
    ``[aA]`` classes, ``[^\\n]`` becomes ``.``. Look-around, back-references and the ``x`` flag
    are given up on.
    """
    ignore_case = False
    flags = re.match(r"\(\?([a-zA-Z]+)\)", pattern)
    if flags:
        # m and s only change how ^, $ and . treat newlines, and grep never sees one.
        if set(flags[1]) - set("ims"):
            return None
        ignore_case = "i" in flags[1]
        pattern = pattern[flags.end() :]
    # A class that only excludes the newline is any character on a line.
    pattern = pattern.replace("[^\\n]", ".")
    if re.search(r"\(\?[=!<]|\(\?[a-zA-Z]|\\[1-9]|\\[AZzGxup]", pattern.replace("(?P<", "(")):
        return None
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if in_class:
            if c == "\\" and i + 1 < n:
                e = pattern[i + 1]
                mapped = {"d": "0-9", "s": "[:space:]", "w": "[:alnum:]_"}.get(e)
                if mapped is None and (e.isalnum() or e in "]^-"):
                    return None  # POSIX classes have no escapes to express these
                out.append(mapped if mapped is not None else e)
                i += 2
                continue
            if ignore_case and c.isalpha():
                # Fold single letters and letter ranges (a-z gains A-Z); leave the rest alone.
                if pattern[i + 1 : i + 2] == "-" and pattern[i + 2 : i + 3].isalpha():
                    lo, hi = c, pattern[i + 2]
                    out.append(f"{lo.lower()}-{hi.lower()}{lo.upper()}-{hi.upper()}")
                    i += 3
                else:
                    out.append(c.lower() + c.upper())
                    i += 1
                continue
            if c == "]" and out and out[-1] not in ("[", "[^"):
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            if e == "d":
                out.append("[0-9]")
            elif e == "D":
                out.append("[^0-9]")
            elif e in "sSwWbB" or e in ERE_SPECIALS:
                out.append("\\" + e)
            elif e.isalnum():
                return None  # \t, \n and friends have no ERE spelling
            else:
                out.append(e)  # GNU grep 3.8 warns about a stray \ before ", /, :, -
            i += 2
            continue
        if c == "[":
            in_class = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
            else:
                out.append("[")
                i += 1
            continue
        if c == "(" and pattern.startswith("(?:", i):
            out.append("(")
            i += 3
            continue
        if c == "(" and pattern.startswith("(?P<", i):
            i = pattern.index(">", i) + 1
            out.append("(")
            continue
        if c in "*+?}" and i + 1 < n and pattern[i + 1] == "?":
            out.append(c)  # lazy and greedy match the same lines
            i += 2
            continue
        if ignore_case and c.isalpha():
            out.append(f"[{c.lower()}{c.upper()}]")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def ascii_boundaries(pattern: str) -> str:
    """Spell ``\\b``/``\\B`` as ASCII boundaries for ripgrep.

    Why: ripgrep 13's fast DFA gives up on a Unicode word boundary as soon as it meets a
    non-ASCII byte, and gin's ``µs`` latencies put one on most server lines. With ``\\b400\\b``
    among the rules that made rg about 20 times slower on this corpus. Around digits and
    ASCII words the ASCII boundary matches the same lines.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            pair = pattern[i : i + 2]
            out.append(f"(?-u:{pair})" if pair in ("\\b", "\\B") and not in_class else pair)
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            i += 1
            # A ']' right after '[' or '[^' is a literal, not the end of the class.
            for lead in ("^", "]"):
                if i < n and pattern[i] == lead:
                    out.append(lead)
                    i += 1
            continue
        if c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


def accepted(argv: list[str]) -> bool:
    """True when the tool compiles the pattern(s) without an error or a warning."""
    proc = subprocess.run([*argv, os.devnull], capture_output=True, check=False)
    return proc.returncode in (0, 1) and not proc.stderr.strip()


def usable(tool: list[str], pats: list[str]) -> tuple[list[str], list[str]]:
    """Split patterns into the ones ``tool`` accepts and the ones it rejects."""
    if not pats:
        return [], []
    # One call usually settles it; test one by one only when something fails.
    if accepted([*tool, *(a for p in pats for a in ("-e", p))]):
        return pats, []
    ok = [p for p in pats if accepted([*tool, "-e", p])]
    return ok, [p for p in pats if p not in ok]


def build_patterns(rules_dir: Path, rg: str | None, grep: str | None, rg_unicode_b: bool) -> Patterns:
    pats, source, notes = load_rule_patterns(rules_dir)
    # Keep the first occurrence of each, and always look for the status itself.
    uniq = list(dict.fromkeys([*pats, STATUS_400]))
    result = Patterns(source, uniq, [], [], notes)
    if rg:
        rg_pats = uniq if rg_unicode_b else [ascii_boundaries(p) for p in uniq]
        if rg_pats != uniq:
            notes.append("rg gets \\b as (?-u:\\b) (ASCII word boundary); --rg-unicode-b keeps it Unicode")
        result.rg, bad = usable([rg, "--no-config"], list(dict.fromkeys(rg_pats)))
        if bad:
            notes.append(f"rg rejects {len(bad)} pattern(s), left out: {bad}")
    if grep:
        translated: list[str] = []
        untranslatable: list[str] = []
        for p in uniq:
            ere = to_ere(p)
            if ere is None:
                untranslatable.append(p)
            else:
                translated.append(ere)
        result.grep, bad = usable([grep, "-E"], list(dict.fromkeys(translated)))
        lost = untranslatable + bad
        if lost:
            notes.append(f"grep -E cannot run {len(lost)} pattern(s), left out: {lost}")
    return result


# --------------------------------------------------------------------------------------------
# Corpus


def manifest_entry(data: Path, name: str) -> dict[str, Any] | None:
    path = data / "manifest.json"
    try:
        entry: dict[str, Any] = json.loads(path.read_text())["sets"][name]
    except (OSError, KeyError, json.JSONDecodeError):
        return None
    return entry


def corpus_ok(data: Path, name: str, want: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest entry when the set on disk was made with ``want`` and is intact."""
    entry = manifest_entry(data, name)
    if entry is None:
        return None
    have = entry.get("params", {})
    for key, value in want.items():
        # A corpus with compressed copies also serves a run that does not need them.
        if key in ("gzip", "zstd") and (have.get(key) or not value):
            continue
        if have.get(key) != value:
            return None
    plain = data / entry["dirs"]["plain"]
    for f in entry["files"]:
        p = plain / f["name"]
        if not p.is_file() or p.stat().st_size != f["bytes"]:
            return None
        for kind, ext in (("gzip", "gz"), ("zstd", "zst")):
            if want.get(kind) and not (data / entry["dirs"][ext] / f"{f['name']}.{ext}").is_file():
                return None
    return entry


def ensure_corpus(
    data: Path,
    name: str,
    *,
    size: int,
    files: int,
    seed: int,
    gz: bool,
    zst: bool,
    fmt: str = "mixed",
    share_400: float | None = None,
) -> dict[str, Any]:
    want = {
        "size": size,
        "files": files,
        "many_small": name == "small",
        "format": fmt,
        "share_400": share_400,
        "seed": seed,
        "gzip": gz,
        "zstd": zst,
        "generator_version": generate.GENERATOR_VERSION,
        "generator_digest": generate.source_digest(),
    }
    entry = corpus_ok(data, name, want)
    if entry is not None:
        print(
            f"corpus {name}: reusing {data / entry['dirs']['plain']} "
            f"({generate.format_size(entry['bytes'])}, {entry['lines']:,} lines)"
        )
        return entry
    cmd = [
        sys.executable,
        str(HERE / "generate.py"),
        "--out",
        str(data),
        "--size",
        str(size),
        "--seed",
        str(seed),
        "--name",
        name,
        "--format",
        fmt,
        "--quiet",
    ]
    cmd += ["--many-small", str(files)] if name == "small" else ["--files", str(files)]
    if share_400 is not None:
        cmd += ["--share-400", str(share_400)]
    if gz:
        cmd.append("--gzip")
    if zst:
        cmd.append("--zstd")
    print(f"corpus {name}: generating ({shlex.join(cmd[1:])})", flush=True)
    subprocess.run(cmd, check=True)
    entry = manifest_entry(data, name)
    if entry is None:
        raise SystemExit(f"generate.py wrote no manifest entry for {name}")
    return entry


def corpus_summary(entry: dict[str, Any]) -> dict[str, Any]:
    """The part of a manifest entry that goes into the results."""
    summary = {k: entry[k] for k in ("params", "bytes", "lines", "records", "gz_bytes", "zst_bytes", "dirs")}
    summary["n_files"] = len(entry["files"])
    return summary


def sweep_scale_dirs(scratch: Path) -> None:
    """Delete scale folders that a run killed outright (SIGKILL, power loss) left behind.

    The folder name carries the pid of the run that made it; a folder whose run is still alive
    is left alone, so two runs can share a scratch directory.
    """
    for d in scratch.glob(f"scale{SCALE}-*-*"):
        pid = d.name.split("-")[1]
        if not d.is_dir() or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            print(f"scale{SCALE}: removing {d}, left behind by an earlier run")
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass  # another user's run, still alive


def fill_scale_dir(tmp: Path, base: dict[str, Any], base_dir: Path, factor: int) -> dict[str, Any]:
    """Write ``factor`` copies of every file of the ``base`` corpus into ``tmp/plain``.

    Copies instead of new files: generate.py makes about 80 MiB/s per core (over a minute for
    10 GiB on 2 cores), a copy runs at disk speed. The copies are identical, timestamps
    included, which a throughput figure does not mind. Each copy is fsynced, so that writeback
    of dirty pages does not overlap the timed runs. Returns a manifest-style entry.
    """
    plain = tmp / "plain"
    plain.mkdir()
    files: list[dict[str, Any]] = []
    for copy in range(factor):
        for f in base["files"]:
            name = f"{copy:02d}-{f['name']}"
            shutil.copyfile(base_dir / f["name"], plain / name)
            fd = os.open(plain / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            files.append({**f, "name": name})
    params = {**base["params"], "size": base["params"]["size"] * factor, "files": len(files)}
    params.update(gzip=False, zstd=False, copies=factor)
    return {
        "params": params,
        "dirs": {"plain": "plain"},
        "bytes": base["bytes"] * factor,
        "lines": base["lines"] * factor,
        "records": base["records"] * factor,
        "gz_bytes": 0,
        "zst_bytes": 0,
        "files": files,
    }


# --------------------------------------------------------------------------------------------
# Running and measuring


@dataclass
class Run:
    wall: float
    rss_mib: float
    cpu: float
    rc: int
    timed_out: bool = False
    pss_mib: float = 0.0


@dataclass
class Job:
    tool: str
    argv: list[str] | None  # None: not runnable, see reason
    reason: str = ""
    shell: bool = False
    cwd: Path | None = None
    ok_codes: tuple[int, ...] = (0, 1)  # grep and rg exit 1 for "no match"; logscan for "found"
    report: Path | None = None  # a file the run must (re)write, or it did not really finish
    runs: list[Run] = field(default_factory=list)
    error: str = ""
    pss_mib: float = 0.0  # from a run of its own: see measure_pss


def run_problem(job: Job, run: Run, err_path: Path, started_at: float) -> str:
    """Why a finished run does not count, or "" when it does."""
    if run.timed_out:
        return "timed out (--timeout)"
    err = err_path.read_text(errors="replace")
    tail = " / ".join(err.strip().splitlines()[-2:]) or "no stderr"
    if run.rc not in job.ok_codes:
        return f"exit code {run.rc}: {tail}"
    # An uncaught Python exception also exits with 1, which logscan uses for "threshold hit".
    if "Traceback (most recent call last):" in err:
        return f"crashed (exit code {run.rc}): {tail}"
    if job.report is not None and (not job.report.exists() or job.report.stat().st_mtime < started_at):
        return f"exit code {run.rc} but {job.report.name} was not written: {tail}"
    return ""


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants, so a tool started through ``setsid -f`` can be waited on here.

    Why: a child's ru_maxrss starts at the RSS of the process it was forked from, because the
    kernel folds the old address space's high-water mark in at exec. Forked straight from this
    harness, grep and wc would report the harness's own 20-40 MiB. ``setsid -f`` forks the tool
    from its own small process and exits without waiting for it; the tool is then handed to us,
    and ``os.wait4`` on it gives its real peak (the same ~1 MiB floor as GNU time). A shell
    would not do as the middleman: dash and bash reap their background jobs themselves.
    """
    if shutil.which("setsid") is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def own_children() -> list[int]:
    pids: list[int] = []
    for path in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in path.read_text().split()]
    return pids


def reap_strays() -> None:
    """Reap orphans a killed pipeline left to us; nothing else runs beside a measurement."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_once(job: Job, out: Path, timeout: float, subreaper: bool, *, pss: bool = False) -> Run:
    """Run the job once; wall time and the tool's rusage from ``os.wait4`` on its pid. With
    ``pss``, the session's PSS is sampled too (which slows the tool: see SessionMemory)."""
    assert job.argv is not None
    err_path = out.with_suffix(".stderr")
    # "exit $?" keeps a pipeline from being the script's last command: otherwise sh execs its
    # last member in place and the others, never waited for, drop out of the rusage.
    argv = ["/bin/sh", "-c", f"{job.argv[0]}\nexit $?"] if job.shell else job.argv
    reap_strays()
    with out.open("wb") as fout, err_path.open("wb") as ferr:
        # Helper processes of an earlier run (a worker pool's server) may still be on their way out.
        earlier = set(own_children())
        started = time.perf_counter()
        if subreaper:
            # The tool becomes a session leader, so its pid is also the group to kill.
            proc = subprocess.Popen(
                ["setsid", "-f", *argv], stdout=fout, stderr=ferr, stdin=subprocess.DEVNULL, cwd=job.cwd
            )
            if proc.wait() != 0:
                raise RuntimeError(f"setsid -f failed for {job.tool}")
            kids = [pid for pid in own_children() if pid not in earlier]
            if len(kids) != 1:
                raise RuntimeError(f"expected one adopted child, found {kids}")
            pid = kids[0]
        else:
            proc = subprocess.Popen(
                argv, stdout=fout, stderr=ferr, stdin=subprocess.DEVNULL, cwd=job.cwd, start_new_session=True
            )
            pid = proc.pid
        fired = threading.Event()

        def on_timeout() -> None:
            fired.set()
            kill_group(pid)

        timer = threading.Timer(timeout, on_timeout)
        timer.start()
        sampler = SessionMemory(pid, pss=pss)
        sampler.start()
        try:
            _, status, usage = os.wait4(pid, 0)
        except BaseException:
            kill_group(pid)
            reap_strays()
            raise
        finally:
            timer.cancel()
            sampler.stop()
        wall = time.perf_counter() - started
    if not subreaper:
        proc.returncode = os.waitstatus_to_exitcode(status)  # stops Popen reaping it again
    reap_strays()
    # ru_maxrss is KiB on Linux, and covers one process. A tool with worker processes is
    # measured by sampling the summed RSS of its whole session; the larger figure is kept.
    return Run(
        wall,
        max(usage.ru_maxrss / 1024, sampler.peak_mib),
        usage.ru_utime + usage.ru_stime,
        os.waitstatus_to_exitcode(status),
        fired.is_set(),
        # A tool too quick for one PSS sample gets its RSS, an upper bound.
        (sampler.peak_pss_mib or usage.ru_maxrss / 1024) if pss else 0.0,
    )


class SessionMemory:
    """Samples the summed resident memory of every process in a session (the tool and any
    workers it starts) every few milliseconds, and keeps the peak.

    Two sums: RSS, read often and cheaply, counts the pages of shared libraries once per
    process (Polars' library is resident in each worker); PSS (proportional set size) splits
    every shared page between the processes that map it, so its sum is the memory the whole
    tree really holds. PSS is read less often, and only when asked: /proc/PID/smaps_rollup
    walks the page tables (about 3 ms for a 300 MiB process) under the process's memory lock,
    which slows the tool measured; so PSS comes from a run of its own, not a timed one."""

    PSS_EVERY = 10  # samples: PSS is read every 200 ms

    def __init__(self, session: int, interval: float = 0.02, *, pss: bool = False) -> None:
        self.session = session
        self.interval = interval
        self.pss = pss
        self.peak_mib = 0.0
        self.peak_pss_mib = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        samples = 0
        while not self._done.wait(self.interval):
            samples += 1
            with_pss = self.pss and samples % self.PSS_EVERY == 0
            rss, pss = self._sample(with_pss)
            self.peak_mib = max(self.peak_mib, rss)
            if with_pss:
                self.peak_pss_mib = max(self.peak_pss_mib, pss)

    def _sample(self, with_pss: bool) -> tuple[float, float]:
        rss_kib = pss_kib = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) != self.session:  # field 6 of stat: the session id
                    continue
                rss_kib += self._field(stat.parent / "status", "VmRSS:")
                if with_pss:
                    pss_kib += self._field(stat.parent / "smaps_rollup", "Pss:")
        return rss_kib / 1024, pss_kib / 1024

    @staticmethod
    def _field(path: Path, name: str) -> int:
        for line in path.read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
        return 0


def warm_page_cache(paths: Sequence[Path]) -> None:
    """Read the inputs once so the first tool timed does not pay for the disk."""
    for p in paths:
        with p.open("rb") as f:
            while f.read(1 << 23):
                pass


def count_matches(out: Path) -> int | None:
    """Sum the counts from ``-c`` output (``path:count`` lines, or one bare count)."""
    total = 0
    try:
        for line in out.read_text(errors="replace").splitlines():
            total += int(line.rsplit(":", 1)[-1])
    except (OSError, ValueError):
        return None
    return total


# --------------------------------------------------------------------------------------------
# Tools


def first_line(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"n/a ({exc})"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else "n/a"


def logscan_base(override: str | None) -> tuple[list[str] | None, str, Path | None]:
    """The logscan command prefix, or None and why not."""
    if override:
        return shlex.split(override), f"override: {override}", None
    # The console script may sit beside this interpreter in a venv that is not on PATH.
    exe = shutil.which("logscan") or shutil.which("logscan", path=str(Path(sys.executable).parent))
    if exe:
        return [exe], exe, None
    # Not installed: run the working tree's package with this interpreter.
    if (REPO / "logscan" / "__main__.py").exists():
        return [sys.executable, "-m", "logscan"], f"{sys.executable} -m logscan", REPO
    if (REPO / "logscan" / "cli.py").exists():
        code = "import sys; from logscan.cli import main; sys.exit(main())"
        return [sys.executable, "-c", code], f"{sys.executable} -c 'logscan.cli.main()'", REPO
    return None, "logscan not found (not on PATH, no logscan/cli.py)", None


def logscan_python(base: list[str] | None) -> str:
    """The interpreter logscan runs in, so its polars version is the one reported."""
    if base and base[0].endswith("logscan"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            shebang = Path(base[0]).read_text().splitlines()[0]
            if shebang.startswith("#!") and "python" in shebang:
                return shebang[2:].strip().split()[0]
    return sys.executable


def python_facts(python: str) -> dict[str, str]:
    code = (
        "import sys, importlib.metadata as m\n"
        "def v(p):\n"
        "    try:\n"
        "        return m.version(p)\n"
        "    except Exception:\n"
        "        return 'n/a'\n"
        "print(sys.version.split()[0]); print(v('polars')); print(v('logscan'))"
    )
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, timeout=60)
        py, polars, logscan = proc.stdout.split()
    except (OSError, ValueError, subprocess.SubprocessError):
        return {"python": "n/a", "polars": "n/a", "logscan": "n/a"}
    return {"python": py, "polars": polars, "logscan": logscan}


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "locale": {k: os.environ[k] for k in ("LC_ALL", "LC_CTYPE", "LANG") if k in os.environ},
    }


def make_jobs(
    case: str,
    input_dir: Path,
    files: list[Path],
    *,
    out_dir: Path,
    pats: Patterns,
    args: argparse.Namespace,
    tools: dict[str, str | None],
    ls_base: list[str] | None,
    ls_why: str,
    ls_cwd: Path | None,
) -> list[Job]:
    compressed = case in ("gz", "zst")
    names = [str(f) for f in files]
    jobs: list[Job] = []

    csv_out = out_dir / f"{case}-logscan.csv"
    if ls_base is None:
        jobs.append(Job("logscan", None, ls_why))
    elif args.logscan_cmd:
        words: list[str] = []
        for w in ls_base:
            if w == "{files}":
                words += names
            else:
                words.append(w.replace("{dir}", str(input_dir)).replace("{out}", str(csv_out)))
        if not any(re.search(r"\{(dir|files|out)\}", w) for w in ls_base):
            words += names  # a bare stand-in such as 'wc -l' gets the input files
        jobs.append(Job("logscan", words, cwd=ls_cwd))
    else:
        # The per-format cases compare formats per byte, in one process each.
        one_process = ["--jobs", "1"] if case in FORMAT_CASES.values() else []
        jobs.append(
            Job(
                "logscan",
                [*ls_base, "scan", str(input_dir), *one_process, "-f", "csv", "-o", str(csv_out)],
                cwd=ls_cwd,
                report=csv_out,
            )
        )

    jobs += yardstick_jobs(compressed, case, input_dir, names, args.yardstick, tools)

    rg = tools["rg"]
    if rg is None:
        jobs.append(Job(RG_RULES, None, "rg not found on PATH"))
    elif not pats.rg:
        jobs.append(Job(RG_RULES, None, "rg accepts none of the patterns"))
    else:
        # --no-ignore: benchmarks/data is gitignored and rg would otherwise skip it silently.
        argv = [rg, "--no-config", "--no-ignore", "-c"]
        if compressed:
            argv.append("-z")
        argv += [a for p in pats.rg for a in ("-e", p)]
        jobs.append(Job(RG_RULES, [*argv, str(input_dir)]))

    grep = tools["grep"]
    decompressor = tools["zcat"] if case == "gz" else tools["zstdcat"]
    egrep = [a for p in pats.grep for a in ("-e", p)]
    if grep is None:
        jobs.append(Job(GREP_RULES, None, "grep not found on PATH"))
    elif not pats.grep:
        jobs.append(Job(GREP_RULES, None, "grep -E accepts none of the patterns"))
    elif compressed and decompressor is None:
        jobs.append(Job(GREP_RULES, None, f"{'zcat' if case == 'gz' else 'zstdcat'} not found"))
    elif compressed:
        assert decompressor is not None
        line = f"{shlex.join([decompressor, *names])} | {shlex.join([grep, '-E', '-c', *egrep])}"
        jobs.append(Job(GREP_RULES, [line], shell=True))
    else:
        jobs.append(Job(GREP_RULES, [grep, "-E", "-c", "-r", *egrep, str(input_dir)]))

    if args.baseline:
        wc = tools["wc"]
        if wc is None:
            jobs.append(Job("wc -l", None, "wc not found"))
        elif compressed and decompressor is None:
            jobs.append(Job("wc -l", None, "decompressor not found"))
        elif compressed:
            assert decompressor is not None
            jobs.append(Job("wc -l", [f"{shlex.join([decompressor, *names])} | {wc} -l"], shell=True))
        else:
            jobs.append(Job("wc -l", [wc, "-l", *names]))
    return jobs


def yardstick_jobs(
    compressed: bool,
    case: str,
    input_dir: Path,
    names: list[str],
    yardstick: Path,
    tools: dict[str, str | None],
) -> list[Job]:
    """The fixed yardstick: 41 patterns that never change, so a ratio to them means the same
    from one month to the next. grep runs one process per file, two at a time (output to a
    file: GNU grep stops at the first match when it writes to /dev/null); rg runs two threads."""
    ere, rust = yardstick / YARDSTICK_ERE, yardstick / YARDSTICK_RUST
    jobs: list[Job] = []
    grep, rg = tools["grep"], tools["rg"]
    decompressor = tools["zcat"] if case == "gz" else tools["zstdcat"]
    files = " ".join(shlex.quote(n) for n in names)
    if grep is None or not ere.is_file():
        jobs.append(Job(GREP41, None, "grep not found on PATH" if grep is None else f"{ere} not found"))
    elif compressed and decompressor is None:
        jobs.append(Job(GREP41, None, f"{'zcat' if case == 'gz' else 'zstdcat'} not found"))
    else:
        grep_c = f"LC_ALL=C {shlex.quote(grep)} -c -E -f {shlex.quote(str(ere))}"
        if compressed and decompressor:
            read, per_call = f'{shlex.quote(decompressor)} "$1" | {grep_c}', 1
        else:
            # One grep per big file; many small files share a grep (a process per file would
            # measure process start-up), still in at least 4 batches per core.
            read, per_call = f'{grep_c} "$@"', -(-len(names) // (YARDSTICK_JOBS * 4))
        # grep exits 1 for a file without a match, and xargs turns that into 123 for the whole
        # run; the wrapper keeps 2 (a real error) and passes 1 as success.
        each = shlex.quote(f"{read} || [ $? -eq 1 ]")
        line = f"printf '%s\\n' {files} | xargs -P{YARDSTICK_JOBS} -n{per_call} sh -c {each} sh"
        jobs.append(Job(GREP41, [line], shell=True))
    if rg is None or not rust.is_file():
        jobs.append(Job(RG41, None, "rg not found on PATH" if rg is None else f"{rust} not found"))
    else:
        argv = [rg, "--no-config", "--no-ignore", f"-j{YARDSTICK_JOBS}", "-c", "-f", str(rust)]
        jobs.append(Job(RG41, [*argv, *(["-z"] if compressed else []), str(input_dir)]))
    return jobs


# --------------------------------------------------------------------------------------------
# Cases


@dataclass
class Harness:
    """What every timed case needs: options, patterns, tool paths, the logscan command."""

    args: argparse.Namespace
    pats: Patterns
    tools: dict[str, str | None]
    ls_base: list[str] | None
    ls_why: str
    ls_cwd: Path | None
    subreaper: bool


def case_files(case: str, root: Path, corpus: dict[str, Any]) -> tuple[Path, list[Path]]:
    sub = {"gz": "gz", "zst": "zst"}.get(case, "plain")
    input_dir = root / corpus["dirs"][sub]
    suffix = {"gz": ".gz", "zst": ".zst"}.get(case, "")
    return input_dir, [input_dir / (f["name"] + suffix) for f in corpus["files"]]


def run_case(case: str, root: Path, corpus: dict[str, Any], out_dir: Path, h: Harness) -> dict[str, Any]:
    """Time logscan, rg, grep and wc on one case; the case's entry in the results."""
    args = h.args
    input_dir, files = case_files(case, root, corpus)
    case_info: dict[str, Any] = {
        "input_dir": str(input_dir),
        "files": len(files),
        "input_bytes": corpus["bytes"],
        "stored_bytes": sum(f.stat().st_size for f in files if f.exists()),
    }
    if not all(f.exists() for f in files):
        why = "zstd CLI not found" if case == "zst" else f"missing files in {input_dir}"
        case_info["tools"] = {
            t: {"status": "n/a", "reason": why} for t in TOOLS if t != "wc -l" or args.baseline
        }
        print(f"\n{case}: skipped ({why})")
        return case_info
    jobs = make_jobs(
        case,
        input_dir,
        files,
        out_dir=out_dir,
        pats=h.pats,
        args=args,
        tools=h.tools,
        ls_base=h.ls_base,
        ls_why=h.ls_why,
        ls_cwd=h.ls_cwd,
    )
    print(
        f"\n{case}: {len(files)} files, {generate.format_size(corpus['bytes'])} "
        f"uncompressed, {generate.format_size(case_info['stored_bytes'])} on disk",
        flush=True,
    )
    warm_page_cache(files)
    for rep in range(args.repeat):
        for job in jobs:
            if job.argv is None or job.error:
                continue
            out = output_path(out_dir, case, job.tool)
            run, problem = checked_run(job, out, h)
            if problem:
                # One bad run voids the row: a median over crashes and successes means nothing.
                job.error = f"run {rep + 1}: {problem}"
                print(f"  {job.tool}: failed, {job.error}")
                continue
            job.runs.append(run)
            print(
                f"  run {rep + 1}/{args.repeat} {job.tool:8} {run.wall:8.3f} s {run.rss_mib:8.1f} MiB",
                flush=True,
            )
    measure_pss(jobs, case, out_dir, h)
    case_info["tools"] = summarise(jobs, corpus["bytes"], out_dir, case)
    for job in jobs:
        if job.argv is not None:
            case_info["tools"][job.tool]["command"] = job.argv
    return case_info


def output_path(out_dir: Path, case: str, tool: str) -> Path:
    return out_dir / f"{case}-{tool.replace(' ', '-')}.out"


def checked_run(job: Job, out: Path, h: Harness) -> tuple[Run, str]:
    """One timed run, and why it does not count ("" when it does)."""
    started_at = time.time()
    run = run_once(job, out, h.args.timeout, h.subreaper)
    return run, run_problem(job, run, out.with_suffix(".stderr"), started_at)


def measure_pss(jobs: list[Job], case: str, out_dir: Path, h: Harness) -> None:
    """One more run of each tool that ran well, for its peak PSS only (not timed)."""
    for job in jobs:
        if job.argv is None or job.error or not job.runs:
            continue
        out = output_path(out_dir, case, job.tool)
        run = run_once(job, out, h.args.timeout, h.subreaper, pss=True)
        job.pss_mib = run.pss_mib
        print(f"  PSS run {job.tool:8} {run.pss_mib:8.1f} MiB", flush=True)


def run_scale_case(
    base: dict[str, Any], data: Path, scratch: Path, h: Harness
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The scale case: SCALE copies of the plain corpus in a temporary folder, deleted after.

    Returns the case's results and its corpus summary (None when it was skipped).
    """
    case = f"scale{SCALE}"
    need = base["bytes"] * SCALE
    scratch.mkdir(parents=True, exist_ok=True)
    sweep_scale_dirs(scratch)
    free = shutil.disk_usage(scratch).free
    if free < need + 2**30:
        why = (
            f"needs {generate.format_size(need)} (+1 GiB spare) in {scratch}, "
            f"{generate.format_size(free)} free; see --scratch"
        )
        print(f"\n{case}: skipped ({why})")
        tools = {t: {"status": "n/a", "reason": why} for t in TOOLS if t != "wc -l" or h.args.baseline}
        return {"input_bytes": need, "temporary": True, "tools": tools}, None
    tmp = Path(tempfile.mkdtemp(prefix=f"{case}-{os.getpid()}-", dir=scratch))
    try:
        print(
            f"\n{case}: writing {SCALE} copies of the plain corpus ({generate.format_size(need)}) into {tmp}",
            flush=True,
        )
        started = time.perf_counter()
        corpus = fill_scale_dir(tmp, base, data / base["dirs"]["plain"], SCALE)
        took = time.perf_counter() - started
        print(f"  took {took:.1f} s ({need / 2**20 / took:.0f} MiB/s)")
        out_dir = tmp / "out"
        out_dir.mkdir()
        case_info = run_case(case, tmp, corpus, out_dir, h)
        case_info.update(temporary=True, copies_of="plain", copy_s=round(took, 2))
        summary = corpus_summary(corpus)
        summary["temporary_dir"] = str(tmp)
        return case_info, summary
    finally:
        # Also on an exception or Ctrl-C: 10 GiB must not stay behind.
        shutil.rmtree(tmp, ignore_errors=True)
        if tmp.exists():
            print(f"warning: could not delete {tmp}; remove it by hand", file=sys.stderr)
        else:
            print(f"{case}: deleted {tmp}")


def scale_summary(results: dict[str, Any]) -> dict[str, Any] | None:
    """Time and peak RSS at SCALE times the input against plain, per tool, when both ran."""
    one = results["cases"].get("plain", {})
    big = results["cases"].get(f"scale{SCALE}", {})
    if "tools" not in one or "tools" not in big:
        return None
    x = f"{SCALE}x"
    tools: dict[str, Any] = {}
    for tool, a in one["tools"].items():
        b = big["tools"].get(tool, {})
        if a.get("status") != "ok" or b.get("status") != "ok":
            continue
        tools[tool] = {
            "median_s_1x": a["median_s"],
            f"median_s_{x}": b["median_s"],
            "time_ratio": round(b["median_s"] / a["median_s"], 2),
            "peak_rss_mib_1x": a["peak_rss_mib"],
            f"peak_rss_mib_{x}": b["peak_rss_mib"],
            "rss_ratio": round(b["peak_rss_mib"] / a["peak_rss_mib"], 2),
            "peak_pss_mib_1x": a["peak_pss_mib"],
            f"peak_pss_mib_{x}": b["peak_pss_mib"],
        }
    return {
        "factor": SCALE,
        "input_bytes_1x": one["input_bytes"],
        f"input_bytes_{x}": big["input_bytes"],
        "note": f"time_ratio = median wall time at {x} / at 1x; {SCALE} means linear",
        "tools": tools,
    }


@dataclass
class Decoder:
    """One row of the inflate case: an in-process decompressor or a CLI."""

    name: str
    kind: str  # "gz" or "zst": which copy of the corpus it reads
    version: str = ""
    new: Any = None  # in-process: makes a decompressobj-like object
    argv: list[str] | None = None  # CLI: the command, its output goes to /dev/null
    line: str = ""  # CLI: the shell line that ran, files included
    reason: str = ""  # why it does not run
    runs: list[Run] = field(default_factory=list)
    error: str = ""


def stream_decompress(paths: Sequence[Path], new: Any) -> int:
    """Decompress every file through ``new()`` objects, 1 MiB of input at a time, and drop the
    output; the number of output bytes.

    A fresh object starts wherever one reports the end of its stream, so a file made of several
    gzip members or zstd frames is read to its end, as zcat and zstd -dc read it.
    """
    total = 0
    for path in paths:
        d = new()
        with path.open("rb", buffering=0) as f:
            while chunk := f.read(INFLATE_CHUNK):
                while chunk:
                    if d.eof:
                        d = new()
                    total += len(d.decompress(chunk))
                    chunk = d.unused_data if d.eof else b""
        total += len(d.flush())
    return total


def inflate_decoders(tools: dict[str, str | None]) -> list[Decoder]:
    missing = "not installed"
    rows = [
        Decoder(
            "python zlib", "gz", f"zlib {zlib.ZLIB_RUNTIME_VERSION}", new=lambda: zlib.decompressobj(wbits=31)
        )
    ]
    if isal_zlib is not None:
        rows.append(
            Decoder(
                "python isal_zlib",
                "gz",
                f"isal {getattr(isal, '__version__', '?')}, ISA-L {getattr(isal, 'ISAL_VERSION', '?')}",
                new=lambda: isal_zlib.decompressobj(wbits=31),
            )
        )
    else:
        rows.append(Decoder("python isal_zlib", "gz", reason=f"{missing} (pip install isal)"))
    if zlib_ng_zlib is not None:
        rows.append(
            Decoder(
                "python zlib_ng",
                "gz",
                f"zlib-ng {getattr(zlib_ng, '__version__', '?')}, "
                f"library {getattr(zlib_ng_zlib, 'ZLIBNG_VERSION', '?')}",
                new=lambda: zlib_ng_zlib.decompressobj(wbits=31),
            )
        )
    else:
        rows.append(Decoder("python zlib_ng", "gz", reason=f"{missing} (pip install zlib-ng)"))
    for name, exe, kind, flags in (
        ("zcat", tools["zcat"], "gz", []),
        ("pigz -dc", shutil.which("pigz"), "gz", ["-dc"]),
    ):
        if exe is None:
            rows.append(Decoder(name, kind, reason=f"{missing} ({name.split()[0]} not on PATH)"))
        else:
            rows.append(Decoder(name, kind, first_line([exe, "--version"]), argv=[exe, *flags]))
    if zstandard is not None:
        rows.append(
            Decoder(
                "python zstandard",
                "zst",
                f"zstandard {zstandard.__version__}, libzstd "
                f"{'.'.join(map(str, getattr(zstandard, 'ZSTD_VERSION', ())))}",
                new=lambda: zstandard.ZstdDecompressor().decompressobj(),
            )
        )
    else:
        rows.append(Decoder("python zstandard", "zst", reason=f"{missing} (pip install zstandard)"))
    zstd = shutil.which("zstd")
    if zstd is None:
        rows.append(Decoder("zstd -dc", "zst", reason=f"{missing} (zstd not on PATH)"))
    else:
        # zstd frames its version line in asterisks.
        version = first_line([zstd, "--version"]).strip("* ")
        rows.append(Decoder("zstd -dc", "zst", version, argv=[zstd, "-dcq"]))
    return rows


def run_inflate_case(corpus: dict[str, Any], data: Path, out_dir: Path, h: Harness) -> dict[str, Any]:
    """Decompression throughput of the gz and zst copies of the plain corpus, logscan aside."""
    args = h.args
    expected = corpus["bytes"]
    inputs: dict[str, list[Path]] = {}
    info: dict[str, Any] = {"kind": "inflate", "chunk_bytes": INFLATE_CHUNK, "inputs": {}, "decoders": {}}
    for kind in ("gz", "zst"):
        input_dir, files = case_files(kind, data, corpus)
        present = kind in corpus["dirs"] and all(f.exists() for f in files)
        info["inputs"][kind] = {
            "dir": str(input_dir),
            "files": len(files),
            "stored_bytes": sum(f.stat().st_size for f in files if f.exists()),
            "output_bytes": expected,
            "present": present,
        }
        if present:
            inputs[kind] = files
    rows = inflate_decoders(h.tools)
    for row in rows:
        if not row.reason and row.kind not in inputs:
            row.reason = f"no .{row.kind} corpus" + (" (zstd CLI not found)" if row.kind == "zst" else "")
    gz = info["inputs"]["gz"]
    print(
        f"\ninflate: {gz['files']} .gz files, {generate.format_size(gz['stored_bytes'])} -> "
        f"{generate.format_size(expected)}; output MiB/s, 1 MiB input chunks in-process",
        flush=True,
    )
    for files in inputs.values():
        warm_page_cache(files)
    for rep in range(args.repeat):
        for row in rows:
            if row.reason or row.error:
                continue
            files = inputs[row.kind]
            if row.new is not None:
                cpu0 = time.process_time()
                started = time.perf_counter()
                try:
                    produced = stream_decompress(files, row.new)
                except Exception as exc:  # a broken binding voids its row only
                    row.error = f"run {rep + 1}: {type(exc).__name__}: {exc}"
                    print(f"  {row.name}: failed, {row.error}")
                    continue
                wall = time.perf_counter() - started
                run = Run(wall, 0.0, time.process_time() - cpu0, 0)
                if produced != expected:
                    row.error = f"run {rep + 1}: {produced:,} bytes out, expected {expected:,}"
                    print(f"  {row.name}: failed, {row.error}")
                    continue
            else:
                assert row.argv is not None
                row.line = f"{shlex.join([*row.argv, *map(str, files)])} >/dev/null"
                job = Job(row.name, [row.line], shell=True)
                job.ok_codes = (0,)
                out = out_dir / f"inflate-{row.name.split()[0]}.out"
                run, problem = checked_run(job, out, h)
                if problem:
                    row.error = f"run {rep + 1}: {problem}"
                    print(f"  {row.name}: failed, {row.error}")
                    continue
            row.runs.append(run)
            print(
                f"  run {rep + 1}/{args.repeat} {row.name:17} {run.wall:8.3f} s "
                f"{expected / 2**20 / run.wall:8.0f} MiB/s",
                flush=True,
            )
    for row in rows:
        entry: dict[str, Any] = {
            "input": row.kind,
            "in_process": row.new is not None,
            "version": row.version,
            "command": [row.line] if row.line else None,
        }
        if row.reason or row.error or not row.runs:
            entry.update(status="n/a", reason=row.reason or row.error or "no runs")
        else:
            walls = [r.wall for r in row.runs]
            med = median(walls)
            entry.update(
                status="ok",
                runs=[{"wall": r.wall, "cpu": r.cpu} for r in row.runs],
                median_s=round(med, 4),
                min_s=round(min(walls), 4),
                max_s=round(max(walls), 4),
                mib_s=round(expected / 2**20 / med, 1),
                cpu_s=round(median([r.cpu for r in row.runs]), 3),
            )
            if row.new is None:
                entry["peak_rss_mib"] = round(max(r.rss_mib for r in row.runs), 1)
        info["decoders"][row.name] = entry
    return info


TINY_LOG = (
    '[GIN] 2025/05/07 - 06:59:38 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"\n'
    '[GIN] 2025/05/07 - 06:59:39 | 200 |  1.234567891s |       127.0.0.1 | POST     "/api/chat"\n'
    "2025-05-07 06:59:40,112 ERROR app.chat: chat request failed: registry.ollama.ai/library/"
    "gemma2:2b does not support tools (status code: 400)\n"
)


def startup_rows(h: Harness, tiny: Path, out: Path, caches: Path) -> list[tuple[str, list[str], str | None]]:
    """(row, command, command run before each timed run): --help, and a scan of a three-line
    file with the compiled rule pack cache emptied before each run (cold) or kept (warm)."""
    assert h.ls_base is not None
    scan = [*h.ls_base, "scan", str(tiny), "-f", "csv", "-o", str(out)]
    cold, warm = caches / "cold", caches / "warm"
    return [
        ("logscan --help", [*h.ls_base, "--help"], None),
        (
            "logscan scan tiny.log, cold rule cache",
            ["env", f"LOGSCAN_CACHE_DIR={cold}", *scan],
            f"rm -rf {cold}",
        ),
        ("logscan scan tiny.log, warm rule cache", ["env", f"LOGSCAN_CACHE_DIR={warm}", *scan], None),
    ]


def run_startup_case(data: Path, out_dir: Path, h: Harness) -> dict[str, Any]:
    """Start-up: whole-process wall time of commands that do almost no work, through hyperfine
    when it is installed (it subtracts nothing: -N runs the command without a shell), else
    through repeated runs here. Quoted as median and mean over --startup-runs runs."""
    info: dict[str, Any] = {"kind": "startup", "runs": h.args.startup_runs, "rows": {}}
    if h.ls_base is None or h.args.logscan_cmd:
        info["error"] = "needs the logscan command (not --logscan-cmd)"
        print(f"\nstartup: skipped ({info['error']})")
        return info
    folder = data / "startup"
    folder.mkdir(exist_ok=True)
    tiny = folder / "tiny.log"
    tiny.write_text(TINY_LOG, encoding="utf-8")
    hyperfine = shutil.which("hyperfine")
    info["method"] = (
        first_line([hyperfine, "--version"]) if hyperfine else "repeated runs (hyperfine not found)"
    )
    print(f"\nstartup: {info['method']}, {h.args.startup_runs} runs per row", flush=True)
    for row, argv, prepare in startup_rows(h, tiny, out_dir / "startup-tiny.csv", folder / "cache"):
        if hyperfine:
            report = out_dir / "startup-hyperfine.json"
            cmd = [
                hyperfine,
                "-N",
                "--warmup",
                "2",
                "--runs",
                str(h.args.startup_runs),
                "--export-json",
                str(report),
            ]
            cmd += ["--prepare", prepare] if prepare else []
            proc = subprocess.run(
                [*cmd, shlex.join(argv)], capture_output=True, text=True, check=False, cwd=h.ls_cwd
            )
            if proc.returncode != 0:
                info["rows"][row] = {
                    "status": "n/a",
                    "reason": (proc.stderr.strip().splitlines() or ["failed"])[-1],
                }
                continue
            times = json.loads(report.read_text())["results"][0]["times"]
        else:
            times = []
            job = Job(row, argv, cwd=h.ls_cwd, ok_codes=(0, 1))
            for _ in range(h.args.startup_runs + 2):
                if prepare:
                    subprocess.run(prepare, shell=True, check=False)
                run, problem = checked_run(job, out_dir / "startup.out", h)
                if problem:
                    break
                times.append(run.wall)
            times = times[2:]  # the first two warm the page cache, as hyperfine's --warmup 2
        if not times:
            info["rows"][row] = {"status": "n/a", "reason": "no successful run"}
            continue
        info["rows"][row] = {
            "status": "ok",
            "command": argv,
            "prepare": prepare,
            "median_s": round(median(times), 4),
            "mean_s": round(statistics.fmean(times), 4),
            "min_s": round(min(times), 4),
            "max_s": round(max(times), 4),
        }
        print(f"  {row:42} median {median(times):6.3f} s, mean {statistics.fmean(times):6.3f} s", flush=True)
    return info


def startup_markdown(info: dict[str, Any]) -> str:
    if "error" in info:
        return f"skipped: {info['error']}"
    rows = ["| command | median s | mean s | min–max s |", "|---|---:|---:|---|"]
    for row, e in info["rows"].items():
        if e["status"] != "ok":
            rows.append(f"| {row} | n/a | n/a | {e['reason']} |")
        else:
            rows.append(
                f"| {row} | {e['median_s']:.3f} | {e['mean_s']:.3f} | {e['min_s']:.3f}–{e['max_s']:.3f} |"
            )
    return "\n".join(rows) + f"\n\n{info['runs']} runs per row; {info['method']}."


def formats_summary(results: dict[str, Any]) -> dict[str, Any] | None:
    """logscan's MiB/s on each format of the formats case, and the slowest against the fastest."""
    speeds: dict[str, float] = {}
    for fmt, name in FORMAT_CASES.items():
        entry = results["cases"].get(name, {}).get("tools", {}).get("logscan", {})
        if entry.get("status") == "ok":
            speeds[fmt] = entry["mib_s"]
    if not speeds:
        return None
    return {
        "mib_s": speeds,
        "max_over_min": round(max(speeds.values()) / min(speeds.values()), 2),
        "note": "max_over_min = MiB/s of the fastest format / MiB/s of the slowest; 1 = the same per byte",
    }


def formats_markdown(summary: dict[str, Any]) -> str:
    fastest = max(summary["mib_s"].values())
    rows = ["| format | logscan MiB/s | fastest / this |", "|---|---:|---:|"]
    for fmt, speed in summary["mib_s"].items():
        rows.append(f"| {fmt} | {speed:,.0f} | {fastest / speed:.2f} |")
    return "\n".join(rows) + f"\n\nfastest / slowest: {summary['max_over_min']:.2f}"


# Runs in logscan's interpreter, on one core: the candidate test alone, on the blocks of the
# plain corpus, by the raw-bytes prefilter and by today's per-line Polars test. argv: the
# corpus files; the block size and repeats come from the environment. Prints one JSON object.
PREFILTER_PROBE = r"""
import json, os, re, statistics, sys, time
import polars as pl
from logscan import formats, rules
try:
    from logscan import prefilter
except ImportError:
    print(json.dumps({"error": "this logscan has no logscan.prefilter"})); sys.exit(0)

block_bytes = int(os.environ["PROBE_BLOCK_BYTES"])
repeat = int(os.environ["PROBE_REPEAT"])
blocks = []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        carry = b""
        while data := f.read(block_bytes):
            data = carry + data
            cut = data.rfind(b"\n") + 1
            blocks.append(data[:cut])
            carry = data[cut:]
        if carry:
            blocks.append(carry)
mib = sum(map(len, blocks)) / 2**20
ruleset = rules.load()
anchor_sets = {
    "status and implied anchors": ["400", *ruleset.implied_anchors],
    "every anchor": sorted({re.escape(a) for a in formats.STATUS_ANCHORS} | set(ruleset.anchors)),
}

def read_lines(block):
    return pl.read_csv(block, has_header=False, separator="\x00", quote_char=None,
                       schema={"line": pl.String}, encoding="utf8-lossy", raise_if_empty=False).get_column("line")

tests = {}
for label, anchors in anchor_sets.items():
    compiled = prefilter.compile_prefilter(anchors)
    alternation = "|".join(anchors)
    tests[f"{label}: prefilter ({compiled.engine}) over raw blocks"] = (
        lambda c=compiled: sum(len(c.candidate_lines(b)) for b in blocks))
    if compiled.engine == "hyperscan":
        def matches_only(c=compiled):
            ends = []
            for b in blocks:
                c._database.scan(b, match_event_handler=lambda i, s, e, f, x: ends.append(e))
            return len(ends)
        tests[f"{label}: prefilter, Hyperscan matches only (no line numbers; count is of matches)"] = matches_only
    tests[f"{label}: per-line Polars (read lines + str.contains)"] = (
        lambda a=alternation: sum(int(read_lines(b).str.contains(a).fill_null(False).sum()) for b in blocks))
tests["read lines only (the line reader)"] = lambda: sum(len(read_lines(b)) for b in blocks)
times = {name: [] for name in tests}
found = {}
for _ in range(repeat):
    for name, test in tests.items():
        started = time.perf_counter()
        found[name] = test()
        times[name].append(time.perf_counter() - started)
rows = {name: {"median_s": round(statistics.median(t), 4), "runs": [round(x, 4) for x in t],
               "mib_s": round(mib / statistics.median(t), 1), "lines": found[name]} for name, t in times.items()}
print(json.dumps({"mib": round(mib, 1), "blocks": len(blocks), "block_bytes": block_bytes,
                  "anchors": {k: len(v) for k, v in anchor_sets.items()}, "rows": rows}))
"""
PROBE_BLOCK_BYTES = 8 << 20


def run_prefilter_case(corpus: dict[str, Any], data: Path, h: Harness) -> dict[str, Any]:
    """The candidate test alone, in logscan's interpreter pinned to one core: the raw-bytes
    prefilter against the per-line Polars test, on the plain corpus in 8 MiB blocks."""
    _, files = case_files("plain", data, corpus)
    python = logscan_python(h.ls_base)
    pin = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] if shutil.which("taskset") else []
    env = {**os.environ, "POLARS_MAX_THREADS": "1", "PROBE_BLOCK_BYTES": str(PROBE_BLOCK_BYTES)}
    env["PROBE_REPEAT"] = str(h.args.repeat)
    print(
        f"\nprefilter: {len(files)} files, one core{' (taskset)' if pin else ''}, {h.args.repeat} runs",
        flush=True,
    )
    warm_page_cache(files)
    proc = subprocess.run(
        [*pin, python, "-c", PREFILTER_PROBE, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=h.ls_cwd,
        timeout=h.args.timeout,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]}
    info: dict[str, Any] = json.loads(proc.stdout)
    info["pinned"] = bool(pin)
    return info


def prefilter_markdown(info: dict[str, Any]) -> str:
    if "error" in info:
        return f"skipped: {info['error']}"
    rows = ["| test | median s | MiB/s | candidate lines |", "|---|---:|---:|---:|"]
    for name, e in info["rows"].items():
        rows.append(f"| {name} | {e['median_s']:.2f} | {e['mib_s']:,.0f} | {e['lines']:,} |")
    return "\n".join(rows) + (
        f"\n\n{info['mib']:,.0f} MiB in {info['blocks']} blocks of {info['block_bytes'] >> 20} MiB; "
        f"anchors: {', '.join(f'{k} {v}' for k, v in info['anchors'].items())}. POLARS_MAX_THREADS=1"
        + (", pinned with taskset." if info.get("pinned") else ".")
    )


# --------------------------------------------------------------------------------------------
# Reporting


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarise(jobs: list[Job], input_bytes: int, out_dir: Path, case: str) -> dict[str, Any]:
    by_tool: dict[str, dict[str, Any]] = {}
    for job in jobs:
        entry: dict[str, Any] = {"command": job.argv, "shell": job.shell}
        if job.argv is None or job.error or not job.runs:
            entry.update(status="n/a", reason=job.reason or job.error or "no runs")
        else:
            walls = [r.wall for r in job.runs]
            med = median(walls)
            entry.update(
                status="ok",
                runs=[vars(r) for r in job.runs],
                median_s=round(med, 4),
                min_s=round(min(walls), 4),
                max_s=round(max(walls), 4),
                mib_s=round(input_bytes / 2**20 / med, 1),
                peak_rss_mib=round(max(r.rss_mib for r in job.runs), 1),
                peak_pss_mib=round(job.pss_mib, 1),
                cpu_s=round(median([r.cpu for r in job.runs]), 3),
            )
            if is_grep_like(job.tool):
                entry["matched_lines"] = count_matches(output_path(out_dir, case, job.tool))
        by_tool[job.tool] = entry
    for entry in by_tool.values():
        if entry["status"] != "ok":
            continue
        for key, ref in (("vs_rg", RG41), ("vs_grep", GREP41), ("vs_grep_rules", GREP_RULES)):
            other = by_tool.get(ref, {})
            if other.get("status") == "ok":
                # > 1 means faster than the reference, < 1 slower.
                entry[key] = round(other["median_s"] / entry["median_s"], 3)
    return by_tool


def is_grep_like(tool: str) -> bool:
    return tool.split(maxsplit=1)[0] in ("rg", "grep")


def fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    head = (
        "| case | tool | median s | MiB/s | × rg41 | × grep41 | × grep rules | peak PSS MiB | peak RSS MiB"
        " | CPU s | matched lines | notes |"
    )
    rows = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for case, c in results["cases"].items():
        for tool, e in c.get("tools", {}).items():  # inflate has a table of its own
            if e["status"] != "ok":
                rows.append(f"| {case} | {tool} | n/a | n/a | | | | | | | | {e['reason']} |")
                continue
            n = len(e["runs"])
            spread = f"{n} run{'s' if n != 1 else ''}, {e['min_s']:.2f}–{e['max_s']:.2f} s"
            rows.append(
                f"| {case} | {tool} | {e['median_s']:.2f} | {e['mib_s']:,.0f} "
                f"| {fmt(e.get('vs_rg'), '.2f')} | {fmt(e.get('vs_grep'), '.2f')} "
                f"| {fmt(e.get('vs_grep_rules'), '.2f')} "
                f"| {e['peak_pss_mib']:,.0f} | {e['peak_rss_mib']:,.0f} | {e['cpu_s']:.2f} "
                f"| {fmt(e.get('matched_lines'), ',d') if is_grep_like(tool) else ''} "
                f"| {spread} |"
            )
    return "\n".join(rows)


def inflate_markdown(info: dict[str, Any]) -> str:
    rows = [
        "| input | decoder | median s | MiB/s out | CPU s | notes |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, e in info["decoders"].items():
        if e["status"] != "ok":
            rows.append(f"| {e['input']} | {name} | n/a | n/a | | {e['reason']} |")
            continue
        n = len(e["runs"])
        spread = f"{n} run{'s' if n != 1 else ''}, {e['min_s']:.2f}–{e['max_s']:.2f} s"
        rows.append(
            f"| {e['input']} | {name} | {e['median_s']:.2f} | {e['mib_s']:,.0f} | {e['cpu_s']:.2f} "
            f"| {e['version']}; {spread} |"
        )
    return "\n".join(rows)


def scale_markdown(scale: dict[str, Any]) -> str:
    x = f"{scale['factor']}x"
    rows = [
        f"| tool | 1x s | {x} s | time {x} / 1x | peak PSS 1x MiB | peak PSS {x} MiB"
        f" | peak RSS 1x MiB | peak RSS {x} MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, e in scale["tools"].items():
        rows.append(
            f"| {tool} | {e['median_s_1x']:.2f} | {e[f'median_s_{x}']:.2f} | {e['time_ratio']:.2f} "
            f"| {e['peak_pss_mib_1x']:,.0f} | {e[f'peak_pss_mib_{x}']:,.0f}"
            f" | {e['peak_rss_mib_1x']:,.0f} | {e[f'peak_rss_mib_{x}']:,.0f} |"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        type=generate.parse_size,
        default=generate.parse_size("1GiB"),
        help="corpus size, uncompressed (default 1GiB)",
    )
    parser.add_argument("--files", type=int, default=8, help="big files in the corpus (default 8)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument(
        "--data",
        type=Path,
        default=HERE / "data",
        help="corpus directory (default benchmarks/data, gitignored)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool (default 3)")
    parser.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        help=f"comma-separated subset of {','.join(CASES)} (default {DEFAULT_CASES})",
    )
    parser.add_argument(
        "--small-files", type=int, default=2000, help="files in the 'small' case (default 2000)"
    )
    parser.add_argument(
        "--small-size",
        type=generate.parse_size,
        default=None,
        help="total size of the 'small' case (default: --size, at most 128MiB)",
    )
    parser.add_argument(
        "--format-size",
        type=generate.parse_size,
        default=generate.parse_size("64MiB"),
        help="size of each file of the 'formats' case (default 64MiB)",
    )
    parser.add_argument(
        "--startup-runs", type=int, default=20, help="runs per row of the 'startup' case (default 20)"
    )
    parser.add_argument(
        "--huge-format",
        choices=generate.FORMATS,
        default="python-app",
        help="format of the one file in the 'huge' case (default python-app, whose tracebacks "
        "make record boundaries matter)",
    )
    parser.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help=f"where the 'scale{SCALE}' case writes its temporary {SCALE}x corpus, deleted after "
        "the case (default: --data)",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        default=REPO / "rules",
        help="rule directory for the rg/grep patterns (default rules/)",
    )
    parser.add_argument(
        "--yardstick",
        type=Path,
        default=HERE / "yardstick",
        help=f"folder of {YARDSTICK_ERE} and {YARDSTICK_RUST}, the fixed 41 patterns (default "
        "benchmarks/yardstick)",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds before a single run is killed (default 3600)"
    )
    parser.add_argument(
        "--no-baseline", dest="baseline", action="store_false", help="leave out the 'wc -l' yardstick row"
    )
    parser.add_argument(
        "--rg-unicode-b",
        action="store_true",
        help="pass \\b to rg unchanged (Unicode boundary; much slower on non-ASCII input with ripgrep 13)",
    )
    # Hidden: replaces the logscan command so the harness can be tried before logscan exists.
    # {dir}, {files} and {out} are substituted; with none of them the input files are appended.
    parser.add_argument("--logscan-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    args.cases = cases
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.small_size is None:
        args.small_size = min(args.size, generate.parse_size("128MiB"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data: Path = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    out_dir = data / "out"
    out_dir.mkdir(exist_ok=True)

    tools: dict[str, str | None] = {
        name: shutil.which(name) for name in ("rg", "grep", "zcat", "zstdcat", "wc")
    }
    ls_base, ls_why, ls_cwd = logscan_base(args.logscan_cmd)
    versions = {
        "rg": first_line([tools["rg"], "--version"]) if tools["rg"] else "n/a",
        "grep": first_line([tools["grep"], "--version"]) if tools["grep"] else "n/a",
        "gzip": first_line(["gzip", "--version"]) if shutil.which("gzip") else "n/a",
        "zstd": first_line(["zstd", "--version"]) if shutil.which("zstd") else "n/a",
        "logscan_command": ls_why,
        **python_facts(logscan_python(ls_base)),
        "harness_python": platform.python_version(),
    }
    pats = build_patterns(args.rules, tools["rg"], tools["grep"], args.rg_unicode_b)
    subreaper = become_subreaper()
    # What a child that does nothing reports: the floor under every peak RSS below.
    floor = run_once(Job("true", ["true"]), out_dir / "floor.out", 60, subreaper).rss_mib

    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "versions": versions,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "patterns": {
            "source": pats.source,
            "count": len(pats.all),
            "rg": len(pats.rg),
            "grep": len(pats.grep),
            "notes": pats.notes,
        },
        "rss": {
            "method": "setsid -f + subreaper + os.wait4"
            if subreaper
            else "os.wait4 on the direct child (includes the harness's own RSS, inherited through fork)",
            "floor_mib": round(floor, 1),
        },
        "corpus": {},
        "cases": {},
    }
    m = results["machine"]
    print(f"machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['mem_total_gib']} GiB RAM")
    print(
        f"versions: {versions['rg']}; {versions['grep']}; python {versions['python']}; "
        f"polars {versions['polars']}; logscan {versions['logscan']} ({ls_why})"
    )
    print(
        f"patterns: {len(pats.all)} from {pats.source}; rg runs {len(pats.rg)}, grep -E runs {len(pats.grep)}"
    )
    for note in pats.notes:
        print(f"  note: {note}")

    # A plain `kill` unwinds like Ctrl-C: the running tool is killed, the scale folder deleted.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    zstd_cli = shutil.which("zstd") is not None
    need_gz = bool({"gz", "inflate"} & set(args.cases))
    need_zst = bool({"zst", "inflate"} & set(args.cases)) and zstd_cli
    corpora: dict[str, dict[str, Any]] = {}
    if {"plain", "gz", "zst", f"scale{SCALE}", "inflate", "prefilter"} & set(args.cases):
        corpora["plain"] = ensure_corpus(
            data, "plain", size=args.size, files=args.files, seed=args.seed, gz=need_gz, zst=need_zst
        )
    if "small" in args.cases:
        corpora["small"] = ensure_corpus(
            data, "small", size=args.small_size, files=args.small_files, seed=args.seed, gz=False, zst=False
        )
    if "huge" in args.cases:
        corpora["huge"] = ensure_corpus(
            data, "huge", size=args.size, files=1, seed=args.seed, gz=False, zst=False, fmt=args.huge_format
        )
    if "dense" in args.cases:
        corpora["dense"] = ensure_corpus(
            data,
            "dense",
            size=args.size,
            files=args.files,
            seed=args.seed,
            gz=False,
            zst=False,
            share_400=DENSE_SHARE,
        )
    if "formats" in args.cases:
        for fmt, name in FORMAT_CASES.items():
            corpora[name] = ensure_corpus(
                data, name, size=args.format_size, files=1, seed=args.seed, gz=False, zst=False, fmt=fmt
            )
    for name, entry in corpora.items():
        results["corpus"][name] = corpus_summary(entry)

    harness = Harness(args, pats, tools, ls_base, ls_why, ls_cwd, subreaper)
    for case in args.cases:
        if case == "inflate":
            results["cases"][case] = run_inflate_case(corpora["plain"], data, out_dir, harness)
        elif case == f"scale{SCALE}":
            scratch = (args.scratch or data).resolve()
            results["cases"][case], summary = run_scale_case(corpora["plain"], data, scratch, harness)
            if summary is not None:
                results["corpus"][case] = summary
        elif case == "formats":
            for name in FORMAT_CASES.values():
                results["cases"][name] = run_case(name, data, corpora[name], out_dir, harness)
        elif case == "startup":
            results["cases"][case] = run_startup_case(data, out_dir, harness)
        elif case == "prefilter":
            results["cases"][case] = run_prefilter_case(corpora["plain"], data, harness)
        else:
            corpus = corpora[case if case in ("small", "huge", "dense") else "plain"]
            results["cases"][case] = run_case(case, data, corpus, out_dir, harness)

    print()
    print(markdown(results))
    print(
        "\nMiB/s = uncompressed input MiB / median wall time; × rg41, × grep41, × grep rules = the "
        f"median of {RG41}, {GREP41} or {GREP_RULES} / this row's (above 1 = faster); peak RSS = max over runs of ru_maxrss or of the "
        "summed RSS of the tool's processes, whichever is larger (a child doing nothing shows "
        f"{floor:.1f} MiB); peak PSS = summed PSS of the tool's processes, sampled every 200 ms in "
        "one more, untimed run: shared library pages counted once, the memory the tree really holds."
    )
    for c, v in results["cases"].items():
        for rg_row, grep_row in ((RG_RULES, GREP_RULES), (RG41, GREP41)):
            a = v.get("tools", {}).get(rg_row, {}).get("matched_lines")
            b = v.get("tools", {}).get(grep_row, {}).get("matched_lines")
            if a is not None and b is not None and a != b:
                print(
                    f"note: {c}: {rg_row} and {grep_row} count different lines ({a:,} vs {b:,}); "
                    "their pattern sets differ"
                )
    per_format = formats_summary(results)
    if per_format is not None:
        results["formats"] = per_format
        print("\nformats: logscan on one file of each format, one process (--jobs 1):\n")
        print(formats_markdown(per_format))
    if "startup" in results["cases"]:
        print("\nstart-up:\n")
        print(startup_markdown(results["cases"]["startup"]))
    if "prefilter" in results["cases"]:
        print("\nprefilter (in one process on one core; not a whole scan):\n")
        print(prefilter_markdown(results["cases"]["prefilter"]))
    if "inflate" in results["cases"]:
        print("\ninflate (decompression only, no logscan):\n")
        print(inflate_markdown(results["cases"]["inflate"]))
        print(
            "\nMiB/s out = uncompressed MiB / median wall time. python rows run in this process, "
            f"{INFLATE_CHUNK >> 20} MiB of input per decompress() call, output dropped; CLI rows write to "
            "/dev/null. CPU s above median s means more than one thread."
        )
    scale = scale_summary(results)
    if scale is None and f"scale{SCALE}" in results["cases"]:
        print(f"\nnote: no scale summary; it needs plain and scale{SCALE} in the same run, both with results")
    if scale is not None:
        results["scale"] = scale
        print(f"\nscale: plain at 1x and {SCALE}x ({SCALE} copies of every file):\n")
        print(scale_markdown(scale))
        ls = scale["tools"].get("logscan")
        if ls is not None:
            print(
                f"\nlogscan: {SCALE}x the input took {ls['time_ratio']:.2f}x the time "
                f"({SCALE:.2f} = linear); peak PSS {ls['peak_pss_mib_1x']:,.0f} MiB -> "
                f"{ls[f'peak_pss_mib_{SCALE}x']:,.0f} MiB, peak RSS {ls['peak_rss_mib_1x']:,.0f} MiB -> "
                f"{ls[f'peak_rss_mib_{SCALE}x']:,.0f} MiB."
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
