"""Inputs in object storage (s3://, gs://, az://): objects listed and read through fsspec, with
the credentials its backend finds in the usual environment variables and config files, and
the storage options given (--storage-option endpoint_url=...). An object is read in ranged
requests, decompressed by its magic bytes as a local file is. fsspec is imported only when an
object-store path is given."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from logscan import archives
from logscan.errors import UsageError
from logscan.inputs import Source, SourceReadError

# fsspec's names of object stores (s3fs, gcsfs, adlfs); other URLs are not taken as inputs.
PROTOCOLS = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
_BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
_BACKENDS["abfss"] = "adlfs"
_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
# Each ranged request reads ahead this much: a few requests per block the scan reads.
READ_AHEAD_BYTES = 16 * 1024 * 1024


def is_remote(spec: str) -> bool:
    """Whether ``spec`` is an object-store URL (s3://bucket/prefix/...)."""
    match = _URL.match(spec)
    return match is not None and match.group(1).lower() in PROTOCOLS


@dataclass(frozen=True)
class RemoteObject:
    """One object as listed: its URL, size and ETag (or the backend's version tag)."""

    url: str
    size: int
    etag: str | None
    storage_options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def open(self, source: Source, read_ahead: int = READ_AHEAD_BYTES) -> BinaryIO:
        """The object open for ranged reads of ``read_ahead`` bytes; SourceReadError if it is
        gone or changed since it was listed."""
        try:
            filesystem, path = _filesystem(self.url, self.storage_options)
            # What the listing left in the backend's cache is what was listed: ask again.
            filesystem.invalidate_cache(path)
            now = filesystem.info(path)
            if int(now.get("size") or 0) != self.size or (self.etag and _etag(now) not in (None, self.etag)):
                raise SourceReadError(source, "replaced since it was listed (another size or ETag): not read")
            opened = filesystem.open(path, "rb", block_size=read_ahead, cache_type="readahead")
        except FileNotFoundError as error:
            raise SourceReadError(source, "vanished after it was listed (deleted?)") from error
        except SourceReadError:
            raise
        except Exception as error:  # a backend's own errors (credentials, network) are many kinds
            raise SourceReadError(source, f"not opened: {_described(error)}") from error
        return opened  # type: ignore[no-any-return]


def expand(spec: str, storage_options: Mapping[str, Any]) -> list[Source]:
    """The objects at ``spec``: one object, every object under a prefix (hidden names, those
    starting with a dot, left out as in folders), or those matching a glob pattern; in key
    order. What cannot be listed is a source that says why, as a missing local path is."""
    try:
        filesystem, path = _filesystem(spec, storage_options)
        if any(character in path for character in "*?["):
            found = filesystem.glob(path, detail=True)
        else:
            info = filesystem.info(path) if not spec.endswith("/") else {"type": "directory"}
            found = {path: info} if info.get("type") == "file" else filesystem.find(path, detail=True)
    except FileNotFoundError:
        return [Source(spec, named=True, unreadable="No such object or prefix")]
    except UsageError:
        raise
    except Exception as error:  # a backend's own errors (credentials, network) are many kinds
        return [Source(spec, named=True, unreadable=f"not listed: {_described(error)}")]
    protocol = spec.split("://", 1)[0]
    sources = []
    for key, info in sorted(found.items()):
        if info.get("type") != "file" or _hidden(key, path):
            continue
        url = f"{protocol}://{key}"
        remote = RemoteObject(url, int(info.get("size") or 0), _etag(info), dict(storage_options))
        named = len(found) == 1 and key.rstrip("/") == path.rstrip("/")
        if archives.kind_of(PurePosixPath(key)) is not None:  # type: ignore[arg-type]
            skipped = "an archive in object storage: its members are not read (download it to scan them)"
            sources.append(Source(url, named=named, skipped=skipped))
            continue
        sources.append(Source(url, named=named, remote=remote))
    if not sources:
        return [Source(spec, named=True, unreadable="no object under this prefix")]
    return sources


def parse_options(given: Sequence[str]) -> dict[str, Any]:
    """--storage-option KEY=VALUE values as fsspec takes them: true, false, null and numbers as
    such, anything else as text; a dotted key (client_kwargs.region_name) nests."""
    options: dict[str, Any] = {}
    for item in given:
        key, equals, text = item.partition("=")
        if not equals or not key.strip():
            raise UsageError(
                f"--storage-option '{item}' is not KEY=VALUE (e.g. endpoint_url=http://host:9000)"
            )
        value: Any = json.loads(text) if text in ("true", "false", "null") or _NUMBER.match(text) else text
        *parents, last = key.strip().split(".")
        place = options
        for parent in parents:
            place = place.setdefault(parent, {})
            if not isinstance(place, dict):
                raise UsageError(f"--storage-option '{item}': {parent} is given a value and options both")
        place[last] = value
    return options


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _filesystem(url: str, storage_options: Mapping[str, Any]) -> tuple[Any, str]:
    protocol = url.split("://", 1)[0].lower()
    try:
        import fsspec  # noqa: PLC0415

        return fsspec.core.url_to_fs(url, **storage_options)  # type: ignore[no-any-return]
    except ImportError as error:
        backend = _BACKENDS.get(protocol, "its fsspec backend")
        raise UsageError(f"{protocol}:// inputs need {backend}: pip install {backend}") from error


def _hidden(key: str, listed: str) -> bool:
    """Whether a name under what was listed (a prefix, or a pattern's folder) starts with a dot."""
    magic = min((listed.find(character) for character in "*?[" if character in listed), default=-1)
    root = listed[: listed.rfind("/", 0, magic) + 1] if magic >= 0 else listed.rstrip("/") + "/"
    relative = key[len(root) :] if key.startswith(root) else posixpath.basename(key)
    return any(part.startswith(".") for part in relative.split("/"))


def _etag(info: Mapping[str, Any]) -> str | None:
    tag = info.get("ETag") or info.get("etag") or info.get("version_id")
    return str(tag).strip('"') if tag else None


def _described(error: BaseException) -> str:
    first_line = next(iter(str(error).splitlines()), "")
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
