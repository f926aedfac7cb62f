"""Snapshots: a frozen copy of a dashboard over a time range, with its own link.

Taking one stores the dashboard's public layout (what :func:`sharing.public_view`
shows: never an integration's module or config, never a secret) and, for every series a
widget binds to, its recorded values over the range (downsampled to about
:data:`POINTS` points) and its value at the end of the range, as one JSON text. Reading
one needs neither the dashboard nor the history any more: it keeps working after the
history is pruned and after the dashboard changes or is deleted. Its link is
``PUBLIC_URL/s/<token>`` with an unguessable token, like a share token.

The owner lists and deletes the snapshots of a dashboard by its id, also once the
dashboard is gone (they still count towards the ``snapshots`` and ``snapshot_bytes``
quotas).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.snapshots import Snapshot
from visualbox.errors import FieldError, InvalidInput, NotFound
from visualbox.schemas.snapshots import to_ms
from visualbox.services import dashboards, frames, quotas, registry, sharing
from visualbox.services.history import DAY_MS, SeriesQuery, read_series, widget_sources
from visualbox.services.secrets import SecretBox
from visualbox.settings import HistorySettings

TOKEN_BYTES = 32
POINTS = 1000
"""About how many points each series of a snapshot keeps."""
MAX_RANGE_MS = 366 * DAY_MS
CLOCK_SKEW_MS = 60_000
"""How far in the future ``to`` may be (the caller's clock); it is cut to now."""


def snapshot_path(token: str) -> str:
    return f"/s/{token}"


def check_range(first: int, last: int, now_ms: int) -> tuple[int, int]:
    """``(start, end)`` in ms (``end`` cut to now), or :class:`InvalidInput` naming every
    problem."""
    errors: list[FieldError] = []
    if first < 0:
        errors.append(FieldError("from", "must be after 1970-01-01"))
    if last > now_ms + CLOCK_SKEW_MS:
        errors.append(FieldError("to", "must not be in the future: a snapshot keeps the past"))
    last = min(last, now_ms)
    if not errors and first >= last:
        errors.append(FieldError("from", "must be before to"))
    if not errors and last - first > MAX_RANGE_MS:
        errors.append(FieldError("from", "must be at most 366 days before to"))
    if errors:
        raise InvalidInput("The snapshot's time range is not valid.", errors)
    return first, last


def end_values(series: list[dict[str, Any]]) -> dict[str, Any]:
    """``{instance: output}`` rebuilt from the last value of each series: a widget bound
    to ``/i1/a/b`` finds its value at ``data["i1"]["a"]["b"]``."""
    data: dict[str, Any] = {}
    ordered = sorted(series, key=lambda s: len(s["pointer"]))  # whole outputs first
    for item in ordered:
        if item["last"] is None:
            continue
        value = item["last"][1]
        instance, pointer = item["instance"], item["pointer"]
        if pointer == "":
            data[instance] = value
            continue
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
        node = data.get(instance)
        if not isinstance(node, dict):
            node = data[instance] = {}
        for token in tokens[:-1]:
            child = node.get(token)
            if not isinstance(child, dict):
                child = node[token] = {}
            node = child
        node[tokens[-1]] = value
    return data


def create_snapshot(
    db: Session,
    settings: HistorySettings,
    user: User,
    dashboard_id: str,
    *,
    name: str | None,
    start: int | str,
    end: int | str,
) -> Snapshot:
    """Freeze ``user``'s dashboard over ``[start, end)``."""
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    now = time.time_ns() // 1_000_000
    first, last = check_range(to_ms(start), to_ms(end), now)
    label = (name or "").strip() or dashboard.name
    instances = {item["id"] for item in dashboard.document["integrations"]}
    series = [
        read_series(db, settings, dashboard.id, SeriesQuery(i, p, first, last, POINTS), now)
        for i, p in sorted(widget_sources(dashboard.document))
        if i in instances
    ]
    view = sharing.public_view(dashboard)
    found = [s.model_dump(mode="json") for s in series]
    content = {
        "dashboard_name": dashboard.name,
        "settings": view["settings"],
        "integrations": view["integrations"],
        "widgets": view["widgets"],
        "data": end_values(found),
        "series": found,
    }
    text = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode())
    quotas.check_snapshot(db, user, size)
    snapshot = Snapshot(
        token=secrets.token_urlsafe(TOKEN_BYTES),
        owner_id=user.id,
        dashboard_id=dashboard.id,
        name=label[:100],
        start=first,
        end=last,
        content=text,
        size=size,
    )
    db.add(snapshot)
    db.commit()
    return snapshot


def list_snapshots(db: Session, user: User, dashboard_id: str) -> list[Snapshot]:
    """``user``'s snapshots of a dashboard, newest first (also once it is deleted)."""
    rows = list(
        db.scalars(
            select(Snapshot)
            .where(Snapshot.owner_id == user.id, Snapshot.dashboard_id == dashboard_id)
            .order_by(Snapshot.created_at.desc(), Snapshot.id)
        )
    )
    if not rows:
        dashboards.get_dashboard(db, user, dashboard_id)  # 404 for anyone else's
    return rows


def delete_snapshot(db: Session, user: User, dashboard_id: str, snapshot_id: str) -> None:
    snapshot = None
    if "\x00" not in snapshot_id + dashboard_id:
        snapshot = db.get(Snapshot, snapshot_id)
    if snapshot is None or snapshot.owner_id != user.id or snapshot.dashboard_id != dashboard_id:
        raise NotFound("No such snapshot.")
    db.delete(snapshot)
    db.commit()


def public_snapshot(db: Session, box: SecretBox, token: str, origin: str) -> dict[str, Any]:
    """What a visitor of ``/s/<token>`` sees (each widget with its ``frame`` URL)."""
    snapshot = None
    if "\x00" not in token:
        snapshot = db.scalar(select(Snapshot).where(Snapshot.token == token))
    if snapshot is None:
        raise NotFound("No such snapshot (its owner may have deleted it).")
    content = json.loads(snapshot.content)
    widgets = content["widgets"]
    # Frames are resolved as the owner, from the widgets' modules: no dashboard needed.
    frozen = Dashboard(owner_id=snapshot.owner_id, document={"widgets": widgets})
    frame_urls = frames.dashboard_frames(db, box, frozen, origin)
    gone = registry.withdrawn_items(db, snapshot.owner_id, widgets)
    for widget in widgets:
        widget["frame"] = frame_urls.get(widget["id"])
        widget["withdrawn"] = gone.get(widget["id"])
    return {
        **content,
        "name": snapshot.name,
        "start": snapshot.start,
        "end": snapshot.end,
        "created_at": snapshot.created_at,
    }
