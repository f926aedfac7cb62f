from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.http_api import HttpApi


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prepare cache for every built-in test (a module's dependencies install once)."""
    return tmp_path_factory.mktemp("builtin-cache")


@pytest.fixture
def api() -> Iterator[HttpApi]:
    """A scriptable JSON/CSV API on loopback (``tests/fixtures/http_api.py``)."""
    with HttpApi() as server:
        yield server
