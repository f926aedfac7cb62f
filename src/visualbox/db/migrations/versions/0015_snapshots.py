"""snapshots: frozen copies of dashboards, and their quotas

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 18:17:25.197448
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("dashboard_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_snapshots_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.UniqueConstraint("token", name=op.f("uq_snapshots_token")),
    )
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_snapshots_dashboard_id"), ["dashboard_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_snapshots_owner_id"), ["owner_id"], unique=False)

    with op.batch_alter_table("quota_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snapshots", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("snapshot_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quota_overrides", schema=None) as batch_op:
        batch_op.drop_column("snapshot_bytes")
        batch_op.drop_column("snapshots")

    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_snapshots_owner_id"))
        batch_op.drop_index(batch_op.f("ix_snapshots_dashboard_id"))

    op.drop_table("snapshots")
