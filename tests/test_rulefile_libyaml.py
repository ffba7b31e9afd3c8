"""Rule files read through libyaml's events give the very document ruamel's own parser gives:
the same values of the same types, at the same lines and columns; a file libyaml does not read
cleanly is read by ruamel's parser, so its problems are reported as before."""

import functools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logscan import rulefile, rules

pytestmark = pytest.mark.skipif(
    rulefile.CParser is None, reason="libyaml (ruamel.yaml[libyaml]) not installed"
)


def shape(node: Any) -> Any:
    """A document as plain data to compare: each node's type, value and place."""
    lc = getattr(node, "lc", None)
    place = (
        None
        if lc is None
        else (lc.line, lc.col, [(repr(key), value) for key, value in (lc.data or {}).items()])
    )
    if isinstance(node, dict):
        return (type(node).__name__, place, [(shape(k), shape(v)) for k, v in node.items()])
    if isinstance(node, list):
        return (type(node).__name__, place, [shape(item) for item in node])
    return (type(node).__name__, repr(node), getattr(node, "style", None))


def outcomes(text: str, tmp_path: Path) -> tuple[Any, Any]:
    """(what `read` gives, what ruamel's parser alone gives) for ``text`` as a rule file."""
    path = tmp_path / "rules.yaml"
    path.write_bytes(text.encode())
    document, refusal = rulefile.read(path)
    pure_document, pure_refusal = rulefile.read_text(text)
    return (shape(document), refusal), (shape(pure_document), pure_refusal)


def test_the_libyaml_events_are_the_ones_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Without this, every test below could pass with libyaml never consulted.
    taken: list[str] = []
    original = rulefile._LibyamlEvents.__init__

    def recording(self: Any, text: str, loader: Any) -> None:
        taken.append(text)
        original(self, text, loader)

    monkeypatch.setattr(rulefile._LibyamlEvents, "__init__", recording)
    path = tmp_path / "one.yaml"
    path.write_text("rules: []\n")
    assert rulefile.read(path) == ({"rules": []}, None)
    assert taken == ["rules: []\n"]


@pytest.mark.parametrize("path", rules.rule_files(rules.builtin_rules_dir()), ids=lambda p: p.name)
def test_each_built_in_file_reads_the_same(path: Path, tmp_path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fast, pure = outcomes(text, tmp_path)
    assert fast == pure
    assert pure[1] is None
    # ...and through libyaml, not through the fallback to ruamel's parser.
    assert rulefile._RUAMEL_ONLY.search(text) is None
    assert shape(rulefile._loaded(text, functools.partial(rulefile._CheckedLibyamlEvents, text))) == fast[0]


def test_the_built_in_pack_compiles_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [(path, True) for path in rules.rule_files(rules.builtin_rules_dir())]
    through_libyaml = rules.compile_files(files)
    monkeypatch.setattr(rulefile, "CParser", None)
    assert rules.compile_files(files) == through_libyaml


# Rule files in the shapes people write them: every scalar style, comments, blank lines, flow
# collections, anchors and aliases, non-ASCII text, CRLF; nested mappings and lists.
_WORDS = st.text(alphabet=st.sampled_from("abc xyz:#-'\"\\é€😀()|?*.\\"), min_size=1, max_size=12)
_PLAIN = st.sampled_from(
    ["plain text", "400", "-7", "0x1f", "0o17", "1_000", "3.5", "1e3", ".inf", "true", "no", "null", "~",
     "2025-05-07", "2025-05-07 06:59:38", "été ünïcödé", "a:b", "x #y", "(?i)does not (tools|insert)",
     "[a, 'b', 3]", "{x: 1, y: [2]}", "[]", "{}", "&anchor v", "*anchor"]
)  # fmt: skip


@st.composite
def _scalar(draw: st.DrawFn, indent: str) -> str:
    kind = draw(st.sampled_from(["plain", "single", "double", "literal", "folded"]))
    if kind == "plain":
        return draw(_PLAIN)
    words = draw(_WORDS)
    if kind == "single":
        return "'" + words.replace("'", "''") + "'"
    if kind == "double":
        escaped = words.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + escaped + draw(st.sampled_from(["", "\\t", "\\u00e9", "\\n"])) + '"'
    header = draw(st.sampled_from(["|", "|-", "|+", ">", ">-", "|2"]))
    lines = draw(
        st.lists(st.sampled_from(["one", "two words", "", "  indented", "é"]), min_size=1, max_size=4)
    )
    body = "".join(f"\n{indent}  {line}" if line else "\n" for line in lines)
    return header + body


@st.composite
def _node(draw: st.DrawFn, indent: str, depth: int) -> str:
    """A value that follows a key (`key: <value>`) or a dash, as text."""
    kind = draw(st.sampled_from(["scalar", "scalar", "mapping", "list"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        return " " + draw(_scalar(indent))
    inner = indent + "  "
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        comment = draw(st.sampled_from(["", "  # why", "\n" + inner + "# a comment line", "\n"]))
        if kind == "mapping":
            key = draw(
                st.sampled_from(["id", "title", "match", "message", "contains", "é", "'quoted key'", '"k"'])
            )
            lines.append(f"\n{inner}{key}:{draw(_node(inner, depth + 1))}{comment}")
        else:
            lines.append(f"\n{inner}-{draw(_node(inner + '  ', depth + 1))}{comment}")
    return "".join(lines)


@st.composite
def documents(draw: st.DrawFn) -> str:
    body = draw(_node("", 0).filter(lambda text: text.startswith("\n")))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return "rules:" + body.replace("\n", newline) + draw(st.sampled_from(["", newline]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=documents())
def test_rule_file_like_documents_read_the_same(text: str, tmp_path: Path) -> None:
    fast, pure = outcomes(text, tmp_path)
    assert fast == pure


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from("ab: -'\"\n\t#&*!|>[]{},%?é\r"), max_size=60))
def test_arbitrary_text_reads_the_same(text: str, tmp_path: Path) -> None:
    fast, pure = outcomes(text, tmp_path)
    assert fast == pure


def test_a_list_inside_a_mapping_key_is_refused_not_a_traceback(tmp_path: Path) -> None:
    # ruamel makes the key `{x: [a]}` a mapping it then cannot hash.
    path = tmp_path / "key.yaml"
    path.write_text("? x: [a]\n")
    refusal = rulefile.Refusal((0, 0), "invalid YAML value: unhashable type: 'CommentedSeq'")
    assert rulefile.read(path) == (None, refusal)
    assert rulefile.read_text("? x: [a]\n") == (None, refusal)
