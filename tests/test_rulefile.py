"""Rule files are data, whoever wrote them: tags, alias bombs, deep nesting, huge or broken
files are refused with file:line:column and one line of reason, and exit 2; never a traceback,
never an echo of the file. Fuzzed with arbitrary text and bytes."""

import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from logscan import rulefile, rules
from logscan.cli import main

LOG = "2025-06-01 12:00:03 ERROR chat failed (status code: 400)\n"
OS_SYSTEM = """\
rules:
  - id: evil
    category: !!python/object/apply:os.system ['touch {marker}']
    match: {{message: {{contains: 'x'}}}}
"""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.log").write_text(LOG)
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def refused(path: str, where: str, reason: str) -> tuple[int, str, str]:
    return 2, "", f"logscan: error: {path}:{where}: {reason}\n"


def outcome(result: Result) -> tuple[int, str, str]:
    return result.exit_code, result.stdout, result.stderr


def test_an_os_system_tag_is_refused_and_never_run(in_tmp: Path) -> None:
    marker = in_tmp / "ran"
    Path("evil.yaml").write_text(OS_SYSTEM.format(marker=marker))
    expected = refused(
        "evil.yaml",
        "3:15",
        "YAML tags are not allowed ('!!python/object/apply:os.system'): a rule file is plain data",
    )
    assert outcome(invoke("rules", "check", "evil.yaml")) == expected
    assert outcome(invoke("scan", "--rules", "evil.yaml", "app.log")) == expected
    assert not marker.exists()


@pytest.mark.parametrize(
    "tagged",
    [
        "rules: !!seq []",
        "rules: ! []",
        "rules: !custom {a: b}",
        "rules: [{id: !!str x}]",
        "%TAG !e! tag:example.com,2000:\n---\nrules: !e!thing []",
    ],
)
def test_any_tag_is_refused(tagged: str) -> None:
    Path("tagged.yaml").write_text(tagged + "\n")
    result = invoke("rules", "check", "tagged.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("logscan: error: tagged.yaml:")
    assert "YAML tags are not allowed" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_deeply_nested_file_is_refused_in_one_line() -> None:
    depth = 5000
    Path("deep.yaml").write_text("rules: " + "[" * depth + "]" * depth + "\n")
    assert outcome(invoke("rules", "check", "deep.yaml")) == refused(
        "deep.yaml", "1:71", f"the document nests deeper than {rulefile.MAX_DEPTH} levels"
    )


def test_nesting_through_aliases_counts_too() -> None:
    levels = ["a0: &a0 [x]"] + [f"a{n}: &a{n} [[[[[[[[*a{n - 1}]]]]]]]]" for n in range(1, 10)]
    Path("deep.yaml").write_text("\n".join(levels) + "\n")
    result = invoke("rules", "check", "deep.yaml")
    assert outcome(result) == refused(
        "deep.yaml", "9:17", f"the document nests deeper than {rulefile.MAX_DEPTH} levels"
    )


def test_an_alias_bomb_is_refused() -> None:
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{n}: &lol{n} [{', '.join([f'*lol{n - 1}'] * 9)}]" for n in range(1, 9)]
    lines.append("rules: *lol8")
    Path("bomb.yaml").write_text("\n".join(lines) + "\n")
    assert outcome(invoke("rules", "check", "bomb.yaml")) == refused(
        "bomb.yaml",
        "7:28",
        f"the document has more than {rulefile.MAX_NODES:,} nodes with its aliases expanded (an alias bomb?)",
    )


def test_an_alias_inside_the_node_it_names_is_refused() -> None:
    Path("loop.yaml").write_text("rules: &r [*r]\n")
    assert outcome(invoke("rules", "check", "loop.yaml")) == refused(
        "loop.yaml", "1:12", "alias *r is inside the node it names"
    )


def test_aliases_that_share_a_condition_still_load() -> None:
    Path("shared.yaml").write_text("""\
rules:
  - id: a
    category: auth
    match: &expired {message: {contains: 'token expired'}}
  - id: b
    category: auth
    priority: 40
    match: *expired
""")
    ruleset = rules.load([Path("shared.yaml")], include_builtin=False)
    assert [rule.match for rule in ruleset.rules[:2]] == [ruleset.rules[0].match] * 2


def test_a_huge_file_is_refused_without_echoing_it() -> None:
    pattern = "x" * (rulefile.MAX_FILE_BYTES + 1)
    Path("huge.yaml").write_text(f"rules:\n  - id: big\n    match: {{message: {{regex: '{pattern}'}}}}\n")
    assert outcome(invoke("rules", "check", "huge.yaml")) == refused(
        "huge.yaml",
        "1:1",
        f"rule file is larger than {rulefile.MAX_FILE_BYTES // 2**20} MiB; split it into several files",
    )


def test_a_device_is_read_no_further_than_the_size_limit() -> None:
    assert outcome(invoke("rules", "check", "/dev/zero")) == refused(
        "/dev/zero",
        "1:1",
        f"rule file is larger than {rulefile.MAX_FILE_BYTES // 2**20} MiB; split it into several files",
    )


def test_a_pipe_is_read_once_and_not_cached(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = in_tmp / "cache"
    monkeypatch.setenv(rules.CACHE_DIR_VARIABLE, str(cache))
    pipe = in_tmp / "rules.fifo"
    os.mkfifo(pipe)
    rule = "rules:\n  - id: piped\n    category: auth\n    match: {message: {contains: 'piped in'}}\n"
    writer = threading.Thread(target=pipe.write_text, args=(rule,))
    writer.start()
    ruleset = rules.load([pipe], include_builtin=False)
    writer.join()
    assert [rule.id for rule in ruleset.rules] == ["piped"]
    assert not cache.exists()


def test_a_long_pattern_is_refused_without_echoing_it() -> None:
    pattern = "(?:ab|cd)" * 2000
    Path("long.yaml").write_text(
        f"rules:\n  - id: big\n    category: auth\n    match: {{message: {{regex: '{pattern}'}}}}\n"
    )
    assert outcome(invoke("rules", "check", "long.yaml")) == refused(
        "long.yaml", "4:30", "regex is longer than 10,000 characters (18,000)"
    )


def test_a_file_that_is_not_utf8_names_the_byte() -> None:
    Path("latin1.yaml").write_bytes(b"rules:\n  - id: caf\xe9\n")
    assert outcome(invoke("rules", "check", "latin1.yaml")) == refused(
        "latin1.yaml", "2:12", "rule file is not UTF-8 (byte 0xe9)"
    )


def test_a_control_character_is_placed() -> None:
    Path("nul.yaml").write_text("rules:\n  - id: a\x00b\n")
    result = invoke("rules", "check", "nul.yaml")
    assert outcome(result) == refused("nul.yaml", "2:10", "invalid YAML: special characters are not allowed")


def test_a_long_unknown_key_is_quoted_short() -> None:
    Path("key.yaml").write_text(f"? {'k' * 5000}\n: 1\n")
    result = invoke("rules", "check", "key.yaml")
    assert outcome(result) == refused(
        "key.yaml",
        "1:3",
        f"unknown top-level key '{'k' * 59}…' (expected 'categories', 'rules' or 'suppress')",
    )


# --- fuzzing ---------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load_only(path: Path) -> None:
    """Load ``path`` alone: a RuleError or a RuleSet, nothing else may come out."""
    try:
        assert isinstance(rules.compile_files([(path, False)], include_builtin=False), rules.RuleSet)
    except rules.RuleError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.file == str(path) and problem.line >= 1 and problem.column >= 1
            assert "\n" not in problem.message and len(problem.message) < 400


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_load_or_raise_a_rule_error(in_tmp: Path, data: bytes) -> None:
    path = in_tmp / "fuzz.yaml"
    path.write_bytes(data)
    load_only(path)


YAML_PIECES = st.sampled_from(
    [
        "rules:", "categories:", "suppress:", "- ", "  ", "\n", "id: ", "category: ", "match: ",
        "all:", "any:", "none:", "message: ", "line: ", "status: ", "side: ", "contains: ",
        "regex: ", "in: ", "gt: ", "examples:", "extract:", "priority: ", "&a ", "*a", "!!str ",
        "!x ", "{", "}", "[", "]", ", ", ": ", "'", '"', "? ", "|", ">", "#", "---", "...",
        "%YAML 1.1", "auth", "x", "400", "9" * 5000, "(?<!a)b", "(a+)+", "~", "null", "true",
        "\t", "\x00", "\ufeff", "é", "\\",
    ]
)  # fmt: skip


@FUZZ
@given(st.lists(YAML_PIECES, max_size=60).map("".join) | st.text(max_size=500))
def test_any_yaml_text_loads_or_raises_a_rule_error(in_tmp: Path, text: str) -> None:
    path = in_tmp / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load_only(path)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(["auth", "client", "server", "(?<!a)b", "x(", "400", "request_format", "none"])
)
KEYS = st.sampled_from(
    ["id", "category", "match", "all", "any", "none", "message", "line", "status", "side",
     "contains", "regex", "in", "equals", "gt", "lt", "startswith", "examples", "line",
     "extract", "rule", "reason", "priority", "title", "implies_400", "x"]
)  # fmt: skip
NODES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["rules", "categories", "suppress"]), NODES, max_size=3))
def test_any_rule_shaped_document_loads_or_raises_a_rule_error(in_tmp: Path, document: dict) -> None:
    path = in_tmp / "fuzz.yaml"
    with path.open("w", encoding="utf-8") as stream:
        YAML(typ="safe", pure=True).dump(document, stream)
    load_only(path)
