"""The hub contract: rooms that carry live messages from publishers to subscribers.

A *room* is a name (``dashboard:<id>``, ``dev:<module id>``). Publishing puts an
:class:`Envelope` into a room; every current subscriber of that room receives it,
in publishing order, through the plain callable it subscribed with. The hub knows
nothing about dashboards, viewers or permissions.

A room also *retains* the last envelope of each key (``publish(..., retain=True)``;
see :func:`retain_slot`): :meth:`Hub.retained` reads them back, on any node, so a
viewer who joins gets the last value of every instance at once.

Implementations: :mod:`visualbox.hub.memory` (one process, the default) and
:mod:`visualbox.hub.redis` (rooms shared by every process and node connected to one
Redis). ``tests/hub/test_contract.py`` is the contract every implementation must pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import ClassVar

from visualbox.errors import Unavailable
from visualbox.schemas.live import HubMessage


@dataclass(frozen=True, slots=True)
class Envelope:
    """One declared message (``schemas/live.py``), encoded once whatever the number of
    subscribers; its text is what a client receives."""

    message: HubMessage
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
    generation: int = 0
    """The lease generation of the node that published it (``services/leases.py``):
    receivers drop envelopes older than the newest generation they saw in the room, so
    a node that lost a dashboard's lease cannot publish over the new holder. 0: not
    leased (one process, a development run)."""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self.message.encode())
        object.__setattr__(self, "key", self.message.key)


Deliver = Callable[[Envelope], None]
"""Called on the event loop, in order, for each envelope; it must not block."""

ALL, OWNER, VIEWERS = "*", "o", "v"
"""Who an envelope is for: everyone, the owner only, everyone but the owner."""


def audience(envelope: Envelope) -> str:
    return OWNER if envelope.owner_only else VIEWERS if envelope.viewers_only else ALL


def retain_slot(envelope: Envelope) -> tuple[str, tuple[str, ...]]:
    """Where a retained envelope is kept in its room, and the slots it empties.

    A room keeps one envelope per key *and audience*: the owner-only and the
    viewers-only versions of a state are kept side by side, and an envelope for
    everyone replaces both (and an owner-only or viewers-only one replaces the one for
    everyone), so that each reader finds at most one envelope per key it may see.
    Slot names are ``"<audience>:<key>"``. Raises ``ValueError`` for an envelope
    without a key (a log line is never retained).
    """
    if envelope.key is None:
        raise ValueError(f"only keyed messages can be retained, not {envelope.message.type}")
    mine = audience(envelope)
    others = (OWNER, VIEWERS) if mine == ALL else (ALL,)
    return f"{mine}:{envelope.key}", tuple(f"{a}:{envelope.key}" for a in others)


def retain_slots(key: str) -> tuple[str, ...]:
    """Every slot a key may be retained in (for :meth:`Hub.forget`)."""
    return tuple(f"{a}:{key}" for a in (ALL, OWNER, VIEWERS))


class HubUnavailable(Unavailable):
    """The hub's shared store (Redis) cannot be reached."""


class Subscription(ABC):
    """A live subscription; :meth:`close` it when the subscriber leaves."""

    @abstractmethod
    async def close(self) -> None:
        """Stop deliveries; idempotent. No delivery happens after it returns."""


class Hub(ABC):
    shared: ClassVar[bool] = False
    """Rooms are shared with other server processes (Redis), not only this one's."""

    @abstractmethod
    def publish(self, room: str, envelope: Envelope, *, retain: bool = False) -> None:
        """Send ``envelope`` to the room's subscribers; never blocks the caller.

        Rooms without subscribers drop it. Order is kept per room and publisher.
        With ``retain``, the room also keeps it as the last envelope of its key and
        audience (:func:`retain_slot`; ``ValueError`` if it has no key), whether or
        not anyone is subscribed, until a newer one or :meth:`forget` replaces it.
        """

    @abstractmethod
    async def retained(self, room: str) -> list[Envelope]:
        """The room's retained envelopes (in no particular order), including every one
        this hub published before the call. Raises :class:`HubUnavailable` when the
        store that keeps them cannot be reached."""

    @abstractmethod
    def forget(self, room: str, keys: Collection[str] | None = None) -> None:
        """Drop the room's retained envelopes of ``keys`` (every audience), or all of
        them; ordered with :meth:`publish` (a later retained publish is kept)."""

    @abstractmethod
    async def ping(self) -> None:
        """Return once the shared store (Redis) answers; raise :class:`HubUnavailable`
        if it does not within the hub's timeout. The readiness check asks it
        (``GET /api/health/ready``); a hub that keeps rooms in memory is always fine."""

    @abstractmethod
    async def subscribe(self, room: str, deliver: Deliver) -> Subscription:
        """Receive every envelope published to ``room`` from now on."""

    @abstractmethod
    async def close(self) -> None:
        """Release the hub's resources; subscriptions end."""
