"""How Polars' allocator hands memory back, for the logscan program and its workers.

Polars allocates with jemalloc, which reads its settings from an environment variable once,
when Polars is loaded: so they are set before that, and processes started later inherit them.
"""

from __future__ import annotations

import os

VARIABLE = "_RJEM_MALLOC_CONF"
# - Buffers of 256 KiB and more (the columns of a frame) come from jemalloc's arena for large
#   allocations, which does not cache what is freed. Elsewhere the freed working frames of the
#   requests join stay resident: 738 -> 579 MiB peak PSS on a dense 1 GiB corpus, same time.
# - Freed pages are handed back at once instead of lazily: pages freed with MADV_FREE count as
#   resident until the kernel wants them (about 40 MiB per worker). Measured no slower.
SETTINGS = "oversize_threshold:262144,muzzy_decay_ms:0"


def configure() -> None:
    """The settings, for this process (unless Polars is loaded already) and those it starts;
    a setting of the user's own is kept."""
    os.environ.setdefault(VARIABLE, SETTINGS)
