"""Prepared WebSocket frames: built once, shared, and written by a real uvicorn."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvicorn
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from visualbox.api.live_transport import Frames, LiveProtocol, payload, text_frame, writer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def parse(data: bytes) -> Frame:
    """The frame in ``data``, read by the `websockets` client's own parser."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert not reader.buffer  # nothing left over
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 300_000])
def test_a_text_frame_has_the_right_header_for_every_length(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # UTF-8: the length is in bytes
    frame = parse(text_frame(text.encode()))
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data.decode() == text


def test_viewers_taking_the_same_messages_share_one_frame() -> None:
    frames = Frames()
    texts = ['{"n":1}', '{"n":2}']
    first = frames.frame(list(texts))
    assert parse(first).data == b'[{"n":1},{"n":2}]' == payload(texts).encode()
    assert frames.frame(list(texts)) is first  # the same str objects: shared
    assert frames.built == 1
    other = frames.frame(['{"n":1}', '{"n":3}'])  # another message: built again
    assert parse(other).data == b'[{"n":1},{"n":3}]' and frames.built == 2
    assert parse(frames.frame([texts[0]])).data == b'{"n":1}'  # one message: no array


async def test_uvicorn_with_the_live_protocol_writes_prepared_frames() -> None:
    wrote: list[bytes] = []
    after_close: list[BaseException] = []
    done = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        write = writer(websocket)
        assert write is not None
        frames = Frames()
        for texts in (['{"n":1}'], ['{"n":2}', '{"n":3}'], ["x" * 70_000]):
            frame = frames.frame(texts)
            wrote.append(frame)
            await write(frame)
        await websocket.receive()  # the client closes
        try:
            await write(frames.frame(["late"]))
        except OSError as exc:
            after_close.append(exc)
        done.set()

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, ws=LiveProtocol, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as client:
            received = [await client.recv() for _ in range(3)]
        assert received == ['{"n":1}', '[{"n":2},{"n":3}]', "x" * 70_000]
        await asyncio.wait_for(done.wait(), 10)
        assert len(after_close) == 1  # a closed connection refuses, like websocket.send
    finally:
        server.should_exit = True
        await serving
        sock.close()


def test_without_the_extension_there_is_no_writer() -> None:
    scope = {"type": "websocket", "path": "/", "headers": [], "extensions": {}}

    async def nothing() -> None:
        raise AssertionError

    assert writer(WebSocket(scope, nothing, nothing)) is None  # type: ignore[arg-type]
