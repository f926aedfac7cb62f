"""The documentation keeps up with the code: every route, command and live message is described."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from click.testing import CliRunner
from pydantic import BaseModel

from visualbox.app import create_app
from visualbox.cli import main
from visualbox.schemas.live import (
    ClientMessage,
    EndReason,
    InstanceState,
    LiveInstance,
    ServerMessage,
    StatusLevel,
)
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
        if (method.upper(), _shape(path)) not in documented
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


def _live_rows(heading: str) -> list[str]:
    """The table rows of docs/live.md's section ``heading``."""
    text = (DOCS / "live.md").read_text("utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "`" in line]


def _models(union: Any) -> list[type[BaseModel]]:
    return list(get_args(get_args(union)[0]))  # Annotated[A | B | ..., Field(...)]


def test_live_docs_describe_every_server_message_and_field() -> None:
    rows = {row.split("`")[1]: row for row in _live_rows("Server → client")}
    documented = set()
    for model in _models(ServerMessage):
        kind = model.model_fields["type"].default
        documented.add(kind)
        assert kind in rows, f"docs/live.md has no row for the {kind} message"
        for name in model.model_fields:
            assert f'"{name}"' in rows[kind], f"docs/live.md: {kind} does not name {name!r}"
    assert set(rows) == documented, "docs/live.md describes messages the server never sends"
    joined, state = rows["JOINED"], rows["STATE"]
    assert all(f'"{name}"' in joined for name in LiveInstance.model_fields)
    for value in [*InstanceState, *EndReason]:
        assert f"`{value}`" in state, f"docs/live.md: STATE does not explain {value!r}"
    assert all(f'"{level}"' in rows["STATUS"] for level in StatusLevel)


def test_live_docs_describe_every_client_message_and_field() -> None:
    rows = _live_rows("Client → server")
    for model in _models(ClientMessage):
        kind = get_args(model.model_fields["type"].annotation)[0]
        mine = [row for row in rows if f'"type": "{kind}"' in row.split("|")[1]]
        assert mine, f"docs/live.md has no row for the {kind} message"
        for name in model.model_fields:
            assert any(f'"{name}"' in row for row in mine), f"docs/live.md: {kind} lacks {name!r}"
