from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from visualbox.services.secrets import KEY_FILE, SecretBox, SecretKeyError, load_or_create_key
from visualbox.settings import SecuritySettings, Settings


def test_values_round_trip_and_the_token_hides_the_plaintext() -> None:
    box = SecretBox([Fernet.generate_key()])
    token = box.encrypt_json({"api_key": "hunter2-plaintext"})
    assert "hunter2" not in token
    assert box.decrypt_json(token) == {"api_key": "hunter2-plaintext"}


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = SecretBox.from_settings(settings)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = first.encrypt(b"kept across restarts")
    second = SecretBox.from_settings(settings)
    assert second.decrypt(token) == b"kept across restarts"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_a_configured_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(data_dir=tmp_path, security=SecuritySettings(secrets_key=key))
    token = SecretBox.from_settings(settings).encrypt(b"x")
    assert Fernet(key).decrypt(token) == b"x"
    assert not (tmp_path / KEY_FILE).exists()


def test_a_malformed_key_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, security=SecuritySettings(secrets_key="too-short"))
    with pytest.raises(SecretKeyError, match="security.secrets_key is not a valid key"):
        SecretBox.from_settings(settings)


def test_an_unreadable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).mkdir()  # a directory where the key file should be
    with pytest.raises(SecretKeyError, match=r"Cannot read the key file .*secrets\.key"):
        load_or_create_key(tmp_path)


def test_an_empty_key_file_is_refused_rather_than_replaced(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("")
    with pytest.raises(SecretKeyError, match="is empty"):
        load_or_create_key(tmp_path)
    assert (tmp_path / KEY_FILE).read_text() == ""


def test_rotation_reads_old_values_and_writes_with_the_new_key(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    written_before = SecretBox([old]).encrypt(b"rotated")
    rotated = SecretBox.from_settings(
        Settings(
            data_dir=tmp_path,
            security=SecuritySettings(secrets_key=new, old_secrets_keys=[old]),
        )
    )
    assert rotated.decrypt(written_before) == b"rotated"
    assert Fernet(new).decrypt(rotated.encrypt(b"fresh")) == b"fresh"
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretBox([new]).decrypt(written_before)
