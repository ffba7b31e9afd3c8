"""The compiled rule pack is cached per exact set of rule files, and the cache never decides
what a scan finds: a changed file, a damaged entry or an unwritable directory only cost time."""

import pickle
from dataclasses import replace
from pathlib import Path

import pytest

from logscan import rules

USER_RULE = """\
rules:
  - id: local.quota
    category: rate_limit
    match:
      all:
        - message: {contains: '%s'}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(rules.CACHE_DIR_VARIABLE, str(directory))
    return directory


def test_a_second_load_reads_the_pack_compiled_by_the_first(cache: Path) -> None:
    compiled = rules.load()
    [entry] = cache.iterdir()
    assert rules.load() == compiled
    # Doctor the entry: what load returns now can only have come from the cache.
    entry.write_bytes(pickle.dumps(replace(compiled, rules=compiled.rules[:1])))
    assert len(rules.load().rules) == 1


def test_an_edited_rule_file_is_compiled_again(cache: Path, tmp_path: Path) -> None:
    user = tmp_path / "local.yaml"
    user.write_text(USER_RULE % "tenant quota")
    assert rules.load([user]).rule("local.quota").match.all[0].value == "tenant quota"
    user.write_text(USER_RULE % "budget gone")
    assert rules.load([user]).rule("local.quota").match.all[0].value == "budget gone"
    assert len(list(cache.iterdir())) == 2


def test_a_damaged_entry_is_compiled_again_and_replaced(cache: Path) -> None:
    compiled = rules.load()
    [entry] = cache.iterdir()
    entry.write_bytes(b"not a pickle")
    assert rules.load() == compiled
    assert pickle.loads(entry.read_bytes()) == compiled


def test_rule_errors_are_reported_every_time_never_cached(cache: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - id: x\n")
    for _ in range(2):
        with pytest.raises(rules.RuleError):
            rules.load([broken])
    assert not cache.exists()


def test_no_cache_when_the_variable_is_empty_or_the_directory_unwritable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(rules.CACHE_DIR_VARIABLE, "")
    assert rules.cache_dir() is None
    assert rules.load().rules
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(rules.CACHE_DIR_VARIABLE, str(blocker / "cache"))
    assert rules.load().rules
