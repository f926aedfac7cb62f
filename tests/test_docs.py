"""The documentation keeps up with the code: every route and command is described."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from visualbox.app import create_app
from visualbox.cli import main
from visualbox.settings import DatabaseSettings, Settings

DOCS = Path(__file__).parent.parent / "docs"


def _shape(path: str) -> str:
    """``/api/modules/{module_id}/files/{path:path}`` → ``/api/modules/{}/files/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0]).rstrip("/")


def test_every_route_is_documented(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path, database=DatabaseSettings(url=f"sqlite:///{tmp_path}/d.db"))
    )
    text = "\n".join(p.read_text() for p in DOCS.glob("api/*.md"))
    documented = {
        (method, _shape(path))
        for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)", text)
    }
    # The OpenAPI document lists every route in the schema (FastAPI no longer
    # flattens included routers into ``app.routes``).
    missing = [
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if (method.upper(), _shape(path)) not in documented and path != "/api/health"
    ]
    assert len(app.openapi()["paths"]) > 40  # the walk above really saw the routes
    assert missing == [], "undocumented routes (add them to docs/api/*.md)"
    app.state.db.dispose()


def test_every_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    runner = CliRunner()

    def walk(command: object, prefix: list[str]) -> list[list[str]]:
        found = [prefix]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, [*prefix, name])
        return found

    for words in walk(main, []):
        if not words:
            continue
        assert f"visualbox {' '.join(words)}" in text, f"visualbox {' '.join(words)}"
        help_text = runner.invoke(main, [*words, "--help"]).output
        options = re.findall(r"^\s+(--[a-z][a-z-]*)", help_text, re.M)
        for option in options:
            if option != "--help":
                assert option in text, f"visualbox {' '.join(words)} {option}"
