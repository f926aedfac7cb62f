"""History: what integration instances output, kept as time series (docs/history.md).

* ``history_series``: one row per recorded series, a dashboard's instance and a JSON
  Pointer into its output (``""`` for the whole output), with ``bytes``, about what its
  values take (the ``history_bytes`` quota);
* ``history_points``: every recorded value, keyed ``(series_id, t, seq)`` with ``t`` in
  milliseconds since the epoch (``seq`` orders the values of one millisecond); ``value``
  is its JSON text, ``num`` its number (for numbers only);
* ``history_rollups``: 1-minute and 1-hour buckets (``step`` in milliseconds) of each
  series: how many values, and of the numbers among them how many, their sum, min and
  max; the last value (of any kind).

Written in batches by ``services/history.py``, never on the relay path; pruned by time
range (the primary keys lead with the series and the time). On PostgreSQL
``history_points`` is partitioned by range of ``t``, one partition a day
(``history_points_pYYYYMMDD``, made by ``services/history_store.py``), so retention
drops whole days.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base


class HistorySeries(Base):
    __tablename__ = "history_series"
    __table_args__ = (UniqueConstraint("dashboard_id", "instance_id", "pointer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dashboard_id: Mapped[str] = mapped_column(
        ForeignKey("dashboards.id", ondelete="CASCADE"), index=True
    )
    instance_id: Mapped[str] = mapped_column(String(32))
    pointer: Mapped[str] = mapped_column(String(1000))
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """About how many bytes its raw values take: added by the recorder, taken off by
    retention (``history_store.stored_bytes`` of each value)."""


class HistoryPoint(Base):
    __tablename__ = "history_points"
    __table_args__ = {"postgresql_partition_by": "RANGE (t)"}

    series_id: Mapped[int] = mapped_column(
        ForeignKey("history_series.id", ondelete="CASCADE"), primary_key=True
    )
    t: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    """0, or 1, 2 ... for the next values of the series in the same millisecond."""
    value: Mapped[str] = mapped_column(Text)
    num: Mapped[float | None] = mapped_column(Float)


class HistoryRollup(Base):
    __tablename__ = "history_rollups"

    series_id: Mapped[int] = mapped_column(
        ForeignKey("history_series.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    t: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    numbers: Mapped[int] = mapped_column(Integer)
    """How many of the ``count`` values were numbers (``sum``, ``min``, ``max`` are theirs)."""
    sum: Mapped[float | None] = mapped_column(Float)
    min: Mapped[float | None] = mapped_column(Float)
    max: Mapped[float | None] = mapped_column(Float)
    last: Mapped[str] = mapped_column(Text)
    last_t: Mapped[int] = mapped_column(BigInteger)
