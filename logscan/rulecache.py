"""The rule-pack cache: a compiled pack kept as JSON, so that a scan need not parse YAML.

Parsing YAML with positions costs more than the rest of a small scan; reading the JSON of the
parsed model costs little, and needs neither the YAML reader nor the `regex` package (its few
`regex`-engine patterns are compiled when a search first needs them). JSON builds no
objects but the model's, so an entry cannot run code; still, an entry decides what a scan
finds, so one is only used when nobody else could have written it: the cache folder and the
entry must be owned by the user running logscan and writable by nobody else (pip's rule).
Otherwise the cache is skipped, which only costs time.

The folder is ``$LOGSCAN_CACHE_DIR`` (set empty: no cache), else ``$XDG_CACHE_HOME/logscan``,
else ``~/.cache/logscan`` when the home directory exists. Only the folder and its parent are
ever created (mode 0700), never a home directory. At most ``MAX_ENTRIES`` entries are kept;
the least recently used go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logscan import __version__
from logscan.rulemodel import (
    MAX_FILE_BYTES,
    Anchor,
    Category,
    Condition,
    Example,
    Extraction,
    Group,
    Match,
    Place,
    Rule,
    RuleSet,
    Suppression,
)

CACHE_DIR_VARIABLE = "LOGSCAN_CACHE_DIR"
MAX_ENTRIES = 16
# An entry larger than this is not a pack this code wrote.
MAX_ENTRY_BYTES = 256 * 2**20
# A temporary file older than this was left by a process that died while writing it.
_STALE_SECONDS = 600
_PREFIX = "rules-"
_SUFFIX = ".json"
# Every module whose code shapes a compiled pack: a change to any of them is a new pack.
_COMPILER_MODULES = ("rulemodel.py", "ruleschema.py", "rulefile.py", "rulecache.py", "rules.py")


# The built-in pack compiled, shipped beside the code, so that a first scan need not compile
# it either (tests/regenerate_builtin_pack.py writes it; a test checks it is current).
SHIPPED_PACK = Path(__file__).parent / "builtin_pack.json"


def _compiler_digest() -> hashlib._Hash:
    digest = hashlib.sha256(__version__.encode())
    for module in _COMPILER_MODULES:
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest


def shipped_key(builtin_dir: Path, files: Sequence[Path]) -> str:
    """What the shipped pack was compiled from: the compiler's code, the logscan version and
    the built-in rule files by their names in ``builtin_dir`` and their bytes (not by where
    logscan is installed)."""
    digest = _compiler_digest()
    for path in files:
        digest.update(f"\0{path.relative_to(builtin_dir)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_shipped(builtin_dir: Path, files: Sequence[Path]) -> RuleSet | None:
    """The shipped built-in pack, if it was compiled from exactly ``files``; else None (the
    pack is then compiled, which only costs time)."""
    try:
        data = json.loads(SHIPPED_PACK.read_bytes())
        if data["key"] != shipped_key(builtin_dir, files):
            return None
        return decode(data["pack"], root=f"{builtin_dir}{os.sep}")
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def write_shipped(builtin_dir: Path, files: Sequence[Path], ruleset: RuleSet) -> None:
    pack = encode(ruleset, root=f"{builtin_dir}{os.sep}")
    data = {"key": shipped_key(builtin_dir, files), "pack": pack}
    SHIPPED_PACK.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")


def cache_dir() -> Path | None:
    """Where compiled rule packs are kept, or None for no cache."""
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured is not None:
        return Path(configured) if configured else None
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore a relative one
        return Path(xdg) / "logscan"
    home = Path(os.path.expanduser("~"))
    return home / ".cache" / "logscan" if home.is_absolute() and home.is_dir() else None


def refusal(info: os.stat_result) -> str | None:
    """Why a cache folder or entry with this status cannot be trusted, or None."""
    if info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}, not by uid {os.geteuid()}"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.filemode(info.st_mode)})"
    return None


@dataclass(frozen=True)
class PackCache:
    """One entry: the pack compiled from exactly these files, named by a digest of their
    paths, order and bytes, of the compiler's code, and of the logscan version."""

    directory: Path
    name: str

    @classmethod
    def of(cls, files: Sequence[tuple[Path, bool]], include_builtin: bool) -> PackCache | None:
        directory = cache_dir()
        if directory is None:
            return None
        digest = _compiler_digest()
        digest.update(f"\0{include_builtin}".encode())
        try:
            for path, builtin in files:
                # A pipe (--rules <(...)) can be read once, by the compiler; a device or a file
                # too large to be a rule file is the compiler's to report.
                if not stat.S_ISREG(path.stat().st_mode) or path.stat().st_size > MAX_FILE_BYTES:
                    return None
                digest.update(f"\0{path.resolve()}\0{builtin}\0".encode())
                digest.update(path.read_bytes())
        except (OSError, RuntimeError):
            return None  # compiling reports the file that cannot be read
        return cls(directory, f"{_PREFIX}{digest.hexdigest()[:32]}{_SUFFIX}")

    def read(self) -> RuleSet | None:
        """The cached pack; None when there is none, or it is damaged or not trusted."""
        with _own_folder(self.directory, create=False) as folder:
            if folder is None:
                return None
            try:
                handle = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
            except OSError:
                return None
            with os.fdopen(handle, "rb") as stream:
                info = os.fstat(stream.fileno())
                if not stat.S_ISREG(info.st_mode) or refusal(info) or info.st_size > MAX_ENTRY_BYTES:
                    return None
                data = stream.read(MAX_ENTRY_BYTES + 1)
            with contextlib.suppress(OSError):
                os.utime(self.name, dir_fd=folder)  # recently used: evicted last
        try:
            return decode(json.loads(data))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None

    def write(self, ruleset: RuleSet) -> None:
        """Keep ``ruleset``; a folder that cannot be written or trusted only costs the next
        scan the compile time."""
        data = json.dumps(encode(ruleset), separators=(",", ":")).encode()
        with _own_folder(self.directory, create=True) as folder:
            if folder is None:
                return
            temporary = f"{_PREFIX}{uuid.uuid4().hex}.tmp"
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                with os.fdopen(os.open(temporary, flags, 0o600, dir_fd=folder), "wb") as stream:
                    stream.write(data)
                os.replace(temporary, self.name, src_dir_fd=folder, dst_dir_fd=folder)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=folder)
                return
            _evict(folder)


@contextlib.contextmanager
def _own_folder(directory: Path, *, create: bool) -> Iterator[int | None]:
    """A descriptor of ``directory`` if it is the user's own and writable by nobody else;
    entries are then opened relative to it, so the folder checked is the folder used."""
    if create and not _make_folder(directory):
        yield None
        return
    try:
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield None
        return
    try:
        yield None if refusal(os.fstat(handle)) else handle
    finally:
        os.close(handle)


def _make_folder(directory: Path) -> bool:
    """Create the cache folder, and its parent if need be, but nothing above: a missing home
    directory stays missing."""
    for folder in (directory.parent, directory):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError:
            return False
    return True


def _evict(folder: int) -> None:
    """Remove the least recently used entries past MAX_ENTRIES, and temporary files of
    writers that died."""
    entries: list[tuple[float, str]] = []
    now = time.time()
    for name in os.listdir(folder):
        if not name.startswith(_PREFIX):
            continue
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except OSError:
            continue
        if name.endswith(_SUFFIX):
            entries.append((info.st_mtime, name))
        elif not name.endswith(".tmp") or now - info.st_mtime > _STALE_SECONDS:
            # A temporary file left behind, or an entry of an older format (pickle).
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=folder)
    for _, name in sorted(entries, reverse=True)[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=folder)


# --- the model as JSON -----------------------------------------------------------------------


def encode(ruleset: RuleSet, root: str = "") -> dict[str, Any]:
    """The pack as JSON data; places in files under ``root`` (a folder with its separator) are
    written relative to it."""

    def place(where: Place) -> list[Any]:
        return [where.file.removeprefix(root), where.line, where.column]

    return {
        "categories": [
            [c.id, c.title, c.explanation, c.remediation, c.steps, c.references]
            for c in ruleset.categories.values()
        ],
        "rules": [_encode_rule(rule, place) for rule in ruleset.rules],
        "suppressions": [
            [s.id, s.rule_id, _encode_match(s.match, place) if s.match else None, s.reason, place(s.place)]
            for s in ruleset.suppressions
        ],
    }


def decode(data: dict[str, Any], root: str = "") -> RuleSet:
    """The pack of ``encode(pack, root)``, its places in files under ``root`` again."""

    def place(fields: list[Any]) -> Place:
        file, line, column = fields
        return Place(root + file, line, column)

    categories = {
        fields[0]: Category(*fields[:4], tuple(fields[4]), tuple(fields[5])) for fields in data["categories"]
    }
    suppressions = tuple(
        Suppression(id_, rule_id, _decode_match(match, place) if match else None, reason, place(where))
        for id_, rule_id, match, reason, where in data["suppressions"]
    )
    return RuleSet(categories, tuple(_decode_rule(rule, place) for rule in data["rules"]), suppressions)


def _encode_rule(rule: Rule, place: Callable[[Place], list[Any]]) -> dict[str, Any]:
    return {
        **{name: getattr(rule, name) for name in _RULE_SCALARS},
        "match": _encode_match(rule.match, place),
        "examples": [[e.text, e.category, place(e.place)] for e in rule.examples],
        "place": place(rule.place),
        "extract": [[e.pattern, e.groups, place(e.place)] for e in rule.extract],
        "references": rule.references,
        "tags": rule.tags,
    }


_RULE_SCALARS = (
    "id", "title", "category", "priority", "severity", "implies_400", "order", "builtin", "explain",
    "remediation",
)  # fmt: skip


def _decode_rule(data: dict[str, Any], place: Callable[[list[Any]], Place]) -> Rule:
    return Rule(
        **{name: data[name] for name in _RULE_SCALARS},
        match=_decode_match(data["match"], place),
        examples=tuple(Example(text, category, place(where)) for text, category, where in data["examples"]),
        place=place(data["place"]),
        extract=tuple(
            Extraction(pattern, tuple(groups), place(where)) for pattern, groups, where in data["extract"]
        ),
        references=tuple(data["references"]),
        tags=tuple(data["tags"]),
    )


def _encode_match(match: Match, place: Callable[[Place], list[Any]]) -> list[Any]:
    def group(conditions: Group) -> list[Any]:
        return [
            [
                c.field,
                c.operator,
                c.value,
                place(c.place),
                c.engine,
                None if c.literals is None else [[a.text, a.ignore_case] for a in c.literals],
            ]
            for c in conditions
        ]

    return [group(match.all), [group(g) for g in match.any], [group(g) for g in match.none]]


def _decode_match(data: list[Any], place: Callable[[list[Any]], Place]) -> Match:
    def condition(
        field: str, operator: str, value: Any, where: list[Any], engine: str, literals: Any
    ) -> Condition:
        return Condition(
            field,
            operator,
            tuple(value) if isinstance(value, list) else value,
            place(where),
            "regex" if engine == "regex" else "polars",
            None if literals is None else tuple(Anchor(text, bool(case)) for text, case in literals),
        )

    def group(conditions: list[Any]) -> Group:
        return tuple(condition(*fields) for fields in conditions)

    all_, any_, none = data
    return Match(group(all_), tuple(map(group, any_)), tuple(map(group, none)))
