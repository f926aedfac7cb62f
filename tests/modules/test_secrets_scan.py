"""Secrets committed by mistake: ``modules/secrets_scan.py`` warns, naming file and line."""

from __future__ import annotations

from visualbox.modules.secrets_scan import scan


def test_private_keys_and_known_tokens_are_found_by_file_and_line() -> None:
    tree = {
        "keys/deploy.pem": (
            b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"
        ),
        "main.py": (
            b"import os\n"
            b'AWS = "AKIAIOSFODNN7EXAMPLE"\n'
            b'GH = "ghp_' + b"a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + b'"\n'
            b'API_TOKEN = "q8Zr3LmT0vXw9YbN2cKd7HsJ4fGp6AeU"\n'
        ),
        "logo.png": b"\x89PNG\x00\x00-----BEGIN PRIVATE KEY-----",
    }
    found = [(w.file, w.line, w.reason.split(":")[0]) for w in scan(tree)]
    assert found == [
        ("keys/deploy.pem", 1, "a private key block (RSA)"),
        ("main.py", 2, "looks like an AWS access key id"),
        ("main.py", 3, "looks like a GitHub token"),
        ("main.py", 4, "a high-entropy value assigned to a secret-looking name"),
    ]


def test_ordinary_code_is_not_flagged() -> None:
    tree = {
        "main.py": (
            b'password_label = "Enter the password of your account here"\n'
            b'token = visualbox.MODEL["token"]\n'
            b'TOKEN_URL = "https://example.test/oauth/token"\n'
            b"# -----BEGIN PUBLIC KEY-----\n"
        ),
        "README.md": b"Set `api_key` in the config; never commit it.\n",
    }
    assert scan(tree) == []
