"""Restarts and shutdown: last values survive, no process outlives the server."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.ports import free_port
from tests.fixtures.serve import listening, start_serve
from tests.live.conftest import (
    LEVEL_SCHEMA,
    PYTHON_COUNTER,
    TIMEOUT,
    Server,
    live_settings,
    output_of,
    viewer,
)
from tests.live.test_live import wait_until

pytestmark = pytest.mark.anyio


def processes_mentioning(text: str) -> list[int]:
    """Host processes whose command line mentions ``text`` (our data dir, for example)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # it ended while we looked
    return found


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None  # the data dir's own SQLite file
        return
    factory = request.getfixturevalue("postgres_databases")
    url = factory.create()
    yield url
    factory.drop(url)


async def test_values_survive_a_restart_and_no_process_outlives_the_server(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = live_settings(tmp_path, database_url, idle_timeout_s=5, flush_interval_s=0.1)
    server = Server(settings).start()
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = owner.dashboard([{"id": "i1", "module_id": module, "label": "C", "config": {}}])
    client = await viewer(server, owner)
    await client.send({"type": "JOIN", "dashboard": board["id"]})
    seen = await client.wait_for(lambda m: output_of("i1")(m) and m["data"]["n"] >= 3)
    assert processes_mentioning(str(tmp_path))  # the sandboxed process runs
    server.stop()  # viewers still connected: the shutdown stops the integration anyway
    await client.closed.wait()
    assert processes_mentioning(str(tmp_path)) == []

    again = Server(live_settings(tmp_path, database_url, idle_timeout_s=5)).start()
    try:
        client = await viewer(again, owner)
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        joined = await client.wait_for(lambda m: m["type"] == "JOINED")
        last = joined["instances"]["i1"]["data"]
        assert last["nonce"] == seen["data"]["nonce"] and last["n"] >= seen["data"]["n"]
        resumed = await client.wait_for(output_of("i1"))  # and it runs again
        assert resumed["data"]["nonce"] != last["nonce"]
        await client.close()
    finally:
        again.stop()
    assert processes_mentioning(str(tmp_path)) == []


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
async def test_no_integration_outlives_a_stopped_or_killed_server_process(
    tmp_path: Path, how: signal.Signals
) -> None:
    """``visualbox serve`` as users run it; stopped politely or killed outright."""
    seed = Server(live_settings(tmp_path))  # creates the database and an account
    owner = seed.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board_body = {"id": "i1", "module_id": module, "label": "C", "config": {}}
    seed.app.state.db.dispose()
    port = free_port()
    process, _, _ = start_serve(tmp_path / "data", port)
    try:
        served = Server.__new__(Server)
        served.port, served.settings = port, live_settings(tmp_path)
        owner.server = served
        await wait_until(lambda: listening(port))
        board = owner.dashboard([board_body])
        client = await viewer(served, owner)
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        await client.wait_for(output_of("i1"))
        assert processes_mentioning(str(tmp_path / "data" / "sources"))
        process.send_signal(how)
        assert process.wait(TIMEOUT) is not None
        await client.closed.wait()
        await wait_until(lambda: not processes_mentioning(str(tmp_path / "data" / "sources")))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
