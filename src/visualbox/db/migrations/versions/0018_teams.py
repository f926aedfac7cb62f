"""teams, memberships and invitations; dashboards and modules may belong to a team

``dashboards.team_id`` and ``modules.team_id`` are nullable plain columns (no foreign
key, see ``db/tables/teams.py``): a team that still has dashboards or modules cannot be
deleted until they are moved out or deleted (``services/teams.py``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", _NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_teams_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("created_at", _NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_team_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    op.create_index(op.f("ix_team_members_user_id"), "team_members", ["user_id"], unique=False)
    op.create_table(
        "team_invitations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", _NOW, nullable=False),
        sa.Column("expires_at", _NOW, nullable=False),
        sa.Column("accepted_at", _NOW, nullable=True),
        sa.Column("revoked_at", _NOW, nullable=True),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_team_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_invitations_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_team_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_team_invitations_team_id"), "team_invitations", ["team_id"], unique=False
    )
    for table in ("dashboards", "modules"):
        # In place on SQLite too (a plain nullable column needs no table rebuild).
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("team_id", sa.String(length=32), nullable=True))
        op.create_index(op.f(f"ix_{table}_team_id"), table, ["team_id"], unique=False)


def downgrade() -> None:
    for table in ("modules", "dashboards"):
        op.drop_index(op.f(f"ix_{table}_team_id"), table_name=table)
        op.execute(f"ALTER TABLE {table} DROP COLUMN team_id")  # in place on SQLite too
    op.drop_index(op.f("ix_team_invitations_team_id"), table_name="team_invitations")
    op.drop_table("team_invitations")
    op.drop_index(op.f("ix_team_members_user_id"), table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
