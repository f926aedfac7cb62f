"""Several server nodes on one PostgreSQL and one Redis: a dashboard's integration runs
exactly once whichever node its viewers are connected to, an owner's command reaches
the node that runs it, a node that dies loses its dashboards to another node with
viewers within 15 s, and messages of an older lease generation are dropped.

The nodes are ``visualbox serve`` processes as users run them (each its own data
folder, the same secrets key), killed with SIGKILL where a node dies."""

from __future__ import annotations

import signal
import subprocess
import threading
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
from visualbox.services.signing import new_key_text as registry_key
from visualbox.settings import LiveSettings

pytestmark = pytest.mark.anyio

LEASE_TTL_S = 6.0
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
        # Every node verifies what the others signed: one registry key for all.
        "VISUALBOX_SECURITY__REGISTRY_KEY": registry_key(),
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


def seed(tmp_path: Path, database_url: str) -> tuple[Account, dict[str, Any], str]:
    """An owner, a counter integration and its public dashboard (and its share token),
    written to the shared database."""
    server = Server(live_settings(tmp_path / "seed", database_url))
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    server.start()
    try:
        board = owner.dashboard([{"id": "i1", "module_id": module, "label": "C", "config": {}}])
        with owner.http() as http:
            shared = http.post(f"/api/dashboards/{board['id']}/sharing", json={"public": True})
            assert shared.status_code == 200, shared.text
    finally:
        server.stop()
    return owner, board, str(shared.json()["token"])


async def join(node: Node, owner: Account | None, board: dict[str, Any], token: str = "") -> Client:
    client = await viewer(node, owner)  # type: ignore[arg-type]
    await client.send(
        {"type": "JOIN", "share": token} if token else {"type": "JOIN", "dashboard": board["id"]}
    )
    await client.wait_for(lambda m: m["type"] == "JOINED")
    return client


def nonces(client: Client, after: int = 0) -> set[str]:
    return {m["data"]["nonce"] for m in client.messages[after:] if m["type"] == "OUTPUT"}


class Sandboxes:
    """Counts the integration's sandboxed processes of every node, cluster-wide, every
    20 ms in a thread: how many run now, and the most ever seen at once."""

    def __init__(self, nodes: list[Node]) -> None:
        self.folders = [str(node.data_dir / "sources") for node in nodes]
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def running(self) -> list[int]:
        """How many run on each node."""
        return [len(processes_mentioning(folder)) for folder in self.folders]

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            # One bubblewrap process tree per run: count runs by their sandbox's folder.
            self.most = max(self.most, sum(1 for n in self.running() if n))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


async def test_a_cluster_of_three_nodes_runs_each_integration_once(
    tmp_path: Path, postgres_databases: Any, redis_server: RedisServer
) -> None:
    database_url = postgres_databases.create()
    try:
        owner, board, token = seed(tmp_path, database_url)
        with cluster(tmp_path, database_url, redis_server, 3) as nodes:
            a, b, c = nodes
            sandboxes = Sandboxes(nodes)
            try:
                await _scenario(a, b, c, owner, board, token, sandboxes, redis_server)
            finally:
                sandboxes.close()
            assert sandboxes.most == 1, "two runs at once"
    finally:
        postgres_databases.drop(database_url)


async def _scenario(
    a: Node,
    b: Node,
    c: Node,
    owner: Account,
    board: dict[str, Any],
    token: str,
    sandboxes: Sandboxes,
    redis: RedisServer,
) -> None:
    # The first viewer's node (a) runs it; a viewer on b sees that run: its last value
    # when it joins, then its outputs, relayed through Redis; so does a public viewer
    # on c. One sandbox in the whole cluster.
    on_a = await join(a, owner, board)
    run = (await on_a.wait_for(output_of("i1")))["data"]["nonce"]
    on_b = await join(b, owner, board)
    assert on_b.of("JOINED")[0]["instances"]["i1"]["data"]["nonce"] == run
    public = await join(c, None, board, token)
    for client in (on_b, public):
        await client.wait_for(lambda m: output_of("i1")(m) and m["data"]["n"] >= 5)
    assert nonces(on_a) == nonces(on_b) == nonces(public) == {run}
    assert [bool(n) for n in sandboxes.running()] == [True, False, False]

    # The owner's RESTART on a node that does not run it restarts the one run; its log
    # line reaches the owners on every node, never the public viewer.
    room = f"dashboard:{board['id']}"
    await on_b.send({"type": "RESTART", "room": room, "instance": "i1"})
    fresh = await on_b.wait_for(lambda m: output_of("i1")(m) and m["data"]["nonce"] != run)
    second = fresh["data"]["nonce"]
    await public.wait_for(lambda m: output_of("i1")(m) and m["data"]["nonce"] == second)
    for owners in (on_a, on_b):
        await owners.wait_for(lambda m: m["type"] == "STATUS" and "starting" in m["data"])
    assert public.of("STATUS") == []
    assert not any(m.get("detail") for m in public.of("STATE"))

    # Redis restarts: live data resumes on the relaying nodes without restarting a node.
    redis.stop()
    redis.start()
    mark = len(on_b.messages), len(public.messages)
    await on_b.wait_for(output_of("i1"), after=mark[0])
    await public.wait_for(output_of("i1"), after=mark[1])

    # The running node dies: its viewer reconnects to a surviving node (as the web app
    # does behind a load balancer), and within 15 s a surviving node runs it again.
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(TIMEOUT)
    killed_at = time.monotonic()
    again = await join(c, owner, board)
    seen = {run, second}
    taken = await again.wait_for(
        lambda m: output_of("i1")(m) and m["data"]["nonce"] not in seen, timeout=TAKEOVER_S + 5
    )
    assert time.monotonic() - killed_at <= TAKEOVER_S, "taken over too late"
    third = taken["data"]["nonce"]
    for client in (on_b, public):
        await client.wait_for(lambda m: output_of("i1")(m) and m["data"]["nonce"] == third)
    await wait_until(lambda: not processes_mentioning(sandboxes.folders[0]))
    assert sum(1 for n in sandboxes.running() if n) == 1
    assert public.of("STATUS") == []
    for client in (on_b, public, again):
        await client.close()


async def test_several_workers_share_one_port_and_run_each_integration_once(
    tmp_path: Path, postgres_databases: Any, redis_server: RedisServer
) -> None:
    database_url = postgres_databases.create()
    try:
        owner, board, _ = seed(tmp_path, database_url)
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
            assert len(set().union(*(nonces(client) for client in clients))) == 1
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
    outbox.put = lambda room, envelope: received.append(envelope.message.data["by"])
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
