"""HTTP routes for dashboards (docs/api/dashboards.md).

Owner only: another user's dashboard, administrators' included, answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from visualbox.api.deps import CurrentUser, LiveDep, SecretBoxDep, SessionDep, SettingsDep
from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.schemas.dashboards import (
    DashboardCreate,
    DashboardExport,
    DashboardPatch,
    DashboardPublic,
    DashboardSettingsPublic,
    DashboardSummary,
    DashboardUpdate,
    IntegrationAdd,
    IntegrationChange,
    IntegrationPublic,
    SamplePublic,
    WidgetPublic,
)
from visualbox.services import dashboards, frames, registry, samples, sharing, teams
from visualbox.services.secrets import SecretBox
from visualbox.services.sharing import share_path
from visualbox.settings import Settings

router = APIRouter(prefix="/dashboards", tags=["dashboards"])


def dashboard_public(
    dashboard: Dashboard, settings: Settings, db: Session, box: SecretBox, user: User | None = None
) -> DashboardPublic:
    """The owner's view; each widget gets ``frame``, the URL its iframe loads, and an item
    whose module or version was withdrawn gets ``withdrawn``, why. A team viewer (``user``)
    gets the public link's view: no integration config, no secret markers, no link."""
    role, team_name = teams.dashboard_membership(db, user, dashboard)
    document = dashboard.document
    if role == "viewer":
        view = sharing.public_view(dashboard)
        document = {
            **document,
            "integrations": [{**i, "config": {}} for i in document["integrations"]],
            "widgets": [
                {**w, "config": v["config"]}
                for w, v in zip(document["widgets"], view["widgets"], strict=True)
            ],
        }
    frame_urls = frames.dashboard_frames(db, box, dashboard, settings.frames_origin)
    gone = registry.withdrawn_items(
        db, dashboard.owner_id, [*document["integrations"], *document["widgets"]]
    )
    token = dashboard.share_token if role != "viewer" else None
    return DashboardPublic(
        **_summary(dashboard, role, team_name),
        settings=DashboardSettingsPublic.model_validate(document["settings"]),
        variables=document.get("variables", []),
        integrations=[
            IntegrationPublic.model_validate({**i, "withdrawn": gone.get(i["id"])})
            for i in document["integrations"]
        ],
        widgets=[
            WidgetPublic.model_validate(
                {**w, "frame": frame_urls.get(w["id"]), "withdrawn": gone.get(w["id"])}
            )
            for w in document["widgets"]
        ],
        share_url=settings.public_url + share_path(token) if token else None,
    )


@router.get("")
def list_dashboards(db: SessionDep, user: CurrentUser) -> list[DashboardSummary]:
    found = []
    for d in dashboards.list_dashboards(db, user):
        role, team_name = teams.dashboard_membership(db, user, d)
        found.append(DashboardSummary(**_summary(d, role, team_name)))
    return found


def _summary(dashboard: Dashboard, role: str, team_name: str | None) -> dict[str, Any]:
    """The fields a dashboard's summary and its full answer share."""
    return {
        "id": dashboard.id,
        "name": dashboard.name,
        "revision": dashboard.revision,
        "public": dashboard.public,
        "listed": dashboard.listed,
        "team_id": dashboard.team_id,
        "team_name": team_name,
        "role": role,
        "created_at": dashboard.created_at,
        "updated_at": dashboard.updated_at,
    }


@router.post("", status_code=201)
def create_dashboard(
    body: DashboardCreate,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
    live: LiveDep,
) -> DashboardPublic:
    created = dashboards.create_dashboard(db, box, user, body, team_id=body.team_id)
    live.dashboard_changed(created.id)  # instances that keep running start now
    return dashboard_public(created, settings, db, box, user)


@router.post("/import", status_code=201)
def import_dashboard(
    body: DashboardExport,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
    live: LiveDep,
) -> DashboardPublic:
    created = dashboards.import_dashboard(db, box, user, body)
    live.dashboard_changed(created.id)
    return dashboard_public(created, settings, db, box, user)


@router.get("/samples")
def list_samples(user: CurrentUser) -> list[SamplePublic]:
    """The sample dashboards anyone may start from (built-in modules only)."""
    return [
        SamplePublic(name=name, title=samples.load_sample(name).name)
        for name in samples.sample_names()
    ]


@router.post("/samples/{name}", status_code=201)
def create_from_sample(
    name: str,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
    live: LiveDep,
) -> DashboardPublic:
    """A new dashboard of mine made from sample ``name`` (404 for an unknown one)."""
    created = samples.create_sample(db, box, user, name)
    live.dashboard_changed(created.id)
    return dashboard_public(created, settings, db, box, user)


@router.get("/{dashboard_id}")
def get_dashboard(
    dashboard_id: str, db: SessionDep, user: CurrentUser, box: SecretBoxDep, settings: SettingsDep
) -> DashboardPublic:
    dashboard = dashboards.get_dashboard(db, user, dashboard_id, need="view")
    return dashboard_public(dashboard, settings, db, box, user)


@router.put("/{dashboard_id}")
def save_dashboard(
    dashboard_id: str,
    body: DashboardUpdate,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> DashboardPublic:
    """Replace the content; ``revision`` must be the current one (else 409)."""
    saved = dashboards.save_dashboard(db, box, user, dashboard_id, body, body.revision)
    return dashboard_public(saved, settings, db, box, user)


@router.patch("/{dashboard_id}")
def patch_dashboard(
    dashboard_id: str,
    body: DashboardPatch,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> DashboardPublic:
    changes = body.model_dump(exclude_unset=True, mode="json")
    saved = dashboards.patch_dashboard(db, box, user, dashboard_id, changes)
    return dashboard_public(saved, settings, db, box, user)


@router.delete("/{dashboard_id}", status_code=204)
def delete_dashboard(dashboard_id: str, db: SessionDep, user: CurrentUser) -> Response:
    dashboards.delete_dashboard(db, user, dashboard_id)
    return Response(status_code=204)


@router.post("/{dashboard_id}/duplicate", status_code=201)
def duplicate_dashboard(
    dashboard_id: str,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
    live: LiveDep,
) -> DashboardPublic:
    created = dashboards.duplicate_dashboard(db, user, dashboard_id)
    live.dashboard_changed(created.id)
    return dashboard_public(created, settings, db, box, user)


@router.get("/{dashboard_id}/export")
def export_dashboard(dashboard_id: str, db: SessionDep, user: CurrentUser) -> DashboardExport:
    """The portable document ``POST /api/dashboards/import`` takes back."""
    return DashboardExport.model_validate(dashboards.export_dashboard(db, user, dashboard_id))


@router.post("/{dashboard_id}/integrations", status_code=201)
def add_integration(
    dashboard_id: str,
    body: IntegrationAdd,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> DashboardPublic:
    instance = body.instance.model_dump(mode="json")
    saved = dashboards.add_integration(db, box, user, dashboard_id, body.revision, instance)
    return dashboard_public(saved, settings, db, box, user)


@router.patch("/{dashboard_id}/integrations/{instance_id}")
def change_integration(
    dashboard_id: str,
    instance_id: str,
    body: IntegrationChange,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> DashboardPublic:
    changes = body.model_dump(exclude_unset=True, exclude={"revision"}, mode="json")
    saved = dashboards.change_integration(
        db, box, user, dashboard_id, instance_id, body.revision, changes
    )
    return dashboard_public(saved, settings, db, box, user)


@router.delete("/{dashboard_id}/integrations/{instance_id}")
def remove_integration(
    dashboard_id: str,
    instance_id: str,
    revision: Annotated[int, Query(ge=1)],
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> DashboardPublic:
    saved = dashboards.remove_integration(db, box, user, dashboard_id, instance_id, revision)
    return dashboard_public(saved, settings, db, box, user)
