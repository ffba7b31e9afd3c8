"""Grouping the 400s no rule explains into message templates, and drafting rules for them.

Two steps, in the manner of Drain (He et al., 2017):

1. **Masking, vectorised.** Every unclassified message has its variable parts replaced by
   placeholders in one Polars pass: times, URLs, IP addresses, paths, model names, hex ids and
   other ids, short quoted values and numbers. Messages that differ only there collapse into
   one masked template, so the Python step below sees each template once, not each line.
2. **Merging, per template.** Templates with the same number of tokens and the same first
   word are merged when most of their tokens agree; the tokens that differ become ``<*>``.

``stub_rule_file`` turns the clusters into a YAML rule file: one stub rule per cluster, with a
pattern built from the template and an example line, ready for ``--rules``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from logscan.rules import Category, derive_anchors, escape_literal

WILDCARD = "<*>"
# (pattern, replacement) applied in order; earlier masks protect their text from later ones
# (a URL's port is not a model tag, an ISO time is not a number).
_MASKS: tuple[tuple[str, str], ...] = (
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<id>"),
    (r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", "<url>"),
    (
        r"\d{4}[-/]\d{2}[-/]\d{2}(?:T| - | )\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
        "<time>",
    ),
    (r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
    (r"(^|[\s\"'(=])(?:/[\w.@%+~-]+){2,}/?", "${1}<path>"),
    (r"\b[A-Za-z]:\\[^\s\"']+", "<path>"),
    (r"\b(?:sha256[:-])?[0-9a-f]{12,}\b|\b0x[0-9a-fA-F]+\b", "<id>"),
    # A model reference, `[registry/namespace/]name:tag`: the name holds a digit (llama3:...),
    # or the tag is `latest` or mixes letters and digits (mistral:7b). So `code:400`,
    # `INFO:httpx` and `ERROR:root` stay as they are.
    (
        r"\b(?:[\w.-]+/)*[A-Za-z][\w.-]*(?:\d[\w.-]*:[\w.-]*\w"
        r"|:(?:latest\b|[\w.-]*[A-Za-z][\w.-]*\d[\w.-]*|[\w.-]*\d[\w.-]*[A-Za-z][\w.-]*))",
        "<model>",
    ),
    (r"\b[A-Za-z]+[_-][A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\b", "<id>"),
    # A short quoted value after a space (`model "x" not found`), but not a JSON key or a
    # value followed by `,`/`}` (`{'message': 'unauthorized'}` keeps its message).
    (r"(\s\\?)\"([^\"\s\\<]{1,64})(\\?\")([^:,}]|$)", '${1}"<*>${3}${4}'),
    (r"(\s)'([^'\s<]{1,64})'([^:,}]|$)", "${1}'<*>'${3}"),
    # A traceback frame's line number is no part of the message (`line 400, in run`).
    (r"\bline \d+", "line <num>"),
    # Every occurrence here is a 400: keep that number readable, mask all others.
    (r"\b400\b", "<status400>"),
    (r"\b\d+(?:[.,]\d+)*", "<num>"),
    (r"<status400>", "400"),
)
PLACEHOLDER = re.compile(r"<(?:id|url|time|ip|path|model|num|\*)>")
# Share of tokens that must agree for two templates to merge. High on purpose: a cluster too
# wide gives a stub pattern that would claim unrelated 400s.
SIMILARITY = 0.75
# Only this many distinct masked templates (the most frequent) are merged; the occurrences in
# rarer ones are counted, not clustered, which bounds the Python step on any input.
MAX_TEMPLATES = 5000
EXAMPLES_PER_CLUSTER = 2


@dataclass(frozen=True)
class ClusterExample:
    file: str
    line: int
    message: str


@dataclass
class Cluster:
    template: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    side: str  # client, server, or mixed
    examples: list[ClusterExample] = field(default_factory=list)
    first_index: int = 0  # scan order of the first occurrence, for stable output
    # Every record of the cluster is an access or status line: it shows a 400, not why.
    reasonless: bool = False


@dataclass(frozen=True)
class Clusters:
    clusters: list[Cluster]
    unclustered: int = 0  # occurrences whose template was too rare to be merged

    @property
    def total(self) -> int:
        return sum(c.count for c in self.clusters) + self.unclustered


# Times make most messages unique; once they are masked, a log's messages usually fall into a
# few dozen distinct texts, and the other masks only need to run on those.
_TIME_MASKS_END = 4


def mask_expr(message: pl.Expr) -> pl.Expr:
    """The message with its variable parts replaced by placeholders, on one line."""
    return _later_masks(_earlier_masks(message))


def _earlier_masks(message: pl.Expr) -> pl.Expr:
    masked = message.str.replace_all(r"\s+", " ")
    for pattern, replacement in _MASKS[:_TIME_MASKS_END]:
        masked = masked.str.replace_all(pattern, replacement)
    return masked


def _later_masks(masked: pl.Expr) -> pl.Expr:
    for pattern, replacement in _MASKS[_TIME_MASKS_END:]:
        masked = masked.str.replace_all(pattern, replacement)
    return masked.str.strip_chars()


@dataclass(frozen=True)
class Templates:
    """Unclassified occurrences per masked template: the vectorised half of clustering, which
    the scan computes before the rest of clustering."""

    counts: pl.DataFrame  # template, count, first_index, first_seen, last_seen, sides, reasonless
    examples: pl.DataFrame  # template, index, file, line, message: the first few per template


_EXAMPLES_KEPT = EXAMPLES_PER_CLUSTER * 4  # two distinct messages are picked from these


# Messages masked at a time: each mask writes a new copy of the messages, so a slice bounds
# what masking holds at once, whatever the number of unexplained records.
TEMPLATE_SLICE_ROWS = 50_000


def templates(events: pl.DataFrame, slice_rows: int = TEMPLATE_SLICE_ROWS) -> Templates:
    """The templates of the records no rule classified (``rule_id`` null), numbered in scan
    order, so that examples and ties follow it. The figures of a template add up over slices
    of the records, so any ``slice_rows`` gives the same templates."""
    numbered = events.with_row_index("index").with_columns(pl.col("index").cast(pl.Int64))
    unclassified = numbered.filter(pl.col("rule_id").is_null())
    parts = [
        _slice_templates(unclassified.slice(start, slice_rows))
        for start in range(0, unclassified.height, slice_rows)
    ]
    if not parts:
        return _slice_templates(unclassified)
    counts = (
        pl.concat([part.counts for part in parts])
        .group_by("template", maintain_order=True)
        .agg(
            pl.col("count").sum(),
            pl.col("first_index").min(),
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            pl.col("sides").list.explode(keep_nulls=False, empty_as_null=False).unique(),
            pl.col("reasonless").all(),
        )
    )
    return Templates(counts, _first_examples(pl.concat([part.examples for part in parts])))


def _slice_templates(unclassified: pl.DataFrame) -> Templates:
    unclassified = unclassified.with_columns(partly_masked=_earlier_masks(pl.col("message").fill_null("")))
    distinct = unclassified.select(pl.col("partly_masked").unique())
    unclassified = unclassified.join(
        distinct.with_columns(template=_later_masks(pl.col("partly_masked"))), on="partly_masked"
    )
    counts = unclassified.group_by("template").agg(
        count=pl.len().cast(pl.Int64),
        first_index=pl.col("index").min(),
        first_seen=pl.col("timestamp").min(),
        last_seen=pl.col("timestamp").max(),
        sides=pl.col("side").unique(),
        reasonless=pl.col("reasonless").all(),
    )
    examples = unclassified.select("template", "index", "file", "line", "message")
    return Templates(counts, _first_examples(examples))


def _first_examples(examples: pl.DataFrame) -> pl.DataFrame:
    return examples.sort("index").group_by("template", maintain_order=True).head(_EXAMPLES_KEPT)


def cluster_templates(found: Templates) -> Clusters:
    """Merge similar templates into clusters, most frequent first."""
    if found.counts.is_empty():
        return Clusters([])
    by_template = found.counts.sort(["count", "first_index"], descending=[True, False])
    kept = by_template.head(MAX_TEMPLATES).join(
        found.examples.group_by("template").agg(
            examples=pl.struct("index", "file", "line", "message").sort_by("index")
        ),
        on="template",
        how="left",
        maintain_order="left",
    )
    unclustered = int(by_template.slice(MAX_TEMPLATES).get_column("count").sum())
    merger = _Merger()
    for row in kept.iter_rows(named=True):
        merger.add(_Template(**row))
    clusters = sorted(merger.clusters(), key=lambda c: (-c.count, c.first_index))
    return Clusters(clusters, unclustered)


@dataclass(frozen=True)
class _Template:
    """One masked template and its occurrences, as the vectorised step summed them up."""

    template: str
    count: int
    first_index: int
    first_seen: datetime | None
    last_seen: datetime | None
    sides: list[str]
    reasonless: bool
    examples: list[dict[str, Any]]  # index, file, line, message


@dataclass
class _Group:
    tokens: list[str]
    members: list[_Template]


class _Merger:
    """Drain's merge step over masked templates, most frequent first."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[int, str], list[_Group]] = {}

    def add(self, template: _Template) -> None:
        tokens = template.template.split(" ")
        first_word = next((t for t in tokens if not PLACEHOLDER.fullmatch(t)), "")
        bucket = self.buckets.setdefault((len(tokens), first_word), [])
        best, best_score = None, 0.0
        for group in bucket:
            score = _similarity(group.tokens, tokens)
            if score > best_score:
                best, best_score = group, score
        if best is not None and best_score >= SIMILARITY:
            best.tokens = [a if a == b else WILDCARD for a, b in zip(best.tokens, tokens, strict=True)]
            best.members.append(template)
        else:
            bucket.append(_Group(tokens, [template]))

    def clusters(self) -> Iterable[Cluster]:
        for bucket in self.buckets.values():
            for group in bucket:
                yield _cluster_of(group)


def _similarity(template: Sequence[str], tokens: Sequence[str]) -> float:
    same = sum(1 for a, b in zip(template, tokens, strict=True) if a in (b, WILDCARD))
    return same / len(tokens)


def _cluster_of(group: _Group) -> Cluster:
    members = sorted(group.members, key=lambda m: m.first_index)
    sides = {side for m in members for side in m.sides if side}
    # The first distinct messages in scan order, whichever merged template they came from.
    candidates = sorted((e for m in members for e in m.examples), key=lambda e: e["index"])
    examples: list[ClusterExample] = []
    seen: set[str] = set()
    for example in candidates:
        if example["message"] not in seen and len(examples) < EXAMPLES_PER_CLUSTER:
            seen.add(example["message"])
            examples.append(ClusterExample(example["file"], example["line"], example["message"]))
    firsts = [m.first_seen for m in members if m.first_seen is not None]
    lasts = [m.last_seen for m in members if m.last_seen is not None]
    return Cluster(
        template=" ".join(group.tokens),
        count=sum(m.count for m in members),
        first_seen=min(firsts) if firsts else None,
        last_seen=max(lasts) if lasts else None,
        side=sides.pop() if len(sides) == 1 else "mixed",
        reasonless=all(m.reasonless for m in members),
        examples=examples,
        first_index=members[0].first_index,
    )


# --- rule stubs ------------------------------------------------------------------------------

STUB_PRIORITY = 60
STUB_ID_PREFIX = "local."
# At most this many tokens of a template go into a stub's pattern; a stub is a draft to edit.
MAX_PATTERN_TOKENS = 24
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_NOISE_WORDS = frozenset({"error", "http", "status", "code", "info", "warning", "warn", "debug", "exception"})
# A first guess at a category from the words of a template, tried in order; the stub says it
# is a guess. The fallback is the commonest cause of a 400.
_CATEGORY_HINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rate_limit", re.compile(r"(?i)rate.?limit|too many requests|quota|throttl|usage limit")),
    ("context_or_options", re.compile(r"(?i)context|num_ctx|too long|tokens|keep_alive|option")),
    ("auth", re.compile(r"(?i)unauthori|forbidden|api.?key|\btoken\b|credential|permission|sign.?in")),
    ("unsupported_capability", re.compile(r"(?i)not support|unsupported|capabilit")),
    ("invalid_model_name", re.compile(r"(?i)\bmodel\b")),
    ("server_misconfig", re.compile(r"(?i)proxy|gateway|header|\btls\b|\bssl\b|upstream|misconfig")),
)
# A stub whose message names no cause gets this category and a comment asking for one: a
# guess would turn every bare "Bad Request" into a cause.
PLACEHOLDER_CATEGORY = "unclassified"


@dataclass(frozen=True)
class Stub:
    """A drafted rule for one cluster, and the YAML text that declares it."""

    id: str
    cluster: Cluster
    category: str
    text: str  # YAML lines of one entry of `rules:`, indented for that list


_LOG_LEVEL = re.compile(
    r"^\W*(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\W*$", re.IGNORECASE
)


def _distinctive_tokens(template: str) -> list[str]:
    """The tokens of a template from its first fixed text on, without a leading log level or
    time and without trailing placeholders: the part worth matching."""
    tokens = template.split(" ")
    while tokens and (not PLACEHOLDER.sub("", tokens[0]) or _LOG_LEVEL.match(tokens[0])):
        tokens.pop(0)
    tokens = tokens[:MAX_PATTERN_TOKENS]
    while tokens and not PLACEHOLDER.sub("", tokens[-1]):
        tokens.pop()
    return tokens


def pattern_from_template(template: str) -> str:
    """A regex matching every message of the template: its fixed text in order, with
    whitespace runs between tokens and lazy wildcards where the placeholders were. Leading and
    trailing placeholders are left out; the pattern is searched, not anchored."""
    tokens = _distinctive_tokens(template)
    parts = []
    for token in tokens:
        if token == WILDCARD:
            parts.append(r"\S+")
        else:
            parts.append(".*?".join(escape_literal(piece) for piece in PLACEHOLDER.split(token)))
    return r"\s+".join(parts)


def guess_category(template: str, categories: Iterable[str]) -> str | None:
    """A first guess at a category from the words of a template; None when no word hints at
    one (the message says no more than "Bad Request")."""
    known = set(categories)
    text = PLACEHOLDER.sub(" ", template)
    for category, hint in _CATEGORY_HINTS:
        if category in known and hint.search(text):
            return category
    return None


def _stub_id(template: str, taken: set[str]) -> str:
    words = [
        w.lower() for w in _WORD.findall(PLACEHOLDER.sub(" ", template)) if w.lower() not in _NOISE_WORDS
    ]
    base = STUB_ID_PREFIX + ("-".join(words[:5]) or "message")
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    taken.add(candidate)
    return candidate


def yaml_string(text: str) -> str:
    """A YAML scalar for ``text`` on one line: single-quoted when every character is printable,
    else double-quoted with escapes (JSON's escapes are valid in YAML)."""
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "no timestamp"


SERVER_SIDE_REASON = (
    "server-side lines: an access line carries no reason, so a rule could only guess; "
    "scan the application logs of the same time"
)
REASONLESS_REASON = (
    "access or status lines: they show that a request failed, not why; log the response body"
    ' (`{"error": ...}`) where the request is made'
)


def stubs_for(
    clusters: Sequence[Cluster], categories: dict[str, Category], taken_ids: set[str]
) -> tuple[list[Stub], list[tuple[Cluster, str]]]:
    """One stub per client-side cluster, and the clusters that get none with the reason why.
    Server-side clusters and clusters of access or status lines get none: they carry no
    reason, so a rule could only guess."""
    taken = set(taken_ids)
    stubs: list[Stub] = []
    skipped: list[tuple[Cluster, str]] = []
    for cluster in clusters:
        pattern = pattern_from_template(cluster.template)
        if cluster.side == "server":
            skipped.append((cluster, SERVER_SIDE_REASON))
            continue
        if cluster.reasonless:
            skipped.append((cluster, REASONLESS_REASON))
            continue
        # A pattern without a literal of a few characters would claim unrelated 400s.
        if not pattern or derive_anchors(pattern) is None or not cluster.examples:
            skipped.append((cluster, "the message has too little fixed text to build a pattern from"))
            continue
        choices = [c for c in categories if c != PLACEHOLDER_CATEGORY]
        guessed = guess_category(cluster.template, choices)
        category = guessed or PLACEHOLDER_CATEGORY
        category_note = (
            "guessed from the words of the message: check it"
            if guessed
            else f"the message names no cause: choose one of {', '.join(choices)}"
        )
        rule_id = _stub_id(cluster.template, taken)
        example = cluster.examples[0].message.replace("\n", " ")
        title = PLACEHOLDER.sub("…", " ".join(_distinctive_tokens(cluster.template)))
        title = title if len(title) <= 72 else title[:71] + "…"
        lines = [
            f"  # {cluster.count} unclassified 400{'' if cluster.count == 1 else 's'},"
            f" {_when(cluster.first_seen)} .. {_when(cluster.last_seen)}",
            f"  # template: {cluster.template[:200]}",
            f"  - id: {rule_id}",
            f"    title: {yaml_string(title)}",
            f"    category: {category}    # {category_note}",
            f"    priority: {STUB_PRIORITY}",
            "    severity: medium",
            "    match:",
            "      all:",
            f"        - message: {{regex: {yaml_string(pattern)}}}",
            "    examples:",
            f"      - line: {yaml_string(example)}",
            f"        category: {category}",
        ]
        stubs.append(Stub(rule_id, cluster, category, "\n".join(lines)))
    return stubs, skipped


STUB_FILE_HEADER = """\
# Rule stubs for HTTP 400s that no loaded rule explains, drafted by `logscan rules suggest`:
# one stub per group of similar messages. For each stub, check the category (a guess from the
# words of the message), give it a better id and title, and widen or narrow the pattern; add
# an example that must not match (`category: none`) where the pattern could over-match.
# `logscan rules check FILE` validates the file and runs its examples; then use it with
# `logscan scan --rules FILE ...`. The schema is described in rules/README.md.
"""


def stub_rule_file(stubs: Sequence[Stub], skipped: Sequence[tuple[Cluster, str]] = ()) -> str:
    """The YAML rule file for the stubs, with the clusters that got no stub listed as comments."""
    out = [STUB_FILE_HEADER.rstrip("\n")]
    for cluster, reason in skipped:
        out.append(f"#\n# No stub for {cluster.count} 400{'' if cluster.count == 1 else 's'} like:")
        out.append(f"#   {cluster.template[:200]}")
        out.append(f"#   {reason}")
    if not stubs:
        out.append("rules: []")
        return "\n".join(out) + "\n"
    out.append("rules:")
    for stub in stubs:
        out += ["", stub.text]
    return "\n".join(out) + "\n"
