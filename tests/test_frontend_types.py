"""The web app's TypeScript types (``frontend/src/generated/api.ts``) are generated from
the server's OpenAPI document; this fails when the committed file has drifted from the
server (a model or route changed and ``npm --prefix frontend run types`` was not run)."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
GENERATED = FRONTEND / "src" / "generated" / "api.ts"


def test_generated_types_match_the_server(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "node is missing: run scripts/system-packages test"
    assert (FRONTEND / "node_modules" / "openapi-typescript").is_dir(), (
        "frontend/node_modules is missing: `pip install -e .` installs it (npm ci)"
    )
    fresh = tmp_path / "api.ts"
    result = subprocess.run(
        [node, "scripts/types.mjs", "--output", str(fresh)],
        cwd=FRONTEND,
        env={**os.environ, "VISUALBOX_PYTHON": sys.executable, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    committed = GENERATED.read_text() if GENERATED.is_file() else ""
    if fresh.read_text() != committed:
        diff = difflib.unified_diff(
            committed.splitlines(),
            fresh.read_text().splitlines(),
            "frontend/src/generated/api.ts (committed)",
            "from the server",
            lineterm="",
            n=1,
        )
        raise AssertionError(
            "frontend/src/generated/api.ts differs from the server's OpenAPI document: "
            "run `npm --prefix frontend run types` and commit the result.\n"
            + "\n".join(list(diff)[:60])
        )
