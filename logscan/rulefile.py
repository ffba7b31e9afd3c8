"""Reading a rule file as YAML with places, safely: a rule file is data, whoever wrote it.

The round-trip loader keeps the line and column of every node. Before it builds anything,
each event of the YAML stream is checked as the composer takes it: a tag of any kind (they
ask for objects to be built, ``!!python/object`` and friends), a document nested deeper than
``MAX_DEPTH``, aliases that expand to more than ``MAX_NODES`` nodes (a "billion laughs"),
and a file larger than ``MAX_FILE_BYTES`` are each refused with the place and a one-line
reason. The composer recurses once per level, so refusing depth early also keeps it within
Python's recursion limit. No message quotes more than a few characters of the file.

The events come from libyaml (ruamel's C parser, the ``libyaml`` extra) when it is installed:
ruamel's own scanner takes most of a scan's time on a cold rule cache. The composer and the
round-trip constructor stay ruamel's, so the document is the same. A file that libyaml does
not read cleanly (an error, a refusal), or may read otherwise than ruamel (a directive, a tab,
an anchor, an empty value), is read again with ruamel's parser, so that every value is what
that parser makes of it and every problem is reported exactly as it reports it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)
from ruamel.yaml.parser import RoundTripParser

try:
    from _ruamel_yaml import CParser
except ImportError:
    try:
        from _ruamel_yaml_clibz import CParser
    except ImportError:
        CParser = None

from logscan.rulemodel import MAX_FILE_BYTES

# A rule file nests about 9 levels deep (rules, rule, match, any, group, field, operator, in).
MAX_DEPTH = 64
# Nodes of the document with every alias expanded: a rule takes a few dozen.
MAX_NODES = 2_000_000
# How much of a value a message may quote.
_QUOTED_CHARS = 60

_CORE_TAGS = "tag:yaml.org,2002:"
# What ruamel's scanner reads otherwise than libyaml, or itself: a line that starts with % (a
# directive, which may change the YAML version, or rarely a line of a multi-line scalar), and
# tabs, which libyaml accepts in places where ruamel refuses them.
_RUAMEL_ONLY = re.compile(r"(?:\A|[\r\n])%|\t")

Position = tuple[int, int]  # 0-based line and column, as ruamel gives them


@dataclass(frozen=True)
class Refusal:
    """Why a rule file is not read, and where (0-based)."""

    position: Position
    reason: str


class _RefusedError(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def shorten(text: str, limit: int = _QUOTED_CHARS) -> str:
    """``text`` cut to ``limit`` characters, on one line, for a message."""
    flat = text.replace("\n", "\\n").replace("\r", "\\r")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class _Frame:
    anchor: str | None
    nodes_before: int
    depth: int
    deepest: int  # the deepest level reached inside, counted from the document root


class _Checked:
    """Refuses tags, deep nesting and alias bombs as the events of the parser it is mixed into
    go by."""

    def __init__(self, *parser_args: Any, **parser_options: Any) -> None:
        super().__init__(*parser_args, **parser_options)  # type: ignore[call-arg]
        self._frames: list[_Frame] = []
        self._nodes = 0
        # anchor -> (nodes in the anchored subtree, levels of nesting it takes)
        self._anchored: dict[str, tuple[int, int]] = {}

    def get_event(self) -> Any:
        event = super().get_event()  # type: ignore[misc]
        if isinstance(event, NodeEvent):
            self._check(event)
        elif isinstance(event, CollectionEndEvent) and self._frames:
            self._close()
        return event

    def _refuse(self, event: Any, reason: str) -> None:
        mark = event.start_mark
        raise _RefusedError(Refusal((mark.line, mark.column), reason))

    def _check(self, event: Any) -> None:
        depth = len(self._frames)
        if isinstance(event, AliasEvent):
            if any(frame.anchor == event.anchor for frame in self._frames):
                self._refuse(event, f"alias *{shorten(event.anchor)} is inside the node it names")
            nodes, below = self._anchored.get(event.anchor, (1, 0))
            self._count(event, nodes)
            self._reach(event, depth + below)
            return
        tag = getattr(event, "tag", None)
        if tag:
            written = "!!" + tag.removeprefix(_CORE_TAGS) if tag.startswith(_CORE_TAGS) else tag
            self._refuse(
                event, f"YAML tags are not allowed ('{shorten(written)}'): a rule file is plain data"
            )
        self._count(event, 1)
        if isinstance(event, ScalarEvent):
            if event.anchor:
                self._anchored[event.anchor] = (1, 0)
        elif isinstance(event, CollectionStartEvent):
            self._reach(event, depth + 1)
            self._frames.append(_Frame(event.anchor, self._nodes - 1, depth + 1, depth + 1))

    def _count(self, event: Any, nodes: int) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            self._refuse(
                event,
                f"the document has more than {MAX_NODES:,} nodes with its aliases expanded (an alias bomb?)",
            )

    def _reach(self, event: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            self._refuse(event, f"the document nests deeper than {MAX_DEPTH} levels")
        if self._frames:
            self._frames[-1].deepest = max(self._frames[-1].deepest, depth)

    def _close(self) -> None:
        frame = self._frames.pop()
        if self._frames:
            self._frames[-1].deepest = max(self._frames[-1].deepest, frame.deepest)
        if frame.anchor:
            # The levels an alias of it adds: its own and those below it.
            levels = frame.deepest - frame.depth + 1
            self._anchored[frame.anchor] = (self._nodes - frame.nodes_before, levels)


class _CheckedParser(_Checked, RoundTripParser):
    """ruamel's round-trip parser, checked."""


class _RuamelOnlyError(Exception):
    """A document that ruamel's parser reads otherwise than libyaml."""


class _LibyamlEvents:
    """The events of libyaml's parser, as ruamel's composer takes them from a parser. It stops
    at what the two read differently: an anchor or alias (they end its name at different
    characters), and an empty value that is not quoted (libyaml places ``key:`` and nothing
    where the key ends, ruamel where the next token starts, and a message about the value
    names that place; they also read an empty block scalar differently)."""

    def __init__(self, text: str, loader: Any) -> None:
        self.loader = loader
        loader._parser = self
        self._parser = CParser(text)
        self._next: Any = None

    def peek_event(self) -> Any:
        if self._next is None:
            self._next = self._parser.get_event()
            event = self._next
            if isinstance(event, NodeEvent) and event.anchor is not None:
                raise _RuamelOnlyError  # which characters may end an anchor's name differs
            if isinstance(event, ScalarEvent):
                if not event.value and event.style not in ("'", '"'):
                    raise _RuamelOnlyError
                event.style = event.style or None  # a plain scalar's style, as ruamel's parser gives it
        return self._next

    def check_event(self, *choices: type) -> bool:
        return not choices or isinstance(self.peek_event(), choices)

    def get_event(self) -> Any:
        event, self._next = self.peek_event(), None
        return event

    def dispose(self) -> None:
        self._parser.dispose()


class _CheckedLibyamlEvents(_Checked, _LibyamlEvents):
    """libyaml's events, checked."""


def read(path: Path) -> tuple[Any, Refusal | None]:
    """The YAML document in ``path`` (ruamel's round-trip nodes, with their places), or the
    reason it is refused."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return None, Refusal((0, 0), f"cannot read rule file: {error.strerror or error}")
    if len(data) > MAX_FILE_BYTES:
        return None, Refusal(
            (0, 0), f"rule file is larger than {MAX_FILE_BYTES // 2**20} MiB; split it into several files"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start)
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1)
        return None, Refusal((line, column), f"rule file is not UTF-8 (byte 0x{data[error.start]:02x})")
    if CParser is not None and _RUAMEL_ONLY.search(text) is None:
        try:
            return _loaded(text, functools.partial(_CheckedLibyamlEvents, text)), None
        except (YAMLError, _RefusedError, _RuamelOnlyError, ValueError, TypeError):
            pass  # ruamel's parser reads it again below, and says what is wrong as it says it
    return read_text(text)


def read_text(text: str) -> tuple[Any, Refusal | None]:
    """``read`` of the text of a rule file, with ruamel's own parser."""
    try:
        return _loaded(text, _CheckedParser), None
    except _RefusedError as refused:
        return None, refused.refusal
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        position = (mark.line, mark.column) if mark else (0, 0)
        return None, Refusal(position, f"invalid YAML: {shorten(str(error.problem or error.context), 200)}")
    except YAMLError as error:
        # Errors of the reader (a control character, say) carry a character offset only.
        offset = getattr(error, "position", None)
        position = _position_of(text, offset) if isinstance(offset, int) else (0, 0)
        reason = getattr(error, "reason", None) or str(error).splitlines()[0]
        return None, Refusal(position, f"invalid YAML: {shorten(str(reason), 200)}")
    except (ValueError, TypeError) as error:
        # A value the constructor cannot represent: an integer of thousands of digits, or a
        # mapping key that is a list (`? x: [a]`, unhashable).
        return None, Refusal((0, 0), f"invalid YAML value: {shorten(str(error), 200)}")


class _Composer(Composer):
    """ruamel's composer, taking its parser and resolver from the loader once rather than at
    every event (a fifth of the time of reading a rule file through libyaml)."""

    @functools.cached_property
    def parser(self) -> Any:
        return self.loader.parser

    @functools.cached_property
    def resolver(self) -> Any:
        return self.loader.resolver


def _loaded(text: str, parser: Any) -> Any:
    yaml = YAML(typ="rt")
    yaml.Parser = parser
    yaml.Composer = _Composer
    yaml.preserve_quotes = True
    return yaml.load(text)


def _position_of(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)
