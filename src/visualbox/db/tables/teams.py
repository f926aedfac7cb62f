"""Teams: a group of accounts sharing dashboards and modules, each member with a role.

A dashboard or a module belongs to a team when its ``team_id`` is set (it still has
an owner account, whose quotas it counts against). A team that still has dashboards
or modules cannot be deleted until they are moved out or deleted:
``services/teams.py`` checks that, in the same transaction. ``team_id`` has no
foreign key: SQLite adds one to an existing table only by rebuilding it, and that
rebuild (dropping the old table, foreign keys on) would cascade-delete everything
that refers to a dashboard or a module.

An invitation stores only the SHA-256 of its token (``services/tokens.py``), like
every other one-time link; it ends accepted, revoked or expired.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, created_column, id_column

ROLES = ("viewer", "editor", "admin")


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()


class TeamMember(Base):
    """One account's role in one team: ``viewer``, ``editor`` or ``admin``."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = created_column()


class TeamInvitation(Base):
    """An invitation by email; the link's token is kept as its SHA-256 only."""

    __tablename__ = "team_invitations"

    id: Mapped[str] = id_column()
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
