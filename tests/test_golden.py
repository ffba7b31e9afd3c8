"""sample_logs/ through the CLI, compared byte for byte with tests/golden/ (see golden_cases.py)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from golden_cases import CASES, EVENTS_CASE, GOLDEN, REPO, REPRODUCIBLE_EPOCH
from logscan.cli import main


@pytest.fixture(autouse=True)
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize(("name", "args"), CASES.items(), ids=list(CASES))
def test_output_matches_golden_file(name: str, args: list[str]) -> None:
    result = CliRunner(env={"SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH}).invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == (GOLDEN / name).read_text()


def test_events_file_matches_golden_file(tmp_path: Path) -> None:
    name, args = EVENTS_CASE
    result = CliRunner(env={"SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH}).invoke(
        main, [*args, str(tmp_path / name)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).read_text() == (GOLDEN / name).read_text()
