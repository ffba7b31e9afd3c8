"""The config file: defaults for every option of logscan's commands, so that a team keeps its
rule folders, bounds, outputs and thresholds in one file instead of in every command line (a
cron line becomes ``logscan scan``).

Keys are the long options without their dashes (``since``, ``report-tz``, ``fail-on``...;
underscores for hyphens are accepted), plus ``paths`` for the inputs. Looked up in this order,
first found wins: ``--config FILE``; ``$LOGSCAN_CONFIG``; ``logscan.toml`` in the current
directory; the ``[tool.logscan]`` table of ``pyproject.toml`` there;
``$XDG_CONFIG_HOME/logscan/config.toml`` (``~/.config/logscan/config.toml``);
``/etc/logscan/config.toml``. An option given on the command line always wins over the file.
Relative paths in the file (rules, output, events, inputs...) are relative to its folder.

A file named on purpose is always read. One that is merely found is read only if it is owned by
the user running logscan or by root and nobody else may write it: ``cd /var/log/app && logscan
scan .`` as root must not let whoever can write to that folder choose the rules (a rule file can
make every 400 disappear). Otherwise it is passed over for the next place, and
``Config.ignored`` says why, for a warning.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logscan.errors import UsageError

if TYPE_CHECKING:
    import tomllib

CONFIG_FILE = "logscan.toml"
CONFIG_VARIABLE = "LOGSCAN_CONFIG"
PYPROJECT_FILE = "pyproject.toml"
USER_CONFIG = Path("logscan") / "config.toml"  # under $XDG_CONFIG_HOME, default ~/.config
SYSTEM_CONFIG = Path("/etc/logscan/config.toml")

_KIND_WORDS = {"bool": "true or false", "int": "an integer", "list": "a list of strings", "str": "a string"}
STDOUT = "-"


@dataclass(frozen=True)
class Key:
    """What a key of the file may hold and which parameter it gives a default to."""

    parameter: str  # the name of the command's parameter
    kind: str  # bool, int, list (of strings; one string is a list of one) or str
    path: bool = False  # a path, or a list of them, read relative to the file's folder
    # Further checks and conversion (a range, a choice, a path that must exist): raises
    # ValueError with what is wrong.
    check: Callable[[Any], Any] | None = None


class ConfigError(UsageError):
    """The config file cannot be read or holds something logscan does not understand."""


@dataclass(frozen=True)
class Config:
    path: Path | None  # None when no config file was found
    values: dict[str, Any] = field(default_factory=dict)  # key -> checked value
    ignored: str | None = None  # why a config file found was passed over

    def defaults_for(self, parameters: Mapping[str, str]) -> dict[str, Any]:
        """The Click default map for a command whose keys name these parameters."""
        return {parameters[key]: value for key, value in self.values.items() if key in parameters}


def find(directory: Path) -> tuple[Path, bool] | None:
    """The config file in ``directory`` and whether it is a pyproject.toml, or None."""
    own = directory / CONFIG_FILE
    if own.is_file():
        return own, False
    pyproject = directory / PYPROJECT_FILE
    if pyproject.is_file() and _has_logscan_table(pyproject):
        return pyproject, True
    return None


def user_config() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    # The XDG rule: a relative $XDG_CONFIG_HOME is invalid and is ignored.
    folder = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return folder / USER_CONFIG


def _found_in_order(directory: Path) -> list[tuple[Path, bool]]:
    """The config files found where logscan looks for one, in the order it looks."""
    found = [find(directory)]
    found += [(path, False) if path.is_file() else None for path in (user_config(), SYSTEM_CONFIG)]
    return [place for place in found if place is not None]


def _has_logscan_table(pyproject: Path) -> bool:
    import tomllib  # noqa: PLC0415 (only when there is a file to read: start-up time)

    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        # A broken pyproject.toml is some other tool's business unless it configures logscan.
        return "[tool.logscan]" in _read_quietly(pyproject)
    return isinstance(document.get("tool"), dict) and "logscan" in document["tool"]


def _read_quietly(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def load(
    explicit: Path | None = None, directory: Path | None = None, keys: Mapping[str, Key] | None = None
) -> Config:
    """Read the config file named (``explicit``, else ``$LOGSCAN_CONFIG``), else the first one
    found (``directory``, default the current one; then the user's and the system's) that can
    be trusted. No file found is an empty config. ``keys`` are the keys a file may hold; every
    problem is reported at once."""
    keys = keys or {}
    if explicit is None and os.environ.get(CONFIG_VARIABLE):
        explicit = Path(os.environ[CONFIG_VARIABLE])
    if explicit is not None:
        return _load(explicit, explicit.name == PYPROJECT_FILE, keys, trusted_only=False)
    # Relative, so messages name the file as the user sees it in the current directory.
    passed_over: list[str] = []
    for path, in_pyproject in _found_in_order(directory or Path()):
        loaded = _load(path, in_pyproject, keys, trusted_only=True)
        if loaded.ignored is None:
            return Config(loaded.path, loaded.values, "; ".join(passed_over) or None)
        passed_over.append(loaded.ignored)
    return Config(None, ignored="; ".join(passed_over) or None)


def _load(path: Path, in_pyproject: bool, keys: Mapping[str, Key], *, trusted_only: bool) -> Config:
    import tomllib  # noqa: PLC0415 (only when there is a file to read: start-up time)

    try:
        data, refusal = _read(path, trusted_only=trusted_only)
        if refusal is not None:
            return Config(
                None,
                ignored=f"ignoring {path}: {refusal}; pass --config {path} or set"
                f" {CONFIG_VARIABLE} to read it anyway",
            )
        text = data.decode("utf-8")
        document = tomllib.loads(text)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: config file is not UTF-8") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(_decode_error(path, error)) from error
    table: Any = document
    if in_pyproject:
        table = document.get("tool", {}).get("logscan", {}) if isinstance(document.get("tool"), dict) else {}
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.logscan] must be a table")
    # Error positions are searched from the table's header on (tomllib gives none).
    table_start = max(text.find("[tool.logscan]"), 0) if in_pyproject else 0
    return Config(path, _checked(path, text, table, table_start, keys))


# A config file is a few lines; more is not one.
_MAX_CONFIG_BYTES = 2**20


def _read(path: Path, *, trusted_only: bool) -> tuple[bytes, str | None]:
    """The file's bytes, or why it is not trusted. The checks are made on the file opened, so
    the file checked is the file read."""
    if trusted_only:
        link = path.lstat()
        refusal = _untrusted_owner(link) if stat.S_ISLNK(link.st_mode) else None
        if refusal is not None:
            return b"", f"a symbolic link {refusal}"
    with path.open("rb") as stream:
        if trusted_only:
            info = os.fstat(stream.fileno())
            refusal = _untrusted_owner(info)
            if refusal is None and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                refusal = f"others may write it (mode {stat.filemode(info.st_mode)})"
            if refusal is not None:
                return b"", refusal
        data = stream.read(_MAX_CONFIG_BYTES + 1)
    if len(data) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: config file is larger than {_MAX_CONFIG_BYTES // 2**20} MiB")
    return data, None


def _untrusted_owner(info: os.stat_result) -> str | None:
    if info.st_uid in (os.geteuid(), 0):
        return None
    return f"owned by uid {info.st_uid}, neither you (uid {os.geteuid()}) nor root"


def _decode_error(path: Path, error: tomllib.TOMLDecodeError) -> str:
    # tomllib words its errors as "Reason (at line L, column C)".
    found = re.search(r"^(.*) \(at line (\d+), column (\d+)\)$", str(error))
    if found:
        return f"{path}:{found.group(2)}:{found.group(3)}: invalid TOML: {found.group(1)}"
    return f"{path}: invalid TOML: {error}"


def _checked(
    path: Path, text: str, table: dict[str, Any], table_start: int, keys: Mapping[str, Key]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    problems: list[str] = []
    for raw_key, value in table.items():
        # Underscores are accepted for hyphens, as people write both in TOML.
        key = raw_key.replace("_", "-")
        where = f"{path}:{_line_of(text, raw_key, table_start)}:1"
        if key not in keys:
            problems.append(f"{where}: unknown key '{raw_key}'{_did_you_mean(key, keys)}")
            continue
        try:
            values[key] = _value(keys[key], value, path.parent)
        except ValueError as error:
            problems.append(f"{where}: '{raw_key}' {error}")
    if problems:
        raise ConfigError("\n".join(problems))
    return values


def _did_you_mean(key: str, keys: Mapping[str, Key]) -> str:
    import difflib  # noqa: PLC0415 (only for a key that is wrong)

    close = difflib.get_close_matches(key, keys, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{hint} (keys are the long options of `logscan scan --help` without --, and paths)"


def _value(key: Key, value: Any, base: Path) -> Any:
    """The value checked against the key's kind, its paths read from ``base``, then checked."""
    if key.kind == "list" and isinstance(value, str):
        value = [value]
    valid = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "list": isinstance(value, list) and all(isinstance(item, str) and item for item in value),
        "str": isinstance(value, str) and value != "",
    }[key.kind]
    if not valid:
        raise ValueError(f"must be {_KIND_WORDS[key.kind]}")
    if key.path:
        value = [_relative(item, base) for item in value] if key.kind == "list" else _relative(value, base)
    if key.check is None:
        return value
    try:
        return key.check(value)
    except ValueError as error:
        raise ValueError(f"is invalid: {error}") from error


def _relative(spec: str, base: Path) -> str:
    if spec == STDOUT:
        return spec
    expanded = Path(spec).expanduser()
    return str(expanded if expanded.is_absolute() else base / expanded)


def _line_of(text: str, key: str, start: int) -> int:
    """The line where ``key`` is set, for error messages."""
    # Blanks, not \s: \s would match the empty lines above the key and count from them.
    assignment = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", re.MULTILINE)
    found = assignment.search(text, start)
    return text.count("\n", 0, found.start()) + 1 if found else 1
