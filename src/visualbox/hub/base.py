"""The hub contract: rooms that carry live messages from publishers to subscribers.

A *room* is a name (``dashboard:<id>``, ``dev:<module id>``). Publishing puts an
:class:`Envelope` into a room; every current subscriber of that room receives it,
in publishing order, through the plain callable it subscribed with. The hub knows
nothing about dashboards, viewers or permissions.

Implementations: :mod:`visualbox.hub.memory` (one process, the default). A Redis
implementation joins with multi-node deployment; ``tests/hub/test_contract.py``
is the contract every implementation must pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from visualbox.schemas.live import ServerMessage


@dataclass(frozen=True, slots=True)
class Envelope:
    """One declared message (``schemas/live.py``), encoded once whatever the number of
    subscribers; its text is what a client receives."""

    message: ServerMessage
    owner_only: bool = False
    """Logs and other things only the room's owner may see."""
    viewers_only: bool = False
    """The other side of an owner-only message: what everyone but the owner sees
    instead (a state without its internal detail)."""
    text: str = field(default="", compare=False)
    """The message's JSON text (computed from ``message`` when not given)."""
    key: str | None = field(default=None, compare=False)
    """Messages with the same key supersede each other in a slow subscriber's queue
    (the latest value of an instance); ``None`` for messages that may only be dropped.
    Computed from ``message``."""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self.message.encode())
        object.__setattr__(self, "key", self.message.key)


Deliver = Callable[[Envelope], None]
"""Called on the event loop, in order, for each envelope; it must not block."""


class Subscription(ABC):
    """A live subscription; :meth:`close` it when the subscriber leaves."""

    @abstractmethod
    async def close(self) -> None:
        """Stop deliveries; idempotent. No delivery happens after it returns."""


class Hub(ABC):
    @abstractmethod
    def publish(self, room: str, envelope: Envelope) -> None:
        """Send ``envelope`` to the room's subscribers; never blocks the caller.

        Rooms without subscribers drop it. Order is kept per room and publisher.
        """

    @abstractmethod
    async def subscribe(self, room: str, deliver: Deliver) -> Subscription:
        """Receive every envelope published to ``room`` from now on."""

    @abstractmethod
    async def close(self) -> None:
        """Release the hub's resources; subscriptions end."""
