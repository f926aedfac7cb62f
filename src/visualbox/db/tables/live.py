"""Live values: the last output of each integration instance, so a restarted server
shows the last known data at once. Written in batches by ``services/live_values.py``,
never on the relay path."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base


class LiveValue(Base):
    __tablename__ = "live_values"

    dashboard_id: Mapped[str] = mapped_column(
        ForeignKey("dashboards.id", ondelete="CASCADE"), primary_key=True
    )
    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    """The output as JSON text, exactly as it is relayed."""
    updated_at: Mapped[datetime]
