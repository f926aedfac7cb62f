"""working copies: the previous working copy of each module, for undo

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 15:35:33
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "previous_working_copies",
        sa.Column("module_id", sa.String(length=32), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.Column("folders", sa.JSON(), nullable=False),
        sa.Column("cover", sa.String(length=512), nullable=True),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("replaced_by", sa.String(length=20), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["module_id"],
            ["modules.id"],
            name=op.f("fk_previous_working_copies_module_id_modules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("module_id", name=op.f("pk_previous_working_copies")),
    )


def downgrade() -> None:
    op.drop_table("previous_working_copies")
