"""quotas: per-account quota overrides

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_QUOTAS = (
    "dashboards",
    "modules",
    "instances_per_dashboard",
    "keep_running",
    "sandboxes",
    "output_bytes_per_s",
    "module_bytes",
)


def upgrade() -> None:
    op.create_table(
        "quota_overrides",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=True) for name in _QUOTAS),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_quota_overrides_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_quota_overrides")),
    )


def downgrade() -> None:
    op.drop_table("quota_overrides")
