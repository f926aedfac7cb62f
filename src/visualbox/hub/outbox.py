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
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from itertools import count

from visualbox.hub.base import Envelope


class Outbox:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending: OrderedDict[int, tuple[str, Envelope]] = OrderedDict()
        self._latest: dict[tuple[str, str], int] = {}
        self._dropped: dict[str, int] = {}
        self._ready = asyncio.Event()
        self._numbers = count()
        self._closed = False

    def put(self, room: str, envelope: Envelope) -> None:
        """Queue ``envelope`` (from ``room``) without ever blocking."""
        if self._closed:
            return
        behind = len(self._pending) >= self.limit
        if behind and envelope.key is not None:
            last = self._latest.get((room, envelope.key))
            if last is not None and last in self._pending:
                self._pending[last] = (room, envelope)  # the newer value replaces it ...
                self._pending.move_to_end(last)  # ... and takes its place in time
                return
        elif behind:
            self._dropped[room] = self._dropped.get(room, 0) + 1
            return
        number = next(self._numbers)
        self._pending[number] = (room, envelope)
        if envelope.key is not None:
            self._latest[(room, envelope.key)] = number
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
        self._latest.clear()
        return items, dropped

    def __len__(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Wake the taker for the last time; later puts are ignored."""
        self._closed = True
        self._pending.clear()
        self._latest.clear()
        self._ready.set()
