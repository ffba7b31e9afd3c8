"""One night of an incremental scan, run as its own process by the crash test: plan the files
of a folder, read them, write the report (the lines read), commit. Given a point, it kills
itself there with SIGKILL, as an operator's kill -9 or the OOM killer would.

usage: state_crash_child.py STATE LOG_FOLDER REPORT [after-plan|after-outputs|in-commit|at-commit|after-commit]
"""

from __future__ import annotations

import io
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from logscan.inputs import ReadPolicy, Source, opened
from logscan.state import FileRead, Run, StateDB

# The SQL statement of the commit transaction at which each in-commit point dies.
_STATEMENT_PREFIXES = {"in-commit": "INSERT INTO runs", "at-commit": "COMMIT"}


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(state_path: str, folder: str, report: str, kill_at: str | None) -> None:
    started = datetime.now(UTC)
    with StateDB.open(state_path) as db:
        plans = db.plan(sorted(Path(folder).iterdir()))
        if kill_at == "after-plan":
            _die()
        reads, found = [], []
        for plan in plans:
            with opened(Source(str(plan.path), plan.path), ReadPolicy(binary=True)) as opened_file:
                # The stream may answer a read with fewer bytes than asked: read through a buffer.
                stream = io.BufferedReader(opened_file.stream)
                stream.read(plan.start)
                data = stream.read() if plan.end is None else stream.read(plan.end - plan.start)
            found.extend(data.decode().splitlines())
            reads.append(FileRead(plan, plan.start + len(data)))
        partial = Path(report + ".partial")
        partial.write_text("".join(f"{line}\n" for line in found))
        os.replace(partial, report)
        if kill_at == "after-outputs":
            _die()
        prefix = _STATEMENT_PREFIXES.get(kill_at or "")
        if prefix:
            # The state's own connection: dies as SQLite starts the statement, inside the commit.
            db._connection.set_trace_callback(lambda sql: _die() if sql.startswith(prefix) else None)
        db.commit(Run(started, datetime.now(UTC), reads, len(found), {"request_format": len(found)}))
        if kill_at == "after-commit":
            _die()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
