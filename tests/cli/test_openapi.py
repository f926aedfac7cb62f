"""``visualbox openapi``: the document the web app's types are generated from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from visualbox.cli import main


def test_prints_the_servers_document_whatever_the_environment(
    app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A configured database the command must not touch, and a setting it must not read.
    monkeypatch.setenv("VISUALBOX_DATABASE__URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("VISUALBOX_SERVER__ENVIRONMENT", "production")
    out = tmp_path / "openapi.json"
    result = CliRunner().invoke(main, ["openapi", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == app.openapi()

    printed = CliRunner().invoke(main, ["openapi"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == app.openapi()
