"""Dashboard versions: every save kept, listed, compared and restored (docs/dashboards.md).

* :func:`record` is called by every write of ``services/dashboards.py`` (create, import,
  duplicate, save and everything built on it), inside its transaction: it keeps the
  dashboard as saved (password values as markers only, the ``secrets`` column is never
  versioned), who saved it, and what changed in words (``dashboard_changes.describe``,
  against the previous version). Versions beyond ``DASHBOARDS__VERSIONS_KEPT`` (the
  oldest) are deleted there too. They do not count towards a quota: the setting bounds them.
* Reading goes through ``dashboards.get_dashboard``: whoever may not see the dashboard
  gets 404 for its versions too.
* :func:`restore` saves a version's content as a new save (compare-and-set on the
  current revision, like every save). Passwords are kept where the same item (same id,
  same module) still has a value for the field today; the others are named in its answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from visualbox.db.engine import Database
from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboard_versions import DashboardVersion
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.modules import Module
from visualbox.errors import FieldError, NotFound
from visualbox.services import dashboard_changes, dashboard_documents, dashboards
from visualbox.services.dashboard_changes import SecretKey, label
from visualbox.services.dashboard_secrets import KINDS, Secrets, is_secret_marker, read_secrets
from visualbox.services.secrets import SecretBox

SESSION_KEY = "visualbox.versions_kept"
"""Where a session's ``info`` holds ``DASHBOARDS__VERSIONS_KEPT``."""
DEFAULT_KEPT = 100


def configure(database: Database, kept: int) -> None:
    """Give every session of ``database`` the number of versions to keep (``create_app``)."""
    info = dict(database.sessions.kw.get("info") or {})
    info[SESSION_KEY] = kept
    database.sessions.configure(info=info)


def versions_kept(db: Session) -> int:
    kept = db.info.get(SESSION_KEY)
    return kept if isinstance(kept, int) and kept >= 1 else DEFAULT_KEPT


# --- recording ---------------------------------------------------------------------------


def record(
    db: Session,
    user: User,
    dashboard: Dashboard,
    *,
    secrets: tuple[Secrets, Secrets] | None = None,
    note: str | None = None,
) -> DashboardVersion:
    """Keep ``dashboard`` as it now is (written, flushed, not committed) as its version
    ``dashboard.revision``; ``secrets`` are the password values before and after the save
    (compared here to say which one changed, never kept), ``note`` how the version came to
    be ("Restored version 3")."""
    content = {"name": dashboard.name, **dashboard.document}
    previous = db.scalar(
        select(DashboardVersion)
        .where(DashboardVersion.dashboard_id == dashboard.id)
        .order_by(DashboardVersion.number.desc())
        .limit(1)
    )
    if previous is None and dashboard.revision == 1:
        note = note or "Created the dashboard"
        changes: list[str] = []
    elif previous is None:
        note = note or "Saved (the first version kept: earlier saves were not recorded)"
        changes = []
    else:
        names = module_names(db, [previous.content, content])
        changes = dashboard_changes.describe(
            previous.content, content, names, _changed_secrets(secrets)
        )
    version = DashboardVersion(
        dashboard_id=dashboard.id,
        number=dashboard.revision,
        saved_by=user.id,
        content=content,
        summary=dashboard_changes.summary(changes, note),
    )
    db.add(version)
    db.flush()
    oldest_kept = dashboard.revision - versions_kept(db) + 1
    db.execute(
        delete(DashboardVersion).where(
            DashboardVersion.dashboard_id == dashboard.id, DashboardVersion.number < oldest_kept
        )
    )
    return version


def _changed_secrets(secrets: tuple[Secrets, Secrets] | None) -> set[SecretKey]:
    """The passwords that had a value before and have another one after."""
    if secrets is None:
        return set()
    before, after = secrets
    return {
        (section, item_id, key)
        for section, items in after.items()
        for item_id, values in items.items()
        for key, value in values.items()
        if before.get(section, {}).get(item_id, {}).get(key) not in (None, value)
    }


def module_names(db: Session, contents: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The name of every module the contents use."""
    ids = {item["module_id"] for c in contents for s in KINDS for item in c.get(s, [])}
    if not ids:
        return {}
    rows = db.execute(select(Module.id, Module.name).where(Module.id.in_(ids))).all()
    return {row.id: row.name for row in rows}


# --- reading -----------------------------------------------------------------------------


def list_versions(
    db: Session, user: User, dashboard_id: str, *, offset: int, limit: int
) -> tuple[list[DashboardVersion], int]:
    """One page of the dashboard's versions, newest first, and how many there are."""
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    where = DashboardVersion.dashboard_id == dashboard.id
    total = db.scalar(select(func.count()).select_from(DashboardVersion).where(where)) or 0
    rows = db.scalars(
        select(DashboardVersion)
        .where(where)
        .order_by(DashboardVersion.number.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def get_version(db: Session, user: User, dashboard_id: str, number: int) -> DashboardVersion:
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    return _version(db, dashboard.id, number)


def _version(
    db: Session, dashboard_id: str, number: int, field: str = "number"
) -> DashboardVersion:
    version = db.get(DashboardVersion, (dashboard_id, number))
    if version is None:
        raise NotFound(
            f"This dashboard has no version {number} (it may have been pruned: only the "
            "most recent ones are kept).",
            [FieldError(field, "no such version")],
        )
    return version


def saver_names(db: Session, versions: Iterable[DashboardVersion]) -> dict[str, str]:
    """The display name of everyone who saved one of ``versions``."""
    ids = {v.saved_by for v in versions if v.saved_by}
    if not ids:
        return {}
    rows = db.execute(select(User.id, User.name).where(User.id.in_(ids))).all()
    return {row.id: row.name for row in rows}


@dataclass
class Comparison:
    before: DashboardVersion
    after: DashboardVersion
    diff: dict[str, Any]
    """``dashboard_changes.compare`` of their contents."""


def compare(db: Session, user: User, dashboard_id: str, before: int, after: int) -> Comparison:
    """Two versions side by side (``before`` may be newer than ``after``: it is compared as
    given)."""
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    old = _version(db, dashboard.id, before, "before")
    new = _version(db, dashboard.id, after, "after")
    names = module_names(db, [old.content, new.content])
    return Comparison(old, new, dashboard_changes.compare(old.content, new.content, names))


# --- restoring ---------------------------------------------------------------------------


@dataclass
class Restored:
    dashboard: Dashboard
    version: DashboardVersion
    """The new version the restore saved."""
    lost_secrets: list[str]
    """The passwords the restored version had that could not be kept, in words."""


def restore(
    db: Session, box: SecretBox, user: User, dashboard_id: str, number: int, revision: int
) -> Restored:
    """Save version ``number``'s content as a new save based on ``revision``."""
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    version = _version(db, dashboard.id, number)
    content = version.content
    lost = _lost_secrets(box, dashboard, content, module_names(db, [content]))
    model = dashboard_documents.parse_content(content)
    saved = dashboards.save_dashboard(
        db, box, user, dashboard_id, model, revision, restoring=number
    )
    return Restored(saved, _version(db, saved.id, saved.revision), lost)


def _lost_secrets(
    box: SecretBox, dashboard: Dashboard, content: dict[str, Any], names: dict[str, str]
) -> list[str]:
    """The passwords set in ``content`` that the dashboard has no value for today on the
    same item with the same module: "API key of integration “Weather”"."""
    stored = read_secrets(box, dashboard)
    modules = {
        (section, item["id"]): item["module_id"]
        for section in KINDS
        for item in dashboard.document[section]
    }
    lost = []
    for section, kind in KINDS.items():
        for item in content[section]:
            same = modules.get((section, item["id"])) == item["module_id"]
            values = stored.get(section, {}).get(item["id"], {}) if same else {}
            for key, value in item["config"].items():
                if is_secret_marker(value) and value.get("set") is True and key not in values:
                    lost.append(f"{key} of {kind} “{label(section, item, names)}”")
    return lost
