from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

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
