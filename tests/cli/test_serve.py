from __future__ import annotations

import socket
from pathlib import Path

import httpx2 as httpx
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from tests.fixtures.ports import free_port
from tests.fixtures.serve import serving
from visualbox.cli.serve import serve
from visualbox.settings import Settings


def test_a_bad_setting_is_named_without_its_value(tmp_path: Path) -> None:
    """The error names the variable and the rule; the value (maybe a key) stays out."""
    result = CliRunner().invoke(
        serve,
        ["--data-dir", str(tmp_path)],
        env={"VISUALBOX_SECURITY__OLD_SECRETS_KEYS": '["ok", 987654321]'},
    )
    assert result.exit_code == 1
    assert "VISUALBOX_SECURITY__OLD_SECRETS_KEYS[1]: Input should be a valid string" in (
        result.output
    )
    assert "987654321" not in result.output


def test_a_misspelt_group_setting_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo must not silently fall back to development (and skip production checks)."""
    monkeypatch.setenv("VISUALBOX_SERVER__ENVIRONEMNT", "production")
    with pytest.raises(ValidationError) as info:
        Settings(data_dir=tmp_path)
    assert [e["loc"] for e in info.value.errors()] == [("server", "environemnt")]
    result = CliRunner().invoke(serve, ["--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "VISUALBOX_SERVER__ENVIRONEMNT: Extra inputs are not permitted" in result.output


def test_serve_listens_on_the_app_and_the_frames_origin_and_prints_both(
    tmp_path: Path,
) -> None:
    """The frames origin is a second port: it serves frames only, the app none."""
    port, frames_port = free_port(), free_port()
    app, frames = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{frames_port}"
    with serving(tmp_path / "data", port, frames_port) as (url, printed):
        assert f"Widgets and module files are served from {frames}/\n" in printed
        assert printed[-1].startswith(f"Open {app}/ in your browser") and url == app
        with httpx.Client(timeout=30) as http:
            assert http.get(f"{frames}/frames/sdk.js").status_code == 200
            assert http.get(f"{app}/frames/sdk.js").status_code == 404
            assert http.get(f"{frames}/api/health").status_code == 404
            assert http.get(f"{app}/api/health").json()["ok"] is True
            policy = http.get(f"{app}/").headers["content-security-policy"]
            assert f"frame-src {frames};" in policy


def test_a_taken_frames_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        frames_port = taken.getsockname()[1]
        result = CliRunner().invoke(
            serve,
            ["--data-dir", str(tmp_path), "--port", str(free_port())],
            env={"VISUALBOX_FRAMES__PORT": str(frames_port)},
        )
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{frames_port} (FRAMES__PORT)" in result.output


def test_several_workers_without_a_shared_hub_are_refused(tmp_path: Path) -> None:
    """Each worker would have its own rooms: viewers on one would miss the others' data."""
    result = CliRunner().invoke(
        serve, ["--data-dir", str(tmp_path), "--port", str(free_port()), "--workers", "2"]
    )
    assert result.exit_code == 1
    assert "2 workers need a shared hub" in result.output
    assert "VISUALBOX_HUB__URL" in result.output
    assert not (tmp_path / "visualbox.db").exists()  # refused before anything was created
