"""history: day partitions of the raw values on PostgreSQL, bytes per series, and the
history_bytes quota

On PostgreSQL ``history_points`` becomes a table partitioned by range of ``t``, one
partition a day (``history_points_pYYYYMMDD``, the name ``services/history_store.py``
gives them), with the existing rows copied; SQLite keeps its plain table. Both get
``history_series.bytes`` (filled from the stored values) and
``quota_overrides.history_bytes``.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 21:30:02
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

DAY_MS = 86_400_000
ROW_BYTES = 24  # history_store.ROW_BYTES: what one value costs beyond its JSON text


def _points_table(name: str, **partitioning: Any) -> None:
    op.create_table(
        name,
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
        **partitioning,
    )


def _set_aside(name: str) -> None:
    """Rename ``history_points`` and its constraints out of the way."""
    op.execute(f"ALTER TABLE history_points RENAME TO {name}")
    op.execute(f"ALTER TABLE {name} RENAME CONSTRAINT pk_history_points TO pk_{name}")
    op.execute(
        f"ALTER TABLE {name} RENAME CONSTRAINT fk_history_points_series_id_history_series "
        f"TO fk_{name}_series_id"
    )


def _copy(source: str) -> None:
    op.execute(
        f"INSERT INTO history_points (series_id, t, seq, value, num) "
        f"SELECT series_id, t, seq, value, num FROM {source}"
    )


def upgrade() -> None:
    with op.batch_alter_table("history_series", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("quota_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("history_bytes", sa.BigInteger(), nullable=True))

    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    length = "octet_length(value)" if postgres else "length(CAST(value AS BLOB))"
    op.execute(
        "UPDATE history_series SET bytes = COALESCE((SELECT "
        f"sum({length}) + {ROW_BYTES} * count(*) FROM history_points "
        "WHERE history_points.series_id = history_series.id), 0)"
    )
    if not postgres:
        return
    _set_aside("history_points_old")
    _points_table("history_points", postgresql_partition_by="RANGE (t)")
    days = bind.execute(
        sa.text(f"SELECT DISTINCT floor(t::numeric / {DAY_MS})::bigint FROM history_points_old")
    ).scalars()
    for day in days:
        name = datetime.fromtimestamp(day * DAY_MS / 1000, UTC).strftime("history_points_p%Y%m%d")
        op.execute(
            f"CREATE TABLE {name} PARTITION OF history_points "
            f"FOR VALUES FROM ({day * DAY_MS}) TO ({(day + 1) * DAY_MS})"
        )
    _copy("history_points_old")
    op.execute("DROP TABLE history_points_old")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _set_aside("history_points_partitioned")
        _points_table("history_points")
        _copy("history_points_partitioned")
        op.execute("DROP TABLE history_points_partitioned CASCADE")  # and its partitions

    with op.batch_alter_table("quota_overrides", schema=None) as batch_op:
        batch_op.drop_column("history_bytes")
    # Not in batch mode: on SQLite that copies history_series and drops the old table,
    # which (foreign keys on) cascades to every recorded value. SQLite >= 3.35 drops a
    # plain column in place.
    op.execute("ALTER TABLE history_series DROP COLUMN bytes")
