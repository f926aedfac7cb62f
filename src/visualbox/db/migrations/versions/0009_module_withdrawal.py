"""module withdrawal: withdrawn modules and versions with a reason

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 11:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("module_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_by", sa.String(length=32), nullable=True))
    op.create_table(
        "withdrawn_modules",
        sa.Column("module_id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_withdrawn_modules_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("module_id", name=op.f("pk_withdrawn_modules")),
    )
    with op.batch_alter_table("withdrawn_modules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_withdrawn_modules_owner_id"), ["owner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("withdrawn_modules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_withdrawn_modules_owner_id"))
    op.drop_table("withdrawn_modules")
    with op.batch_alter_table("module_versions", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_by")
        batch_op.drop_column("withdrawn_reason")
        batch_op.drop_column("withdrawn_at")
