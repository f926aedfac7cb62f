"""Limits every request passes before it reaches a route.

* The routes that take raw uploads (:data:`UPLOADS`: a module's files and ZIP
  archive) read at most :data:`MAX_BODY_BYTES` (and check their own, smaller
  limits); every other body may be at most :data:`MAX_JSON_BYTES`, whatever its
  ``Content-Type`` says (FastAPI decodes a body without a type, or with any
  ``application/*+json`` type, as JSON: the type cannot be trusted). Bodies are
  counted as they arrive, so a lying or missing ``Content-Length`` does not help:
  the request is refused with 413 as soon as it passes the limit, and never held
  in memory whole.
* A path with a NUL character names nothing: 404 (databases refuse NUL in text,
  so it must not reach a query).
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visualbox.errors import FieldError, NotFound, TooLarge, VisualBoxError

MAX_JSON_BYTES = 2 * 1024 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
UPLOADS = re.compile(r"/api/modules/[^/]+/(?:files/.+|archive)")
"""Paths whose ``PUT`` takes a raw upload (read by the route, never decoded as JSON)."""


def _too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"The request body is larger than {limit} bytes.",
        [FieldError("body", f"must be at most {limit} bytes")],
    )


class RequestLimits:
    """ASGI middleware enforcing the limits above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (
            "\x00" in unquote(scope.get("raw_path", b"").decode("latin-1"))
            or "\x00" in scope["path"]
        ):
            await _answer(send, NotFound("No such page."))
            return
        headers = dict(scope.get("headers") or [])
        upload = scope["method"] == "PUT" and UPLOADS.fullmatch(scope["path"])
        limit = MAX_BODY_BYTES if upload else MAX_JSON_BYTES
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, _too_large(limit))
            return
        received = 0
        overflow = False
        started = False

        async def counted() -> Message:
            # Past the limit the app is told the client left, and its answer is
            # dropped: this middleware answers 413 itself (routes that parse the body
            # would otherwise turn any error while reading into their own 400).
            nonlocal received, overflow
            if overflow:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflow = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if overflow and not started:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not overflow:
                raise
        if overflow and not started:
            await _answer(send, _too_large(limit))


async def _answer(send: Send, error: VisualBoxError) -> None:
    body = json.dumps(error.as_dict()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
