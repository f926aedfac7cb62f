"""How ``/api/live`` writes to its viewers: WebSocket frames prepared once, shared.

A room's message is encoded once (``schemas/live.py``); what is left per viewer is
the WebSocket frame around it and the ASGI round trip that writes it (a message dict,
two awaits, the frame built again in Python, the text encoded again to UTF-8). For a
room of a thousand viewers that is a thousand times the same work, so:

* :class:`LiveProtocol` is uvicorn's sans-I/O ``websockets`` protocol (the one
  ``cli/serve.py`` configures) with one ASGI extension, :data:`EXTENSION`: a
  ``write(frame)`` coroutine that waits while the connection's transport is above
  its high-water mark, exactly like uvicorn's own ``websocket.send``, then writes
  the prepared bytes;
* :class:`Frames` builds a text frame for a list of message texts once, and hands
  the same bytes to every viewer whose send task takes the same messages in a row
  (they all do when they keep up).

Under another server (Starlette's test client, a different ASGI server) the
extension is absent and :func:`writer` returns ``None``: the handler then sends the
same text through plain ``websocket.send``.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

EXTENSION = "visualbox.frames"
"""The ASGI scope extension: ``{"write": async (frame: bytes) -> None}``."""

Write = Callable[[bytes], Awaitable[None]]


class LiveProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, plus writing prepared frames."""

    async def run_asgi(self) -> None:
        self.scope["extensions"][EXTENSION] = {"write": self.write_frame}
        await super().run_asgi()

    async def write_frame(self, frame: bytes) -> None:
        """Write one complete server frame; wait first while the peer is slow to read.

        Raises :class:`ClientDisconnected` (an ``OSError``) once the connection is
        closing or gone, like ``websocket.send``."""
        await self.writable.wait()
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        self.transport.write(frame)


def writer(websocket: WebSocket) -> Write | None:
    """The connection's prepared-frame writer, if its server offers one."""
    extension: dict[str, Any] | None = websocket.scope.get("extensions", {}).get(EXTENSION)
    return None if extension is None else extension["write"]


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked (server → client) WebSocket text frame (RFC 6455 §5.2)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


class Frames:
    """Builds the frame of a list of texts, remembering the last one it built.

    The viewers of a room take the same messages (the very same ``str`` objects:
    each envelope's text) one after the other, so the last frame is what the next
    viewer needs: checking that costs one identity comparison per message, building
    it again an encoding and a copy of every message.
    """

    def __init__(self) -> None:
        self._last: tuple[list[str], bytes] = ([], b"")  # one attribute: swapped at once
        self.built = 0
        """How many frames were built (the others were shared)."""

    def frame(self, texts: list[str]) -> bytes:
        """The text frame of :func:`payload` ``(texts)``; ``texts`` must not change after."""
        last, frame = self._last
        if len(texts) == len(last) and all(map(operator.is_, texts, last)):
            return frame
        frame = text_frame(payload(texts).encode())
        self._last = (texts, frame)
        self.built += 1
        return frame


def payload(texts: list[str]) -> str:
    """What a frame of ``texts`` says: the one message, or a JSON array of them in order."""
    return texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"
