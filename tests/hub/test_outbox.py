"""The per-viewer outbox: bounded, coalescing the latest value per key."""

from __future__ import annotations

import asyncio

import pytest

from visualbox.hub import Envelope
from visualbox.hub.outbox import Outbox
from visualbox.schemas.live import InstanceState, LiveOutput, LiveState, LiveStatus, StatusLevel

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def out(n: int, instance: str = "i1") -> Envelope:
    return Envelope(LiveOutput(room="r", instance=instance, at="now", data=n))


def log(n: int) -> Envelope:
    return Envelope(LiveStatus(room="r", instance="i1", status=StatusLevel.INFO, data=f"log {n}"))


def state(value: InstanceState, instance: str = "i1") -> Envelope:
    return Envelope(LiveState(room="r", instance=instance, state=value))


def seen(items: list[tuple[str, Envelope]]) -> list[object]:
    """What each delivered message says: an output's data, a log's line, a state."""
    said: list[object] = []
    for _room, envelope in items:
        message = envelope.message
        if isinstance(message, LiveOutput | LiveStatus):
            said.append(message.data)
        elif isinstance(message, LiveState):
            said.append(f"{message.instance} {message.state}")
    return said


async def test_a_viewer_that_keeps_up_gets_every_message_in_order() -> None:
    box = Outbox(limit=8)
    for n in range(5):
        box.put("r", out(n))
    items, dropped = await box.take()
    assert seen(items) == list(range(5)) and dropped == {}


async def test_a_behind_viewer_gets_the_latest_value_per_key_in_causal_order() -> None:
    box = Outbox(limit=2)
    box.put("r", out(1))
    box.put("r", state(InstanceState.RUNNING))  # now behind: 2 pending
    box.put("r", out(2))
    box.put("r", out(3))
    box.put("r", state(InstanceState.EXITED))
    box.put("r", out(1, instance="i2"))  # another instance's output is not the same key
    items, dropped = await box.take()
    assert seen(items) == [3, "i1 exited", 1]
    assert dropped == {}


async def test_unkeyed_messages_beyond_the_limit_are_dropped_and_counted() -> None:
    box = Outbox(limit=3)
    for n in range(10):
        box.put("room", log(n))
    for n in range(1000):
        box.put("room", out(n))  # never dropped, never piles up
    assert len(box) == 4  # the limit, plus one entry for the key
    items, dropped = await box.take()
    assert seen(items) == ["log 0", "log 1", "log 2", 999]
    assert dropped == {"room": 7}


async def test_take_waits_for_a_put_and_close_wakes_it() -> None:
    box = Outbox(limit=2)
    waiting = asyncio.create_task(box.take())
    await asyncio.sleep(0)
    assert not waiting.done()
    box.put("r", log(1))
    items, _ = await asyncio.wait_for(waiting, 5)
    assert seen(items) == ["log 1"]
    again = asyncio.create_task(box.take())
    await asyncio.sleep(0)
    box.close()
    assert await asyncio.wait_for(again, 5) == ([], {})
    box.put("r", log(2))
    assert len(box) == 0


async def test_a_long_coalescing_flood_keeps_order_and_bounded_memory() -> None:
    box = Outbox(limit=4)
    box.put("r", log(0))
    for n in range(4):
        box.put("r", out(n, instance=f"i{n % 2}"))  # behind after the third put
    for n in range(4, 10_000):
        box.put("r", out(n, instance=f"i{n % 2}"))
        box.put("r", state(InstanceState.RUNNING, instance=f"i{n % 2}"))
        assert len(box._envelopes) <= 2 * (box.limit + 4) + 1  # holes are squeezed out
    box.put("r", log(1))  # behind: dropped and counted
    # The log and the first output (queued before the viewer fell behind), then the
    # latest output and state of each instance.
    assert len(box) == 6
    items, dropped = await box.take()
    assert seen(items) == ["log 0", 0, 9998, "i0 running", 9999, "i1 running"]
    assert dropped == {"r": 1}
    # Taken: the viewer keeps up again, every message goes through in order.
    for n in range(3):
        box.put("r", out(n))
    items, dropped = await box.take()
    assert seen(items) == [0, 1, 2] and dropped == {}


async def test_take_texts_gives_what_a_connection_sends_in_order() -> None:
    box = Outbox(limit=2)
    for n in range(5):
        box.put("r", log(n))
    texts, dropped = await box.take_texts()
    assert texts == [log(0).text, log(1).text] and dropped == {"r": 3}
    box.close()
    assert await box.take_texts() == ([], {})
