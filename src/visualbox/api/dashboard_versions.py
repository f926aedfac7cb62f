"""HTTP routes for dashboard versions (docs/api/dashboards.md#versions).

Whoever may not see the dashboard gets 404 for its versions too (``dashboards.get_dashboard``).
Mounted with the dashboards routes (``notify_live``): a restore tells the live service like a save.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from visualbox.api.dashboards import dashboard_public
from visualbox.api.deps import CurrentUser, SecretBoxDep, SessionDep, SettingsDep
from visualbox.db.tables.dashboard_versions import DashboardVersion
from visualbox.schemas.dashboard_versions import (
    DashboardVersionCompare,
    DashboardVersionPage,
    DashboardVersionPublic,
    DashboardVersionSummary,
    VersionAuthor,
    VersionRestore,
    VersionRestored,
)
from visualbox.services import dashboard_versions

router = APIRouter(prefix="/dashboards/{dashboard_id}/versions", tags=["dashboards"])


def _summary(version: DashboardVersion, names: dict[str, str]) -> DashboardVersionSummary:
    author = version.saved_by
    return DashboardVersionSummary(
        number=version.number,
        saved_at=version.saved_at,
        saved_by=VersionAuthor(id=author, name=names[author]) if author in names else None,
        summary=version.summary,
    )


def _summaries(db: Session, *versions: DashboardVersion) -> list[DashboardVersionSummary]:
    names = dashboard_versions.saver_names(db, versions)
    return [_summary(v, names) for v in versions]


@router.get("")
def list_versions(
    dashboard_id: str,
    db: SessionDep,
    user: CurrentUser,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DashboardVersionPage:
    """The dashboard's versions, newest first."""
    found, total = dashboard_versions.list_versions(
        db, user, dashboard_id, offset=offset, limit=limit
    )
    return DashboardVersionPage(
        items=_summaries(db, *found), total=total, offset=offset, limit=limit
    )


@router.get("/compare")
def compare_versions(
    dashboard_id: str,
    before: Annotated[int, Query(ge=1)],
    after: Annotated[int, Query(ge=1)],
    db: SessionDep,
    user: CurrentUser,
) -> DashboardVersionCompare:
    """Version ``before`` and version ``after`` side by side."""
    found = dashboard_versions.compare(db, user, dashboard_id, before, after)
    old, new = _summaries(db, found.before, found.after)
    return DashboardVersionCompare.model_validate({**found.diff, "before": old, "after": new})


@router.get("/{number}")
def get_version(
    dashboard_id: str, number: int, db: SessionDep, user: CurrentUser
) -> DashboardVersionPublic:
    version = dashboard_versions.get_version(db, user, dashboard_id, number)
    (summary,) = _summaries(db, version)
    return DashboardVersionPublic.model_validate({**summary.model_dump(), **version.content})


@router.post("/{number}/restore")
def restore_version(
    dashboard_id: str,
    number: int,
    body: VersionRestore,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> VersionRestored:
    """Save version ``number``'s content as a new save; ``revision`` must be the current one
    (else 409)."""
    restored = dashboard_versions.restore(db, box, user, dashboard_id, number, body.revision)
    (summary,) = _summaries(db, restored.version)
    return VersionRestored(
        dashboard=dashboard_public(restored.dashboard, settings, db, box, user),
        version=summary,
        lost_secrets=restored.lost_secrets,
    )
