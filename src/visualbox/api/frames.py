"""HTTP routes that serve widgets into sandboxed iframes (docs/api/frames.md).

Mounted without a prefix: ``/frames/sdk.js``, ``/frames/lib/{name}`` and
``/frames/{ticket}/{path}``. Every answer carries :func:`frame_csp`, whose
``sandbox allow-scripts`` gives the document an opaque ("null") origin even when it
is opened outside our iframe. Chromium matches ``'self'`` against the URL's origin
in such a document, so the widget may load its own files, the SDK and the chart
libraries from us, and nothing from anywhere else; ``connect-src 'none'`` stops
fetch, XHR, WebSocket and EventSource. Sub-resources answer with
``Cross-Origin-Resource-Policy: cross-origin`` and ``Access-Control-Allow-Origin: *``
because, seen from a "null" origin, our own files are cross-origin (module scripts
and fonts are CORS requests); the ticket in the URL is the capability.
"""

from __future__ import annotations

import html
import math
import mimetypes
import time
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from visualbox import __version__
from visualbox.api.deps import SecretBoxDep, SessionDep, SettingsDep
from visualbox.errors import FieldError, InvalidInput, NotFound
from visualbox.modules.tree import normalize_path
from visualbox.services import frames

router = APIRouter(prefix="/frames", tags=["frames"])

SDK_FILE = Path(__file__).parent.parent / "frames" / "sdk.js"
LIB_DIR = Path(__file__).parent.parent / "web" / "lib"
"""Chart libraries VisualBox serves itself: ``/frames/lib/<name>`` (no CDN anywhere)."""


def frame_csp(img_sources: Sequence[str] = ()) -> str:
    """The frames' policy; ``img_sources`` (``FRAMES__IMG_SOURCES``) may add image origins."""
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
            "frame-ancestors 'self'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


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
_SDK_SRC = f"{frames.SDK_PATH}?v={__version__}"
_ERROR_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Widget unavailable</title><style>:root{color-scheme:light dark}
body{margin:0;height:100vh;display:grid;place-items:center;font:14px system-ui,sans-serif;
text-align:center;padding:0 1em;opacity:.75}</style></head><body><p>MESSAGE</p></body></html>"""


FRAME_CSP = frame_csp()
"""The policy with the default settings."""


def _headers(cache: str, csp: str = FRAME_CSP) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
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


@router.get("/sdk.js")
def sdk() -> Response:
    """The widget SDK; the pages link it with ``?v=<server version>``, so it may be cached."""
    return Response(
        SDK_FILE.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers=_headers("public, max-age=86400"),
    )


@router.get("/lib/{name:path}")
def library(name: str) -> Response:
    """A chart library shipped with VisualBox (``src/visualbox/web/lib/``)."""
    try:
        name = normalize_path(name, field="name")
    except InvalidInput:
        raise NotFound("No such library.", [FieldError("name", "no such library")]) from None
    path = LIB_DIR / name
    if not path.is_file():
        raise NotFound("No such library.", [FieldError("name", "no such library")])
    return Response(
        path.read_bytes(), media_type=media_type(name), headers=_headers("public, max-age=86400")
    )


@router.get("/{ticket}")
def frame_root(ticket: str, box: SecretBoxDep) -> RedirectResponse:
    """``/frames/<ticket>`` → ``/frames/<ticket>/``, so relative links resolve inside it."""
    frames.open_ticket(box, ticket)
    return RedirectResponse(f"/frames/{ticket}/", status_code=308)


@router.get("/{ticket}/{path:path}")
def frame_file(
    ticket: str, path: str, db: SessionDep, box: SecretBoxDep, settings: SettingsDep
) -> Response:
    """One file of the widget the ticket names; HTML pages get the SDK first.

    A page that cannot be served answers a short HTML page (shown inside the widget's
    frame) instead of the JSON error other files get."""
    try:
        opened = frames.open_ticket(box, ticket)
        path, content = frames.frame_file(db, opened, path)
    except NotFound as error:
        if path and not path.endswith("/") and not media_type(path).startswith("text/html"):
            raise
        page = _ERROR_PAGE.replace("MESSAGE", html.escape(error.message))
        return HTMLResponse(page, status_code=404, headers=_headers("no-store"))
    media = media_type(path)
    if media.startswith("text/html"):
        content = frames.inject_sdk(content, _SDK_SRC)
    left = max(0, math.floor(opened.expires_at - time.time()))
    csp = frame_csp(settings.frames.img_sources)
    return Response(content, media_type=media, headers=_headers(f"private, max-age={left}", csp))
