"""The hub contract: every implementation passes this module (add new ones to HUBS).

Deliveries may be asynchronous (the Redis hub's are), so a test waits for what it
expects with :func:`until`; to show that something did *not* arrive, it publishes a
marker after it and waits for the marker (order is kept per room).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import JsonValue

from tests.fixtures.redis import RedisServer
from visualbox.hub import Envelope, Hub, HubUnavailable, MemoryHub, RedisHub, Subscription
from visualbox.schemas.live import (
    InstanceState,
    LiveDashboard,
    LiveOutput,
    LiveState,
    LiveStatus,
    StatusLevel,
)

pytestmark = pytest.mark.anyio


def _redis(request: pytest.FixtureRequest) -> Hub:
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisHub(server.url, prefix="contract:")


HUBS: dict[str, Callable[[pytest.FixtureRequest], Hub]] = {
    "memory": lambda _request: MemoryHub(),
    "redis": _redis,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=sorted(HUBS))
async def hub(request: pytest.FixtureRequest) -> AsyncIterator[Hub]:
    made = HUBS[request.param](request)
    yield made
    await made.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for deliveries"
        await asyncio.sleep(0.002)


def note(text: str) -> Envelope:
    """A declared message whose JSON text contains ``text``."""
    return Envelope(LiveStatus(room="r", instance="i1", status=StatusLevel.INFO, data=text))


def said(envelope: Envelope) -> str:
    message = envelope.message
    assert isinstance(message, LiveStatus)
    return message.data


async def delivered(hub: Hub, room: str) -> tuple[list[str], Subscription]:
    got: list[str] = []
    subscription = await hub.subscribe(room, lambda e: got.append(said(e)))
    return got, subscription


def output(instance: str, data: JsonValue) -> Envelope:
    return Envelope(LiveOutput(room="r", instance=instance, at="now", data=data))


def state(instance: str, value: InstanceState, detail: str = "", **flags: bool) -> Envelope:
    message = LiveState(room="r", instance=instance, state=value, detail=detail)
    return Envelope(message, **flags)


def texts(envelopes: list[Envelope]) -> list[str]:
    return sorted(e.text for e in envelopes)


async def test_every_subscriber_gets_every_envelope_in_order(hub: Hub) -> None:
    a, _ = await delivered(hub, "dashboard:1")
    b, _ = await delivered(hub, "dashboard:1")
    for n in range(100):
        hub.publish("dashboard:1", note(str(n)))
    expected = [str(n) for n in range(100)]
    await until(lambda: len(a) >= 100 and len(b) >= 100)
    assert a == b == expected


async def test_rooms_are_isolated(hub: Hub) -> None:
    one, _ = await delivered(hub, "dashboard:1")
    two, _ = await delivered(hub, "dashboard:2")
    hub.publish("dashboard:1", note("for one"))
    hub.publish("dashboard:3", note("for nobody"))
    hub.publish("dashboard:2", note("marker"))
    await until(lambda: one == ["for one"] and two == ["marker"])
    hub.publish("dashboard:1", note("marker"))
    await until(lambda: len(one) == 2)
    assert one == ["for one", "marker"] and two == ["marker"]


async def test_closing_a_subscription_stops_deliveries_and_is_idempotent(hub: Hub) -> None:
    got, subscription = await delivered(hub, "r")
    kept, _ = await delivered(hub, "r")
    hub.publish("r", note("1"))
    await until(lambda: got == ["1"] and kept == ["1"])
    await subscription.close()
    await subscription.close()
    hub.publish("r", note("2"))
    await until(lambda: kept == ["1", "2"])
    assert got == ["1"]


async def test_a_room_can_be_left_and_joined_again(hub: Hub) -> None:
    got, subscription = await delivered(hub, "r")
    await subscription.close()
    hub.publish("r", note("while nobody listens"))
    again, _ = await delivered(hub, "r")
    hub.publish("r", note("back"))
    await until(lambda: again == ["back"])
    assert got == []


async def test_a_new_subscriber_gets_nothing_published_before(hub: Hub) -> None:
    first, _ = await delivered(hub, "r")
    for n in range(50):
        hub.publish("r", note(f"before {n}"))
    second, _ = await delivered(hub, "r")
    hub.publish("r", note("after"))
    await until(lambda: second == ["after"] and len(first) == 51)
    assert first[-1] == "after"


async def test_envelopes_arrive_whole(hub: Hub) -> None:
    seen: list[Envelope] = []
    await hub.subscribe("r", seen.append)
    sent = Envelope(note("a log line").message, owner_only=True)
    data = {"a": [1, "2"]}
    keyed = Envelope(LiveOutput(room="r", instance="i1", at="now", data=data), generation=4)
    public = Envelope(
        LiveState(room="r", instance="i1", state=InstanceState.RUNNING), viewers_only=True
    )
    hub.publish("r", sent)
    hub.publish("r", keyed)
    hub.publish("r", public)
    await until(lambda: len(seen) == 3)
    assert seen == [sent, keyed, public]
    assert [(e.text, e.key, e.owner_only, e.viewers_only, e.generation) for e in seen] == [
        (e.text, e.key, e.owner_only, e.viewers_only, e.generation) for e in (sent, keyed, public)
    ]
    assert seen[1].key is not None and seen[1].key != seen[2].key


async def test_the_text_is_delivered_as_it_was_published(hub: Hub) -> None:
    seen: list[Envelope] = []
    await hub.subscribe("r", seen.append)
    text = '{"b": 1,\n  "a": [2.50, "é"]}'  # as an integration wrote it: never re-encoded
    relayed = LiveOutput.relay("r", "i1", "now", {"b": 1, "a": [2.5, "é"]}, text)
    hub.publish("r", Envelope(relayed))
    await until(lambda: len(seen) == 1)
    assert seen[0].text == relayed.encode() and text in seen[0].text
    message = seen[0].message
    assert isinstance(message, LiveOutput) and message.data == {"b": 1, "a": [2.5, "é"]}


async def test_a_failing_subscriber_does_not_starve_the_others(hub: Hub) -> None:
    def broken(_: Envelope) -> None:
        raise RuntimeError("a bug in one subscriber")

    await hub.subscribe("r", broken)
    got, _ = await delivered(hub, "r")
    hub.publish("r", note("x"))
    hub.publish("r", note("y"))
    await until(lambda: got == ["x", "y"])


async def test_publishing_to_an_empty_room_and_closing_are_harmless(hub: Hub) -> None:
    hub.publish("nobody", note("x"))
    await hub.close()


async def test_closing_ends_subscriptions_and_the_hub_can_be_used_again(hub: Hub) -> None:
    got, subscription = await delivered(hub, "r")
    await hub.close()
    await subscription.close()
    again, _ = await delivered(hub, "r")
    hub.publish("r", note("after"))
    await until(lambda: again == ["after"])
    assert got == []


# --- retained envelopes ------------------------------------------------------------------


async def test_the_last_envelope_of_each_key_is_retained_without_subscribers(hub: Hub) -> None:
    assert await hub.retained("r") == []
    hub.publish("r", output("i1", 1), retain=True)
    hub.publish("r", output("i1", 2), retain=True)
    hub.publish("r", output("i2", 1), retain=True)
    hub.publish("r", state("i1", InstanceState.RUNNING), retain=True)
    hub.publish("r", output("i1", 3))  # delivered, not retained
    hub.publish("r", Envelope(LiveDashboard(room="r", revision=7)), retain=True)
    hub.publish("other", output("i1", 9), retain=True)
    kept = await hub.retained("r")
    assert texts(kept) == texts(
        [
            output("i1", 2),
            output("i2", 1),
            state("i1", InstanceState.RUNNING),
            Envelope(LiveDashboard(room="r", revision=7)),
        ]
    )
    assert [e.text for e in await hub.retained("other")] == [output("i1", 9).text]


async def test_retained_envelopes_are_also_delivered(hub: Hub) -> None:
    seen: list[Envelope] = []
    await hub.subscribe("r", seen.append)
    hub.publish("r", output("i1", 1), retain=True)
    await until(lambda: len(seen) == 1)
    assert seen == [output("i1", 1)]


async def test_owner_and_viewer_versions_are_retained_side_by_side(hub: Hub) -> None:
    crashed = InstanceState.EXITED
    hub.publish("r", state("i1", crashed, viewers_only=True), retain=True)
    hub.publish("r", state("i1", crashed, "Traceback ...", owner_only=True), retain=True)
    kept = await hub.retained("r")
    assert sorted((e.owner_only, e.viewers_only) for e in kept) == [(False, True), (True, False)]
    owner = next(e for e in kept if e.owner_only)
    assert isinstance(owner.message, LiveState) and owner.message.detail == "Traceback ..."
    # A state for everyone replaces both; each reader finds one state per instance.
    hub.publish("r", state("i1", InstanceState.RUNNING), retain=True)
    kept = await hub.retained("r")
    assert [(e.text, e.owner_only, e.viewers_only) for e in kept] == [
        (state("i1", InstanceState.RUNNING).text, False, False)
    ]
    hub.publish("r", state("i1", crashed, "why", owner_only=True), retain=True)
    assert [e.owner_only for e in await hub.retained("r")] == [True]


async def test_forgetting_drops_retained_envelopes(hub: Hub) -> None:
    hub.publish("r", output("i1", 1), retain=True)
    hub.publish("r", state("i1", InstanceState.RUNNING, viewers_only=True), retain=True)
    hub.publish("r", state("i1", InstanceState.RUNNING, "x", owner_only=True), retain=True)
    hub.publish("r", output("i2", 1), retain=True)
    gone = state("i1", InstanceState.RUNNING).key
    assert gone is not None and output("i1", 0).key is not None
    hub.forget("r", [gone, output("i1", 0).key])
    assert texts(await hub.retained("r")) == [output("i2", 1).text]
    hub.forget("r")
    hub.publish("r", output("i3", 1), retain=True)  # after the forget: kept
    assert texts(await hub.retained("r")) == [output("i3", 1).text]


async def test_only_keyed_envelopes_can_be_retained(hub: Hub) -> None:
    with pytest.raises(ValueError, match="only keyed messages"):
        hub.publish("r", note("a log line"), retain=True)


async def test_ping_answers_while_the_store_is_up(hub: Hub) -> None:
    await hub.ping()
    await hub.close()
    await hub.ping()  # a closed hub can be used again, its health asked too


async def test_a_redis_hub_ping_says_when_redis_is_away_and_recovers(
    redis_server: RedisServer,
) -> None:
    """What the readiness check (``GET /api/health/ready``) reads: a stopped Redis is
    an error in words within the hub's timeout, and the next PING after it is back
    answers without a new hub."""
    hub = RedisHub(redis_server.url, prefix="contract:", timeout=2.0)
    try:
        await hub.ping()
        redis_server.stop()
        started = time.monotonic()
        with pytest.raises(HubUnavailable, match=r"Redis at redis://127\.0\.0\.1:\d+/0 does not"):
            await hub.ping()
        assert time.monotonic() - started < 3.0
        redis_server.start()
        await hub.ping()
    finally:
        if redis_server.process is None:  # it failed while Redis was away
            redis_server.start()
        await hub.close()
