"""The persisted last values of integration instances (table ``live_values``).

The live service keeps the last value of every instance in memory and hands the
changed ones to :func:`save` in batches (every ``live.flush_interval_s``), so the
relay path never waits for the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.live import LiveValue

Key = tuple[str, str]
"""``(dashboard_id, instance_id)``."""


def load(db: Session, dashboard_id: str) -> dict[str, tuple[str, datetime]]:
    """``{instance_id: (data as JSON text, time)}`` of one dashboard."""
    rows = db.scalars(select(LiveValue).where(LiveValue.dashboard_id == dashboard_id))
    return {row.instance_id: (row.data, as_utc(row.updated_at)) for row in rows}


def save(db: Session, values: Mapping[Key, tuple[str, datetime]]) -> None:
    """Upsert ``values``; values of dashboards deleted meanwhile are skipped. Commits."""
    if not values:
        return
    dashboard_ids = {d for d, _ in values}
    existing = set(db.scalars(select(Dashboard.id).where(Dashboard.id.in_(dashboard_ids))))
    rows = {
        (row.dashboard_id, row.instance_id): row
        for row in db.scalars(select(LiveValue).where(LiveValue.dashboard_id.in_(existing)))
    }
    for key, (data, at) in values.items():
        if key[0] not in existing:
            continue
        row = rows.get(key)
        if row is None:
            db.add(LiveValue(dashboard_id=key[0], instance_id=key[1], data=data, updated_at=at))
        else:
            row.data, row.updated_at = data, at
    db.commit()


def forget(db: Session, dashboard_id: str, instance_ids: Iterable[str]) -> None:
    """Drop the values of removed instances. Commits."""
    ids = list(instance_ids)
    if ids:
        db.execute(
            delete(LiveValue).where(
                LiveValue.dashboard_id == dashboard_id, LiveValue.instance_id.in_(ids)
            )
        )
        db.commit()
