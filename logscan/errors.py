"""The exception tree and the exit codes it maps to.

The library raises these; only ``cli.py`` turns them into exit codes and messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    THRESHOLD_BREACHED = 1
    USAGE_OR_RULE_ERROR = 2
    RUNTIME_FAILURE = 3
    # 128 + the signal number: what a shell reports for a process the signal stopped, so a
    # scheduler sees the same whether logscan cleaned up or not.
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    BROKEN_PIPE = 141  # SIGPIPE: the reader of stdout went away (`logscan scan ... | head`)
    TERMINATED = 143  # SIGTERM


class LogscanError(Exception):
    """Base of every error logscan raises on purpose."""

    exit_code: ExitCode = ExitCode.RUNTIME_FAILURE


class UsageError(LogscanError):
    """The command line asks for something that cannot be done (missing path, bad option)."""

    exit_code = ExitCode.USAGE_OR_RULE_ERROR


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a rule file, with the place it was found (1-based)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RuleError(LogscanError):
    """A rule file is malformed; carries every problem found, not only the first."""

    exit_code = ExitCode.USAGE_OR_RULE_ERROR

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class ScanError(LogscanError):
    """The scan could not finish (for example the output could not be written)."""

    exit_code = ExitCode.RUNTIME_FAILURE


class Interrupted(KeyboardInterrupt):
    """A signal asked the run to stop (SIGINT or SIGTERM). A KeyboardInterrupt, so that what
    cleans up on Ctrl-C cleans up on SIGTERM too, and no ``except Exception`` swallows it."""

    def __init__(self, reason: str, exit_code: ExitCode) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_code = exit_code
