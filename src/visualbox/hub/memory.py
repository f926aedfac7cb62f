"""The in-memory hub: rooms inside one server process (the default)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from itertools import count

from visualbox.hub.base import Deliver, Envelope, Hub, Subscription, retain_slot, retain_slots

log = logging.getLogger(__name__)


class _MemorySubscription(Subscription):
    def __init__(self, hub: MemoryHub, room: str, number: int) -> None:
        self._hub = hub
        self._room = room
        self._number = number

    async def close(self) -> None:
        self._hub._remove(self._room, self._number)


class MemoryHub(Hub):
    """Delivers synchronously: ``publish`` calls every subscriber before it returns."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[int, Deliver]] = {}
        self._retained: dict[str, dict[str, Envelope]] = {}
        self._numbers = count()

    def publish(self, room: str, envelope: Envelope, *, retain: bool = False) -> None:
        if retain:
            slot, replaces = retain_slot(envelope)
            kept = self._retained.setdefault(room, {})
            for other in replaces:
                kept.pop(other, None)
            kept[slot] = envelope
        subscribers = self._rooms.get(room)
        if not subscribers:
            return
        for deliver in tuple(subscribers.values()):
            try:
                deliver(envelope)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("a subscriber of room %s failed", room)

    async def retained(self, room: str) -> list[Envelope]:
        return list(self._retained.get(room, {}).values())

    def forget(self, room: str, keys: Collection[str] | None = None) -> None:
        if keys is None:
            self._retained.pop(room, None)
            return
        kept = self._retained.get(room, {})
        for key in keys:
            for slot in retain_slots(key):
                kept.pop(slot, None)
        if not kept:
            self._retained.pop(room, None)

    async def ping(self) -> None:
        return  # the rooms are in this process: nothing to reach

    async def subscribe(self, room: str, deliver: Deliver) -> Subscription:
        number = next(self._numbers)
        self._rooms.setdefault(room, {})[number] = deliver
        return _MemorySubscription(self, room, number)

    def _remove(self, room: str, number: int) -> None:
        subscribers = self._rooms.get(room)
        if subscribers is None:
            return
        subscribers.pop(number, None)
        if not subscribers:
            del self._rooms[room]

    def subscriber_count(self, room: str) -> int:
        return len(self._rooms.get(room, ()))

    async def close(self) -> None:
        self._rooms.clear()
        self._retained.clear()
