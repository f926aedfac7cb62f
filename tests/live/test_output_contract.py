"""An integration's declared output schema checked on a live dashboard: a mismatch is a
warning in its owner's console naming the path, and the data still flows."""

from __future__ import annotations

import json

import pytest

from tests.live.conftest import Server, viewer

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"temperature": {"type": "number"}}}
MAIN = """\
import time, visualbox
visualbox.output({"temperature": 21.5})
visualbox.output({"temperature": "hot"})
visualbox.output({"temperature": 22, "last": True})
while True:
    time.sleep(1)
"""
WARNING = 'output does not match its declared shape at /temperature: "hot" is not of type "number"'


async def test_a_mismatch_is_a_warning_for_the_owner_and_the_data_flows(server: Server) -> None:
    owner = server.account()
    files = {
        "main.py": MAIN,
        "output.schema.json": json.dumps(SCHEMA),
        "visualbox.json": json.dumps({"kind": "integration", "output": "output.schema.json"}),
    }
    module = owner.module("python", files)
    board = owner.dashboard([{"id": "i1", "module_id": module, "label": "Probe"}])
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        warning = await client.wait_for(
            lambda m: m["type"] == "STATUS" and m["status"] == "T_WARNING"
        )
        assert warning["data"] == WARNING and warning["instance"] == "i1"
        last = await client.wait_for(
            lambda m: m["type"] == "OUTPUT" and m["data"].get("last") is True
        )
        assert last["data"]["temperature"] == 22
        outputs = [m["data"] for m in client.of("OUTPUT")]
        assert {"temperature": "hot"} in outputs  # relayed as it came, never dropped
    finally:
        await client.close()
