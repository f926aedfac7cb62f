"""Reading what a sandboxed process sends: SDK frames and log lines, in order, bounded.

The SDK writes frames to an inherited pipe: a 4-byte big-endian length ``N``,
then ``N`` bytes made of one tag byte and the payload (``N - 1`` bytes):

* tag ``I`` (0x49), empty payload: INIT, sent when the SDK is loaded;
* tag ``T`` (0x54), UTF-8 payload: OUTPUT of a string (stays a string, except the
  JSON text of an object or array, which arrives parsed: ``output(JSON.stringify(x))``);
* tag ``O`` (0x4F), UTF-8 payload: OUTPUT of any other value, as JSON (a payload
  that is not JSON arrives as its text).

After each frame the supervisor writes one byte to the SDK's acknowledgement pipe,
once it has emitted every log line that was in the stdout and stderr pipes when
the frame was read, and then the frame's message (:class:`LogPipes`). The SDK
waits for that byte before ``output()`` returns, so a line written before an
output arrives before it and a line written after arrives after it.

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
import contextlib
import fcntl
import json
import os
import sys
import termios
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


def decode_output(payload: bytes, tag: bytes = b"O") -> Any:
    """The value of an OUTPUT frame's payload (see :func:`decode`)."""
    return decode(payload, tag).data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(text: str) -> Output | None:
    """``text`` parsed, keeping it as the value's JSON text; None when it is not JSON.

    NaN and Infinity (Python's json accepts them) are not JSON: relayed as they came
    they would break every viewer's parser. JSON nested too deeply for the parser
    (``[[[[...``, which raises ``RecursionError`` rather than ``ValueError``) is not
    taken either: an exception here would end the frame pump and leave the run
    without its outputs and its final STATE.
    """
    try:
        return Output(json.loads(text, parse_constant=_refuse_constant), text=text)
    except (ValueError, RecursionError):
        return None


def decode(payload: bytes, tag: bytes = b"O") -> Output:
    """The OUTPUT of a ``T`` (text) or ``O`` (JSON) frame's payload.

    ``T``: the string, unless it is the JSON text of an object or an array (its first
    non-blank character is ``{`` or ``[`` and it parses), which arrives parsed.
    ``O``: the parsed JSON, or the text itself when it is not JSON."""
    text = payload.decode("utf-8", "replace")
    if tag == b"T" and text.lstrip()[:1] not in ("{", "["):
        return Output(text)
    return _json(text) or Output(text)


async def _skip(reader: asyncio.StreamReader, count: int) -> bool:
    """Discard ``count`` bytes chunk by chunk; False when the stream ended first."""
    while count > 0:
        chunk = await reader.read(min(count, _CHUNK))
        if not chunk:
            return False
        count -= len(chunk)
    return True


def _acknowledge(ack_fd: int | None) -> None:
    """Tell the SDK its frame was handled (never blocks: an SDK that does not read its
    acknowledgements only stops getting them)."""
    if ack_fd is None:
        return
    with contextlib.suppress(BlockingIOError, BrokenPipeError):
        os.write(ack_fd, b"\x06")


async def pump_frames(
    reader: asyncio.StreamReader,
    bucket: TokenBucket,
    max_bytes: int,
    emit: Emit,
    budget: OutputBudget | None = None,
    *,
    logs: LogPipes | None = None,
    ack_fd: int | None = None,
) -> None:
    """Turn SDK frames into INIT/OUTPUT messages until the pipe closes.

    With a ``budget``, each frame's bytes are taken from it before the frame is read.
    With ``logs``, the log lines already written are emitted before each frame's
    message; with ``ack_fd`` (non-blocking), each frame is acknowledged after that."""
    frames = FrameReader(reader, max_bytes, emit, budget)
    while True:
        await bucket.take()
        try:
            header = await reader.readexactly(4)
        except asyncio.IncompleteReadError:
            return
        message = await frames.read(int.from_bytes(header, "big"))
        if message is None:
            return
        if logs is not None:
            await logs.catch_up()
        emit(message)
        _acknowledge(ack_fd)
        await frames.pause()


class FrameReader:
    """Reads one frame's body after its length, within the limits: the size cap, then
    the account's byte budget (``pump_frames``; the launcher channel too)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        max_bytes: int,
        emit: Emit,
        budget: OutputBudget | None = None,
    ) -> None:
        self._reader = reader
        self._max_bytes = max_bytes
        self._emit = emit
        self._budget = budget
        self._warned = False
        self._outputs = 0

    async def read(self, size: int) -> Message | None:
        """The message of a frame of ``size`` bytes; None when the stream ended inside it."""
        if size == 0:
            return error("visualbox: empty frame from the SDK ignored")
        if size - 1 > self._max_bytes:
            if not await _skip(self._reader, size):
                return None
            return error(
                f"visualbox: output of {size - 1} bytes rejected "
                f"(the limit is {self._max_bytes} bytes)"
            )
        budget = self._budget
        if budget is not None and not budget.try_take(size):
            if not self._warned:
                self._emit(warning(budget.notice))
                self._warned = True
            await budget.take(size)
        try:
            body = await self._reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return None
        tag = body[:1]
        if tag in (b"O", b"T"):
            self._outputs += 1
            return decode(body[1:], tag)
        if tag == b"I":
            return Init()
        return error(f"visualbox: unknown frame tag {tag!r} ignored")

    async def pause(self) -> None:
        """Let the loop run now and then: reading buffered frames never suspends, and a
        flooding integration must not starve everything else."""
        if self._outputs and self._outputs % YIELD_EVERY == 0:
            await asyncio.sleep(0)


class LineSplitter:
    """The bytes of one log stream in, one STATUS per line out (cut at LINE_MAX_BYTES)."""

    def __init__(self, level: StatusLevel | Callable[[str], StatusLevel]) -> None:
        self._level = level
        self._pending = bytearray()
        self._dropping = False  # inside a line that was already cut and reported

    def _status(self, line: bytes, cut: bool = False) -> Status:
        text = line.decode("utf-8", "replace").rstrip("\r")
        level = self._level if isinstance(self._level, StatusLevel) else self._level(text)
        return Status(level, text + TRUNCATED if cut else text)

    def feed(self, chunk: bytes) -> list[Status]:
        """The lines ``chunk`` completes (a partial last line waits for the next)."""
        lines: list[Status] = []
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            start = len(chunk) if end < 0 else end + 1
            if self._dropping:
                self._dropping = end < 0
                continue
            self._pending += piece
            if len(self._pending) > LINE_MAX_BYTES:
                lines.append(self._status(bytes(self._pending[:LINE_MAX_BYTES]), cut=True))
                self._pending.clear()
                self._dropping = end < 0
            elif end >= 0:
                lines.append(self._status(bytes(self._pending)))
                self._pending.clear()
        return lines

    def end(self) -> list[Status]:
        """The last line, when the stream ended without a newline."""
        last = [] if not self._pending or self._dropping else [self._status(bytes(self._pending))]
        self._pending.clear()
        return last


async def pump_lines(
    reader: asyncio.StreamReader,
    level: StatusLevel | Callable[[str], StatusLevel],
    bucket: TokenBucket,
    emit: Emit,
) -> None:
    """Turn a log stream into one STATUS message per line (cut at LINE_MAX_BYTES).

    ``level`` is the level of every line, or a function of the line that gives it."""
    splitter = LineSplitter(level)
    while True:
        chunk = await reader.read(_CHUNK)
        lines = splitter.feed(chunk) if chunk else splitter.end()
        for line in lines:
            await bucket.take()
            emit(line)
        if not chunk:
            return


class _LogPipe:
    def __init__(self, fd: int, level: StatusLevel) -> None:
        self.fd = fd
        self.splitter = LineSplitter(level)
        self.open = True
        self.left = 0
        """Bytes of the current :meth:`LogPipes.catch_up` still to read."""

    def read(self) -> list[Status]:
        """Read up to ``left`` bytes (one chunk); the lines they complete."""
        try:
            chunk = os.read(self.fd, min(self.left, _CHUNK))
        except BlockingIOError:
            self.left = 0
            return []
        if chunk:
            self.left -= len(chunk)
            return self.splitter.feed(chunk)
        self.open, self.left = False, 0
        os.close(self.fd)
        return self.splitter.end()


class LogPipes:
    """A run's stdout and stderr pipes, read by the run itself so that frames keep order.

    :meth:`pump` emits lines as they come; :meth:`catch_up` (called by the frame pump
    before it emits a frame's message) first emits every line that was in the pipes
    when it was called. Lines are emitted under one lock. Each round reads the pipes
    in reverse order (stderr, then stdout), a chunk each, then emits what it read in
    order (stdout's lines, then stderr's): a stdout line written before a stderr line
    is always emitted first; a stderr line written before a stdout line is emitted
    first unless both were unread when the round began (two pipes carry no order
    between them). The descriptors are non-blocking and owned here."""

    def __init__(self, pipes: list[tuple[int, StatusLevel]], bucket: TokenBucket, emit: Emit):
        self._pipes = [_LogPipe(fd, level) for fd, level in pipes]
        for fd, _ in pipes:
            os.set_blocking(fd, False)
        self._bucket = bucket
        self._emit = emit
        self._lock = asyncio.Lock()

    @classmethod
    async def take(
        cls,
        readers: list[tuple[asyncio.StreamReader, StatusLevel]],
        bucket: TokenBucket,
        emit: Emit,
    ) -> LogPipes | None:
        """Read the pipes behind a sandbox process's stdout/stderr streams directly.

        Their transports are closed (a duplicate of each pipe stays open here) and what
        the streams had read already is fed first. None when a stream is not backed by
        a pipe transport (then the caller reads the streams with :func:`pump_lines`)."""
        # asyncio has no public way from a stream to its transport.
        transports: list[asyncio.ReadTransport] = []
        for reader, _ in readers:
            transport = getattr(reader, "_transport", None)
            if not isinstance(transport, asyncio.ReadTransport):
                return None
            if transport.get_extra_info("pipe") is None:
                return None
            transports.append(transport)
        fds = [os.dup(t.get_extra_info("pipe").fileno()) for t in transports]
        for transport in transports:
            transport.close()
        levels = [level for _, level in readers]
        logs = cls(list(zip(fds, levels, strict=True)), bucket, emit)
        async with logs._lock:
            for pipe, (reader, _) in zip(logs._pipes, readers, strict=True):
                await logs._send(pipe.splitter.feed(await reader.read()))
        return logs

    async def _send(self, lines: list[Status]) -> None:
        for line in lines:
            await self._bucket.take()
            self._emit(line)

    async def catch_up(self) -> None:
        """Emit every line that was written to the pipes before this call."""
        async with self._lock:
            backwards = self._pipes[::-1]
            for pipe in backwards:  # at least one read each: EOF is seen
                pipe.left = max(_readable(pipe.fd), 1) if pipe.open else 0
            while any(pipe.left > 0 for pipe in backwards):
                lines = [pipe.read() if pipe.left > 0 else [] for pipe in backwards]
                for batch in reversed(lines):
                    await self._send(batch)

    async def pump(self) -> None:
        """Emit lines as they come, until every pipe is closed."""
        loop = asyncio.get_running_loop()
        while any(pipe.open for pipe in self._pipes):
            ready: asyncio.Future[None] = loop.create_future()
            watched = [pipe.fd for pipe in self._pipes if pipe.open]
            for fd in watched:
                loop.add_reader(fd, _resolve, ready)
            try:
                await ready
            finally:
                for fd in watched:
                    loop.remove_reader(fd)
            await self.catch_up()

    def close(self) -> None:
        """Close the pipes still open (what they hold is dropped)."""
        for pipe in self._pipes:
            if pipe.open:
                pipe.open = False
                os.close(pipe.fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _readable(fd: int) -> int:
    """Bytes waiting in the pipe ``fd``."""
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)
