"""Reading a rule file as YAML with places, safely: a rule file is data, whoever wrote it.

The round-trip loader keeps the line and column of every node. Before it builds anything,
each event of the YAML stream is checked as the composer takes it: a tag of any kind (they
ask for objects to be built, ``!!python/object`` and friends), a document nested deeper than
``MAX_DEPTH``, aliases that expand to more than ``MAX_NODES`` nodes (a "billion laughs"),
and a file larger than ``MAX_FILE_BYTES`` are each refused with the place and a one-line
reason. The composer recurses once per level, so refusing depth early also keeps it within
Python's recursion limit. No message quotes more than a few characters of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)
from ruamel.yaml.parser import RoundTripParser

from logscan.rulemodel import MAX_FILE_BYTES

# A rule file nests about 9 levels deep (rules, rule, match, any, group, field, operator, in).
MAX_DEPTH = 64
# Nodes of the document with every alias expanded: a rule takes a few dozen.
MAX_NODES = 2_000_000
# How much of a value a message may quote.
_QUOTED_CHARS = 60

_CORE_TAGS = "tag:yaml.org,2002:"

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


class _CheckedParser(RoundTripParser):
    """The round-trip parser, refusing tags, deep nesting and alias bombs as events go by."""

    def __init__(self, loader: Any) -> None:
        super().__init__(loader)
        self._frames: list[_Frame] = []
        self._nodes = 0
        # anchor -> (nodes in the anchored subtree, levels of nesting it takes)
        self._anchored: dict[str, tuple[int, int]] = {}

    def get_event(self) -> Any:
        event = super().get_event()
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
    yaml = YAML(typ="rt")
    yaml.Parser = _CheckedParser
    yaml.preserve_quotes = True
    try:
        return yaml.load(text), None
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
    except ValueError as error:
        # A value the constructor cannot represent, e.g. an integer of thousands of digits.
        return None, Refusal((0, 0), f"invalid YAML value: {shorten(str(error), 200)}")


def _position_of(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)
