"""Snapshots: frozen copies of a dashboard over a time range (docs/history.md).

One row per snapshot. ``content`` is the JSON text of everything its page draws (the
dashboard's public layout, every bound series over the range and its value at the end
of it), so a snapshot needs neither its dashboard nor the recorded history once taken;
``size`` is the length of that text in bytes (the ``snapshot_bytes`` quota).
``dashboard_id`` is a plain column, not a foreign key: the snapshot outlives its
dashboard. ``token`` (``secrets.token_urlsafe(32)``) is its public link.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, created_column, id_column


class Snapshot(Base):
    __tablename__ = "snapshots"

    id: Mapped[str] = id_column()
    token: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    dashboard_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    start: Mapped[int] = mapped_column(BigInteger)
    """Start of the range (included), ms since the epoch."""
    end: Mapped[int] = mapped_column(BigInteger)
    """End of the range (excluded), ms since the epoch."""
    content: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()
