"""Rewrite tests/golden/ from the current code. Run from anywhere: python tests/regenerate_golden.py"""

import os
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_cases import CASES, EVENTS_CASE, GOLDEN, REPO, REPRODUCIBLE_EPOCH
from logscan.cli import main


def regenerate() -> None:
    os.chdir(REPO)
    runner = CliRunner(env={"SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH})
    GOLDEN.mkdir(exist_ok=True)
    for name, args in CASES.items():
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        (GOLDEN / name).write_text(result.stdout)
    name, args = EVENTS_CASE
    with tempfile.TemporaryDirectory() as directory:
        events = Path(directory) / name
        result = runner.invoke(main, [*args, str(events)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        (GOLDEN / name).write_text(events.read_text())
    print(f"rewrote {len(CASES) + 1} files in {GOLDEN}")


if __name__ == "__main__":
    regenerate()
