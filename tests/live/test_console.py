"""The development console, instances that keep running, crashes and silent viewers."""

from __future__ import annotations

import pytest

from tests.live.conftest import LEVEL_SCHEMA, PYTHON_COUNTER, Server, output_of, viewer
from tests.live.test_live import wait_until

pytestmark = pytest.mark.anyio

CRASHER = """\
import sys, visualbox
visualbox.output({"alive": True})
print("about to fail", file=sys.stderr, flush=True)
sys.exit(3)
"""


async def test_the_owner_runs_a_working_copy_in_the_console(server: Server) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA, publish=None)
    client = await viewer(server, owner)
    try:
        await client.send({"type": "DEV_START", "module": module, "config": {"level": 4}})
        joined = await client.wait_for(lambda m: m["type"] == "JOINED")
        assert joined["room"] == f"dev:{module}" and joined["role"] == "owner"
        first = await client.wait_for(lambda m: output_of("dev")(m) and m["data"]["level"] == 4)
        states = [m["state"] for m in client.of("STATE")]
        assert states[:2] == ["preparing", "running"] or states[0] == "running"  # one start
        log = await client.wait_for(lambda m: m["type"] == "STATUS")
        assert "starting with level 4" in log["data"]
        # An edit of the working copy and a restart with other values run the new code.
        with owner.http() as http:
            edited = PYTHON_COUNTER.replace('"level":', '"edited": True, "level":')
            saved = http.put(f"/api/modules/{module}/files/main.py", content=edited.encode())
            assert saved.status_code in (200, 201), saved.text
        await client.send({"type": "DEV_RESTART", "module": module, "config": {"level": 5}})
        second = await client.wait_for(lambda m: output_of("dev", "edited")(m))
        assert second["data"]["level"] == 5 and second["data"]["nonce"] != first["data"]["nonce"]
        await client.send({"type": "DEV_STOP", "module": module})
        await client.wait_for(lambda m: m["type"] == "STATE" and m["state"] == "stopped")
        await wait_until(lambda: server.app.state.live.runner.active() == 0)
        # Bad test values name the field.
        await client.send({"type": "DEV_START", "module": module, "config": {"level": "x"}})
        bad = await client.wait_for(lambda m: m["type"] == "ERROR")
        assert bad["code"] == "invalid" and bad["fields"][0]["field"] == "config.level"
    finally:
        await client.close()


async def test_only_the_owner_may_run_a_working_copy(server: Server) -> None:
    owner = server.account()
    stranger = server.account("Stranger")
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    client = await viewer(server, stranger)
    anonymous = await viewer(server)
    try:
        await client.send({"type": "DEV_START", "module": module})
        assert (await client.wait_for(lambda m: m["type"] == "ERROR"))["code"] == "not_found"
        await anonymous.send({"type": "DEV_START", "module": module})
        assert (await anonymous.wait_for(lambda m: m["type"] == "ERROR"))["code"] == "forbidden"
        assert server.app.state.live.runner.active() == 0
    finally:
        await client.close()
        await anonymous.close()


async def test_keep_running_instances_run_without_viewers(server: Server) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = owner.dashboard(
        [{"id": "i1", "module_id": module, "label": "K", "config": {}, "keep_running": True}]
    )
    live = server.app.state.live
    # Saving it started it, with nobody watching; the idle timeout (1 s) does not stop it.
    await wait_until(lambda: _last_n(live, board["id"]) >= 10)
    assert live.runner.active() == 1
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        joined = await client.wait_for(lambda m: m["type"] == "JOINED")
        assert joined["instances"]["i1"]["state"] == "running"
        assert joined["instances"]["i1"]["data"]["n"] >= 10
        await client.send(
            {"type": "TERMINATE", "room": joined["room"], "instance": "i1"}
        )  # the owner may still stop it
        await client.wait_for(lambda m: m["type"] == "STATE" and m["state"] == "stopped")
        await wait_until(lambda: live.runner.active() == 0)
    finally:
        await client.close()


async def test_a_crashing_instance_restarts_with_back_off(server: Server) -> None:
    owner = server.account()
    board = owner.dashboard(
        [{"id": "i1", "module_id": owner.module("python", {"main.py": CRASHER}), "label": "X"}]
    )
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        crash = await client.wait_for(lambda m: m["type"] == "STATE" and m["state"] == "exited")
        assert crash["reason"] == "crashed" and crash["code"] == 3
        notice = await client.wait_for(
            lambda m: m["type"] == "STATUS" and "restarting" in m["data"]
        )
        assert "1 s" in notice["data"]
        index = client.messages.index(notice)
        await client.wait_for(
            lambda m: m["type"] == "STATE" and m["state"] == "running", after=index
        )
        second = await client.wait_for(
            lambda m: m["type"] == "STATUS" and "restarting" in m["data"], after=index + 1
        )
        assert "2 s" in second["data"]  # the wait doubles
    finally:
        await client.close()


async def test_a_viewer_that_stops_ticking_is_disconnected(server: Server) -> None:
    owner = server.account()
    board = owner.dashboard([])
    silent = await viewer(server, owner, tick=False)
    await silent.send({"type": "JOIN", "dashboard": board["id"]})
    await silent.wait_for(lambda m: m["type"] == "JOINED")
    await silent.closed.wait()
    assert silent.connection.close_code == 4000


def _last_n(live: object, dashboard_id: str) -> int:
    import json

    room = live.rooms.get(f"dashboard:{dashboard_id}")  # type: ignore[attr-defined]
    if room is None or room.instances["i1"].last_data is None:
        return -1
    n: int = json.loads(room.instances["i1"].last_data)["n"]
    return n


BAD_CONFIG = """\
import sys
print("config: url is not a URL", file=sys.stderr, flush=True)
sys.exit(78)
"""


async def test_an_instance_whose_config_cannot_work_is_not_restarted(server: Server) -> None:
    owner = server.account()
    board = owner.dashboard(
        [{"id": "i1", "module_id": owner.module("python", {"main.py": BAD_CONFIG}), "label": "X"}]
    )
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        ended = await client.wait_for(lambda m: m["type"] == "STATE" and m["state"] == "exited")
        assert (ended["reason"], ended["code"]) == ("config", 78)
        # the restart decision is made as the STATE is handled: none is pending
        instance = server.app.state.live.rooms[f"dashboard:{board['id']}"].instances["i1"]
        assert instance.restart_timer is None
        assert not [m for m in instance.logs if "restarting" in str(m)]
        assert any("url is not a URL" in str(m) for m in instance.logs)
    finally:
        await client.close()
