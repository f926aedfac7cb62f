"""A withdrawn module or version stops where it runs and says why (issue 11).

A real server, real WebSockets and a real sandboxed integration: user B runs
user A's published integration on B's own dashboard, then A withdraws it.
"""

from __future__ import annotations

import pytest

from tests.live.conftest import LEVEL_SCHEMA, PYTHON_COUNTER, Server, output_of, viewer
from tests.live.test_live import wait_until

pytestmark = pytest.mark.anyio

REASON = "An API key was published by mistake."


def _stopped_with(reason: str, detail: str) -> object:
    return lambda m: (
        m["type"] == "STATE"
        and m["instance"] == "i1"
        and m["state"] == "exited"
        and m["reason"] == reason
        and detail in m["detail"]
    )


@pytest.mark.parametrize("how", ["withdraw the version", "delete the module"])
async def test_a_withdrawn_integration_stops_and_says_why(server: Server, how: str) -> None:
    ada, bob = server.account("Ada"), server.account("Bob")
    module = ada.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = bob.dashboard([{"id": "i1", "module_id": module, "label": "C", "version": "1.0.0"}])
    live = server.app.state.live
    client = await viewer(server, bob)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        await client.wait_for(output_of("i1"))
        assert live.runner.active() == 1
        with ada.http() as http:
            if how == "withdraw the version":
                url = f"/api/registry/modules/{module}/versions/1.0.0/withdraw"
                body = {"reason": REASON, "confirm": True}
                assert http.post(url, json=body).status_code == 200
                why = f"withdrawn by its author: {REASON}"
            else:
                deleted = http.delete(f"/api/modules/{module}", params={"confirm": "true"})
                assert deleted.status_code == 204, deleted.text
                why = "was withdrawn: its author deleted it."
        told = await client.wait_for(_stopped_with("unavailable", why))  # type: ignore[arg-type]
        assert told["state"] == "exited"
        await wait_until(lambda: live.runner.active() == 0)
        # It does not start again for a new viewer either, and the state says why.
        again = await viewer(server, bob)
        try:
            await again.send({"type": "JOIN", "dashboard": board["id"]})
            joined = await again.wait_for(lambda m: m["type"] == "JOINED")
            state = joined["instances"]["i1"]
            assert state["state"] == "exited" and why in state["detail"]
            assert why in state["problem"]
        finally:
            await again.close()
        assert live.runner.active() == 0
    finally:
        await client.close()
