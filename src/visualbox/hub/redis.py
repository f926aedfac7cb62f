"""The Redis hub: rooms shared by every server process and node connected to one Redis.

Each hub (one per server process) keeps two connections:

* a **pub/sub connection**, read by one task: the hub subscribes to a room's Redis
  channel when the room's first local subscriber arrives and unsubscribes when the
  last one leaves, and fans each message out to its local subscribers, in order;
* a **command connection**, written by one task: :meth:`RedisHub.publish` only queues
  (it never blocks), and the task sends what is queued in pipelined batches, in
  order, so that the order of a room's messages is the order they were published in.

A message on a channel is a short ASCII head, the envelope's audience flags (``1``
or ``0`` for owner-only, then viewers-only) and its lease generation in decimal,
ended by ``;`` (``"01" "7" ";"``), followed by its JSON text, sent once whatever
the number of nodes and viewers. The receiving hub rebuilds the envelope by
parsing the declared message (``schemas/live.py``, ``HubMessage``) and keeps the text
as received, so it is never encoded again. Retained envelopes are kept in the
same form in one Redis hash per room (``<prefix>retained:<room>``, one field per
:func:`~visualbox.hub.base.retain_slot`).

When Redis goes away, the hub logs a warning, keeps queueing (up to
``queue_limit`` messages; beyond that it drops them and says how many) and
reconnects both connections with back-off, subscribing again to every room that
has local subscribers; it logs a second warning when Redis is back. Pub/sub
delivers at most once: messages published on other nodes while this node was
disconnected are not replayed (the retained envelopes tell the last values).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from itertools import count
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from visualbox.errors import FieldError
from visualbox.hub.base import (
    Deliver,
    Envelope,
    Hub,
    HubUnavailable,
    Subscription,
    retain_slot,
    retain_slots,
)
from visualbox.schemas.live import hub_message

log = logging.getLogger(__name__)

_FAILURES = (redis.RedisError, OSError)
_BATCH = 500
"""Commands per pipelined round trip."""


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def check_redis(url: str, timeout: float = 5.0) -> None:
    """Raise :class:`HubUnavailable` naming ``HUB__URL`` unless Redis answers a PING."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except (*_FAILURES, ValueError) as exc:
        reason = f"cannot reach Redis at {safe_url(url)}: {exc}"
        raise HubUnavailable(
            f"The live hub is unavailable: {reason}. Start Redis, correct "
            "VISUALBOX_HUB__URL, or leave it empty to run a single process without Redis.",
            [FieldError("VISUALBOX_HUB__URL", reason)],
        ) from None


def encode(envelope: Envelope) -> bytes:
    flags = f"{int(envelope.owner_only)}{int(envelope.viewers_only)}{envelope.generation};"
    return (flags + envelope.text).encode()


def decode(data: bytes) -> Envelope:
    """The envelope of a message as :func:`encode` made it (``ValueError`` if it is not)."""
    head, _, body = data.partition(b";")
    text = body.decode()
    message = hub_message.validate_json(text)
    owner_only, viewers_only = head[:1] == b"1", head[1:2] == b"1"
    return Envelope(message, owner_only, viewers_only, text=text, generation=int(head[2:]))


@dataclass(slots=True)
class _Publish:
    room: str
    payload: bytes
    slot: tuple[str, tuple[str, ...]] | None


@dataclass(slots=True)
class _Forget:
    room: str
    slots: tuple[str, ...] | None


@dataclass(slots=True)
class _Barrier:
    done: asyncio.Future[None]


_Command = _Publish | _Forget | _Barrier


class _RedisSubscription(Subscription):
    def __init__(self, hub: RedisHub, room: str, number: int) -> None:
        self._hub = hub
        self._room = room
        self._number = number

    async def close(self) -> None:
        await self._hub._remove(self._room, self._number)


class RedisHub(Hub):
    """Rooms carried by Redis pub/sub; see the module's docstring.

    ``url`` is a redis-py URL (``redis://host:6379/0``, ``rediss://`` with TLS,
    ``unix:///path/redis.sock``); every key and channel starts with ``prefix``.
    """

    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "visualbox:",
        queue_limit: int = 10_000,
        timeout: float = 5.0,
        max_backoff: float = 2.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.queue_limit = queue_limit
        self.timeout = timeout
        self.max_backoff = max_backoff
        self._channel_prefix = f"{prefix}room:"
        self._numbers = count()
        self._open()

    def _open(self) -> None:
        """A fresh state: at creation, and after :meth:`close` (a closed hub can be used
        again, on another event loop, as the memory hub can)."""
        # No retries inside redis-py: a lost connection surfaces at once, and the
        # hub reconnects (and subscribes again) itself.
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=self.timeout,
            **({} if self.url.startswith("unix:") else {"socket_keepalive": True}),
        )
        self._rooms: dict[str, dict[int, Deliver]] = {}
        self._outgoing: deque[_Command] = deque()
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None
        self._listening: set[str] = set()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._pongs: deque[asyncio.Future[None]] = deque()
        self._control = asyncio.Lock()
        self._connected = asyncio.Event()
        self._reader_failed = False
        self._healthy = True
        self._dropped = 0
        self._closed = False

    # --- publishing ------------------------------------------------------------------

    def publish(self, room: str, envelope: Envelope, *, retain: bool = False) -> None:
        slot = retain_slot(envelope) if retain else None
        if self._closed:
            return
        if len(self._outgoing) >= self.queue_limit:
            if self._dropped == 0:
                log.warning(
                    "Redis hub: %d messages wait for Redis at %s; dropping new ones until "
                    "it catches up",
                    len(self._outgoing),
                    safe_url(self.url),
                )
            self._dropped += 1
            return
        self._send(_Publish(room, encode(envelope), slot))

    def forget(self, room: str, keys: Collection[str] | None = None) -> None:
        if self._closed:
            return
        slots = None if keys is None else tuple(s for key in keys for s in retain_slots(key))
        self._send(_Forget(room, slots))

    async def retained(self, room: str) -> list[Envelope]:
        await self._flush()  # read this hub's own writes
        try:
            kept = await self._client.hvals(self._retained_key(room))
        except _FAILURES as exc:
            raise HubUnavailable(
                f"Live values are unavailable: cannot reach Redis at {safe_url(self.url)}."
            ) from exc
        envelopes = []
        for data in kept:
            try:
                envelopes.append(decode(data if isinstance(data, bytes) else data.encode()))
            except ValueError:
                log.warning("Redis hub: ignoring a retained value of %s it cannot read", room)
        return envelopes

    def _send(self, command: _Command) -> None:
        self._outgoing.append(command)
        self._wake.set()
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_forever())

    async def _send_forever(self) -> None:
        failures = 0
        while True:
            while not self._outgoing:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._outgoing[n] for n in range(min(len(self._outgoing), _BATCH))]
            try:
                await self._execute(batch)
            except _FAILURES as exc:
                failures += 1
                self._lost(exc)
                await asyncio.sleep(self._backoff(failures))
                continue  # the same batch again: at least once, in order
            except Exception:  # a bug: drop the batch rather than stop every room
                log.exception("Redis hub: could not send %d commands; dropped", len(batch))
            if failures:
                failures = 0
                self._back()
            for command in batch:
                self._outgoing.popleft()
                if isinstance(command, _Barrier) and not command.done.done():
                    command.done.set_result(None)
            if self._dropped and len(self._outgoing) < self.queue_limit // 2:
                log.warning(
                    "Redis hub: %d messages were dropped (Redis was away or slow)", self._dropped
                )
                self._dropped = 0

    async def _execute(self, batch: list[_Command]) -> None:
        commands = [c for c in batch if not isinstance(c, _Barrier)]
        if not commands:
            return
        # One MULTI/EXEC: another node never sees a retained slot half replaced.
        pipe = self._client.pipeline(transaction=True)
        for command in commands:
            if isinstance(command, _Publish):
                pipe.publish(self._channel_prefix + command.room, command.payload)
                if command.slot is not None:
                    key = self._retained_key(command.room)
                    slot, replaces = command.slot
                    pipe.hdel(key, *replaces)
                    pipe.hset(key, slot, command.payload)
            else:
                key = self._retained_key(command.room)
                if command.slots is None:
                    pipe.delete(key)
                else:
                    pipe.hdel(key, *command.slots)
        results = await pipe.execute(raise_on_error=False)
        refused = [r for r in results if isinstance(r, Exception)]
        if refused:  # a command Redis refuses (a key of another type?) is not sent again
            log.error("Redis hub: Redis refused %d commands: %s", len(refused), refused[0])

    def _retained_key(self, room: str) -> str:
        return f"{self.prefix}retained:{room}"

    # --- subscribing -----------------------------------------------------------------

    async def subscribe(self, room: str, deliver: Deliver) -> Subscription:
        number = next(self._numbers)
        subscription = _RedisSubscription(self, room, number)
        if self._closed:
            return subscription
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_forever())
        # Nothing this hub published before the call reaches the new subscriber: it is
        # past Redis once the queue is flushed (a first subscriber subscribes only
        # then), and past this hub's reader once a PING sent after it comes back.
        await self._flush()
        if self._rooms.get(room):
            await self._sync()
        subscribers = self._rooms.setdefault(room, {})
        subscribers[number] = deliver
        if len(subscribers) == 1:
            await self._listen(room)
        return subscription

    async def _flush(self) -> None:
        """Wait (a while) until everything queued so far has been sent; not while Redis
        is away (a viewer who joins then must not wait for it)."""
        if not self._outgoing or not self._healthy:
            return
        barrier = _Barrier(asyncio.get_running_loop().create_future())
        self._send(barrier)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(barrier.done), self.timeout)

    async def _sync(self) -> None:
        """Wait (a while) until the reader has read everything Redis sent it so far."""
        pubsub = self._pubsub
        if pubsub is None:
            return
        pong = asyncio.get_running_loop().create_future()
        self._pongs.append(pong)
        with contextlib.suppress(*_FAILURES):
            await pubsub.ping()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pong), self.timeout)

    async def _listen(self, room: str) -> None:
        """Subscribe to the room's channel and wait (a while) until Redis confirms."""
        if not self._reader_failed:  # still connecting for the first time: wait for it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), self.timeout)
        async with self._control:
            pubsub = self._pubsub
            if room not in self._rooms or room in self._listening or pubsub is None:
                confirmed = self._confirmed.get(room)  # (re)connecting subscribes it
            else:
                self._listening.add(room)
                confirmed = self._confirmed[room] = asyncio.Event()
                try:
                    await pubsub.subscribe(self._channel_prefix + room)
                except _FAILURES:
                    return  # the reader reconnects, and subscribes every room
        if confirmed is not None:
            try:
                await asyncio.wait_for(confirmed.wait(), self.timeout)
            except TimeoutError:
                log.warning("Redis hub: Redis did not confirm the subscription to %s", room)

    async def _remove(self, room: str, number: int) -> None:
        subscribers = self._rooms.get(room)
        if subscribers is None or subscribers.pop(number, None) is None:
            return
        if subscribers:
            return
        del self._rooms[room]
        async with self._control:
            if room in self._rooms or room not in self._listening:
                return
            self._listening.discard(room)
            self._confirmed.pop(room, None)
            if self._pubsub is not None:
                with contextlib.suppress(*_FAILURES):
                    await self._pubsub.unsubscribe(self._channel_prefix + room)

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            pubsub = self._client.pubsub()
            try:
                await self._connect(pubsub)
                if failures:
                    failures = 0
                    self._back()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._receive(message)
            except Exception as exc:
                failures += 1
                self._reader_failed = True
                if isinstance(exc, _FAILURES):
                    self._lost(exc)
                else:  # a bug: say so, and start again on a new connection
                    log.exception("Redis hub: the pub/sub reader failed; reconnecting")
            finally:
                self._connected.clear()
                self._pubsub = None
                while self._pongs:  # they will not come: nobody waits for them
                    self._pongs.popleft().set_result(None)
                with contextlib.suppress(*_FAILURES):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(self._backoff(failures))

    async def _connect(self, pubsub: PubSub) -> None:
        await pubsub.connect()  # type: ignore[no-untyped-call]
        async with self._control:
            rooms = list(self._rooms)
            self._listening = set(rooms)
            self._confirmed = {room: asyncio.Event() for room in rooms}
            if rooms:
                await pubsub.subscribe(*(self._channel_prefix + room for room in rooms))
            self._pubsub = pubsub
        self._connected.set()

    def _receive(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "pong":
            if self._pongs:
                self._pongs.popleft().set_result(None)
            return
        if kind not in ("message", "subscribe"):
            return
        room = message["channel"].decode()[len(self._channel_prefix) :]
        if kind == "subscribe":
            confirmed = self._confirmed.get(room)
            if confirmed is not None:
                confirmed.set()
            return
        subscribers = self._rooms.get(room)
        if not subscribers:
            return
        try:
            envelope = decode(message["data"])
        except ValueError as exc:
            log.warning("Redis hub: ignoring a message in %s it cannot read: %s", room, exc)
            return
        for deliver in tuple(subscribers.values()):
            try:
                deliver(envelope)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("a subscriber of room %s failed", room)

    # --- health ----------------------------------------------------------------------

    def _backoff(self, failures: int) -> float:
        return float(min(self.max_backoff, 0.05 * 2 ** min(failures, 10)))

    def _lost(self, exc: BaseException) -> None:
        if self._healthy:
            self._healthy = False
            log.warning(
                "Redis hub: lost the connection to Redis at %s (%s); live messages between "
                "server processes are paused until it is back, reconnecting",
                safe_url(self.url),
                exc,
            )

    def _back(self) -> None:
        if not self._healthy:
            self._healthy = True
            log.warning(
                "Redis hub: reconnected to Redis at %s; live messages between server "
                "processes resume (those published on other nodes meanwhile are lost)",
                safe_url(self.url),
            )

    async def ping(self) -> None:
        """A PING on the command connection, answered within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._client.ping(), self.timeout)
        except (*_FAILURES, TimeoutError) as exc:
            reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
            raise HubUnavailable(
                f"Redis at {safe_url(self.url)} does not answer ({reason})."
            ) from exc

    def subscriber_count(self, room: str) -> int:
        return len(self._rooms.get(room, ()))

    async def close(self) -> None:
        """Send what is queued (for a few seconds at most), then disconnect."""
        if self._closed:
            return
        self._closed = True
        self._rooms.clear()
        if self._sender is not None:
            await self._flush()
        for task in (self._sender, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._client.aclose()
        self._open()
