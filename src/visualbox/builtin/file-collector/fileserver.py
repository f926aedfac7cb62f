"""The HTTP file server: folder listings and conditional GETs, never off the base URL.

    server = FileServer("https://data.example.org/dao/", "user", "secret")
    names = server.folders(server.base)                   # ["station-a", "station-b"]
    got = server.get(url, etag='"abc"')                   # got.status: 200, 304 or 404

Credentials go in a pre-emptive HTTP Basic ``Authorization`` header, only to
URLs under the base (redirects elsewhere are refused). Error messages name the
URL without credentials.
"""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from http.client import HTTPMessage
from typing import IO
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

MAX_BYTES = 64 * 1024 * 1024
"""The largest day file or listing read."""
TIMEOUT_S = 30


class FetchError(Exception):
    """A request failed (network, TLS, HTTP status other than 200/304/404, too large)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without ``user:password@``, and the user and password it held."""
    parts = urlsplit(url.strip())
    if parts.username is None and parts.password is None:
        return url.strip(), None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return clean, user, password


def child(folder: str, name: str, *, folder_child: bool = False) -> str:
    """The URL of ``name`` inside ``folder`` (a URL ending with ``/``)."""
    return folder + quote(name, safe="") + ("/" if folder_child else "")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def folder_links(html: str, folder: str) -> list[str]:
    """Names of the sub-folders an autoindex page of ``folder`` links to.

    Only links to a direct child folder (``name/``) count: parent links,
    query links (column sorting), fragments, files and anything that resolves
    outside ``folder`` (absolute or off-site hrefs) are ignored, as are hidden
    names (``.name``).
    """
    parser = _Links()
    parser.feed(html)
    parser.close()
    names: set[str] = set()
    for href in parser.hrefs:
        target = urlsplit(urljoin(folder, href.strip()))
        if target.query or target.fragment:
            continue
        resolved = urlunsplit((target.scheme, target.netloc, target.path, "", ""))
        if not resolved.startswith(folder):
            continue
        rest = resolved[len(folder) :]
        if not rest.endswith("/") or "/" in rest[:-1] or len(rest) < 2:
            continue
        name = unquote(rest[:-1])
        if not name.startswith(".") and "/" not in name:
            names.add(name)
    return sorted(names)


class _StayInside(urllib.request.HTTPRedirectHandler):
    def __init__(self, base: str) -> None:
        self.base = base

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not newurl.startswith(self.base):
            raise FetchError(f"refused a redirect off the base URL (to {newurl})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class FileServer:
    def __init__(self, base_url: str, username: str = "", password: str = "") -> None:
        base, url_user, url_password = split_credentials(base_url)
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL, not {base!r}")
        if parts.port == 0:  # .port itself raises ValueError unless a number up to 65535
            raise ValueError(f"port 0 cannot be connected to, in {base!r}")
        self.base = base if base.endswith("/") else base + "/"
        user = username or url_user or ""
        secret = password or url_password or ""
        self._headers = {"User-Agent": "VisualBox-file-collector/1.0"}
        if user or secret:
            token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context()),
            _StayInside(self.base),
        )

    def name(self, url: str) -> str:
        """``url`` as shown in messages: relative to the base URL."""
        if not url.startswith(self.base):
            return url
        return unquote(url[len(self.base) :]) or self.base

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Response:
        """GET ``url`` (under the base), conditionally when a validator is given."""
        if not url.startswith(self.base):
            raise FetchError(f"refused to fetch {url}: it is not under the base URL")
        headers = dict(self._headers)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        request = urllib.request.Request(url, headers=headers)
        try:
            with self._opener.open(request, timeout=TIMEOUT_S) as answer:
                body = answer.read(MAX_BYTES + 1)
                if len(body) > MAX_BYTES:
                    raise FetchError(f"larger than {MAX_BYTES >> 20} MiB")
                modified = answer.headers["Last-Modified"]
                if modified and modified == answer.headers["Date"]:
                    modified = None  # changed in the second it was served: may change again
                return Response(answer.status, body, answer.headers["ETag"], modified)
        except FetchError as error:  # too large, or a refused redirect
            raise FetchError(f"{self.name(url)}: {error}") from None
        except urllib.error.HTTPError as error:
            error.close()
            if error.code in (304, 404, 410):
                return Response(304 if error.code == 304 else 404)
            hint = " (check the username and password)" if error.code in (401, 403) else ""
            raise FetchError(f"{self.name(url)}: HTTP {error.code} {error.reason}{hint}") from None
        except urllib.error.URLError as error:
            raise FetchError(f"cannot reach {url}: {error.reason}") from None
        except TimeoutError:
            raise FetchError(f"{url}: no answer within {TIMEOUT_S} s") from None
        except (OSError, ValueError) as error:
            raise FetchError(f"{url}: {error}") from None

    def folders(self, folder: str) -> list[str] | None:
        """The sub-folders listed by ``folder``'s index page; None when it does not exist."""
        got = self.get(folder)
        if got.status == 404:
            return None
        return folder_links(got.body.decode("utf-8", errors="replace"), folder)
