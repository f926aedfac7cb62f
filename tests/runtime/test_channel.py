"""Frame and log-line pumps on in-memory streams and on real pipes."""

from __future__ import annotations

import asyncio
import os
import threading

from visualbox.runtime.channel import (
    LINE_MAX_BYTES,
    TRUNCATED,
    LogPipes,
    TokenBucket,
    decode,
    pump_frames,
    pump_lines,
)
from visualbox.runtime.messages import Init, Message, Output, Status, StatusLevel, error


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


def test_text_frames_stay_text_unless_they_hold_an_object_or_an_array() -> None:
    assert decode(b"42", b"T") == Output("42") and decode(b"42", b"T").text is None
    assert decode(b'"quoted"', b"T") == Output('"quoted"')
    assert decode(b"true", b"T") == Output("true")
    assert decode(b"", b"T") == Output("")
    # The JSON text of an object or array (output(JSON.stringify(model))) arrives parsed.
    obj = decode(b' \n{"a": 1}', b"T")
    assert obj == Output({"a": 1}) and obj.text == ' \n{"a": 1}'
    assert decode(b"[1, 2]", b"T") == Output([1, 2])
    assert decode(b"{not json", b"T") == Output("{not json")
    assert decode("é".encode(), b"T") == Output("é")


def test_json_frames_are_parsed_and_nan_is_not_json() -> None:
    assert decode(b"42", b"O") == Output(42) and decode(b"42", b"O").text == "42"
    assert decode(b'"s"', b"O") == Output("s")
    assert decode(b"null", b"O") == Output(None)
    # Python's parser accepts NaN; relayed as is, it would break every viewer's parser.
    assert decode(b"NaN", b"O") == Output("NaN") and decode(b"NaN", b"O").text is None
    assert decode(b'{"a": [1, 2]}', b"T").text == '{"a": [1, 2]}'
    assert decode(b"[Infinity]", b"T") == Output("[Infinity]")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def test_lines_and_frames_keep_the_order_they_were_written_in() -> None:
    """A writer that behaves like the SDKs (a frame, then wait for its acknowledgement)
    gets its lines and outputs in order, though the supervisor reads three pipes; and
    every frame is acknowledged, an oversized one and an unknown tag too."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    frames_r, frames_w = os.pipe()
    ack_r, ack_w = os.pipe()
    os.set_blocking(ack_w, False)
    sent = [
        (out_w, b"one\n"),
        (err_w, b"two\n"),
        (frames_w, _frame(b"T", b"42")),
        (out_w, b"three\nfo"),  # a partial line waits for its end
        (err_w, b"five\n"),
        (frames_w, _frame(b"O", b"x" * 2000)),
        (out_w, b"ur\n"),
        (frames_w, _frame(b"Z", b"")),
        (frames_w, _frame(b"O", b'{"n": 2}')),
    ]

    def sdk() -> None:
        for fd, data in sent:
            _write_all(fd, data)
            if fd == frames_w:
                assert os.read(ack_r, 1) == b"\x06"
        for fd in (out_w, err_w, frames_w):
            os.close(fd)

    got: list[Message] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(frames_r, "rb", 0)
        )
        logs = LogPipes(
            [(out_r, StatusLevel.INFO), (err_r, StatusLevel.ERROR)],
            TokenBucket(1000, 100),
            got.append,
        )
        writer = threading.Thread(target=sdk)
        writer.start()
        try:
            frames = pump_frames(
                reader, TokenBucket(1000, 100), 1024, got.append, logs=logs, ack_fd=ack_w
            )
            await asyncio.wait_for(asyncio.gather(frames, logs.pump()), 30)
        finally:
            transport.close()
            await asyncio.to_thread(writer.join)

    try:
        asyncio.run(scenario())
    finally:
        os.close(ack_r)
        os.close(ack_w)
    info, err = StatusLevel.INFO, StatusLevel.ERROR
    assert got == [
        Status(info, "one"),
        Status(err, "two"),
        Output("42"),
        Status(info, "three"),
        Status(err, "five"),
        error("visualbox: output of 2000 bytes rejected (the limit is 1024 bytes)"),
        Status(info, "four"),
        error("visualbox: unknown frame tag b'Z' ignored"),
        Output({"n": 2}),
    ]
