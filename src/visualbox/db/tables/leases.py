"""Leases: which server node runs a dashboard's integrations (docs/deployment.md,
"Many processes and nodes"). Written by ``services/leases.py``.

A lease row names the node that holds it, until when, and its *fencing generation*:
the number grows every time the lease changes hands, and live messages carry it, so
messages of a node that lost its lease but still runs are dropped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base


class Lease(Base):
    __tablename__ = "leases"

    dashboard_id: Mapped[str] = mapped_column(
        ForeignKey("dashboards.id", ondelete="CASCADE"), primary_key=True
    )
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    generation: Mapped[int]
    expires_at: Mapped[datetime]


class Node(Base):
    """A server process that is up: it renews ``seen_at`` with its leases."""

    __tablename__ = "nodes"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime]
