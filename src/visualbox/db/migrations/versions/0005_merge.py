"""Join the accounts, modules and dashboards branches into one head.

Revision ID: 0005
Revises: 0002, 0003, 0004
"""

from __future__ import annotations

revision = "0005"
down_revision = ("0002", "0003", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
