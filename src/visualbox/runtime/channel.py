"""Reading what a sandboxed process sends: SDK frames and log lines, both bounded.

The SDK writes frames to an inherited pipe: a 4-byte big-endian length ``N``,
then ``N`` bytes made of one tag byte and the payload (``N - 1`` bytes):

* tag ``I`` (0x49), empty payload: INIT, sent when the SDK is loaded;
* tag ``O`` (0x4F), UTF-8 payload: OUTPUT (a JSON document, or a plain string).

Both pumps take a token from a :class:`TokenBucket` before each frame or line.
When the bucket is empty they stop reading, the pipe fills and the writer
blocks inside the sandbox: a flood is throttled, never buffered. A frame larger
than ``max_bytes`` is skipped in chunks (never held in memory) and reported.

An :class:`OutputBudget` (bytes per second, shared by every run of one account)
is taken from *before* a frame is read, so outputs over an account's quota are
neither read nor parsed: what they cost the server is bounded per account. The
first wait of a run says so once (a ``T_WARNING``). An output that is JSON keeps
its text (:attr:`Output.text`), so it is relayed without being encoded again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from visualbox.runtime.messages import (
    Init,
    Message,
    Output,
    Status,
    StatusLevel,
    error,
    warning,
)

LINE_MAX_BYTES = 16 * 1024
"""Longer log lines are cut here and marked with :data:`TRUNCATED`."""
TRUNCATED = " … [line truncated]"
_CHUNK = 64 * 1024
YIELD_EVERY = 32
"""Frames read in a row before the pump lets other tasks run."""

Emit = Callable[[Message], None]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self, count: float = 1) -> bool:
        """Take ``count`` tokens if they are available; never waits."""
        self._refill()
        if self._tokens < min(count, self.burst):
            return False
        self._tokens -= count
        return True

    async def take(self, count: float = 1) -> None:
        """Wait until ``count`` tokens are available and take them.

        More than ``burst`` is taken once ``burst`` is saved up, leaving a debt that
        later takes wait out: the average rate holds for any size."""
        need = min(count, self.burst)
        self._refill()
        while self._tokens < need:
            await asyncio.sleep((need - self._tokens) / self.rate)
            self._refill()
        self._tokens -= count


class OutputBudget(TokenBucket):
    """Output bytes per second shared by the runs of one account (its quota).

    ``notice`` is what a run's console says, once, when its outputs first wait."""

    def __init__(self, rate: float, burst: int, notice: str) -> None:
        super().__init__(rate, burst)
        self.notice = notice

    def change(self, rate: float, burst: int, notice: str) -> None:
        """Apply a changed quota (what is saved up stays, up to the new burst)."""
        self._refill()
        self.rate, self.burst, self.notice = rate, float(burst), notice
        self._tokens = min(self._tokens, self.burst)


def decode_output(payload: bytes) -> Any:
    """A payload that is valid JSON arrives parsed; anything else as text.

    JSON nested too deeply for the parser (``[[[[...``, which raises
    ``RecursionError`` rather than ``ValueError``) arrives as text as well: an
    exception here would end the frame pump and leave the run without its
    outputs and its final STATE.
    """
    return _decode(payload).data


def _decode(payload: bytes) -> Output:
    text = payload.decode("utf-8", "replace")
    try:
        return Output(json.loads(text), text=text)
    except (ValueError, RecursionError):
        return Output(text)


async def _skip(reader: asyncio.StreamReader, count: int) -> bool:
    """Discard ``count`` bytes chunk by chunk; False when the stream ended first."""
    while count > 0:
        chunk = await reader.read(min(count, _CHUNK))
        if not chunk:
            return False
        count -= len(chunk)
    return True


async def pump_frames(
    reader: asyncio.StreamReader,
    bucket: TokenBucket,
    max_bytes: int,
    emit: Emit,
    budget: OutputBudget | None = None,
) -> None:
    """Turn SDK frames into INIT/OUTPUT messages until the pipe closes.

    With a ``budget``, each frame's bytes are taken from it before the frame is read."""
    outputs = 0
    warned = False
    while True:
        await bucket.take()
        try:
            header = await reader.readexactly(4)
        except asyncio.IncompleteReadError:
            return
        size = int.from_bytes(header, "big")
        if size == 0:
            emit(error("visualbox: empty frame from the SDK ignored"))
            continue
        if size - 1 > max_bytes:
            emit(
                error(
                    f"visualbox: output of {size - 1} bytes rejected "
                    f"(the limit is {max_bytes} bytes)"
                )
            )
            if not await _skip(reader, size):
                return
            continue
        if budget is not None and not budget.try_take(size):
            if not warned:
                emit(warning(budget.notice))
                warned = True
            await budget.take(size)
        try:
            body = await reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return
        tag = body[:1]
        if tag == b"O":
            emit(_decode(body[1:]))
            outputs += 1
            if outputs % YIELD_EVERY == 0:
                # Reading buffered frames never suspends: let the loop run now and then,
                # so a flooding integration cannot starve everything else.
                await asyncio.sleep(0)
        elif tag == b"I":
            emit(Init())
        else:
            emit(error(f"visualbox: unknown frame tag {tag!r} ignored"))


async def pump_lines(
    reader: asyncio.StreamReader, level: StatusLevel, bucket: TokenBucket, emit: Emit
) -> None:
    """Turn a log stream into one STATUS message per line (cut at LINE_MAX_BYTES)."""
    pending = bytearray()
    dropping = False  # inside a line that was already cut and reported

    async def send(line: bytes, cut: bool = False) -> None:
        await bucket.take()
        text = line.decode("utf-8", "replace").rstrip("\r")
        emit(Status(level, text + TRUNCATED if cut else text))

    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            if pending and not dropping:
                await send(bytes(pending))
            return
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            start = len(chunk) if end < 0 else end + 1
            if dropping:
                dropping = end < 0
                continue
            pending += piece
            if len(pending) > LINE_MAX_BYTES:
                await send(bytes(pending[:LINE_MAX_BYTES]), cut=True)
                pending.clear()
                dropping = end < 0
            elif end >= 0:
                await send(bytes(pending))
                pending.clear()
