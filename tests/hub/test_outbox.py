"""The per-viewer outbox: bounded, coalescing the latest value per key."""

from __future__ import annotations

import asyncio

import pytest

from visualbox.hub import Envelope
from visualbox.hub.outbox import Outbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_viewer_that_keeps_up_gets_every_message_in_order() -> None:
    box = Outbox(limit=8)
    for n in range(5):
        box.put("r", Envelope(f"out {n}", key="i1"))
    items, dropped = await box.take()
    assert [e.text for _, e in items] == [f"out {n}" for n in range(5)] and dropped == {}


async def test_a_behind_viewer_gets_the_latest_value_per_key_in_causal_order() -> None:
    box = Outbox(limit=2)
    box.put("r", Envelope("out 1", key="i1"))
    box.put("r", Envelope("state running", key="s1"))  # now behind: 2 pending
    box.put("r", Envelope("out 2", key="i1"))
    box.put("r", Envelope("out 3", key="i1"))
    box.put("r", Envelope("state exited", key="s1"))
    items, dropped = await box.take()
    assert [e.text for _, e in items] == ["out 3", "state exited"]
    assert dropped == {}


async def test_unkeyed_messages_beyond_the_limit_are_dropped_and_counted() -> None:
    box = Outbox(limit=3)
    for n in range(10):
        box.put("room", Envelope(f"log {n}"))
    for n in range(1000):
        box.put("room", Envelope(f"out {n}", key="i1"))  # never dropped, never piles up
    assert len(box) == 4  # the limit, plus one entry for the key
    items, dropped = await box.take()
    assert [e.text for _, e in items] == ["log 0", "log 1", "log 2", "out 999"]
    assert dropped == {"room": 7}


async def test_take_waits_for_a_put_and_close_wakes_it() -> None:
    box = Outbox(limit=2)
    waiting = asyncio.create_task(box.take())
    await asyncio.sleep(0)
    assert not waiting.done()
    box.put("r", Envelope("x"))
    items, _ = await asyncio.wait_for(waiting, 5)
    assert [e.text for _, e in items] == ["x"]
    again = asyncio.create_task(box.take())
    await asyncio.sleep(0)
    box.close()
    assert await asyncio.wait_for(again, 5) == ([], {})
    box.put("r", Envelope("ignored"))
    assert len(box) == 0
