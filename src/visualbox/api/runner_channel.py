"""The pod channel: the WebSocket a Kubernetes pod opens back to the node running it.

Authorised by the pod's single-use pod token (``Authorization: Bearer vbp_...``),
never by a user; only the Kubernetes runner hands such tokens out. The socket's
binary messages become a byte stream for the runner (``runtime/runners/kubernetes.py``
speaks the protocol): what the pod sends is fed to an ``asyncio.StreamReader``, and
this handler stops receiving while the reader holds more than it may (backpressure
reaches the pod through TCP); what the runner writes is queued and sent in order.
See docs/kubernetes.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

if TYPE_CHECKING:  # the Kubernetes client library loads only where the runner is used
    from visualbox.runtime.runners.kubernetes import KubernetesRunner

router = APIRouter(prefix="/runner", tags=["runner"])

READ_LIMIT = 256 * 1024
"""The reader pauses the socket past twice this many unread bytes."""
SEND_HIGH = 1024 * 1024
"""``drain()`` waits while more than this many bytes are queued for the pod."""


class _Flow(asyncio.ReadTransport):
    """Stands in for a transport so that the reader can pause and resume receiving."""

    def __init__(self) -> None:
        super().__init__()
        self.resumed = asyncio.Event()
        self.resumed.set()

    def pause_reading(self) -> None:
        self.resumed.clear()

    def resume_reading(self) -> None:
        self.resumed.set()


class _Outbox:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued = 0
        self._sent = asyncio.Event()

    def write(self, data: bytes) -> None:
        self._queue.put_nowait(data)
        self._queued += len(data)

    async def drain(self) -> None:
        while self._queued > SEND_HIGH:
            self._sent.clear()
            await self._sent.wait()

    async def send_forever(self) -> None:
        while True:
            data = await self._queue.get()
            await self._websocket.send_bytes(data)
            self._queued -= len(data)
            self._sent.set()

    async def flush(self) -> None:
        while not self._queue.empty():
            data = self._queue.get_nowait()
            await self._websocket.send_bytes(data)


async def _receive(websocket: WebSocket, reader: asyncio.StreamReader, flow: _Flow) -> None:
    try:
        while True:
            await flow.resumed.wait()
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes") or (message.get("text") or "").encode()
            if data:
                reader.feed_data(data)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        reader.feed_eof()


def _is_kubernetes(runner: object) -> bool:
    """Whether ``runner`` is the Kubernetes runner, without loading it when it is not."""
    loaded = sys.modules.get("visualbox.runtime.runners.kubernetes")
    return loaded is not None and isinstance(runner, loaded.KubernetesRunner)


@router.websocket("/channel")
async def pod_channel(websocket: WebSocket) -> None:
    runner: KubernetesRunner = websocket.app.state.live.runner
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if not _is_kubernetes(runner) or scheme.lower() != "bearer" or not token:
        await websocket.close(code=1008, reason="a pod token is needed")
        return
    from visualbox.runtime.runners.kubernetes_runs import PodLink

    await websocket.accept()
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    flow = _Flow()
    reader.set_transport(flow)
    outbox = _Outbox(websocket)
    link = PodLink(reader, outbox.write, outbox.drain)
    if not runner.attach(token.strip(), link):
        await websocket.close(code=1008, reason="unknown, used or expired pod token")
        return
    receiving = asyncio.ensure_future(_receive(websocket, reader, flow))
    sending = asyncio.ensure_future(outbox.send_forever())
    finished = asyncio.ensure_future(link.done.wait())
    try:
        # Until the runner is done with it, the pod hung up, or sending failed.
        await asyncio.wait({finished, sending, receiving}, return_when=asyncio.FIRST_COMPLETED)
        if not sending.done():
            sending.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await outbox.flush()
    finally:
        for task in (receiving, sending, finished):
            task.cancel()
        await asyncio.gather(receiving, sending, finished, return_exceptions=True)
        link.done.set()
        with contextlib.suppress(Exception):
            await websocket.close()
