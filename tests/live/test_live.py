"""Live dashboards end to end: a real server, real WebSockets, real sandboxed integrations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from websockets.exceptions import InvalidStatus

from tests.live.conftest import (
    LEVEL_SCHEMA,
    PYTHON_COUNTER,
    TIMEOUT,
    Client,
    Server,
    output_of,
    viewer,
)

SECRET_SCHEMA: list[dict[str, Any]] = [
    *LEVEL_SCHEMA,
    {"type": "password", "name": "api_key", "label": "API key"},
]

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


async def test_the_idle_timeout_stops_the_instance_and_a_new_viewer_starts_it(
    server: Server,
) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = owner.dashboard([{"id": "i1", "module_id": module, "label": "C", "config": {}}])
    live = server.app.state.live
    first = await viewer(server, owner)
    await first.send({"type": "JOIN", "dashboard": board["id"]})
    before = await first.wait_for(output_of("i1"))
    watcher = await viewer(server, owner)  # joins, sees the stop, then leaves too
    await watcher.send({"type": "JOIN", "dashboard": board["id"]})
    await watcher.wait_for(lambda m: m["type"] == "JOINED")
    await watcher.send({"type": "LEAVE", "room": f"dashboard:{board['id']}"})
    await first.close()
    # Nobody watches: within the idle timeout (1 s here) the process is gone.
    await wait_until(lambda: live.runner.active() == 0)
    again = await viewer(server, owner)
    try:
        await again.send({"type": "JOIN", "dashboard": board["id"]})
        joined = await again.wait_for(lambda m: m["type"] == "JOINED")
        assert joined["instances"]["i1"]["state"] == "stopped"
        assert joined["instances"]["i1"]["data"]["nonce"] == before["data"]["nonce"]  # kept
        after = await again.wait_for(output_of("i1"))
        assert after["data"]["nonce"] != before["data"]["nonce"]  # a new process
    finally:
        await again.close()
        await watcher.close()


async def test_a_config_change_restarts_the_instance_with_the_new_values(server: Server) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = owner.dashboard(
        [{"id": "i1", "module_id": module, "label": "C", "config": {"level": 1}}]
    )
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        first = await client.wait_for(lambda m: output_of("i1")(m) and m["data"]["level"] == 1)
        with owner.http() as http:
            response = http.patch(
                f"/api/dashboards/{board['id']}/integrations/i1",
                json={"revision": board["revision"], "config": {"level": 7}},
            )
            assert response.status_code == 200, response.text
        told = await client.wait_for(lambda m: m["type"] == "DASHBOARD")
        assert told["revision"] == board["revision"] + 1
        changed = await client.wait_for(lambda m: output_of("i1")(m) and m["data"]["level"] == 7)
        assert changed["data"]["nonce"] != first["data"]["nonce"]
        assert server.app.state.live.runner.active() == 1
    finally:
        await client.close()


async def test_a_public_viewer_sees_data_but_no_logs_and_no_config(server: Server) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=SECRET_SCHEMA)
    board = owner.dashboard(
        [
            {
                "id": "i1",
                "module_id": module,
                "label": "C",
                "config": {"level": 2, "api_key": "pw-0f3c-never-shown"},
            }
        ]
    )
    with owner.http() as http:
        sharing = http.post(f"/api/dashboards/{board['id']}/sharing", json={"public": True})
        assert sharing.status_code == 200, sharing.text
        token = sharing.json()["token"]
    owner_client = await viewer(server, owner)
    public = await viewer(server)  # no credentials at all
    try:
        await owner_client.send({"type": "JOIN", "dashboard": board["id"]})
        await owner_client.wait_for(lambda m: m["type"] == "STATUS" and "starting" in m["data"])
        await public.send({"type": "JOIN", "share": token})
        joined = await public.wait_for(lambda m: m["type"] == "JOINED")
        assert joined["role"] == "viewer" and joined["logs"] == []
        await public.wait_for(output_of("i1"))
        view = httpx2.get(f"{server.url}/api/public/dashboards/{token}", timeout=TIMEOUT)
        assert view.status_code == 200 and view.json()["data"]["i1"]["level"] == 2
        assert "pw-0f3c-never-shown" not in view.text and "api_key" not in view.text
        await public.send({"type": "RESTART", "room": joined["room"], "instance": "i1"})
        refused = await public.wait_for(lambda m: m["type"] == "ERROR")
        assert refused["code"] == "forbidden"
        # Owner-only things never reached the public viewer.
        seen = "\n".join(str(m) for m in public.messages)
        assert not public.of("STATUS")
        assert "pw-0f3c-never-shown" not in seen and "api_key" not in seen
        assert "starting with level" not in seen
        # Disabling the link drops the viewer from the room.
        with owner.http() as http:
            http.post(f"/api/dashboards/{board['id']}/sharing", json={"public": False})
        await public.wait_for(lambda m: m["type"] == "ERROR" and "disabled" in m["message"])
        count = len(public.messages)
        await owner_client.wait_for(output_of("i1"), after=len(owner_client.messages))
        assert not [m for m in public.messages[count:] if m["type"] == "OUTPUT"]
    finally:
        await public.close()
        await owner_client.close()


async def test_strangers_cannot_join_or_command_and_bad_messages_name_the_field(
    server: Server,
) -> None:
    owner = server.account()
    stranger = server.account("Stranger")
    board = owner.dashboard([])
    client = await viewer(server, stranger)
    anonymous = await viewer(server)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        error = await client.wait_for(lambda m: m["type"] == "ERROR")
        assert error["code"] == "not_found" and error["request"] == "JOIN"
        await anonymous.send({"type": "JOIN", "dashboard": board["id"]})
        assert (await anonymous.wait_for(lambda m: m["type"] == "ERROR"))["code"] == "not_found"
        restart = {"type": "RESTART", "room": f"dashboard:{board['id']}", "instance": "x"}
        assert (await error_answering(client, restart))["code"] == "not_found"
        bad = await error_answering(client, {"type": "JOIN"})
        assert bad["code"] == "invalid" and bad["fields"]
        bad = await error_answering(client, {"type": "RESTART", "room": "nope", "instance": "i1"})
        assert [f["field"] for f in bad["fields"]] == ["room"]
        bad = await error_answering(client, "not json")
        assert bad["code"] == "invalid"
        await client.send({"type": "TICK"})
        await client.wait_for(lambda m: m["type"] == "TICK")
    finally:
        await client.close()
        await anonymous.close()


async def error_answering(client: Client, message: dict[str, Any] | str) -> dict[str, Any]:
    """The ERROR answering ``message`` (the client's TICK answers may come between)."""
    errors = len(client.of("ERROR"))
    if isinstance(message, str):
        await client.connection.send(message)
    else:
        await client.send(message)
    await client.wait_for(lambda m: m["type"] == "ERROR" and len(client.of("ERROR")) > errors)
    return client.of("ERROR")[errors]


async def test_another_sites_page_cannot_use_the_session(server: Server) -> None:
    owner = server.account()
    with pytest.raises(InvalidStatus) as refused:
        await viewer(server, owner, origin="http://evil.example.test")
    assert refused.value.response.status_code == 403


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.05)  # polling a condition, with a deadline

    await asyncio.wait_for(poll(), timeout)


async def test_a_revoked_token_ends_the_connection_at_its_next_command(server: Server) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = owner.dashboard([{"id": "i1", "module_id": module, "label": "C", "config": {}}])
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        joined = await client.wait_for(lambda m: m["type"] == "JOINED")
        await client.wait_for(output_of("i1"))
        with owner.http() as http:
            (token,) = http.get("/api/account/tokens").json()
            assert http.delete(f"/api/account/tokens/{token['id']}").status_code == 204
        await client.send({"type": "RESTART", "room": joined["room"], "instance": "i1"})
        await client.closed.wait()
        assert client.connection.close_code == 1008
    finally:
        await client.close()


async def test_a_public_viewer_sees_a_states_reason_but_not_its_detail(server: Server) -> None:
    """Error text from the sandbox or the server (tool messages, host paths) is for the
    owner; everyone else sees the state and its reason in generic words."""
    owner = server.account()
    module = owner.module("python", {"main.py": "import sys\nsys.exit(3)\n"})
    board = owner.dashboard([{"id": "i1", "module_id": module, "label": "C", "config": {}}])
    with owner.http() as http:
        token = http.post(f"/api/dashboards/{board['id']}/sharing", json={"public": True}).json()[
            "token"
        ]
    owner_client = await viewer(server, owner)
    public = await viewer(server)
    try:
        await owner_client.send({"type": "JOIN", "dashboard": board["id"]})
        await public.send({"type": "JOIN", "share": token})

        def crashed(message: dict[str, Any]) -> bool:
            return message["type"] == "STATE" and message["reason"] == "crashed"

        seen_by_owner = await owner_client.wait_for(crashed)
        seen_by_public = await public.wait_for(crashed)
        assert seen_by_owner["detail"] == "exit status 3"
        assert seen_by_public["detail"] == ""
        assert len([m for m in owner_client.messages if crashed(m)]) >= 1
        await public.close()
        public = await viewer(server)
        await public.send({"type": "JOIN", "share": token})
        joined = await public.wait_for(lambda m: m["type"] == "JOINED")
        assert joined["instances"]["i1"]["detail"] == ""
        assert "exit status" not in "\n".join(str(m) for m in public.messages)
    finally:
        await public.close()
        await owner_client.close()
