"""Object identity for incremental scans: what each listed object (s3://bucket/key) is, given
the objects the state knows, and where reading it starts. Objects only; no database.

An object is known by its URL (bucket and key) with its ETag and size, and by the
fingerprint of its first ``FINGERPRINT_BYTES`` (decompressed), taken only when its ETag is
new: an unchanged object costs no request beyond the listing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from logscan.inputs import ReadPolicy, Source, SourceReadError, opened
from logscan.objectstore import RemoteObject
from logscan.state.files import HEAD_READ_ERRORS, PlanReason, read_head


@dataclass(frozen=True)
class KnownObject:
    """An object as the state knows it from the last run that listed it."""

    object_id: int
    url: str
    etag: str | None
    size: int
    fingerprint: bytes
    fingerprint_length: int
    offset: int
    lines: int


@dataclass(frozen=True)
class ObjectPlan:
    """Where to read one listed object: content offsets from ``start`` (to its end, or to
    ``end`` when that is ``start``: nothing to read). ``known_as`` is the URL of the known
    object it is a copy of."""

    url: str
    reason: PlanReason
    start: int = 0
    end: int | None = None
    compression: str = "none"
    known_as: str | None = None
    error: str | None = None
    etag: str | None = None
    size: int = 0
    fingerprint: bytes = b""
    fingerprint_length: int = 0
    object_id: int | None = None  # the state's row for this object, None for a new one
    lines_before: int = 0

    @property
    def reads_nothing(self) -> bool:
        return self.reason in (PlanReason.DUPLICATE, PlanReason.UNREADABLE) or self.start == self.end


def plan_objects(known_objects: Sequence[KnownObject], listed: Sequence[Source]) -> list[ObjectPlan]:
    """Where to start reading each listed object (in their order), and why:

    - an unknown key is read whole (``new``);
    - the same key, ETag and size: nothing new since the last run (without an ETag: the same
      size and fingerprint);
    - the same key with another ETag whose first bytes are those stored and which is longer
      (a growing log uploaded again): ``continued`` from the offset reached;
    - the same key with other content: ``replaced``, read whole;
    - the ETag and size of a known object under another key: a ``duplicate`` of it when that
      object is listed too (not read), else the object moved there (``rotated``, not read).
    """
    by_url = {known.url: known for known in known_objects}
    by_tag = {(known.etag, known.size): known for known in known_objects if known.etag}
    listed_tags = {
        source.remote.url: (source.remote.etag, source.remote.size) for source in listed if source.remote
    }
    planned_tags: dict[tuple[str, int], str] = {}
    plans: list[ObjectPlan] = []
    for source in listed:
        remote = source.remote
        assert remote is not None
        plan = _plan_one(source, remote, by_url.get(remote.url), by_tag, listed_tags, planned_tags)
        if remote.etag and plan.reason != PlanReason.UNREADABLE:
            planned_tags.setdefault((remote.etag, remote.size), remote.url)
        plans.append(plan)
    return plans


def _plan_one(
    source: Source,
    remote: RemoteObject,
    known: KnownObject | None,
    by_tag: dict[tuple[str | None, int], KnownObject],
    listed_tags: dict[str, tuple[str | None, int]],
    planned_tags: dict[tuple[str, int], str],
) -> ObjectPlan:
    tag = (remote.etag, remote.size)
    if known is not None and remote.etag and (known.etag, known.size) == tag:
        return _unchanged(remote, known, PlanReason.CONTINUED)
    if known is None and remote.etag:
        moved = by_tag.get(tag)
        # The known object still under its own key, or another object of this run: a copy.
        twin = moved.url if moved is not None and listed_tags.get(moved.url) == tag else None
        twin = twin or planned_tags.get((remote.etag, remote.size))
        if twin is not None:
            return ObjectPlan(
                remote.url, PlanReason.DUPLICATE, known_as=twin, etag=remote.etag, size=remote.size
            )
        if moved is not None and moved.url not in listed_tags:
            return _unchanged(remote, moved, PlanReason.ROTATED, known_as=moved.url)
    head = _head(source)
    if isinstance(head, str):
        return ObjectPlan(remote.url, PlanReason.UNREADABLE, error=head)
    content, compression = head
    fingerprint = hashlib.sha256(content).digest()
    plan = ObjectPlan(
        remote.url,
        PlanReason.NEW,
        compression=compression,
        etag=remote.etag,
        size=remote.size,
        fingerprint=fingerprint,
        fingerprint_length=len(content),
        object_id=None if known is None else known.object_id,
    )
    if known is None:
        return plan
    length = known.fingerprint_length
    grown = remote.size > known.size and 0 < length <= len(content)
    if grown and hashlib.sha256(content[:length]).digest() == known.fingerprint:
        return _with(plan, PlanReason.CONTINUED, known)
    if not remote.etag and remote.size == known.size and fingerprint == known.fingerprint:
        # A backend that gives no ETag: the same size and first bytes are taken as unchanged.
        return _unchanged(remote, known, PlanReason.CONTINUED)
    return _with(plan, PlanReason.REPLACED, None)


def _unchanged(
    remote: RemoteObject, known: KnownObject, reason: PlanReason, known_as: str | None = None
) -> ObjectPlan:
    return ObjectPlan(
        remote.url,
        reason,
        start=known.offset,
        end=known.offset,
        known_as=known_as,
        etag=remote.etag,
        size=remote.size,
        fingerprint=known.fingerprint,
        fingerprint_length=known.fingerprint_length,
        object_id=known.object_id,
        lines_before=known.lines,
    )


def _with(plan: ObjectPlan, reason: PlanReason, continued: KnownObject | None) -> ObjectPlan:
    if continued is None:
        return replace(plan, reason=reason)
    end = None if plan.compression != "none" else plan.size
    return replace(plan, reason=reason, start=continued.offset, end=end, lines_before=continued.lines)


def _head(source: Source) -> tuple[bytes, str] | str:
    """The object's first content bytes (decompressed) and its compression, or why they
    cannot be had."""
    try:
        with opened(source, ReadPolicy(binary=True)) as found:
            return read_head(found.stream), found.compression
    except SourceReadError as error:
        return error.reason
    except HEAD_READ_ERRORS as error:
        return f"read failed: {error}"
