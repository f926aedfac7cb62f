"""Frame and log-line pumps on in-memory streams."""

from __future__ import annotations

import asyncio

from visualbox.runtime.channel import (
    LINE_MAX_BYTES,
    TRUNCATED,
    TokenBucket,
    pump_frames,
    pump_lines,
)
from visualbox.runtime.messages import Init, Message, Output, Status, StatusLevel


def _feed(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def _frame(tag: bytes, payload: bytes) -> bytes:
    return (len(payload) + 1).to_bytes(4, "big") + tag + payload


def test_frames_become_messages_and_oversized_ones_are_skipped() -> None:
    data = (
        _frame(b"I", b"")
        + _frame(b"O", b'{"a": [1, 2]}')
        + _frame(b"O", b"x" * 5000)
        + _frame(b"O", b"not json")
        + _frame(b"O", b'"quoted"')
    )
    got: list[Message] = []

    async def scenario() -> None:
        await pump_frames(_feed(data), TokenBucket(1000, 100), 1024, got.append)

    asyncio.run(scenario())
    assert got[0] == Init() and got[1] == Output({"a": [1, 2]})
    assert isinstance(got[2], Status) and got[2].status is StatusLevel.ERROR
    assert "5000 bytes rejected" in got[2].data
    assert got[3:] == [Output("not json"), Output("quoted")]


def test_long_lines_are_cut_and_marked() -> None:
    data = b"short\n" + b"z" * (LINE_MAX_BYTES * 3) + b"\nnext\r\nlast"
    got: list[Message] = []

    async def scenario() -> None:
        await pump_lines(_feed(data), StatusLevel.INFO, TokenBucket(1000, 100), got.append)

    asyncio.run(scenario())
    texts = [m.data for m in got if isinstance(m, Status)]
    assert texts[0] == "short"
    assert texts[1] == "z" * LINE_MAX_BYTES + TRUNCATED
    assert texts[2:] == ["next", "last"]


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    async def scenario() -> float:
        bucket = TokenBucket(rate=50, burst=10)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(20):
            await bucket.take()
        return loop.time() - start

    elapsed = asyncio.run(scenario())
    assert 10 / 50 * 0.9 <= elapsed < 1.0


def test_deeply_nested_json_arrives_as_text_and_the_pump_goes_on() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    data = _frame(b"O", deep) + _frame(b"O", b"[1]")
    got: list[Message] = []

    async def scenario() -> None:
        await pump_frames(_feed(data), TokenBucket(1000, 100), 1 << 20, got.append)

    asyncio.run(scenario())
    assert got == [Output(deep.decode()), Output([1])]
