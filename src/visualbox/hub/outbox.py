"""A subscriber's bounded outgoing queue: a slow viewer never slows others or grows memory.

Envelopes wait here until the viewer's connection takes them; a viewer that
keeps up gets every one, in order. Once ``limit`` envelopes are pending the
viewer has fallen behind, and then:

* an envelope with a ``key`` replaces the newest pending one with the same key
  (the viewer gets the *latest* value of each instance, never a growing backlog),
  which moves to the back so that causal order is kept;
* an envelope without a key (a log line) is dropped and counted per room:
  :meth:`take` reports the count so the viewer can be told how many it missed.

Memory is bounded by ``limit`` plus the number of distinct keys (instances × a few
message kinds), each holding at most one message of bounded size.

A viewer that keeps up costs one list append per message: the index of keys that
coalescing needs is built only when the viewer falls behind, and dropped with the
backlog at the next :meth:`take`.
"""

from __future__ import annotations

import asyncio
from operator import attrgetter
from typing import cast

from visualbox.hub.base import Envelope

_TEXT = attrgetter("text")


class Outbox:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        # Pending messages, in order: two lists rather than one of pairs, so that
        # queueing allocates nothing (a flood of pairs living until the next take
        # would feed the garbage collector's older generations, and full collections
        # of the whole heap stall every viewer).
        self._rooms: list[str] = []
        self._envelopes: list[Envelope | None] = []
        """``None`` where a coalesced entry was (only while behind)."""
        self._holes = 0
        self._latest: dict[tuple[str, str], int] | None = None
        """Once behind: the index of the newest pending entry of each key."""
        self._dropped: dict[str, int] = {}
        self._ready = asyncio.Event()
        self._closed = False

    def put(self, room: str, envelope: Envelope) -> None:
        """Queue ``envelope`` (from ``room``) without ever blocking."""
        envelopes = self._envelopes
        if self._latest is None and len(envelopes) < self.limit:
            # Keeping up, the path of nearly every message: two appends per viewer.
            if not self._closed:
                envelopes.append(envelope)
                self._rooms.append(room)
                if len(envelopes) == 1:  # it was empty: wake the taker
                    self._ready.set()
            return
        if self._closed:
            return
        self._put_behind(room, envelope)

    def _put_behind(self, room: str, envelope: Envelope) -> None:
        envelopes = self._envelopes
        latest = self._latest
        if latest is None:  # just fell behind: index the newest entry of each key once
            latest = self._latest = self._index()
        if envelope.key is None:
            self._dropped[room] = self._dropped.get(room, 0) + 1
            return
        last = latest.get((room, envelope.key))
        if last is not None:
            envelopes[last] = None  # the newer value replaces it, and takes its place in time
            self._holes += 1
        latest[(room, envelope.key)] = len(envelopes)
        envelopes.append(envelope)
        self._rooms.append(room)
        if self._holes > len(envelopes) // 2:  # squeeze the holes out (amortised)
            self._rooms, self._envelopes = self._items()
            self._holes = 0
            self._latest = self._index()

    def _index(self) -> dict[tuple[str, str], int]:
        return {
            (room, envelope.key): index
            for index, (room, envelope) in enumerate(zip(self._rooms, self._envelopes, strict=True))
            if envelope is not None and envelope.key is not None
        }

    def _items(self) -> tuple[list[str], list[Envelope | None]]:
        if not self._holes:
            return self._rooms, self._envelopes
        pairs = [(r, e) for r, e in zip(self._rooms, self._envelopes, strict=True) if e is not None]
        return [r for r, _ in pairs], [e for _, e in pairs]

    async def take(self) -> tuple[list[tuple[str, Envelope]], dict[str, int]]:
        """Wait for envelopes; return all pending ones (in order) and the drop counts.

        Returns two empty collections once the outbox is closed.
        """
        if not await self._wait():
            return [], {}
        rooms, envelopes = self._items()
        items = list(zip(rooms, envelopes, strict=True))
        return cast(list[tuple[str, Envelope]], items), self._reset()

    async def take_texts(self) -> tuple[list[str], dict[str, int]]:
        """:meth:`take` for a connection: the envelopes' texts (what it sends), without
        their rooms."""
        if not await self._wait():
            return [], {}
        _rooms, envelopes = self._items()
        return list(map(_TEXT, envelopes)), self._reset()

    async def _wait(self) -> bool:
        """Wait for envelopes or drops; ``False`` once closed."""
        while not self._envelopes and not self._dropped:
            if self._closed:
                return False
            self._ready.clear()
            await self._ready.wait()
        return True

    def _reset(self) -> dict[str, int]:
        """Empty the outbox (the viewer took everything); the drop counts until now."""
        self._rooms, self._envelopes = [], []
        self._holes = 0
        self._latest = None
        dropped, self._dropped = self._dropped, {}
        return dropped

    def __len__(self) -> int:
        return len(self._envelopes) - self._holes

    def close(self) -> None:
        """Wake the taker for the last time; later puts are ignored."""
        self._closed = True
        self._rooms, self._envelopes = [], []
        self._holes = 0
        self._latest = None
        self._ready.set()
