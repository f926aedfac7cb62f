"""dashboard versions: every save kept, bounded by a setting

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_versions",
        sa.Column("dashboard_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("saved_by", sa.String(length=32), nullable=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dashboard_id"],
            ["dashboards.id"],
            name=op.f("fk_dashboard_versions_dashboard_id_dashboards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["saved_by"],
            ["users.id"],
            name=op.f("fk_dashboard_versions_saved_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("dashboard_id", "number", name=op.f("pk_dashboard_versions")),
    )
    with op.batch_alter_table("dashboard_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_versions_saved_by"), ["saved_by"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dashboard_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_versions_saved_by"))

    op.drop_table("dashboard_versions")
