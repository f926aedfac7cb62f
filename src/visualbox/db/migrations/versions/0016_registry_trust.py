"""signed manifests of published versions, and versions blocked by an administrator

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 21:28:35.182968

Versions published before this have an empty ``files_manifest``: the server computes
and signs theirs at its next start (``services/signing.py``: ``sign_unsigned``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("module_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("files_manifest", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(sa.Column("signature", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("blocked_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("blocked_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("module_versions", schema=None) as batch_op:
        batch_op.drop_column("blocked_by")
        batch_op.drop_column("blocked_reason")
        batch_op.drop_column("blocked_at")
        batch_op.drop_column("signature")
        batch_op.drop_column("files_manifest")
