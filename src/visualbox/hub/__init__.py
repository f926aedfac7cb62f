"""Live rooms: the :class:`~visualbox.hub.base.Hub` contract and its implementations."""

from __future__ import annotations

from visualbox.hub.base import Deliver, Envelope, Hub, Subscription
from visualbox.hub.memory import MemoryHub

__all__ = ["Deliver", "Envelope", "Hub", "MemoryHub", "Subscription"]
