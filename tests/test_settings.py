from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from visualbox.settings import Settings, settings_reference

DOCS = Path(__file__).parent.parent / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    assert settings_reference() in DOCS.read_text(), "run scripts/settings-doc"


def test_nested_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VISUALBOX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VISUALBOX_SANDBOX__MEMORY_MB", "128")
    monkeypatch.setenv("VISUALBOX_SANDBOX__ALLOW_HOST_PORTS", "[1883, 8080]")
    settings = Settings()
    assert settings.sandbox.memory_mb == 128
    assert settings.sandbox.allow_host_ports == [1883, 8080]
    assert settings.database_url == f"sqlite:///{tmp_path / 'visualbox.db'}"


def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISUALBOX_SERVER__PORT", "99999")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "server.port" in str(info.value).replace("\n", ".")
