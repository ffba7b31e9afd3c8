"""The compiled rule pack is cached per exact set of rule files, as JSON, and the cache never
decides what a scan finds: a changed file, a damaged entry, an entry or folder someone else
could have written, or an unwritable folder only cost time."""

import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

import pytest

from logscan import rulecache, rules

USER_RULE = """\
rules:
  - id: local.quota
    category: rate_limit
    match:
      all:
        - message: {contains: '%s'}
"""
OTHER_USER = 65534  # nobody


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache in a folder of the test's own, and no shipped built-in pack (which would
    spare the built-in rules the cache)."""
    directory = tmp_path / "cache"
    monkeypatch.setenv(rules.CACHE_DIR_VARIABLE, str(directory))
    monkeypatch.setattr(rulecache, "SHIPPED_PACK", tmp_path / "no-shipped-pack.json")
    return directory


def doctor(entry: Path, pack: rules.RuleSet) -> None:
    """Put a pack with one rule only in ``entry``: a load giving one rule read it."""
    entry.write_text(json.dumps(rulecache.encode(replace(pack, rules=pack.rules[:1]))))


def test_a_second_load_reads_the_pack_compiled_by_the_first(cache: Path) -> None:
    compiled = rules.load()
    [entry] = cache.iterdir()
    assert entry.suffix == ".json"
    assert rules.load() == compiled
    doctor(entry, compiled)
    assert len(rules.load().rules) == 1


def test_an_entry_holds_the_whole_model_and_compiles_its_patterns_again(cache: Path, tmp_path: Path) -> None:
    user = tmp_path / "mixed.yaml"
    user.write_text("""\
rules:
  - id: local.lookbehind
    category: auth
    extract: ['model (?P<model>\\S+)']
    match:
      all:
        - side: {in: [client]}
        - status: {gt: 399}
      any:
        - message: {regex: '(?i)(?<!no )token expired'}
      none:
        - line: {startswith: 'DEBUG'}
    examples:
      - line: 'token expired (status code: 400)'
        category: auth
suppress:
  - rule: local.lookbehind
    reason: known
""")
    compiled = rules.load([user])
    cached = rules.load([user])
    assert cached == compiled
    [condition] = cached.rule("local.lookbehind").match.any[0]
    assert condition.engine == "regex"
    assert condition.compiled is not None and condition.compiled.search("TOKEN EXPIRED")
    assert not condition.compiled.search("no token expired")
    assert condition.literals == (rules.Anchor("token expired", ignore_case=True),)


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
    for damage in (b"not json", b'{"rules": 3}', entry.read_bytes()[:-100]):
        entry.write_bytes(damage)
        assert rules.load() == compiled
        assert rulecache.decode(json.loads(entry.read_bytes())) == compiled


def test_a_planted_pickle_is_never_unpickled(cache: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    compiled = rules.load()
    [entry] = cache.iterdir()
    for planted in (entry, entry.with_suffix(".pickle")):
        planted.write_bytes(pickle.dumps(Payload()))
    assert rules.load() == compiled
    assert not marker.exists()


def test_an_entry_another_user_owns_or_others_may_write_is_not_used(cache: Path) -> None:
    compiled = rules.load()
    [entry] = cache.iterdir()
    doctor(entry, compiled)
    os.chown(entry, OTHER_USER, OTHER_USER)
    assert rules.load() == compiled  # compiled again, and written over the stranger's entry
    doctor(entry, compiled)
    entry.chmod(0o664)
    assert rules.load() == compiled
    doctor(entry, compiled)
    entry.chmod(0o602)
    assert rules.load() == compiled


@pytest.mark.parametrize("change", ["owner", "group-writable", "world-writable"])
def test_a_folder_another_user_owns_or_others_may_write_is_skipped(cache: Path, change: str) -> None:
    compiled = rules.load()
    [entry] = cache.iterdir()
    doctor(entry, compiled)
    if change == "owner":
        os.chown(cache, OTHER_USER, OTHER_USER)
    else:
        cache.chmod(0o770 if change == "group-writable" else 0o777)
    assert rules.load() == compiled
    # Skipped, not repaired: the stranger's entry stays, unread.
    assert [path.name for path in cache.iterdir()] == [entry.name]
    assert len(rulecache.decode(json.loads(entry.read_text())).rules) == 1


def test_the_cache_is_made_for_the_user_alone(cache: Path) -> None:
    rules.load()
    [entry] = cache.iterdir()
    assert cache.stat().st_mode & 0o777 == 0o700
    assert entry.stat().st_mode & 0o777 == 0o600


def test_entries_are_bounded_least_recently_used_first(cache: Path, tmp_path: Path) -> None:
    user = tmp_path / "local.yaml"
    cache.mkdir(mode=0o700)
    (cache / "rules-0123456789abcdef.pickle").write_bytes(b"an entry of an older version")
    names = []
    for number in range(rulecache.MAX_ENTRIES + 3):
        user.write_text(USER_RULE % f"quota {number}")
        rules.load([user])
        names.append(max(cache.iterdir(), key=lambda path: path.stat().st_mtime_ns).name)
        if number == 0:
            first = names[0]
        else:
            # Reading the first entry again keeps it among the recently used.
            user.write_text(USER_RULE % "quota 0")
            rules.load([user])
    kept = sorted(path.name for path in cache.iterdir())
    assert len(kept) == rulecache.MAX_ENTRIES
    assert first in kept
    assert names[1] not in kept and names[-1] in kept


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


def test_the_default_folder_never_creates_a_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    monkeypatch.delenv(rules.CACHE_DIR_VARIABLE)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    missing_home = tmp_path / "home" / "gone"
    monkeypatch.setenv("HOME", str(missing_home))
    assert rules.cache_dir() is None
    assert rules.load().rules
    assert not (tmp_path / "home").exists()

    monkeypatch.setenv("XDG_CACHE_HOME", str(missing_home / ".cache"))
    assert rules.cache_dir() == missing_home / ".cache" / "logscan"
    assert rules.load().rules
    assert not (tmp_path / "home").exists()

    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(home))
    assert rules.cache_dir() == home / ".cache" / "logscan"
    rules.load()
    assert [path.suffix for path in (home / ".cache" / "logscan").iterdir()] == [".json"]


# --- the built-in pack shipped compiled ---------------------------------------------------------


def builtin() -> tuple[Path, list[Path]]:
    folder = rules.builtin_rules_dir()
    return folder, rules.rule_files(folder)


def test_the_shipped_pack_is_the_built_in_pack_compiled_now() -> None:
    folder, files = builtin()
    shipped = rulecache.read_shipped(folder, files)
    assert shipped is not None, "logscan/builtin_pack.json is stale: python tests/regenerate_builtin_pack.py"
    assert shipped == rules.compile_files([(path, True) for path in files])


def test_a_load_of_the_built_in_rules_alone_reads_the_shipped_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(rules.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    folder, files = builtin()
    pack = rulecache.read_shipped(folder, files)
    assert pack is not None
    doctored = tmp_path / "builtin_pack.json"
    data = json.loads(rulecache.SHIPPED_PACK.read_text())
    data["pack"] = rulecache.encode(replace(pack, rules=pack.rules[:1]), root=f"{folder}{os.sep}")
    doctored.write_text(json.dumps(data))
    monkeypatch.setattr(rulecache, "SHIPPED_PACK", doctored)
    assert len(rules.load().rules) == 1
    # No cache entry was needed; with a user's rule file the pack is compiled (and cached).
    assert not (tmp_path / "cache").exists()
    user = tmp_path / "user.yaml"
    user.write_text(USER_RULE % "quota exceeded")
    assert len(rules.load([user]).rules) == len(pack.rules) + 1


def test_the_shipped_pack_serves_the_same_rules_wherever_they_are_and_no_changed_ones(tmp_path: Path) -> None:
    folder, files = builtin()
    moved = tmp_path / "site-packages" / "logscan" / "rules"
    moved.mkdir(parents=True)
    copies = [moved / path.relative_to(folder) for path in files]
    for path, copy in zip(files, copies, strict=True):
        copy.write_bytes(path.read_bytes())
    pack = rulecache.read_shipped(moved, copies)
    assert pack is not None
    # Places name the files where they are now.
    assert {Path(rule.place.file).parent for rule in pack.rules} == {moved}
    assert pack == rules.compile_files([(copy, True) for copy in copies])
    copies[0].write_bytes(copies[0].read_bytes() + b"\n# changed\n")
    assert rulecache.read_shipped(moved, copies) is None


@pytest.mark.parametrize("content", [b"", b"{", b'{"key": 1}', b"[]"])
def test_a_damaged_shipped_pack_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    damaged = tmp_path / "builtin_pack.json"
    damaged.write_bytes(content)
    monkeypatch.setattr(rulecache, "SHIPPED_PACK", damaged)
    assert rulecache.read_shipped(*builtin()) is None
    monkeypatch.setenv(rules.CACHE_DIR_VARIABLE, "")
    assert rules.load() == rules.compile_files([(path, True) for path in builtin()[1]])
