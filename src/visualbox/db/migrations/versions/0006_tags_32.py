"""Module tags may be 32 characters, as the module format allows.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("module_tags") as batch:
        batch.alter_column("tag", type_=sa.String(32), existing_type=sa.String(30))


def downgrade() -> None:
    with op.batch_alter_table("module_tags") as batch:
        batch.alter_column("tag", type_=sa.String(30), existing_type=sa.String(32))
