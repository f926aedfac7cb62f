"""alert rules, their state and their history

``alert_rules`` (on a dashboard, deleted with it), ``alert_states`` (one row a rule, the
version its changes compare and set), ``alert_events`` (the rule's history) and
``alert_outbox`` (notifications not delivered yet). See db/tables/alerts.py.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def _rule_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["rule_id"],
        ["alert_rules.id"],
        name=op.f(f"fk_{table}_rule_id_alert_rules"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dashboard_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("pointer", sa.String(length=1000), nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Text(), nullable=True),
        sa.Column("for_s", sa.Float(), nullable=False),
        sa.Column("no_data_s", sa.Float(), nullable=True),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("webhook_secret", sa.Text(), nullable=True),
        sa.Column("silenced_until", _TIME, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["dashboard_id"],
            ["dashboards.id"],
            name=op.f("fk_alert_rules_dashboard_id_dashboards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
    )
    op.create_index(
        op.f("ix_alert_rules_dashboard_id"), "alert_rules", ["dashboard_id"], unique=False
    )
    op.create_table(
        "alert_states",
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", _TIME, nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _rule_fk("alert_states"),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_alert_states")),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        _rule_fk("alert_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(op.f("ix_alert_events_rule_id"), "alert_events", ["rule_id"], unique=False)
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        _rule_fk("alert_outbox"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_outbox")),
    )
    op.create_index(op.f("ix_alert_outbox_rule_id"), "alert_outbox", ["rule_id"], unique=False)
    op.create_index(
        op.f("ix_alert_outbox_next_attempt_at"), "alert_outbox", ["next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("alert_outbox")
    op.drop_table("alert_events")
    op.drop_table("alert_states")
    op.drop_table("alert_rules")
