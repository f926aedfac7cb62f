"""Secrets at rest: the :class:`SecretBox` that encrypts password-field values.

Values of ``password`` config fields never reach the database in plain text: the
dashboards service stores them as one Fernet token (AES-128-CBC + HMAC-SHA256,
from the well-kept ``cryptography`` package) per dashboard.

The key comes from ``settings.security.secrets_key`` or, when that is empty, from
``DATA_DIR/secrets.key``, generated with mode 0600 on first use. Every node of a
multi-node deployment must be given the same key (set ``VISUALBOX_SECURITY__SECRETS_KEY``
on each), or a node cannot read what another wrote. To rotate, put the new key in
``secrets_key`` and the old one(s) in ``old_secrets_keys``: values written under an
old key still decrypt, and every save re-encrypts them under the new key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from visualbox.settings import Settings

KEY_FILE = "secrets.key"


class SecretKeyError(RuntimeError):
    """The encryption key is missing, unreadable or malformed (an operator problem)."""


class SecretBox:
    """Encrypt and decrypt small values; the first key encrypts, every key decrypts."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise SecretKeyError("SecretBox needs at least one key.")
        fernets = []
        for i, key in enumerate(keys):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                which = "security.secrets_key" if i == 0 else f"security.old_secrets_keys[{i - 1}]"
                raise SecretKeyError(
                    f"{which} is not a valid key: it must be 32 bytes in url-safe base64 "
                    "(create one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)."
                ) from None
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The box for a server: the configured key, else the data dir's key file."""
        current = settings.security.secrets_key or load_or_create_key(settings.data_dir)
        return cls([current, *settings.security.old_secrets_keys])

    def encrypt(self, value: bytes) -> str:
        return self._fernet.encrypt(value).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        """Decrypt ``token``; :class:`SecretKeyError` if no configured key opens it."""
        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken:
            raise SecretKeyError(
                "A stored secret cannot be decrypted with the configured key(s): was "
                "security.secrets_key changed without listing the old key in "
                "security.old_secrets_keys?"
            ) from None

    def decrypt_fresh(self, token: str, ttl_s: int) -> bytes | None:
        """Decrypt a token made at most ``ttl_s`` seconds ago; ``None`` if it is not one.

        For tokens that clients hold (tampered, expired or foreign ones are expected
        input here, not an operator problem).
        """
        try:
            return self._fernet.decrypt(token.encode("ascii"), ttl=ttl_s)
        except (InvalidToken, UnicodeEncodeError):
            return None

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode())

    def decrypt_json(self, token: str) -> Any:
        return json.loads(self.decrypt(token))


def load_or_create_key(data_dir: Path) -> str:
    """Read ``DATA_DIR/secrets.key``, creating it (mode 0600) if it does not exist."""
    return key_file(
        data_dir / KEY_FILE,
        Fernet.generate_key,
        SecretKeyError,
        "deleting it makes every stored secret unreadable",
    )


def key_file(path: Path, new_key: Callable[[], bytes], error: type[Exception], loss: str) -> str:
    """The key kept in ``path``, made with ``new_key()`` (mode 0600) the first time.

    The key is written to a private temporary file that is then hard-linked into
    place, so the file appears complete or not at all and two processes starting
    together agree on one key. A file that cannot be read, or is empty, raises
    ``error`` (``loss`` says what a new key would cost).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(new_key())
                f.flush()
                os.fsync(f.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            temporary.unlink(missing_ok=True)
    try:
        key = path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"Cannot read the key file {path}: {exc}") from None
    if not key:
        raise error(f"The key file {path} is empty. Restore it from a backup; {loss}.")
    return key
