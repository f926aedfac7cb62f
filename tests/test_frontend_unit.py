"""The front end's own unit tests (vitest, ``frontend/src/**/*.test.ts``), run by pytest
so that one runner reports everything."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"


def test_vitest_passes() -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm is missing: run scripts/system-packages test"
    assert (FRONTEND / "node_modules").is_dir(), (
        "frontend/node_modules is missing: `pip install -e .` installs it (npm ci)"
    )
    env = {**os.environ, "CI": "1", "NO_COLOR": "1"}
    result = subprocess.run(
        [npm, "test"], cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "passed" in result.stdout
