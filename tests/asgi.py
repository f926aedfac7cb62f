"""Drive an app straight through ASGI, to see how much of a body it reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any


def stream(
    app: Any, method: str, path: str, headers: dict[str, str], chunks: Iterator[bytes]
) -> tuple[int, int]:
    """Send ``chunks`` as the request body, one chunk per ``receive``.

    Returns the response status and how many body bytes the app pulled: unlike the
    test client, this shows whether the server stops reading at its limit.
    """
    pulled = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    return status, pulled
