"""The web app: the built single-page front end, served at the site root.

``npm run build`` in ``frontend/`` (run by ``hatch_build.py`` at install time)
writes the app into ``src/visualbox/web``. :func:`install` makes the server answer
every GET that no route took:

* a file of the build (``/assets/app-1a2b3c.js``, ``/manifest.webmanifest``), its
  brotli or gzip copy made at build time when the browser accepts one
  (:mod:`visualbox.api.compression`): hashed assets are cached for a year, everything
  else is revalidated (``ETag``, ``304``), but for ``/lib/<name>?v=<content hash>``
  (what the widget host fetches, docs/widgets.md), cached for a year as well;
* server paths (``/api/...``, ``/frames/...``, ``/ws/...``, the mailed-link pages)
  that matched nothing, and missing ``/assets/...`` and ``/lib/...`` files: the usual
  JSON 404;
* anything else: ``index.html`` (history fallback: the app's router shows the page),
  never cached, with a strict Content-Security-Policy (:func:`content_security_policy`)
  that lets it frame the frames origin only (widgets, docs/web.md) and run only its own
  build's scripts: this origin serves no user file as a page, script or stylesheet.

``/embed/<share token>`` is the same page with one difference: its ``frame-ancestors``
are the origins the public dashboard lists (``'none'`` for any other token), so those
sites may put it in an ``<iframe>`` (docs/dashboards.md#embedding). Every other page may
be framed by nobody.

Without a build (``VISUALBOX_SKIP_FRONTEND=1`` at install time) those pages explain
how to build it instead. Other methods than GET/HEAD keep the usual 404 (or 405).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from visualbox.api.compression import static_file
from visualbox.api.deps import SessionDep
from visualbox.api.frames import content_version
from visualbox.services import sharing

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def content_security_policy(frames_origin: str, ancestors: str = "'none'") -> str:
    """The app page's policy: frames only from ``frames_origin``, workers (the service
    worker) and scripts only from the app itself; framed only by ``ancestors``."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; connect-src 'self'; frame-src {frames_origin}; "
        f"child-src {frames_origin}; worker-src 'self'; object-src 'none'; "
        f"base-uri 'none'; frame-ancestors {ancestors}"
    )


def _page_headers(frames_origin: str, ancestors: str = "'none'") -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(frames_origin, ancestors),
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


_IMMUTABLE = "public, max-age=31536000, immutable"
_SERVER_PREFIXES = ("api/", "frames/", "ws/")
_ASSETS = "assets/"  # hashed build output: a missing one is a 404, never the page
_LIBRARIES = "lib/"  # widget libraries, fetched by the widget host (docs/widgets.md)
_SERVER_PAGES = ("api", "frames", "ws", "verify-email", "reset-password")

_NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>VisualBox</title><meta name="viewport" content="width=device-width">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
</style></head><body><h1>VisualBox</h1>
<p>The server is running, but its web app was not built (the package was installed
with <code>VISUALBOX_SKIP_FRONTEND=1</code>, or without Node.js). Build it with
<code>pip install -e .</code> or
<code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>.
Meanwhile the <a href="/api/docs">interactive API</a> works.</p>
</body></html>"""


def _built_file(web_dir: Path, path: str) -> Path | None:
    """The file of the build at ``path``, if there is one (never outside ``web_dir``)."""
    if not path or path.endswith("/"):
        return None
    candidate = (web_dir / path).resolve()
    if not candidate.is_relative_to(web_dir) or not candidate.is_file():
        return None
    return candidate


def _app_page(web_dir: Path, request: Headers, headers: dict[str, str]) -> Response:
    index = web_dir / "index.html"
    if not index.is_file():
        return HTMLResponse(_NOT_BUILT, headers=headers)
    return static_file(index, request, headers, media_type="text/html; charset=utf-8")


def _serve(
    root: Path, path: str, query: str, request: Headers, page_headers: dict[str, str]
) -> Response:
    found = _built_file(root, path)
    if found is None or found.name == "index.html":
        return _app_page(root, request, page_headers)
    immutable = path.startswith(_ASSETS)
    if path.startswith(_LIBRARIES) and "/" not in path.removeprefix(_LIBRARIES):
        # /lib/<name>?v=<its content hash> never changes: the widget host's URLs.
        immutable = query == f"v={content_version(found)}"
    headers = {
        "Cache-Control": _IMMUTABLE if immutable else "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if found.name == "sw.js":
        headers["Service-Worker-Allowed"] = "/"
    return static_file(found, request, headers)


def install(app: FastAPI, web_dir: Path = WEB_DIR, *, frames_origin: str) -> None:
    """Serve the web app from ``web_dir`` for every GET that no route answers; its pages
    may frame ``frames_origin`` only.

    It replaces the router's "not found" fallback rather than adding a catch-all
    route, so routes added later still win and other methods keep their 404/405.
    """
    root = web_dir.resolve()
    not_found = app.router.default
    page_headers = _page_headers(frames_origin)

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).lstrip("/")
        page = scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
        if not page or path.startswith(_SERVER_PREFIXES) or path in _SERVER_PAGES:
            await not_found(scope, receive, send)
            return
        if path.startswith((_ASSETS, _LIBRARIES)) and _built_file(root, path) is None:
            await not_found(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        answer = _serve(root, path, query, Headers(scope=scope), page_headers)
        await answer(scope, receive, send)

    app.router.default = fallback

    def embed_page(token: str, request: Request, db: SessionDep) -> Response:
        """A public dashboard without chrome, for the ``<iframe>`` of its listed origins."""
        headers = _page_headers(frames_origin, sharing.frame_ancestors(db, token))
        return _app_page(root, request.headers, headers)

    app.add_api_route(
        "/embed/{token}", embed_page, methods=["GET", "HEAD"], include_in_schema=False
    )
