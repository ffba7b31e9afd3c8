"""From 400 records to failed requests: stitching a file's records of one request, joining
client, proxy and server records, clock offsets, attribution and hints. Frames in, frames out."""

from __future__ import annotations

import polars as pl

from logscan.requests.attribution import unmatched_server_requests
from logscan.requests.join import join
from logscan.requests.model import ClockOffset, Joined, JoinOptions, JoinStats, RecordsFrameError


def unmatched_server(joined: Joined) -> pl.DataFrame:
    """The server 400s no client record explains, grouped per endpoint and client address."""
    return unmatched_server_requests(joined.requests)


__all__ = [
    "ClockOffset",
    "JoinOptions",
    "JoinStats",
    "Joined",
    "RecordsFrameError",
    "join",
    "unmatched_server",
]
