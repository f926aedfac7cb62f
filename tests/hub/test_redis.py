"""The Redis hub across nodes: two hubs on one real redis-server, as two server nodes.

The contract itself (one hub) is ``test_contract.py``; here is what only several
processes sharing Redis can show, and what happens when Redis goes away.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from tests.fixtures.ports import free_port
from tests.fixtures.redis import RedisServer
from tests.hub.test_contract import note, output, said, state, texts, until
from visualbox.app import create_app
from visualbox.hub import Envelope, HubUnavailable, MemoryHub, RedisHub
from visualbox.hub.redis import check_redis, safe_url
from visualbox.schemas.live import InstanceState, LiveDashboard, LiveState
from visualbox.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[tuple[RedisHub, RedisHub]]:
    a, b = RedisHub(redis_server.url), RedisHub(redis_server.url)
    yield a, b
    await a.close()
    await b.close()


def subscribers(server: RedisServer, room: str) -> int:
    """How many connections Redis has subscribed to the room's channel."""
    client = redis.Redis.from_url(server.url)
    try:
        counts = dict(client.pubsub_numsub(f"visualbox:room:{room}"))
        return int(counts[f"visualbox:room:{room}".encode()])
    finally:
        client.close()


async def test_a_subscriber_on_one_node_gets_what_another_publishes_in_order(
    nodes: tuple[RedisHub, RedisHub],
) -> None:
    a, b = nodes
    got: list[str] = []
    await a.subscribe("dashboard:1", lambda e: got.append(said(e)))
    for n in range(1000):
        b.publish("dashboard:1", note(str(n)))
    await until(lambda: len(got) >= 1000)
    assert got == [str(n) for n in range(1000)]


async def test_audience_flags_generation_and_text_survive_the_trip(
    nodes: tuple[RedisHub, RedisHub],
) -> None:
    a, b = nodes
    seen: list[Envelope] = []
    await a.subscribe("r", seen.append)
    sent = [
        Envelope(note("a log line").message, owner_only=True),
        state("i1", InstanceState.EXITED, viewers_only=True),
        state("i1", InstanceState.EXITED, "Traceback: boom", owner_only=True),
        output("i1", {"é": [1.5, None]}),
        Envelope(LiveDashboard(room="r", revision=3), generation=12),
    ]
    for envelope in sent:
        b.publish("r", envelope)
    await until(lambda: len(seen) == len(sent))
    assert [(e.text, e.owner_only, e.viewers_only, e.key, e.generation) for e in seen] == [
        (e.text, e.owner_only, e.viewers_only, e.key, e.generation) for e in sent
    ]
    owner = seen[2].message
    assert isinstance(owner, LiveState) and owner.detail == "Traceback: boom"


async def test_retained_values_are_visible_from_every_node(
    nodes: tuple[RedisHub, RedisHub],
) -> None:
    a, b = nodes
    b.publish("r", output("i1", 41), retain=True)
    b.publish("r", output("i1", 42), retain=True)
    b.publish("r", state("i1", InstanceState.EXITED, viewers_only=True), retain=True)
    b.publish("r", state("i1", InstanceState.EXITED, "why", owner_only=True), retain=True)
    assert len(await b.retained("r")) == 3  # B's own writes are there at once
    kept = await a.retained("r")
    assert texts(kept) == texts(
        [
            output("i1", 42),
            state("i1", InstanceState.EXITED, viewers_only=True),
            state("i1", InstanceState.EXITED, "why", owner_only=True),
        ]
    )
    assert sorted((e.owner_only, e.viewers_only) for e in kept) == [
        (False, False),
        (False, True),
        (True, False),
    ]
    b.forget("r")
    assert await b.retained("r") == [] and await a.retained("r") == []


async def test_a_node_subscribes_once_per_room_and_leaves_with_its_last_subscriber(
    redis_server: RedisServer, nodes: tuple[RedisHub, RedisHub]
) -> None:
    a, b = nodes
    first = await a.subscribe("r", lambda _e: None)
    second = await a.subscribe("r", lambda _e: None)
    assert subscribers(redis_server, "r") == 1
    await b.subscribe("r", lambda _e: None)
    assert subscribers(redis_server, "r") == 2
    await first.close()
    assert subscribers(redis_server, "r") == 2
    await second.close()
    await until(lambda: subscribers(redis_server, "r") == 1)


async def test_a_unix_socket_node_and_a_tcp_node_share_rooms(redis_server: RedisServer) -> None:
    local, remote = RedisHub(redis_server.unix_url), RedisHub(redis_server.url)
    try:
        got: list[str] = []
        await local.subscribe("r", lambda e: got.append(said(e)))
        remote.publish("r", note("over tcp"))
        await until(lambda: got == ["over tcp"])
    finally:
        await local.close()
        await remote.close()


async def test_a_message_it_cannot_read_is_skipped_with_a_warning(
    redis_server: RedisServer,
    nodes: tuple[RedisHub, RedisHub],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = nodes
    got: list[str] = []
    await a.subscribe("r", lambda e: got.append(said(e)))
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.publish("visualbox:room:r", b'000;{"type":"NOT_A_MESSAGE"}')
        client.publish("visualbox:room:r", b"no head")
    finally:
        client.close()
    b.publish("r", note("fine"))
    await until(lambda: got == ["fine"])
    assert "ignoring a message in r it cannot read" in caplog.text


async def test_a_command_redis_refuses_does_not_stop_the_hub(
    redis_server: RedisServer,
    nodes: tuple[RedisHub, RedisHub],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = nodes
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.set("visualbox:retained:r", "not a hash")  # HSET on it: WRONGTYPE
    finally:
        client.close()
    got: list[str] = []
    await a.subscribe("r", lambda e: got.append(e.text))
    b.publish("r", output("i1", 1), retain=True)
    b.publish("r", note("next"))
    await until(lambda: got == [output("i1", 1).text, note("next").text])
    await until(lambda: "Redis refused 2 commands" in caplog.text)  # (after the deliveries)
    assert "WRONGTYPE" in caplog.text


async def test_rooms_resume_after_redis_restarts(
    redis_server: RedisServer,
    nodes: tuple[RedisHub, RedisHub],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="visualbox.hub.redis")
    a, b = nodes
    got: list[str] = []
    await a.subscribe("r", lambda e: got.append(e.text))
    b.publish("r", note("before"))
    await until(lambda: got == [note("before").text])

    redis_server.stop()
    await until(lambda: "lost the connection to Redis" in caplog.text)
    b.publish("r", output("i1", "while away"), retain=True)  # queued until Redis is back
    redis_server.start()

    await until(lambda: subscribers(redis_server, "r") == 1)  # A subscribed again by itself
    b.publish("r", note("after"))
    await until(lambda: note("after").text in got)
    assert got[0] == note("before").text and got[-1] == note("after").text
    assert [e.text for e in await a.retained("r")] == [output("i1", "while away").text]
    assert "reconnected to Redis" in caplog.text
    lines = [r.getMessage() for r in caplog.records if r.name == "visualbox.hub.redis"]
    assert len(lines) == 4  # each node: lost, then reconnected
    assert all(redis_server.url.split("//")[1] in line for line in lines), lines


async def test_a_publisher_that_outruns_redis_drops_new_messages_and_says_so(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = RedisHub(redis_server.url), RedisHub(redis_server.url, queue_limit=10)
    try:
        got: list[str] = []
        await a.subscribe("r", lambda e: got.append(said(e)))
        for n in range(50):  # without yielding: nothing can be sent meanwhile
            b.publish("r", note(str(n)))
        b.publish("r", note("later"))
        await until(lambda: "41 messages were dropped" in caplog.text)  # the queue is empty
        b.publish("r", note("later"))
        await until(lambda: len(got) == 11)
        assert got == [*(str(n) for n in range(10)), "later"]
        assert "10 messages wait for Redis" in caplog.text
    finally:
        await a.close()
        await b.close()


def test_an_unreachable_redis_is_a_clear_error_at_start(tmp_path: Path) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # loopback, nothing listening
    with pytest.raises(HubUnavailable) as caught:
        check_redis(nobody, timeout=2)
    assert "cannot reach Redis at" in str(caught.value)
    assert "VISUALBOX_HUB__URL" in str(caught.value)
    assert [f.field for f in caught.value.fields] == ["VISUALBOX_HUB__URL"]
    settings = Settings(data_dir=tmp_path, hub={"url": nobody})  # type: ignore[arg-type]
    with pytest.raises(HubUnavailable, match="cannot reach Redis"):
        create_app(settings)


def test_the_app_uses_the_redis_hub_given_a_url(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, hub={"url": redis_server.url})  # type: ignore[arg-type]
    app = create_app(settings)
    assert isinstance(app.state.live.hub, RedisHub) and RedisHub.shared and not MemoryHub.shared
    with TestClient(app) as client:  # starts and stops the live service
        assert client.get("/api/health").status_code == 200
    assert isinstance(create_app(Settings(data_dir=tmp_path)).state.live.hub, MemoryHub)


def test_the_password_never_reaches_messages() -> None:
    assert safe_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert safe_url("redis://ann:s3cret@127.0.0.1/0") == "redis://ann:***@127.0.0.1/0"
    assert safe_url("unix:///run/redis.sock") == "unix:///run/redis.sock"
    with pytest.raises(HubUnavailable) as caught:
        check_redis(f"redis://:s3cret@127.0.0.1:{free_port()}/0", timeout=2)
    assert "s3cret" not in str(caught.value)


def test_the_setting_takes_only_redis_urls(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).hub.url is None
    url = "unix:///run/redis/redis.sock"
    assert Settings(data_dir=tmp_path, hub={"url": url}).hub.url == url  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="redis://, rediss:// or unix://"):
        Settings(data_dir=tmp_path, hub={"url": "http://127.0.0.1:6379"})  # type: ignore[arg-type]
