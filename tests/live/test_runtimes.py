"""Every runtime's integrations run live: Node.js and Go beside Python (test_live.py),
and Python and Node.js on the hardened gVisor backend (deselected, with the reason
printed, where runsc cannot run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.conftest import Server, live_settings, output_of, viewer
from tests.runtime.harness import RUNSC_MISSING

pytestmark = pytest.mark.anyio

PYTHON = """\
import time, uuid
import visualbox

nonce = uuid.uuid4().hex
for n in range(10**9):
    visualbox.output({"nonce": nonce, "n": n, "city": visualbox.MODEL["city"]})
    time.sleep(0.1)
"""

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


async def _stream(
    server: Server, runtime: str, files: dict[str, str], city: str, timeout: float
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Its owner views a dashboard of one ``runtime`` integration set to ``city``: the
    first output (within ``timeout``), a later one, and the states seen meanwhile."""
    owner = server.account()
    module = owner.module(runtime, files, schema=CITY)
    board = owner.dashboard(
        [{"id": "i1", "module_id": module, "label": runtime, "config": {"city": city}}]
    )
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        first = await client.wait_for(output_of("i1"), timeout=timeout)
        later = await client.wait_for(
            lambda m: output_of("i1")(m) and m["data"]["n"] > first["data"]["n"]
        )
        return first, later, [m["state"] for m in client.of("STATE")]
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("runtime", "files"), [("node", {"index.js": NODE}), ("go", {"main.go": GO})]
)
async def test_node_and_go_integrations_stream_to_viewers(
    server: Server, runtime: str, files: dict[str, str]
) -> None:
    first, later, states = await _stream(server, runtime, files, "Alta", 180)  # Go compiles
    assert first["data"]["city"] == "Alta"
    assert later["at"] >= first["at"]
    assert "running" in states


def deselect_reason(item: pytest.Item) -> str | None:
    """Read by ``tests/conftest.py``: the gVisor journeys where runsc cannot run."""
    return RUNSC_MISSING if "runsc_server" in getattr(item, "fixturenames", ()) else None


@pytest.fixture
def runsc_server(tmp_path: Path) -> Iterator[Server]:
    settings = live_settings(tmp_path, idle_timeout_s=1.0, flush_interval_s=0.1)
    settings.sandbox.backend = "runsc"
    running = Server(settings).start()
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("runtime", "files"), [("python", {"main.py": PYTHON}), ("node", {"index.js": NODE})]
)
async def test_integrations_stream_to_viewers_from_gvisor(
    runsc_server: Server, runtime: str, files: dict[str, str]
) -> None:
    first, later, _ = await _stream(runsc_server, runtime, files, "Vardø", 60)
    assert first["data"]["city"] == "Vardø"
    assert later["data"]["nonce"] == first["data"]["nonce"]  # one run, still streaming
