"""Live rooms: the :class:`~visualbox.hub.base.Hub` contract and its implementations."""

from __future__ import annotations

from visualbox.hub.base import Deliver, Envelope, Hub, HubUnavailable, Subscription
from visualbox.hub.memory import MemoryHub
from visualbox.hub.redis import RedisHub

__all__ = ["Deliver", "Envelope", "Hub", "HubUnavailable", "MemoryHub", "RedisHub", "Subscription"]
