"""Several server nodes on one PostgreSQL and one Redis: a dashboard's integration runs
exactly once whichever node its viewers are connected to, an owner's command reaches
the node that runs it, a node that dies loses its dashboards to another node with
viewers within 15 s, and messages of an older lease generation are dropped.

The nodes are ``visualbox serve`` processes as users run them (each its own data
folder, the same secrets key), killed with SIGKILL where a node dies."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.fixtures.ports import free_port
from tests.fixtures.redis import RedisServer
from tests.fixtures.serve import listening, start_serve
from tests.live.conftest import (
    LEVEL_SCHEMA,
    PYTHON_COUNTER,
    TIMEOUT,
    Account,
    Client,
    Server,
    live_settings,
    output_of,
    viewer,
)
from tests.live.test_durability import processes_mentioning
from tests.live.test_live import wait_until
from visualbox.hub import Envelope
from visualbox.hub.outbox import Outbox
from visualbox.schemas.live import LiveOutput, RoomRole
from visualbox.services.live_cluster import Fence
from visualbox.services.live_rooms import Viewer
from visualbox.settings import LiveSettings

pytestmark = pytest.mark.anyio

LEASE_TTL_S = 4.0
TAKEOVER_S = 15.0


@dataclass
class Node:
    """A running ``visualbox serve`` as :func:`viewer` and :class:`Account` need it."""

    port: int
    settings: Any
    process: subprocess.Popen[bytes]
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/live"


@contextmanager
def cluster(
    tmp_path: Path, database_url: str, redis: RedisServer, count: int
) -> Iterator[list[Node]]:
    key = Fernet.generate_key().decode()
    env = {
        "VISUALBOX_DATABASE__URL": database_url,
        "VISUALBOX_HUB__URL": redis.url,
        "VISUALBOX_SECURITY__SECRETS_KEY": key,
        "VISUALBOX_LIVE__LEASE_TTL_S": str(LEASE_TTL_S),
        "VISUALBOX_LIVE__IDLE_TIMEOUT_S": "10",
    }
    nodes: list[Node] = []
    try:
        for n in range(count):
            port = free_port()
            data_dir = tmp_path / f"node{n}"
            process, _, _ = start_serve(data_dir, port, env=env)
            settings = live_settings(tmp_path, database_url, idle_timeout_s=10)
            nodes.append(Node(port, settings, process, data_dir))
        for node in nodes:
            deadline = time.monotonic() + TIMEOUT
            while not listening(node.port):
                assert node.process.poll() is None, "a node stopped"
                assert time.monotonic() < deadline
                time.sleep(0.05)  # polling a condition, with a deadline
        yield nodes
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in nodes:
            try:
                node.process.wait(30)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()


def seed(tmp_path: Path, database_url: str) -> tuple[Account, dict[str, Any]]:
    """An owner, a counter integration and its dashboard, written to the shared database."""
    server = Server(live_settings(tmp_path / "seed", database_url))
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    server.start()
    try:
        board = owner.dashboard([{"id": "i1", "module_id": module, "label": "C", "config": {}}])
    finally:
        server.stop()
    return owner, board


async def join(node: Node, owner: Account, board: dict[str, Any]) -> Client:
    client = await viewer(node, owner)  # type: ignore[arg-type]
    await client.send({"type": "JOIN", "dashboard": board["id"]})
    await client.wait_for(lambda m: m["type"] == "JOINED")
    return client


def nonces(client: Client) -> list[str]:
    return [m["data"]["nonce"] for m in client.of("OUTPUT") if "nonce" in m["data"]]


async def test_one_run_for_viewers_on_every_node_commands_reach_it_and_a_dead_node_is_replaced(
    tmp_path: Path, postgres_databases: Any, redis_server: RedisServer
) -> None:
    database_url = postgres_databases.create()
    try:
        owner, board = seed(tmp_path, database_url)
        with cluster(tmp_path, database_url, redis_server, 2) as (first, second):
            here = await join(first, owner, board)
            run = (await here.wait_for(output_of("i1")))["data"]["nonce"]
            # A viewer on the other node sees the same run: its last value when it joins,
            # then its outputs, relayed through Redis.
            there = await viewer(second, owner)  # type: ignore[arg-type]
            await there.send({"type": "JOIN", "dashboard": board["id"]})
            joined = await there.wait_for(lambda m: m["type"] == "JOINED")
            assert joined["instances"]["i1"]["data"]["nonce"] == run
            await there.wait_for(lambda m: output_of("i1")(m) and m["data"]["n"] >= 5)
            assert set(nonces(there)) == {run} and set(nonces(here)) == {run}
            assert processes_mentioning(str(first.data_dir / "sources"))
            assert not processes_mentioning(str(second.data_dir / "sources"))

            # The owner's RESTART on the node that does not run it restarts the one run.
            room = f"dashboard:{board['id']}"
            await there.send({"type": "RESTART", "room": room, "instance": "i1"})
            fresh = await there.wait_for(lambda m: output_of("i1")(m) and m["data"]["nonce"] != run)
            second_run = fresh["data"]["nonce"]
            await here.wait_for(lambda m: output_of("i1")(m) and m["data"]["nonce"] == second_run)
            assert not processes_mentioning(str(second.data_dir / "sources"))

            # The node that runs it dies: the other node takes it over within 15 s.
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(TIMEOUT)
            killed_at = time.monotonic()
            taken = await there.wait_for(
                lambda m: output_of("i1")(m) and m["data"]["nonce"] not in (run, second_run),
                timeout=TAKEOVER_S + 5,
            )
            assert time.monotonic() - killed_at <= TAKEOVER_S, "took over too late"
            assert taken["data"]["n"] == 0  # a new run, on the surviving node
            assert processes_mentioning(str(second.data_dir / "sources"))
            await wait_until(lambda: not processes_mentioning(str(first.data_dir / "sources")))
            await there.close()
    finally:
        postgres_databases.drop(database_url)


async def test_several_workers_share_one_port_and_run_each_integration_once(
    tmp_path: Path, postgres_databases: Any, redis_server: RedisServer
) -> None:
    database_url = postgres_databases.create()
    try:
        owner, board = seed(tmp_path, database_url)
        port = free_port()
        env = {
            "VISUALBOX_DATABASE__URL": database_url,
            "VISUALBOX_HUB__URL": redis_server.url,
            "VISUALBOX_SECURITY__SECRETS_KEY": Fernet.generate_key().decode(),
        }
        process, _, printed = start_serve(tmp_path / "data", port, env=env, args=("--workers", "2"))
        try:
            await wait_until(lambda: listening(port))
            assert any("2 workers share the ports" in line for line in printed)
            node = Node(port, live_settings(tmp_path, database_url), process, tmp_path / "data")
            # The kernel hands each connection to one of the workers; whichever it is,
            # every viewer sees the same single run.
            clients = [await join(node, owner, board) for _ in range(6)]
            for client in clients:
                await client.wait_for(lambda m: output_of("i1")(m) and m["data"]["n"] >= 3)
            assert len({nonce for client in clients for nonce in nonces(client)}) == 1
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            assert len(children) == 2, children
            for client in clients:
                await client.close()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(TIMEOUT)
        await wait_until(lambda: not processes_mentioning(str(tmp_path / "data" / "sources")))
    finally:
        postgres_databases.drop(database_url)


async def test_messages_of_an_older_lease_generation_are_dropped() -> None:
    """A node that lost the lease but still runs cannot publish over the new holder."""
    received: list[str] = []
    outbox = Outbox(LiveSettings().viewer_queue)
    outbox.put = lambda room, envelope: received.append(envelope.message.data["by"])  # type: ignore[method-assign]
    fence = Fence()
    deliver = Viewer(None, outbox, lambda: None).deliver_for("dashboard:d", RoomRole.VIEWER, fence)

    def output(by: str, generation: int) -> Envelope:
        message = LiveOutput(room="dashboard:d", instance="i1", at="now", data={"by": by})
        return Envelope(message, generation=generation)

    deliver(output("old holder", 3))
    deliver(output("new holder", 4))
    deliver(output("old holder, late", 3))
    deliver(output("new holder", 4))
    deliver(output("not leased", 0))
    assert received == ["old holder", "new holder", "new holder", "not leased"]
