"""Quotas of running integrations (issue 11): an account's instances beyond its sandbox
quota do not start and say why; its outputs beyond its bytes-per-second quota are
slowed down, said once, while another account's go on as before."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.conftest import (
    LEVEL_SCHEMA,
    PYTHON_COUNTER,
    Server,
    live_settings,
    output_of,
    viewer,
)
from tests.live.test_live import wait_until
from visualbox.settings import QuotaSettings

pytestmark = pytest.mark.anyio

QUOTA_BYTES = 64 * 1024
FLOOD = """\
import os, visualbox
pad = os.urandom(8000).hex()  # 16 kB that no compression could shrink
n = 0
while True:
    visualbox.output({"n": n, "pad": pad})
    n += 1
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    settings = live_settings(tmp_path, idle_timeout_s=1.0, flush_interval_s=0.1)
    settings.quotas = QuotaSettings(sandboxes=2, output_bytes_per_s=QUOTA_BYTES)
    running = Server(settings).start()
    yield running
    running.stop()


async def test_instances_beyond_the_sandbox_quota_do_not_start_and_say_why(
    server: Server,
) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = owner.dashboard(
        [{"id": f"i{k}", "module_id": module, "label": f"C{k}", "config": {}} for k in range(3)]
    )
    # (Set up before any viewer connects: these calls block the test's event loop, and a
    # viewer that stops ticking for IDLE_TIMEOUT_S is disconnected.)
    other = server.account("Other")
    other_board = other.dashboard([{"id": "o", "module_id": module, "label": "O"}])
    client = await viewer(server, owner)
    live = server.app.state.live
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        refused = await client.wait_for(
            lambda m: m["type"] == "STATE" and m["state"] == "exited" and m["reason"] == "quota"
        )
        message = "You have 2 of 2 integrations running at once allowed."
        assert refused["detail"].startswith(message)
        # Instances start in order, so the third one is refused (unless one of the first
        # two crashed on the way and was the one refused when it restarted).
        name = refused["instance"]
        warning = await client.wait_for(lambda m: m["type"] == "STATUS" and m["instance"] == name)
        assert warning["status"] == "T_WARNING" and warning["data"].startswith(message)
        running = sorted({"i0", "i1", "i2"} - {name})
        for started in running:
            await client.wait_for(output_of(started))
        assert live.runner.active() == 2
        assert not [m for m in client.of("OUTPUT") if m["instance"] == name]
        assert live.sandboxes_of(owner.id) == 2

        # Another account has its own sandboxes.
        other_client = await viewer(server, other)
        try:
            await other_client.send({"type": "JOIN", "dashboard": other_board["id"]})
            await other_client.wait_for(output_of("o"))
        finally:
            await other_client.close()

        # Stopping one frees a sandbox: the refused one then starts when restarted.
        room, stopping = refused["room"], running[0]
        await client.send({"type": "TERMINATE", "room": room, "instance": stopping})
        await client.wait_for(
            lambda m: m["type"] == "STATE" and m["instance"] == stopping and m["state"] == "stopped"
        )
        await client.send({"type": "RESTART", "room": room, "instance": name})
        await client.wait_for(output_of(name))
        assert live.sandboxes_of(owner.id) == 2
    finally:
        await client.close()


async def test_outputs_beyond_the_bytes_quota_are_slowed_down_said_once_and_others_go_on(
    server: Server,
) -> None:
    flooder = server.account("Flooder")
    flood_board = flooder.dashboard(
        [
            {"id": f"f{k}", "module_id": flooder.module("python", {"main.py": FLOOD}), "label": "F"}
            for k in range(2)
        ]
    )
    calm = server.account("Calm")
    module = calm.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    calm_board = calm.dashboard(
        [{"id": "c", "module_id": module, "label": "C", "config": {"every": 0.05}}]
    )
    flooding = await viewer(server, flooder)
    watching = await viewer(server, calm)
    try:
        await flooding.send({"type": "JOIN", "dashboard": flood_board["id"]})
        first = await flooding.wait_for(lambda m: m["type"] == "OUTPUT")
        began = time.monotonic()
        size = len(json.dumps(first["data"]))
        # Both flooding instances share the account's budget, each says so once.
        for name in ("f0", "f1"):
            notice = await flooding.wait_for(
                lambda m, name=name: m["type"] == "STATUS" and m["instance"] == name
            )
            assert notice["status"] == "T_WARNING"
            assert "exceed your quota of 64 KiB per second" in notice["data"]

        # Meanwhile the other account's outputs arrive at their own pace (20 per second).
        await watching.send({"type": "JOIN", "dashboard": calm_board["id"]})
        start = await watching.wait_for(output_of("c"))
        await watching.wait_for(
            lambda m: output_of("c")(m) and m["data"]["n"] >= start["data"]["n"] + 40,
            timeout=20,
        )

        await wait_until(lambda: len(flooding.of("OUTPUT")) >= 20)
        elapsed = time.monotonic() - began
        received = len(flooding.of("OUTPUT")) * size
        # Unthrottled, two flooders send 2 x 200 outputs of 16 kB per second (6.4 MB/s).
        burst = QUOTA_BYTES + 2 * size
        assert received <= burst + QUOTA_BYTES * elapsed * 1.25, (received, elapsed)
        warnings = [m for m in flooding.of("STATUS") if "exceed your quota" in m["data"]]
        assert len(warnings) == 2
    finally:
        await flooding.close()
        await watching.close()
