from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prepare cache for every built-in test (a module's dependencies install once)."""
    return tmp_path_factory.mktemp("builtin-cache")
