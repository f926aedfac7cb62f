"""This server process's part in a cluster: several processes or nodes on one shared hub.

Alone (the in-memory hub) a process runs every dashboard it is asked for, and
nothing here touches the database. In a cluster (``HUB__URL``) each process is a
*node* with a random id, and a dashboard's integrations run on the node that holds
the dashboard's lease (``services/leases.py``): :meth:`Cluster.claim` asks for it,
:meth:`Cluster.renew` keeps the held ones (and says which were lost), and
:meth:`Cluster.release` gives one up. The generation of a held lease stamps every
message the node publishes for that dashboard (the fencing token, see
:class:`Fence`).
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime

from visualbox.db.engine import Database
from visualbox.services import leases

NODES_ROOM = "nodes"
"""The hub room every node subscribes to: dashboard changes and owner commands
(``NodeChanged``, ``NodeCommand`` in ``schemas/live.py``)."""


class Cluster:
    def __init__(self, database: Database, *, shared: bool, ttl_s: float) -> None:
        self.database = database
        self.shared = shared
        """Several nodes share the hub: leases decide who runs what."""
        self.ttl_s = ttl_s
        self.node_id = secrets.token_hex(8)
        self.held: dict[str, int] = {}
        """``{dashboard_id: generation}`` of the leases this node holds."""

    async def claim(self, dashboard_id: str) -> int | None:
        """The lease's generation if this node runs ``dashboard_id`` now (0 alone), or
        ``None`` when another node does."""
        if not self.shared:
            return 0
        grant = await self.database.call(
            leases.acquire, dashboard_id, self.node_id, self.ttl_s, datetime.now(UTC)
        )
        if grant.held_by(self.node_id):
            self.held[dashboard_id] = grant.generation
            return grant.generation
        self.held.pop(dashboard_id, None)
        return None

    async def release(self, dashboard_id: str) -> None:
        """Stop running ``dashboard_id`` here: another node with viewers takes it at once."""
        if self.shared and self.held.pop(dashboard_id, None) is not None:
            await self.database.call(
                leases.release, self.node_id, [dashboard_id], datetime.now(UTC)
            )

    async def renew(self) -> set[str]:
        """Renew the held leases; return the dashboards whose lease was lost."""
        if not self.shared:
            return set()
        held = dict(self.held)
        kept = await self.database.call(
            leases.renew, self.node_id, held, self.ttl_s, datetime.now(UTC)
        )
        lost = set(held) - kept
        for dashboard_id in lost:
            if self.held.get(dashboard_id) == held[dashboard_id]:
                del self.held[dashboard_id]
        return lost

    async def fair_share(self, total: int) -> bool:
        """Whether this node should take one more of ``total`` dashboards that keep
        running (they are spread evenly over the nodes that are up)."""
        if not self.shared:
            return True
        now = datetime.now(UTC)
        nodes = max(1, await self.database.call(leases.nodes_up, self.ttl_s, now))
        mine = await self.database.call(leases.held_by, self.node_id, now)
        return bool(mine < math.ceil(total / nodes))

    async def leave(self) -> None:
        """This node stops: its leases expire now, so others take over at once."""
        if self.shared:
            self.held.clear()
            await self.database.call(leases.leave, self.node_id, datetime.now(UTC))


class Fence:
    """The highest lease generation seen in a room: messages of an older one come from
    a node that lost the lease, and are dropped. Generation 0 is a room that is not
    leased (one process, or a development run)."""

    __slots__ = ("highest",)

    def __init__(self) -> None:
        self.highest = 0

    def admits(self, generation: int) -> bool:
        if generation == 0:
            return True
        if generation < self.highest:
            return False
        self.highest = generation
        return True
