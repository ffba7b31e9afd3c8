"""The config file: defaults for logscan's options, so a team can keep its rule folders and
report settings next to its logs instead of in every command line.

Looked up in this order, first found wins: ``--config PATH``; ``$LOGSCAN_CONFIG``;
``logscan.toml`` in the current directory; the ``[tool.logscan]`` table of ``pyproject.toml``
in the current directory. An option given on the command line always wins over the file. Rule
paths in the file are relative to the file's folder.

A file named on purpose is always read. One that is merely found in the current directory is
read only if it is owned by the user running logscan or by root and nobody else may write it:
``cd /var/log/app && logscan scan .`` as root must not let whoever can write to that folder
choose the rules (a rule file can make every 400 disappear). Otherwise it is ignored, and
``Config.ignored`` says why, for a warning.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logscan.errors import UsageError

CONFIG_FILE = "logscan.toml"
CONFIG_VARIABLE = "LOGSCAN_CONFIG"
PYPROJECT_FILE = "pyproject.toml"

# Keys in the file (spelled like the command-line options) and the Click parameter each one
# gives a default to.
PARAMETERS: dict[str, str] = {
    "rules": "rule_paths",
    "no-builtin-rules": "no_builtin_rules",
    "window": "window",
    "assume-tz": "assume_tz",
    "format": "output_format",
    "table-style": "table_style",
    "top": "top",
}
_KINDS: dict[str, str] = {
    "rules": "a list of paths",
    "no-builtin-rules": "true or false",
    "window": "a string",
    "assume-tz": "a string",
    "format": "a string",
    "table-style": "a string",
    "top": "an integer of at least 1",
}


class ConfigError(UsageError):
    """The config file cannot be read or holds something logscan does not understand."""


@dataclass(frozen=True)
class Config:
    path: Path | None  # None when no config file was found
    values: dict[str, Any] = field(default_factory=dict)  # key -> checked value
    ignored: str | None = None  # why a config file found in the current directory was not read

    def defaults_for(self, parameter_names: set[str]) -> dict[str, Any]:
        """The Click default map for a command that has these parameters."""
        return {
            PARAMETERS[key]: value for key, value in self.values.items() if PARAMETERS[key] in parameter_names
        }


def find(directory: Path) -> tuple[Path, bool] | None:
    """The config file in ``directory`` and whether it is a pyproject.toml, or None."""
    own = directory / CONFIG_FILE
    if own.is_file():
        return own, False
    pyproject = directory / PYPROJECT_FILE
    if pyproject.is_file() and _has_logscan_table(pyproject):
        return pyproject, True
    return None


def _has_logscan_table(pyproject: Path) -> bool:
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


def load(explicit: Path | None = None, directory: Path | None = None) -> Config:
    """Read the config file named (``explicit``, else ``$LOGSCAN_CONFIG``), else the one found
    in ``directory`` (default: the current one) if it can be trusted. No file found is an empty
    config. Every problem is reported at once."""
    if explicit is None and os.environ.get(CONFIG_VARIABLE):
        explicit = Path(os.environ[CONFIG_VARIABLE])
    if explicit is not None:
        path, in_pyproject = explicit, explicit.name == PYPROJECT_FILE
    else:
        # Relative, so messages name the file as the user sees it in the current directory.
        found = find(directory or Path())
        if found is None:
            return Config(None)
        path, in_pyproject = found
    try:
        data, refusal = _read(path, trusted_only=explicit is None)
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
    return Config(path, _checked(path, text, table, table_start))


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


def _checked(path: Path, text: str, table: dict[str, Any], table_start: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    problems: list[str] = []
    for raw_key, value in table.items():
        # Underscores are accepted for hyphens, as people write both in TOML.
        key = raw_key.replace("_", "-")
        where = f"{path}:{_line_of(text, raw_key, table_start)}:1"
        if key not in PARAMETERS:
            problems.append(f"{where}: unknown key '{raw_key}' (allowed: {', '.join(PARAMETERS)})")
            continue
        checked = _check_value(key, value, path.parent)
        if isinstance(checked, _Invalid):
            problems.append(f"{where}: '{raw_key}' must be {_KINDS[key]}{checked.detail}")
        else:
            values[key] = checked
    if problems:
        raise ConfigError("\n".join(problems))
    return values


@dataclass(frozen=True)
class _Invalid:
    detail: str = ""


def _check_value(key: str, value: Any, base: Path) -> Any:
    if key == "rules":
        paths = [value] if isinstance(value, str) else value
        if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
            return _Invalid()
        resolved = [base / Path(p).expanduser() for p in paths]
        missing = [str(p) for p in resolved if not p.exists()]
        return _Invalid(f"; not found: {', '.join(missing)}") if missing else resolved
    if key == "no-builtin-rules":
        return value if isinstance(value, bool) else _Invalid()
    if key == "top":
        valid = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return value if valid else _Invalid()
    return value if isinstance(value, str) and value else _Invalid()


def _line_of(text: str, key: str, start: int) -> int:
    """The line where ``key`` is set, for error messages."""
    assignment = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", re.MULTILINE)
    found = assignment.search(text, start)
    return text.count("\n", 0, found.start()) + 1 if found else 1
