"""Dashboard versions: every save of a dashboard kept, bounded by a setting (docs/dashboards.md).

One row per saved revision: ``number`` is the revision the save made (1 for a new
dashboard), ``content`` the dashboard as saved (``{"name", "settings", "integrations",
"widgets"}``) with password values as markers only, exactly like ``dashboards.document``:
the encrypted ``secrets`` column is never versioned. ``summary`` says in words what the
save changed. The oldest rows beyond ``DASHBOARDS__VERSIONS_KEPT`` are deleted at save time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, created_column


class DashboardVersion(Base):
    __tablename__ = "dashboard_versions"

    dashboard_id: Mapped[str] = mapped_column(
        ForeignKey("dashboards.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    saved_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    """Who saved it; ``None`` once that account is deleted."""
    saved_at: Mapped[datetime] = created_column()
    content: Mapped[dict[str, Any]]
    summary: Mapped[str] = mapped_column(Text)
