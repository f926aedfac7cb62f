"""A subscriber's bounded outgoing queue: a slow viewer never slows others or grows memory.

Envelopes wait here until the viewer's connection takes them. When the viewer
falls behind:

* an envelope with a ``key`` replaces the pending one with the same key (the
  viewer gets the *latest* value of each instance, never a backlog of old ones),
  and moves to the back so that causal order is kept;
* an envelope without a key (a log line) is dropped once ``limit`` envelopes are
  pending, and counted per room: :meth:`take` reports the count so the viewer can
  be told how many it missed.

Memory is bounded by ``limit`` plus the number of distinct keys (instances × a few
message kinds), each holding at most one message of bounded size.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from itertools import count

from visualbox.hub.base import Envelope


class Outbox:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending: OrderedDict[object, tuple[str, Envelope]] = OrderedDict()
        self._dropped: dict[str, int] = {}
        self._ready = asyncio.Event()
        self._unkeyed = count()
        self._closed = False

    def put(self, room: str, envelope: Envelope) -> None:
        """Queue ``envelope`` (from ``room``) without ever blocking."""
        if self._closed:
            return
        if envelope.key is not None:
            key: object = (room, envelope.key)
            self._pending[key] = (room, envelope)
            self._pending.move_to_end(key)
        elif len(self._pending) >= self.limit:
            self._dropped[room] = self._dropped.get(room, 0) + 1
            return
        else:
            self._pending[next(self._unkeyed)] = (room, envelope)
        self._ready.set()

    async def take(self) -> tuple[list[tuple[str, Envelope]], dict[str, int]]:
        """Wait for envelopes; return all pending ones (in order) and the drop counts.

        Returns two empty collections once the outbox is closed.
        """
        while not self._pending and not self._dropped:
            if self._closed:
                return [], {}
            self._ready.clear()
            await self._ready.wait()
        items = list(self._pending.values())
        dropped, self._dropped = self._dropped, {}
        self._pending.clear()
        return items, dropped

    def __len__(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Wake the taker for the last time; later puts are ignored."""
        self._closed = True
        self._pending.clear()
        self._ready.set()
