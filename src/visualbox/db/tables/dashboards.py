"""Dashboards: one row per dashboard, its document as JSON, its secrets encrypted.

``document`` holds ``{"settings", "integrations", "widgets"}`` exactly as the API
shows it to the owner: every password value is replaced by the marker
``{"secret": true, "set": bool}``. The values themselves live in ``secrets``, one
Fernet token (see ``services/secrets.py``) of ``{"integrations": {id: {name: value}},
"widgets": {id: {name: value}}}``, or NULL when there are none.

``revision`` starts at 1 and is raised by exactly one on every saved change, with a
compare-and-set ``UPDATE ... WHERE revision = :expected`` (optimistic concurrency).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, created_column, id_column, updated_column


class Dashboard(Base):
    __tablename__ = "dashboards"
    __table_args__ = (Index("ix_dashboards_listed", "public", "listed", "created_at"),)

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The team it belongs to (``db/tables/teams.py``, no foreign key: see there); ``None``
    for a private one."""
    name: Mapped[str] = mapped_column(String(100))
    document: Mapped[dict[str, Any]]
    secrets: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    listed: Mapped[bool] = mapped_column(Boolean, default=False)
    share_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    embed_origins: Mapped[list[Any]] = mapped_column(default=list)
    """Origins (``https://intranet.example.org``) whose pages may frame the public
    dashboard (``/embed/<token>``, ``frame-ancestors``); empty: none may."""
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()
