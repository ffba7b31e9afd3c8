import os
import sys
from pathlib import Path

import pytest

# Lets test modules import the shared golden-case list next to them.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True, scope="session")
def _rule_pack_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled rule packs go to a cache of the test session's own, not the user's."""
    os.environ["LOGSCAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
