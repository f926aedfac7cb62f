"""History end to end: a real server records a real sandboxed integration; after a
restart the history is there (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.live.conftest import LEVEL_SCHEMA, PYTHON_COUNTER, Server, live_settings, viewer
from visualbox.db.tables.accounts import User
from visualbox.services import modules, registry

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None  # the data dir's own SQLite file
        return
    factory = request.getfixturevalue("postgres_databases")
    url = factory.create()
    yield url
    factory.drop(url)


def widget_module(server: Server, owner_id: str) -> str:
    with server.app.state.db.session() as db:
        module = modules.create_module(
            db, db.get(User, owner_id), name="Shows", kind="widget", runtime=None
        )
        registry.publish(db, module, "1.0.0")
        module_id: str = module.id
        return module_id


async def test_a_sandboxed_integration_is_recorded_and_its_history_survives_a_restart(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = live_settings(tmp_path, database_url, idle_timeout_s=5)
    server = Server(settings).start()
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    widget = widget_module(server, owner.id)
    board = owner.dashboard(
        [{"id": "i1", "module_id": module, "label": "C", "config": {"every": 0.05}}],
        widgets=[{"id": "w1", "module_id": widget, "version": "1.0.0", "source": "/i1/n"}],
    )
    client = await viewer(server, owner)
    await client.send({"type": "JOIN", "dashboard": board["id"]})
    await client.wait_for(lambda m: m["type"] == "OUTPUT" and m["data"]["n"] >= 5)
    server.stop()  # closing the live service flushes what the recorder holds
    await client.closed.wait()
    relayed = [m["data"]["n"] for m in client.of("OUTPUT")]

    again = Server(live_settings(tmp_path, database_url)).start()
    try:
        with httpx2.Client(base_url=again.url, headers=owner.headers, timeout=60) as http:
            params = {"instance": "i1", "pointer": "/n"}
            answer = http.get(f"/api/dashboards/{board['id']}/history", params=params)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            recorded = [value for _t, value in body["points"]]
            # Every output was recorded, in order: those relayed and any sent while stopping.
            assert recorded == list(range(len(recorded)))
            assert recorded[: len(relayed)] == relayed
            times = [t for t, _value in body["points"]]
            assert times == sorted(times) and body["last"][1] == recorded[-1]
            # Only the bound pointer is a series; the whole output is not recorded.
            whole = http.get(f"/api/dashboards/{board['id']}/history", params={"instance": "i1"})
            assert whole.json()["points"] == []
    finally:
        again.stop()
