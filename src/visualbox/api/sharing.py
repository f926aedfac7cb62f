"""HTTP routes for sharing dashboards and reading public ones (docs/api/sharing.md).

Mounted with ``prefix="/api"``: the owner's ``/api/dashboards/{id}/sharing`` routes
and the anonymous ``/api/public/dashboards`` read model and explorer.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from visualbox.api.deps import CurrentUser, LiveDep, SecretBoxDep, SessionDep, SettingsDep
from visualbox.db.tables.dashboards import Dashboard
from visualbox.schemas.sharing import (
    ExplorerItem,
    ExplorerPage,
    PublicDashboard,
    SharingPublic,
    SharingUpdate,
)
from visualbox.services import dashboards, frames, live_values, registry, sharing
from visualbox.settings import Settings

router = APIRouter(tags=["sharing"])


def sharing_public(dashboard: Dashboard, settings: Settings) -> SharingPublic:
    token = dashboard.share_token
    return SharingPublic(
        public=dashboard.public,
        listed=dashboard.listed,
        token=token,
        url=settings.public_url + sharing.share_path(token) if token else None,
        embed_origins=dashboard.embed_origins or [],
        embed_url=settings.public_url + sharing.embed_path(token) if token else None,
    )


@router.get("/dashboards/{dashboard_id}/sharing")
def get_sharing(
    dashboard_id: str, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> SharingPublic:
    return sharing_public(dashboards.get_dashboard(db, user, dashboard_id), settings)


@router.post("/dashboards/{dashboard_id}/sharing")
def update_sharing(
    dashboard_id: str, body: SharingUpdate, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> SharingPublic:
    """Make the dashboard public (and maybe listed) or private (the link dies); set the
    origins that may embed it."""
    dashboard = sharing.update_sharing(
        db,
        user,
        dashboard_id,
        public=body.public,
        listed=body.listed,
        embed_origins=body.embed_origins,
    )
    return sharing_public(dashboard, settings)


@router.post("/dashboards/{dashboard_id}/sharing/regenerate")
def regenerate_token(
    dashboard_id: str, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> SharingPublic:
    """A new link; the old one stops working at once."""
    return sharing_public(sharing.regenerate_token(db, user, dashboard_id), settings)


@router.get("/public/dashboards")
def explore(
    db: SessionDep,
    settings: SettingsDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ExplorerPage:
    """Public dashboards their owners chose to list, newest first. No sign-in needed."""
    items, total = sharing.explore(db, page=page, per_page=per_page)
    return ExplorerPage(
        items=[
            ExplorerItem(
                name=d.name,
                token=d.share_token or "",
                url=settings.public_url + sharing.share_path(d.share_token or ""),
                created_at=d.created_at,
                updated_at=d.updated_at,
            )
            for d in items
        ],
        total=total,
        page=page,
        per_page=per_page,
    )


@router.get("/public/dashboards/{token}")
def public_dashboard(
    token: str,
    db: SessionDep,
    box: SecretBoxDep,
    live: LiveDep,
    settings: SettingsDep,
    embed: bool = False,
) -> PublicDashboard:
    """A shared dashboard's read model with the last values of its integrations; each
    widget with its ``frame`` URL (``embed=true``: frames its embed origins may frame
    too). No sign-in needed."""
    dashboard = sharing.shared_dashboard(db, token)
    texts = live.last_values(dashboard.id)
    if texts is None:  # nobody has it open: the values saved last
        texts = {i: text for i, (text, _at) in live_values.load(db, dashboard.id).items()}
    data = {instance: json.loads(text) for instance, text in texts.items()}
    view = sharing.public_view(dashboard, data)
    frame_urls = frames.dashboard_frames(db, box, dashboard, settings.frames_origin, embedded=embed)
    gone = registry.withdrawn_items(db, dashboard.owner_id, dashboard.document["widgets"])
    for widget in view["widgets"]:
        widget["frame"] = frame_urls.get(widget["id"])
        widget["withdrawn"] = gone.get(widget["id"])
    return PublicDashboard.model_validate(view)
