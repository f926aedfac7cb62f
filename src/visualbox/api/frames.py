"""The frames origin: widget frames and module files (docs/api/frames.md, docs/web.md).

No user file is ever served from the app's origin. Widget frames (``/frames/...``)
and published module files (``/registry/modules/{id}/versions/{v}/files/{path}``) are
served only from a separate origin, ``FRAMES__ORIGIN`` (by default the app's host on a
second port of ``visualbox serve``). :class:`FramesOrigin` tells the two apart by the
request's ``Host``: a browser always sends the host (and port) of the URL it loads,
so that is the origin it gives the answer to. Requests for the frames origin go to
an app with these routes only; every other request goes to the web app, which has
none of them (``/frames/...`` there is a 404).

Every answer carries :func:`frame_csp`, whose ``sandbox allow-scripts`` gives the
document an opaque ("null") origin even when it is opened outside our iframe, and
whose ``frame-ancestors`` is the app's origin. Chromium matches ``'self'`` against
the URL's origin in such a document, so the widget may load its own files, the SDK
and the chart libraries from the frames origin, and nothing from anywhere else;
``connect-src 'none'`` stops fetch, XHR, WebSocket and EventSource. Sub-resources
answer with ``Cross-Origin-Resource-Policy: cross-origin`` and
``Access-Control-Allow-Origin: *`` because, seen from a "null" origin, our own files
are cross-origin (module scripts and fonts are CORS requests); the ticket in the URL
is the capability, so no cookie is needed (none is read here).
"""

from __future__ import annotations

import hashlib
import html
import math
import mimetypes
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from visualbox.api.compression import static_file
from visualbox.api.deps import SecretBoxDep, SessionDep, SettingsDep
from visualbox.errors import FieldError, InvalidInput, NotFound, Unavailable
from visualbox.modules.tree import normalize_path
from visualbox.services import frames, registry
from visualbox.settings import Settings

router = APIRouter(tags=["frames"])

SDK_FILE = Path(__file__).parent.parent / "frames" / "sdk.js"
LIB_DIR = Path(__file__).parent.parent / "web" / "lib"
"""Chart libraries VisualBox serves itself: ``/frames/lib/<name>`` (no CDN anywhere)."""


def frame_csp(
    app_origin: str, img_sources: Sequence[str] = (), ancestors: Sequence[str] = ()
) -> str:
    """The frames' policy: only ``app_origin`` (and ``ancestors``, an embedded public
    dashboard's origins, which its ticket names) may embed them; ``img_sources``
    (``FRAMES__IMG_SOURCES``) may add image origins."""
    return "; ".join(
        [
            "sandbox allow-scripts",
            "default-src 'none'",
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            " ".join(["img-src 'self' data: blob:", *img_sources]),
            "font-src 'self' data:",
            "media-src 'self' data: blob:",
            "connect-src 'none'",
            " ".join(["frame-ancestors", app_origin, *ancestors]),
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


# -- telling the two origins apart ------------------------------------------------------


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``, with the scheme's default port spelt out."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def _host_key(host: str, scheme: str) -> str:
    """``host[:port]`` (a ``Host`` header) normalised like :func:`origin_of`; ``""`` if
    it is not one."""
    try:
        return origin_of(f"{scheme}://{host}").split("://", 1)[1] if host else ""
    except ValueError:  # a port that is not a number, an unclosed "[", ...
        return ""


def check_origins(settings: Settings) -> None:
    """Refuse a frames origin that is the app's own (or uses another scheme, which the
    browser would block as mixed content or the app would not reach)."""
    app, framed = urlsplit(settings.public_url), urlsplit(settings.frames_origin)
    problem = None
    if origin_of(settings.public_url) == origin_of(settings.frames_origin):
        problem = "must differ from the app's own origin (SERVER__PUBLIC_URL)"
    elif app.scheme != framed.scheme:
        problem = f"must use {app.scheme}:// like SERVER__PUBLIC_URL"
    if problem:
        raise Unavailable(
            "The frames origin is not usable.", [FieldError("VISUALBOX_FRAMES__ORIGIN", problem)]
        )


class FramesOrigin:
    """ASGI middleware: requests whose ``Host`` is the frames origin's go to ``frames``
    (an app with :data:`router` only); every other request, and the lifespan, to the
    web app it wraps."""

    def __init__(self, app: ASGIApp, *, frames: ASGIApp, origin: str) -> None:
        self.app = app
        self.frames = frames
        parts = urlsplit(origin)
        self.scheme = parts.scheme
        self.host = _host_key(parts.netloc, parts.scheme)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self._for_frames(scope):
            await self.frames(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _for_frames(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"host":
                return _host_key(value.decode("latin-1").lower(), self.scheme) == self.host
        return False


# -- the routes -------------------------------------------------------------------------


_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".md": "text/markdown",
}
_ERROR_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Widget unavailable</title><style>:root{color-scheme:light dark}
body{margin:0;height:100vh;display:grid;place-items:center;font:14px system-ui,sans-serif;
text-align:center;padding:0 1em;opacity:.75}</style></head><body><p>MESSAGE</p></body></html>"""


def _app_origin(settings: Settings) -> str:
    """The app's origin as its public URL spells it (``https://dash.example.org``)."""
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _headers(
    settings: Settings,
    cache: str,
    img_sources: Sequence[str] = (),
    ancestors: Sequence[str] = (),
) -> dict[str, str]:
    return {
        "Content-Security-Policy": frame_csp(_app_origin(settings), img_sources, ancestors),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
        "Cache-Control": cache,
    }


def media_type(path: str) -> str:
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    media = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if media.startswith("text/") or media in ("application/json", "image/svg+xml"):
        media += "; charset=utf-8"
    return media


def is_html(path: str) -> bool:
    """Whether a browser would render ``path`` (by its name) as a page."""
    return media_type(path).split(";")[0] in ("text/html", "application/xhtml+xml")


_versions: dict[tuple[Path, int, int], str] = {}


def content_version(path: Path) -> str:
    """The first 16 hex digits of the SHA-256 of the file at ``path`` (remembered
    while its size and time stay)."""
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)
    version = _versions.get(key)
    if version is None:
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        _versions[key] = version
    return version


def library_version(name: str) -> str | None:
    """:func:`content_version` of library ``name`` (a ``.js`` or ``.css`` file directly in
    :data:`LIB_DIR`), ``None`` if there is no such library (or it is a stylesheet that
    loads other files). The widget host fetches it as
    ``/lib/<name>?v=<version>`` from the app's origin, which may cache that URL for a
    year (``api/web.py``)."""
    if "/" in name or name.startswith(".") or not name.endswith((".js", ".css")):
        return None
    path = LIB_DIR / name
    if not path.is_file():
        return None
    if name.endswith(".css") and b"url(" in path.read_bytes():
        return None  # its url()s are relative to its own URL: not movable into the page
    return content_version(path)


_sdk: tuple[int, bytes, str] = (0, b"", "")


def _sdk_text() -> bytes:
    """The SDK file's content, read again only when it changed (its time)."""
    return _sdk_now()[1]


def _sdk_script() -> str:
    """The SDK as the inline script every frame page starts with."""
    return _sdk_now()[2]


def _sdk_now() -> tuple[int, bytes, str]:
    global _sdk
    changed = SDK_FILE.stat().st_mtime_ns
    if _sdk[0] != changed:
        text = SDK_FILE.read_bytes()
        _sdk = (changed, text, frames.sdk_script(text))
    return _sdk


@router.get("/frames/sdk.js")
async def sdk(request: Request) -> Response:
    """The widget SDK; the pages link it with ``?v=<server version>``, so it may be cached.

    Answered on the event loop from memory (no worker thread, so not ``SettingsDep``,
    a thread-pool dependency): every frame of a page asks for it while the pages
    themselves are served from worker threads, and it must not wait behind them."""
    settings: Settings = request.app.state.settings
    return Response(
        _sdk_text(),
        media_type="text/javascript; charset=utf-8",
        headers=_headers(settings, "public, max-age=86400"),
    )


@router.get("/frames/lib/{name:path}")
def library(name: str, request: Request, settings: SettingsDep) -> Response:
    """A chart library shipped with VisualBox (``src/visualbox/web/lib/``), compressed
    at build time when the browser accepts it (``api/compression.py``)."""
    try:
        name = normalize_path(name, field="name")
    except InvalidInput:
        raise NotFound("No such library.", [FieldError("name", "no such library")]) from None
    path = LIB_DIR / name
    if name.endswith((".gz", ".br")) or not path.is_file():
        raise NotFound("No such library.", [FieldError("name", "no such library")])
    headers = _headers(settings, "public, max-age=86400")
    return static_file(path, request.headers, headers, media_type=media_type(name))


@router.get("/frames/{ticket}")
def frame_root(ticket: str, box: SecretBoxDep) -> RedirectResponse:
    """``/frames/<ticket>`` → ``/frames/<ticket>/``, so relative links resolve inside it."""
    frames.open_ticket(box, ticket)
    return RedirectResponse(f"/frames/{ticket}/", status_code=308)


@router.get("/frames/{ticket}/{path:path}")
def frame_file(
    ticket: str, path: str, db: SessionDep, box: SecretBoxDep, settings: SettingsDep
) -> Response:
    """One file of the widget the ticket names; HTML pages get the SDK first.

    The ticket is opened before anything is read. A page that cannot be served answers
    a short HTML page (shown inside the widget's frame) instead of the JSON error other
    files get."""
    try:
        opened = frames.open_ticket(box, ticket)
        path, content = frames.frame_file(db, opened, path)
    except NotFound as error:
        if path and not path.endswith("/") and not media_type(path).startswith("text/html"):
            raise
        page = _ERROR_PAGE.replace("MESSAGE", html.escape(error.message))
        return HTMLResponse(page, status_code=404, headers=_headers(settings, "no-store"))
    media = media_type(path)
    if media.startswith("text/html"):
        versions = {name: library_version(name) for name in frames.page_libraries(content)}
        known = {name: version for name, version in versions.items() if version}
        script = _sdk_script()
        content = frames.boot_page(content, script, known) or frames.inject_sdk(content, script)
    left = max(0, math.floor(opened.expires_at - time.time()))
    cache = f"private, max-age={left}"
    headers = _headers(settings, cache, settings.frames.img_sources, opened.ancestors)
    return Response(content, media_type=media, headers=headers)


def registry_file_path(module_id: str, version: str, path: str) -> str:
    """Where the frames origin serves one file of a published version."""
    return f"/registry/modules/{module_id}/versions/{version}/files/{path}"


@router.get("/registry/modules/{module_id}/versions/{version}/files/{path:path}")
def registry_file(
    module_id: str, version: str, path: str, db: SessionDep, settings: SettingsDep
) -> Response:
    """One file of a published version, as its type (HTML as a page) under the frames'
    policy: the app origin redirects its HTML files here (``api/registry.py``)."""
    row = registry.get_version(db, registry.listed_module(db, module_id), version)
    content = registry.version_file(db, row, path)
    return Response(content, media_type=media_type(path), headers=_headers(settings, "no-cache"))
