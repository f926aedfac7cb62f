"""Every runtime's integrations run live: Node.js and Go beside Python (test_live.py)."""

from __future__ import annotations

import pytest

from tests.live.conftest import Server, output_of, viewer

pytestmark = pytest.mark.anyio

NODE = """\
const visualbox = require('visualbox');
const nonce = Math.random().toString(16).slice(2);
let n = 0;
setInterval(() => visualbox.output({nonce, n: n++, city: visualbox.MODEL.city}), 100);
"""
GO = """\
package main

import (
	"time"

	"visualbox"
)

func main() {
	for n := 0; ; n++ {
		visualbox.Output(map[string]interface{}{"n": n, "city": visualbox.MODEL["city"]})
		time.Sleep(100 * time.Millisecond)
	}
}
"""
CITY = [{"type": "text", "name": "city", "label": "City", "default": "Tromsø"}]


@pytest.mark.parametrize(
    ("runtime", "files"), [("node", {"index.js": NODE}), ("go", {"main.go": GO})]
)
async def test_node_and_go_integrations_stream_to_viewers(
    server: Server, runtime: str, files: dict[str, str]
) -> None:
    owner = server.account()
    module = owner.module(runtime, files, schema=CITY)
    board = owner.dashboard(
        [{"id": "i1", "module_id": module, "label": runtime, "config": {"city": "Alta"}}]
    )
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        first = await client.wait_for(output_of("i1"), timeout=180)  # Go compiles first
        assert first["data"]["city"] == "Alta"
        later = await client.wait_for(
            lambda m: output_of("i1")(m) and m["data"]["n"] > first["data"]["n"]
        )
        assert later["at"] >= first["at"]
        states = [m["state"] for m in client.of("STATE")]
        assert "running" in states
    finally:
        await client.close()
