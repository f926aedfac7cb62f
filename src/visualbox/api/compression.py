"""Compressed answers for static files, compressed once at build time.

The front end's build (``frontend/vite.config.ts``, the ``precompress`` plugin) writes
``<name>.br`` (brotli) and ``<name>.gz`` (gzip) next to every text file of
``src/visualbox/web`` (the app and the widget libraries). :func:`static_file` answers
one of them with ``Content-Encoding`` when the request's ``Accept-Encoding`` takes it,
the file itself otherwise, always with ``Vary: Accept-Encoding`` when a compressed
copy exists, and ``304 Not Modified`` when ``If-None-Match`` names the ETag of the
copy it would send (each copy has its own ETag).

Only static files are compressed, never per request: the API's JSON answers carry
secrets (frame tickets, share links) next to text other people chose, which is what
BREACH-style attacks need, and the live WebSocket is not an HTTP answer.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Mapping
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response

ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
"""Preferred first: brotli is 15–20 % smaller than gzip on our JavaScript."""


def accepted(accept_encoding: str) -> set[str]:
    """The content codings an ``Accept-Encoding`` value takes (``q=0`` refuses one;
    ``*`` takes every coding not named)."""
    taken: set[str] = set()
    refused: set[str] = set()
    wildcard = False
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if not name:
            continue
        if name == "*":
            wildcard = q > 0
        elif q > 0:
            taken.add(name)
        else:
            refused.add(name)
    if wildcard:
        taken |= {coding for coding, _ in ENCODINGS} - refused
    return taken


def variant(path: Path, accept_encoding: str) -> tuple[Path, str | None, bool]:
    """``(file to send, its Content-Encoding or None, whether a compressed copy exists)``."""
    takes = accepted(accept_encoding)
    exists = False
    for coding, suffix in ENCODINGS:
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            exists = True
            if coding in takes:
                return candidate, coding, True
    return path, None, exists


def static_file(
    path: Path,
    request: Headers,
    headers: Mapping[str, str],
    media_type: str | None = None,
) -> Response:
    """``path`` (or its compressed copy the ``request`` headers accept) with ``headers``,
    as Starlette's ``FileResponse`` sends it, or ``304`` when the client's copy is
    current."""
    chosen, coding, has_copies = variant(path, request.get("accept-encoding", ""))
    all_headers = dict(headers)
    if has_copies:
        all_headers["Vary"] = "Accept-Encoding"
    if coding is not None:
        all_headers["Content-Encoding"] = coding
    media = media_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    stat = os.stat(chosen)
    response = FileResponse(chosen, headers=all_headers, media_type=media, stat_result=stat)
    etag = response.headers["etag"]
    if _matches(request.get("if-none-match"), etag):
        kept = {k: v for k, v in response.headers.items() if k.lower() not in _NOT_ON_304}
        return Response(status_code=304, headers=kept)
    return response


_NOT_ON_304 = frozenset({"content-length", "content-type", "content-encoding", "accept-ranges"})


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return etag.removeprefix("W/") in tags
