"""history: recorded series, their values and their 1-minute and 1-hour rollups

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 17:35:05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history_series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dashboard_id", sa.String(length=32), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("pointer", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["dashboard_id"],
            ["dashboards.id"],
            name=op.f("fk_history_series_dashboard_id_dashboards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_series")),
        sa.UniqueConstraint(
            "dashboard_id", "instance_id", "pointer", name=op.f("uq_history_series_dashboard_id")
        ),
    )
    with op.batch_alter_table("history_series", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_history_series_dashboard_id"), ["dashboard_id"], unique=False
        )
    op.create_table(
        "history_points",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("t", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("num", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["history_series.id"],
            name=op.f("fk_history_points_series_id_history_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "t", "seq", name=op.f("pk_history_points")),
    )
    op.create_table(
        "history_rollups",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("t", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("numbers", sa.Integer(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=True),
        sa.Column("min", sa.Float(), nullable=True),
        sa.Column("max", sa.Float(), nullable=True),
        sa.Column("last", sa.Text(), nullable=False),
        sa.Column("last_t", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["history_series.id"],
            name=op.f("fk_history_rollups_series_id_history_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "step", "t", name=op.f("pk_history_rollups")),
    )


def downgrade() -> None:
    op.drop_table("history_rollups")
    op.drop_table("history_points")
    with op.batch_alter_table("history_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_history_series_dashboard_id"))
    op.drop_table("history_series")
