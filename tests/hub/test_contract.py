"""The hub contract: every implementation passes this module (add new ones to HUBS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from visualbox.hub import Envelope, Hub, MemoryHub
from visualbox.schemas.live import InstanceState, LiveOutput, LiveState, LiveStatus, StatusLevel

pytestmark = pytest.mark.anyio

HUBS: dict[str, Callable[[], Hub]] = {"memory": MemoryHub}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=sorted(HUBS))
async def hub(request: pytest.FixtureRequest) -> AsyncIterator[Hub]:
    made = HUBS[request.param]()
    yield made
    await made.close()


def note(text: str) -> Envelope:
    """A declared message whose JSON text contains ``text``."""
    return Envelope(LiveStatus(room="r", instance="i1", status=StatusLevel.INFO, data=text))


def said(envelope: Envelope) -> str:
    message = envelope.message
    assert isinstance(message, LiveStatus)
    return message.data


async def delivered(hub: Hub, room: str) -> tuple[list[str], object]:
    got: list[str] = []
    subscription = await hub.subscribe(room, lambda e: got.append(said(e)))
    return got, subscription


async def test_every_subscriber_gets_every_envelope_in_order(hub: Hub) -> None:
    a, _ = await delivered(hub, "dashboard:1")
    b, _ = await delivered(hub, "dashboard:1")
    for n in range(100):
        hub.publish("dashboard:1", note(str(n)))
    assert a == b == [str(n) for n in range(100)]


async def test_rooms_are_isolated(hub: Hub) -> None:
    one, _ = await delivered(hub, "dashboard:1")
    two, _ = await delivered(hub, "dashboard:2")
    hub.publish("dashboard:1", note("for one"))
    hub.publish("dashboard:3", note("for nobody"))
    assert one == ["for one"] and two == []


async def test_closing_a_subscription_stops_deliveries_and_is_idempotent(hub: Hub) -> None:
    got, subscription = await delivered(hub, "r")
    kept, _ = await delivered(hub, "r")
    hub.publish("r", note("1"))
    await subscription.close()  # type: ignore[attr-defined]
    await subscription.close()  # type: ignore[attr-defined]
    hub.publish("r", note("2"))
    assert got == ["1"] and kept == ["1", "2"]


async def test_envelopes_arrive_whole(hub: Hub) -> None:
    seen: list[Envelope] = []
    await hub.subscribe("r", seen.append)
    sent = Envelope(note("a log line").message, owner_only=True)
    keyed = Envelope(LiveOutput(room="r", instance="i1", at="now", data={"a": [1, "2"]}))
    public = Envelope(
        LiveState(room="r", instance="i1", state=InstanceState.RUNNING), viewers_only=True
    )
    hub.publish("r", sent)
    hub.publish("r", keyed)
    hub.publish("r", public)
    assert seen == [sent, keyed, public]
    assert [(e.text, e.key, e.owner_only, e.viewers_only) for e in seen] == [
        (e.text, e.key, e.owner_only, e.viewers_only) for e in (sent, keyed, public)
    ]
    assert seen[1].key is not None and seen[1].key != seen[2].key


async def test_a_failing_subscriber_does_not_starve_the_others(hub: Hub) -> None:
    def broken(_: Envelope) -> None:
        raise RuntimeError("a bug in one subscriber")

    await hub.subscribe("r", broken)
    got, _ = await delivered(hub, "r")
    hub.publish("r", note("x"))
    assert got == ["x"]


async def test_publishing_to_an_empty_room_and_closing_are_harmless(hub: Hub) -> None:
    hub.publish("nobody", note("x"))
    await hub.close()
