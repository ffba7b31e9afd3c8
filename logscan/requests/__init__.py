"""From 400 records to failed requests: stitching a file's records of one request, joining
client, proxy and server records, clock offsets, attribution and hints. Frames in, frames out.

``join(records, options)`` takes one row per 400 record and gives a ``Joined``: the records
with their request and the cause they end up with, one row per request, the clock offset used
for each server file, and counts of what was stitched, joined and left apart.

Counting choice: when several client errors and several server lines of one endpoint fall in
one window, nobody can tell which pairs belong together, but they are very likely the same
requests seen from both sides. They are paired in time order and each pair counts as one
request (n on each side count n, not 2 n); the server lines take no cause from such a pair,
so the requests' causes are right (each comes from its own client record) while no GIN line
is credited with a cause it may not have had.
"""

from __future__ import annotations

from logscan.requests.attribution import unmatched_server_requests
from logscan.requests.encoding import compact
from logscan.requests.join import join
from logscan.requests.model import ClockOffset, Joined, JoinOptions, JoinStats, RecordsFrameError

__all__ = [
    "ClockOffset",
    "JoinOptions",
    "JoinStats",
    "Joined",
    "RecordsFrameError",
    "compact",
    "join",
    "unmatched_server_requests",
]
