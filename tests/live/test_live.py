"""Live dashboards end to end: a real server, real WebSockets, real sandboxed integrations."""

from __future__ import annotations

import pytest

from tests.live.conftest import LEVEL_SCHEMA, PYTHON_COUNTER, Server, output_of, viewer

pytestmark = pytest.mark.anyio


async def test_two_viewers_share_one_instance(server: Server) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = owner.dashboard(
        [{"id": "i1", "module_id": module, "label": "Counter", "config": {"level": 3}}]
    )
    first = await viewer(server, owner)
    second = await viewer(server, owner)
    try:
        await first.send({"type": "JOIN", "dashboard": board["id"]})
        joined = await first.wait_for(lambda m: m["type"] == "JOINED")
        assert joined["role"] == "owner" and "i1" in joined["instances"]
        a = await first.wait_for(output_of("i1"))
        await second.send({"type": "JOIN", "dashboard": board["id"]})
        await second.wait_for(lambda m: m["type"] == "JOINED")
        b = await second.wait_for(output_of("i1"))
        assert a["data"]["nonce"] == b["data"]["nonce"]  # one process made both
        assert a["data"]["level"] == 3
        assert server.app.state.live.runner.active() == 1
    finally:
        await first.close()
        await second.close()
