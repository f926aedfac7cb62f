"""Leases: each dashboard's integrations run on exactly one server node.

With a shared hub (Redis), every server process is a *node*. A node that has viewers
of a dashboard (or runs it because an instance keeps running) asks for its lease;
the node that gets it runs the instances, the others only relay. A lease expires
unless its node renews it, so the dashboards of a node that died are taken over by
another node with viewers once the lease has expired.

Every change of hands raises the lease's *generation* (a fencing token): the owner
stamps its messages with it and receivers drop older generations, so a node that
lost its lease (paused, cut off) cannot publish over the new owner.

Acquiring is one ``INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING``, atomic on
SQLite and PostgreSQL alike. Every function takes the time (``now``) so tests can
run the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.leases import Lease, Node


@dataclass(frozen=True)
class Grant:
    """Who holds a dashboard's lease after an attempt to acquire it."""

    dashboard_id: str
    node_id: str
    generation: int

    def held_by(self, node_id: str) -> bool:
        return self.node_id == node_id


def acquire(db: Session, dashboard_id: str, node_id: str, ttl_s: float, now: datetime) -> Grant:
    """Take the lease of ``dashboard_id`` if it is free, expired or already ours (then it
    is extended); return who holds it now. A lease that changes hands, or that its own
    node takes back after it expired, gets the next generation. Commits."""
    expires = now + timedelta(seconds=ttl_s)
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    current = Lease.__table__.c
    ours_and_alive = (current.node_id == node_id) & (current.expires_at >= now)
    statement = (
        insert(Lease)
        .values(dashboard_id=dashboard_id, node_id=node_id, generation=1, expires_at=expires)
        .on_conflict_do_update(
            index_elements=[Lease.dashboard_id],
            set_={
                "node_id": node_id,
                "expires_at": expires,
                "generation": case(
                    (ours_and_alive, current.generation), else_=current.generation + 1
                ),
            },
            where=(current.expires_at < now) | (current.node_id == node_id),
        )
        .returning(Lease.node_id, Lease.generation)
    )
    if db.get(Dashboard, dashboard_id) is None:
        return Grant(dashboard_id, "", 0)  # deleted: nobody runs it
    row = db.execute(statement).first()
    db.commit()
    if row is not None:
        return Grant(dashboard_id, row.node_id, row.generation)
    holder = db.execute(
        select(Lease.node_id, Lease.generation).where(Lease.dashboard_id == dashboard_id)
    ).one()
    return Grant(dashboard_id, holder.node_id, holder.generation)


def renew(db: Session, node_id: str, held: dict[str, int], ttl_s: float, now: datetime) -> set[str]:
    """Extend the leases ``node_id`` holds (``{dashboard_id: generation}``) and say it is
    up; return the dashboards whose lease it still holds (the others were lost: expired
    and taken over, or their dashboard deleted). Commits."""
    touch_node(db, node_id, now)
    kept: set[str] = set()
    if held:
        # Still ours even if it expired meanwhile, as long as nobody else took it.
        db.execute(
            update(Lease)
            .where(Lease.node_id == node_id, Lease.dashboard_id.in_(held))
            .values(expires_at=now + timedelta(seconds=ttl_s))
        )
        rows = db.execute(
            select(Lease.dashboard_id, Lease.generation).where(
                Lease.node_id == node_id, Lease.dashboard_id.in_(held)
            )
        )
        kept = {d for d, generation in rows if held.get(d) == generation}
    db.commit()
    return kept


def release(db: Session, node_id: str, dashboard_ids: list[str], now: datetime) -> None:
    """Give up leases (a node that stops, a room nobody watches) so that another node
    may take them at once. The rows stay, expired, so the next holder's generation is
    still higher. Commits."""
    if dashboard_ids:
        db.execute(
            update(Lease)
            .where(Lease.node_id == node_id, Lease.dashboard_id.in_(dashboard_ids))
            .values(expires_at=now - timedelta(seconds=1))
        )
    db.commit()


def touch_node(db: Session, node_id: str, now: datetime) -> None:
    """Say that ``node_id`` is up (does not commit)."""
    node = db.get(Node, node_id)
    if node is None:
        db.add(Node(node_id=node_id, seen_at=now))
    else:
        node.seen_at = now


def leave(db: Session, node_id: str, now: datetime) -> None:
    """A node that shuts down: its leases expire now and its entry goes. Commits."""
    db.execute(
        update(Lease).where(Lease.node_id == node_id).values(expires_at=now - timedelta(seconds=1))
    )
    db.execute(delete(Node).where(Node.node_id == node_id))
    db.commit()


def nodes_up(db: Session, ttl_s: float, now: datetime) -> int:
    """How many nodes said they are up within ``ttl_s``; old entries are removed. Commits."""
    horizon = now - timedelta(seconds=ttl_s)
    db.execute(delete(Node).where(Node.seen_at < horizon))
    db.commit()
    return int(db.scalar(select(func.count()).select_from(Node)) or 0)


def held_by(db: Session, node_id: str, now: datetime) -> int:
    """How many live leases ``node_id`` holds (to spread keep-running dashboards)."""
    count = select(func.count()).select_from(Lease)
    return int(db.scalar(count.where(Lease.node_id == node_id, Lease.expires_at >= now)) or 0)
