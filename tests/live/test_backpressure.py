"""A slow viewer never delays the others, and what waits for it stays bounded."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.live.conftest import Server, output_of, viewer
from tests.live.test_live import wait_until

pytestmark = pytest.mark.anyio

FLOOD = """\
import os, visualbox
pad = os.urandom(30000).hex()  # 60 kB that no compression could shrink
n = 0
while True:
    visualbox.output({"n": n, "pad": pad})
    n += 1
"""
TOO_BIG = """\
import time, visualbox
visualbox.output({"big": "y" * 3000})
visualbox.output({"small": 1})
while True:
    time.sleep(1)
"""


async def test_a_slow_viewer_does_not_delay_a_fast_one_and_memory_stays_bounded(
    server: Server,
) -> None:
    owner = server.account()
    board = owner.dashboard(
        [{"id": "i1", "module_id": owner.module("python", {"main.py": FLOOD}), "label": "F"}]
    )
    live = server.app.state.live
    live.settings.viewer_queue = 16  # a viewer is "behind" with 16 messages waiting
    with owner.http() as http:
        token = http.post(f"/api/dashboards/{board['id']}/sharing", json={"public": True})
    # The slow viewer (a public one) joins, then stops reading: its TCP buffers fill up.
    # A small receive buffer (which also turns off the kernel's buffer autotuning): the
    # server's writes block within a second instead of after tens of megabytes.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    slow = await connect(server.ws_url, max_queue=1, sock=sock)
    await slow.send(json.dumps({"type": "JOIN", "share": token.json()["token"]}))
    ticking = asyncio.create_task(_tick(slow, server.settings.live.idle_timeout_s / 4))
    fast = await viewer(server, owner)
    try:
        await fast.send({"type": "JOIN", "dashboard": board["id"]})
        await fast.wait_for(output_of("i1"))
        room = live.rooms[f"dashboard:{board['id']}"]
        slow_viewer = next(v for v in room.viewers if v.rooms[room.name].role == "viewer")
        # At 200 outputs/s of 60 kB, the slow side's socket is full within seconds ...
        await wait_until(lambda: len(slow_viewer.outbox) > 0, timeout=60)
        mark = room.instances["i1"]
        target = json.loads(mark.last_data or "{}")["n"] + 400
        # ... while the fast viewer keeps receiving every new value promptly.
        late = await fast.wait_for(lambda m: output_of("i1")(m) and m["data"]["n"] >= target)
        latest = json.loads(mark.last_data or "{}")["n"]
        assert latest - late["data"]["n"] < 100  # within half a second of the source
        # What waits for the slow viewer is bounded: the queue's limit plus one entry per
        # instance and message kind (the latest values), not a backlog.
        assert len(slow_viewer.outbox) <= server.settings.live.viewer_queue + 3
        # The slow viewer, reading again, gets the latest values, having skipped the rest.
        received = []
        async for raw in slow:
            frame = json.loads(raw)
            outputs = list(frame if isinstance(frame, list) else [frame])
            received += [m["data"]["n"] for m in outputs if m["type"] == "OUTPUT"]
            if received and received[-1] >= latest:
                break
        assert len(received) < latest - received[0]  # values were skipped, not queued
    finally:
        ticking.cancel()
        await slow.close()
        await fast.close()


async def _tick(connection: ClientConnection, every: float) -> None:
    """A slow browser still TICKs; it just does not read fast enough."""
    while True:
        await asyncio.sleep(every)
        await connection.send(json.dumps({"type": "TICK"}))


async def test_an_output_over_the_size_limit_is_refused_with_an_error_for_the_owner(
    server: Server,
) -> None:
    server.app.state.live.runner.supervisor.settings.output_max_bytes = 2048
    owner = server.account()
    board = owner.dashboard(
        [{"id": "i1", "module_id": owner.module("python", {"main.py": TOO_BIG}), "label": "B"}]
    )
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        small = await client.wait_for(output_of("i1", "small"))
        error = await client.wait_for(lambda m: m["type"] == "STATUS" and m["status"] == "T_ERROR")
        assert "2048" in error["data"] or "too large" in error["data"].lower()
        assert not [m for m in client.of("OUTPUT") if "big" in m["data"]]
        assert small["data"] == {"small": 1}
    finally:
        await client.close()
