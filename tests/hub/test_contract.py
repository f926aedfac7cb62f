"""The hub contract: every implementation passes this module (add new ones to HUBS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from visualbox.hub import Envelope, Hub, MemoryHub

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


async def delivered(hub: Hub, room: str) -> tuple[list[str], object]:
    got: list[str] = []
    subscription = await hub.subscribe(room, lambda e: got.append(e.text))
    return got, subscription


async def test_every_subscriber_gets_every_envelope_in_order(hub: Hub) -> None:
    a, _ = await delivered(hub, "dashboard:1")
    b, _ = await delivered(hub, "dashboard:1")
    for n in range(100):
        hub.publish("dashboard:1", Envelope(str(n)))
    assert a == b == [str(n) for n in range(100)]


async def test_rooms_are_isolated(hub: Hub) -> None:
    one, _ = await delivered(hub, "dashboard:1")
    two, _ = await delivered(hub, "dashboard:2")
    hub.publish("dashboard:1", Envelope("for one"))
    hub.publish("dashboard:3", Envelope("for nobody"))
    assert one == ["for one"] and two == []


async def test_closing_a_subscription_stops_deliveries_and_is_idempotent(hub: Hub) -> None:
    got, subscription = await delivered(hub, "r")
    kept, _ = await delivered(hub, "r")
    hub.publish("r", Envelope("1"))
    await subscription.close()  # type: ignore[attr-defined]
    await subscription.close()  # type: ignore[attr-defined]
    hub.publish("r", Envelope("2"))
    assert got == ["1"] and kept == ["1", "2"]


async def test_envelopes_arrive_whole(hub: Hub) -> None:
    seen: list[Envelope] = []
    await hub.subscribe("r", seen.append)
    sent = Envelope('{"type":"STATUS"}', key=None, owner_only=True)
    keyed = Envelope('{"type":"OUTPUT"}', key="i1\0O")
    public = Envelope('{"type":"STATE"}', key="i1\0S", viewers_only=True)
    hub.publish("r", sent)
    hub.publish("r", keyed)
    hub.publish("r", public)
    assert seen == [sent, keyed, public]


async def test_a_failing_subscriber_does_not_starve_the_others(hub: Hub) -> None:
    def broken(_: Envelope) -> None:
        raise RuntimeError("a bug in one subscriber")

    await hub.subscribe("r", broken)
    got, _ = await delivered(hub, "r")
    hub.publish("r", Envelope("x"))
    assert got == ["x"]


async def test_publishing_to_an_empty_room_and_closing_are_harmless(hub: Hub) -> None:
    hub.publish("nobody", Envelope("x"))
    await hub.close()
