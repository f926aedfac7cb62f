"""Dashboards: create, read, save (optimistic concurrency), duplicate, export, import.

Rules (docs/dashboards.md):

* A dashboard belongs to its owner; anyone else, administrators included, gets
  :class:`NotFound` (we do not reveal that it exists).
* Every save validates the whole document (``dashboard_documents.check``) and
  raises one :class:`InvalidInput` naming every bad path.
* Every save is a compare-and-set on ``revision`` in the database: the first of two
  saves based on the same revision wins, the other gets :class:`Conflict`.
* Password values are kept in the encrypted ``secrets`` column, never in the
  document (``dashboard_secrets.py``, which also gives the runtime full configs).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from visualbox.db.base import utcnow
from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.teams import TeamMember
from visualbox.errors import Conflict, FieldError, NotFound
from visualbox.schemas.dashboards import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    DashboardContent,
    DashboardExport,
)
from visualbox.services import dashboard_documents, dashboard_versions, policy, quotas, registry
from visualbox.services.dashboard_secrets import (
    KINDS,
    is_secret_marker,
    kept_secrets,
    seal,
    secret_marker,
)
from visualbox.services.secrets import SecretBox

# --- reading ---------------------------------------------------------------------------


def list_dashboards(db: Session, user: User) -> list[Dashboard]:
    """The caller's dashboards and those of the caller's teams, most recently changed
    first (``policy.dashboard_role`` tells the caller's role on each)."""
    teams = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
    query = (
        select(Dashboard)
        .where(or_(Dashboard.owner_id == user.id, Dashboard.team_id.in_(teams)))
        .order_by(Dashboard.updated_at.desc(), Dashboard.id)
    )
    return list(db.scalars(query))


def get_dashboard(
    db: Session, user: User, dashboard_id: str, *, need: policy.Need = "edit"
) -> Dashboard:
    """The dashboard if ``user`` may ``need`` it (``services/policy.py``): its owner
    may do anything; a member of its team as far as the team role allows."""
    return policy.require_dashboard(db, user, dashboard_id, need)


def owner_of(db: Session, dashboard: Dashboard) -> User:
    """The dashboard's owner account: quotas count against it, whoever makes the change."""
    owner = db.get(User, dashboard.owner_id)
    assert owner is not None  # dashboards.owner_id cascades
    return owner


# --- writing ---------------------------------------------------------------------------


def create_dashboard(
    db: Session,
    box: SecretBox,
    user: User,
    content: DashboardContent,
    *,
    imported: bool = False,
    team_id: str | None = None,
) -> Dashboard:
    """Validate and store a new dashboard of ``user`` at revision 1, in team ``team_id``
    if given (an editor of the team may create in it)."""
    if team_id is not None:
        policy.require_team(db, user, team_id, "edit")
    quotas.check_dashboards(db, user)
    checked = dashboard_documents.check(
        db, user, content, {"integrations": {}, "widgets": {}}, imported=imported
    )
    quotas.check_dashboard_document(db, user, checked.document)
    dashboard = Dashboard(
        owner_id=user.id,
        team_id=team_id,
        name=content.name,
        document=checked.document,
        secrets=seal(box, checked.secrets),
        revision=1,
        public=False,
        listed=False,
    )
    db.add(dashboard)
    db.flush()
    registry.set_dashboard_uses(db, dashboard.id, checked.module_ids)
    note = "Imported the dashboard" if imported else None
    dashboard_versions.record(db, user, dashboard, note=note)
    db.commit()
    return dashboard


def save_dashboard(
    db: Session,
    box: SecretBox,
    user: User,
    dashboard_id: str,
    content: DashboardContent,
    revision: int,
    *,
    restoring: int | None = None,
) -> Dashboard:
    """Replace a dashboard's content if it is still at ``revision``; bump the revision.

    Secrets: a string sets a password value, ``null`` clears it, the marker
    ``{"secret": true, "set": true}`` or leaving the name out keeps the stored one.
    ``restoring`` (``dashboard_versions.restore``): the version restored; a required
    password it cannot keep is left unset, as on import.
    """
    dashboard = get_dashboard(db, user, dashboard_id)
    if dashboard.revision != revision:
        raise _stale(dashboard.revision)
    owner = owner_of(db, dashboard)  # an editor's save resolves and counts as the owner's
    kept = kept_secrets(box, dashboard, content)
    checked = dashboard_documents.check(
        db,
        owner,
        content,
        kept,
        keep_withdrawn=_uses(dashboard.document),
        imported=restoring is not None,
    )
    quotas.check_dashboard_document(
        db, owner, checked.document, before=dashboard.document, dashboard_id=dashboard_id
    )
    result = db.execute(
        update(Dashboard)
        .where(Dashboard.id == dashboard_id, Dashboard.revision == revision)
        .values(
            name=content.name,
            document=checked.document,
            secrets=seal(box, checked.secrets),
            revision=Dashboard.revision + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        current = db.scalar(select(Dashboard.revision).where(Dashboard.id == dashboard_id))
        raise _stale(current)
    registry.set_dashboard_uses(db, dashboard_id, checked.module_ids)
    db.refresh(dashboard)
    note = f"Restored version {restoring}" if restoring is not None else None
    secrets = (kept, checked.secrets)
    dashboard_versions.record(db, user, dashboard, secrets=secrets, note=note)
    db.commit()
    db.refresh(dashboard)
    return dashboard


def content_of(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard's content as a save would take it (secrets as markers)."""
    return {"name": dashboard.name, **dashboard.document}


def delete_dashboard(db: Session, user: User, dashboard_id: str) -> None:
    dashboard = get_dashboard(db, user, dashboard_id, need="admin")
    registry.clear_dashboard_uses(db, dashboard_id)
    db.delete(dashboard)
    db.commit()


def duplicate_dashboard(db: Session, user: User, dashboard_id: str) -> Dashboard:
    """A copy owned by the caller, secrets included, at revision 1, in the same team
    (the caller must be an editor of the source)."""
    source = get_dashboard(db, user, dashboard_id)
    quotas.check_dashboards(db, user)
    quotas.check_dashboard_document(db, user, source.document)
    copy = Dashboard(
        owner_id=user.id,
        team_id=source.team_id,
        name=_copy_name(source.name),
        document=source.document,
        secrets=source.secrets,
        revision=1,
        public=False,
        listed=False,
    )
    db.add(copy)
    db.flush()
    registry.set_dashboard_uses(db, copy.id, _module_ids(source.document))
    dashboard_versions.record(db, user, copy, note=f"Duplicated from “{source.name}”")
    db.commit()
    return copy


def export_dashboard(db: Session, user: User, dashboard_id: str) -> dict[str, Any]:
    """The portable JSON document; secrets become ``{"secret": true, "set": false}``."""
    dashboard = get_dashboard(db, user, dashboard_id)
    document = dashboard.document

    def strip(item: dict[str, Any]) -> dict[str, Any]:
        config = {
            k: secret_marker(False) if is_secret_marker(v) else v for k, v in item["config"].items()
        }
        return {**item, "config": config}

    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "name": dashboard.name,
        "settings": document["settings"],
        "variables": document.get("variables", []),
        "integrations": [strip(i) for i in document["integrations"]],
        "widgets": [strip(w) for w in document["widgets"]],
    }


def import_dashboard(db: Session, box: SecretBox, user: User, data: DashboardExport) -> Dashboard:
    """A new dashboard of ``user`` from an export; required secrets may be left unset."""
    content = DashboardContent(
        name=data.name,
        settings=data.settings,
        variables=data.variables,
        integrations=data.integrations,
        widgets=data.widgets,
    )
    return create_dashboard(db, box, user, content, imported=True)


# --- helpers ---------------------------------------------------------------------------


def _stale(current: int | None) -> Conflict:
    if current is None:
        return Conflict(
            "The dashboard was deleted meanwhile.",
            [FieldError("revision", "the dashboard no longer exists")],
        )
    return Conflict(
        "The dashboard was changed elsewhere (in another tab or by someone else) since "
        "you opened it; reload it and apply your change again.",
        [FieldError("revision", "is out of date: the dashboard was saved elsewhere since")],
    )


def _uses(document: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """The (module id, version) pairs a stored document uses."""
    return frozenset((item["module_id"], item["version"]) for s in KINDS for item in document[s])


def _module_ids(document: dict[str, Any]) -> set[str]:
    return {item["module_id"] for s in ("integrations", "widgets") for item in document[s]}


def _copy_name(name: str) -> str:
    suffix = " (copy)"
    return name[: 100 - len(suffix)] + suffix


# --- fine-grained changes (each one a save of the whole document) ----------------------


def patch_dashboard(
    db: Session, box: SecretBox, user: User, dashboard_id: str, changes: dict[str, Any]
) -> Dashboard:
    """Replace only the top-level parts in ``changes`` (must include ``revision``);
    ``team_id`` moves the dashboard (:func:`move_dashboard`)."""
    moving = "team_id" in changes
    team_id = changes.pop("team_id", None)
    revision = changes.pop("revision")
    dashboard = get_dashboard(db, user, dashboard_id, need="admin" if moving else "edit")
    if changes or not moving:
        dashboard = _save_dict(
            db, box, user, dashboard_id, {**content_of(dashboard), **changes}, revision
        )
    if moving:  # after the save: moving out may leave the caller without access
        move_dashboard(db, user, dashboard, team_id)
        db.commit()
    return dashboard


def add_integration(
    db: Session,
    box: SecretBox,
    user: User,
    dashboard_id: str,
    revision: int,
    instance: dict[str, Any],
) -> Dashboard:
    dashboard = get_dashboard(db, user, dashboard_id)
    content = content_of(dashboard)
    content["integrations"] = [*content["integrations"], instance]
    return _save_dict(db, box, user, dashboard_id, content, revision)


def change_integration(
    db: Session,
    box: SecretBox,
    user: User,
    dashboard_id: str,
    instance_id: str,
    revision: int,
    changes: dict[str, Any],
) -> Dashboard:
    """Update one instance's label, version, config or keep_running."""
    dashboard = get_dashboard(db, user, dashboard_id)
    content = content_of(dashboard)
    _instance_index(content, instance_id)
    content["integrations"] = [
        {**i, **changes} if i["id"] == instance_id else i for i in content["integrations"]
    ]
    return _save_dict(db, box, user, dashboard_id, content, revision)


def remove_integration(
    db: Session, box: SecretBox, user: User, dashboard_id: str, instance_id: str, revision: int
) -> Dashboard:
    """Remove one instance; widgets that took data from it lose their source."""
    dashboard = get_dashboard(db, user, dashboard_id)
    content = content_of(dashboard)
    _instance_index(content, instance_id)
    content["integrations"] = [i for i in content["integrations"] if i["id"] != instance_id]
    for widget in content["widgets"]:
        source = widget.get("source") or ""
        first = source[1:].split("/")[0].replace("~1", "/").replace("~0", "~")
        if source and first == instance_id:
            widget["source"] = None
    return _save_dict(db, box, user, dashboard_id, content, revision)


def _instance_index(content: dict[str, Any], instance_id: str) -> int:
    for i, item in enumerate(content["integrations"]):
        if item["id"] == instance_id:
            return i
    raise NotFound(f"No integration instance {instance_id!r} on this dashboard.")


def _save_dict(
    db: Session,
    box: SecretBox,
    user: User,
    dashboard_id: str,
    content: dict[str, Any],
    revision: int,
) -> Dashboard:
    model = dashboard_documents.parse_content(content)
    return save_dashboard(db, box, user, dashboard_id, model, revision)


def move_dashboard(db: Session, user: User, dashboard: Dashboard, team_id: str | None) -> None:
    """Move ``dashboard`` into team ``team_id`` (``None``: out of its team). Moving out
    needs the admin role on the dashboard (its owner, or an admin of its team); moving
    in needs the admin role in the target team as well. Not a save: the revision stays."""
    if team_id == dashboard.team_id:
        return
    policy.require_dashboard(db, user, dashboard.id, "admin")
    if team_id is not None:
        policy.require_team(db, user, team_id, "admin")
    dashboard.team_id = team_id
    db.flush()
