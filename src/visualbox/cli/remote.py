"""Talking to a VisualBox server from the command line: credentials and the HTTP client.

Credentials live in ``$XDG_CONFIG_HOME/visualbox/credentials.json`` (by default
``~/.config/visualbox/``), file mode 0600 in a 0700 folder: one entry per server URL
(``{"default": url, "servers": {url: {"token", "token_id", "email"}}}``). In CI,
``VISUALBOX_TOKEN`` (and ``VISUALBOX_URL``) take their place and nothing is written.

Every failure is a :class:`RemoteError`: one line a user understands, exit code 1 (the
server refused, is down or answered a refused token) or 2 (:class:`NotLoggedIn`, a bad
URL or a bad argument). Never a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import click
import httpx2

TOKEN_ENV = "VISUALBOX_TOKEN"
URL_ENV = "VISUALBOX_URL"
DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 60.0


class RemoteError(click.ClickException):
    """A one-line message for the user: the server refused, is down or is not one (exit
    code 1)."""


class BadInput(RemoteError):
    """What the user gave cannot work: a bad URL or version, an unknown module, not
    logged in (exit code 2)."""

    exit_code = 2


class NotLoggedIn(BadInput):
    def __init__(self, url: str) -> None:
        super().__init__(
            f"not logged in to {url}: run `visualbox login {url}` "
            f"(or set {TOKEN_ENV} to an API token)"
        )


def normalize_url(url: str) -> str:
    """``http(s)://host[:port][/prefix]`` without a trailing slash; :class:`RemoteError`
    (exit code 2) for anything else."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"not a server URL: {url!r} (expected something like {DEFAULT_URL})")
    if parts.query or parts.fragment:
        raise BadInput(f"not a server URL: {url!r} (no ?query or #fragment)")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


# -- credentials --------------------------------------------------------------------------


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "visualbox"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


@dataclass(frozen=True)
class Login:
    url: str
    token: str
    token_id: str | None = None
    email: str | None = None


def _read_credentials() -> dict[str, Any]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {"default": None, "servers": {}}
    except (OSError, ValueError) as exc:
        raise RemoteError(f"cannot read {path}: {exc}; delete it and log in again") from None
    if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
        raise RemoteError(f"cannot read {path}: not a credentials file; delete it") from None
    return data


def _write_credentials(data: Mapping[str, Any]) -> None:
    """Write atomically, readable by the user only (0600 in a 0700 folder)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".credentials-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_login(login: Login) -> Path:
    data = _read_credentials()
    data["servers"][login.url] = {
        "token": login.token,
        "token_id": login.token_id,
        "email": login.email,
    }
    data["default"] = login.url
    _write_credentials(data)
    return credentials_path()


def forget_login(url: str) -> Login | None:
    """Remove the entry of ``url``; returns it (``None`` if there was none)."""
    data = _read_credentials()
    entry = data["servers"].pop(url, None)
    if entry is None:
        return None
    if data.get("default") == url:
        data["default"] = next(iter(data["servers"]), None)
    _write_credentials(data)
    return Login(url, entry.get("token", ""), entry.get("token_id"), entry.get("email"))


def default_url() -> str:
    """``VISUALBOX_URL``, else the server logged in to last, else :data:`DEFAULT_URL`."""
    if os.environ.get(URL_ENV):
        return normalize_url(os.environ[URL_ENV])
    default = _read_credentials().get("default")
    return default if isinstance(default, str) else DEFAULT_URL


def find_login(url: str | None) -> Login:
    """The credentials to use for ``url`` (default: :func:`default_url`):
    ``VISUALBOX_TOKEN`` first, then the stored entry; :class:`NotLoggedIn` otherwise."""
    target = normalize_url(url) if url else default_url()
    token = os.environ.get(TOKEN_ENV)
    if token:
        return Login(target, token.strip())
    entry = _read_credentials()["servers"].get(target)
    if not isinstance(entry, dict) or not entry.get("token"):
        raise NotLoggedIn(target)
    return Login(target, entry["token"], entry.get("token_id"), entry.get("email"))


# -- HTTP ----------------------------------------------------------------------------------


def file_url(module_id: str, path: str) -> str:
    return f"/api/modules/{quote(module_id, safe='')}/files/{quote(path, safe='/')}"


class Remote:
    """An API client for one server; every failure becomes a :class:`RemoteError`."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.authorization = f"Bearer {token}" if token else ""
        headers = {"Authorization": self.authorization} if token else {}
        headers["User-Agent"] = "visualbox-cli"
        self._http = httpx2.Client(
            base_url=url, headers=headers, timeout=TIMEOUT_S, transport=transport
        )

    @classmethod
    def connect(cls, url: str | None) -> Remote:
        login = find_login(url)
        return cls(login.url, login.token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> httpx2.Response:
        try:
            response = self._http.request(
                method, path, json=json_body, content=content, headers=headers
            )
        except httpx2.ConnectError:
            raise RemoteError(f"cannot reach {self.url}: is the server running?") from None
        except httpx2.TimeoutException:
            raise RemoteError(f"{self.url} did not answer within {TIMEOUT_S:.0f} s") from None
        except httpx2.HTTPError as exc:
            raise RemoteError(f"cannot talk to {self.url}: {exc}") from None
        if response.status_code in expect:
            return response
        raise self._error(response)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise RemoteError(f"{self.url} is not a VisualBox server (no JSON answer)") from None

    def _error(self, response: httpx2.Response) -> RemoteError:
        if response.status_code == 401 and "authorization" in response.request.headers:
            return RemoteError(
                f"{self.url} refused the API token (revoked, expired or wrong): "
                f"run `visualbox login {self.url}` again"
            )
        message, fields = _error_body(response)
        if message is None:
            return RemoteError(
                f"{self.url} answered HTTP {response.status_code} to "
                f"{response.request.method} {response.request.url.path}: is it a VisualBox server?"
            )
        if fields:
            details = "; ".join(f"{f.get('field')}: {f.get('reason')}" for f in fields)
            message = f"{message} ({details})"
        return RemoteError(message)


def _error_body(response: httpx2.Response) -> tuple[str | None, list[dict[str, Any]]]:
    try:
        body = response.json()
    except ValueError:
        return None, []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None, []
    fields = error.get("fields")
    return error["message"], [f for f in fields or [] if isinstance(f, dict)]
