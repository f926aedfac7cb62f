"""HTTP routes for snapshots: frozen copies of a dashboard over a time range
(docs/api/snapshots.md).

Mounted with ``prefix="/api"``: the owner's ``/api/dashboards/{id}/snapshots`` routes
and the anonymous ``/api/snapshots/{token}`` read (the token is the credential).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from visualbox.api.deps import CurrentUser, SecretBoxDep, SessionDep, SettingsDep
from visualbox.db.tables.snapshots import Snapshot
from visualbox.schemas.snapshots import PublicSnapshot, SnapshotCreate, SnapshotPublic
from visualbox.services import snapshots
from visualbox.settings import Settings

router = APIRouter(tags=["snapshots"])


def snapshot_public(snapshot: Snapshot, settings: Settings) -> SnapshotPublic:
    return SnapshotPublic(
        id=snapshot.id,
        name=snapshot.name,
        dashboard_id=snapshot.dashboard_id,
        start=snapshot.start,
        end=snapshot.end,
        size=snapshot.size,
        token=snapshot.token,
        url=settings.public_url + snapshots.snapshot_path(snapshot.token),
        created_at=snapshot.created_at,
    )


@router.get("/dashboards/{dashboard_id}/snapshots")
def list_snapshots(
    dashboard_id: str, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> list[SnapshotPublic]:
    """The caller's snapshots of the dashboard, newest first (also once it is deleted)."""
    rows = snapshots.list_snapshots(db, user, dashboard_id)
    return [snapshot_public(row, settings) for row in rows]


@router.post("/dashboards/{dashboard_id}/snapshots", status_code=201)
def create_snapshot(
    dashboard_id: str,
    body: SnapshotCreate,
    db: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> SnapshotPublic:
    """Freeze the dashboard over ``[from, to)``: its layout and its recorded values."""
    snapshot = snapshots.create_snapshot(
        db,
        settings.history,
        user,
        dashboard_id,
        name=body.name,
        start=body.start,
        end=body.end,
    )
    return snapshot_public(snapshot, settings)


@router.delete("/dashboards/{dashboard_id}/snapshots/{snapshot_id}", status_code=204)
def delete_snapshot(
    dashboard_id: str, snapshot_id: str, db: SessionDep, user: CurrentUser
) -> Response:
    """Delete a snapshot: its link stops working at once."""
    snapshots.delete_snapshot(db, user, dashboard_id, snapshot_id)
    return Response(status_code=204)


@router.get("/snapshots/{snapshot_token}")
def public_snapshot(
    snapshot_token: str, db: SessionDep, box: SecretBoxDep, settings: SettingsDep
) -> PublicSnapshot:
    """A snapshot as anyone with its link sees it. No sign-in needed."""
    view = snapshots.public_snapshot(db, box, snapshot_token, settings.frames_origin)
    return PublicSnapshot.model_validate(view)
