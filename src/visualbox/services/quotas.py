"""Quotas: what one account may have and use, and the checks that keep it there.

The defaults are settings (``VISUALBOX_QUOTAS__*``, :class:`QuotaSettings`); an
administrator may override any of them for one account (a :class:`QuotaOverride`
row, ``NULL`` = the default). The system account (built-in modules) is exempt.

* counts and stored bytes are checked here, by the services that create things
  (``dashboards``, ``modules``), inside the request's transaction;
* running sandboxes and output bytes per second are enforced by the live service
  (``live_instances.py``) with :func:`limits` read when a room is loaded;
* history bytes by the history recorder (``history.py``) with :func:`history_room`,
  read at each batch it writes.

A check only refuses a change that *adds* to what is over the limit: an account
above a lowered quota can still delete and shrink. Over quota is
:class:`QuotaExceeded` (403, ``quota_exceeded``) whose message names the quota, the
current use and the limit. ``docs/quotas.md`` describes each quota.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from visualbox.db.base import utcnow
from visualbox.db.engine import Database
from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.history import HistorySeries
from visualbox.db.tables.modules import Module, ModuleFile, ModuleVersion
from visualbox.db.tables.quotas import QuotaOverride
from visualbox.db.tables.snapshots import Snapshot
from visualbox.db.tables.teams import TeamInvitation, TeamMember
from visualbox.errors import FieldError, NotFound, VisualBoxError, plural
from visualbox.settings import QuotaSettings

SESSION_KEY = "visualbox.quotas"
"""Where a session's ``info`` holds the server's :class:`QuotaSettings`."""

NAMES = tuple(QuotaSettings.model_fields)
"""Every quota, in the settings' order."""

_NOUNS = {
    "dashboards": "dashboards",
    "modules": "modules",
    "instances_per_dashboard": "integration instances on one dashboard",
    "keep_running": "integration instances set to keep running",
    "sandboxes": "integrations running at once",
    "output_bytes_per_s": "output bytes per second",
    "module_bytes": "of module storage (files and published versions)",
    "snapshots": "dashboard snapshots",
    "snapshot_bytes": "of dashboard snapshots",
    "history_bytes": "of recorded history",
}
_BYTES = frozenset({"module_bytes", "output_bytes_per_s", "snapshot_bytes", "history_bytes"})


class QuotaExceeded(VisualBoxError):
    """The change would take the account over one of its quotas."""

    code: ClassVar[str] = "quota_exceeded"
    status: ClassVar[int] = 403


@dataclass(frozen=True)
class Limits:
    """One account's effective quotas; ``None`` means unlimited (the system account)."""

    dashboards: int | None
    modules: int | None
    instances_per_dashboard: int | None
    keep_running: int | None
    sandboxes: int | None
    output_bytes_per_s: int | None
    module_bytes: int | None
    snapshots: int | None
    snapshot_bytes: int | None
    history_bytes: int | None

    @classmethod
    def unlimited(cls) -> Limits:
        return cls(**dict.fromkeys(NAMES))

    def of(self, name: str) -> int | None:
        value: int | None = getattr(self, name)
        return value


assert tuple(f.name for f in fields(Limits)) == NAMES


# --- configuration ---------------------------------------------------------------------


def configure(database: Database, settings: QuotaSettings) -> None:
    """Give every session of ``database`` the server's quota settings (``create_app``)."""
    database.sessions.configure(info={SESSION_KEY: settings})


def defaults(db: Session) -> QuotaSettings:
    """The quota settings of the server ``db`` belongs to (the built-in defaults for a
    session made without :func:`configure`)."""
    settings = db.info.get(SESSION_KEY)
    return settings if isinstance(settings, QuotaSettings) else QuotaSettings()


def limits(db: Session, user: User) -> Limits:
    """``user``'s effective quotas: the account's overrides over the defaults."""
    if user.is_system:
        return Limits.unlimited()
    base = defaults(db)
    override = db.get(QuotaOverride, user.id)
    values = {}
    for name in NAMES:
        chosen = getattr(override, name) if override is not None else None
        values[name] = chosen if chosen is not None else getattr(base, name)
    return Limits(**values)


# --- use -------------------------------------------------------------------------------


def dashboard_count(db: Session, user: User) -> int:
    query = select(func.count()).select_from(Dashboard).where(Dashboard.owner_id == user.id)
    return db.scalar(query) or 0


def module_count(db: Session, user: User) -> int:
    query = select(func.count()).select_from(Module).where(Module.owner_id == user.id)
    return db.scalar(query) or 0


def module_bytes(db: Session, user: User) -> int:
    """Bytes of every working-copy file and every published archive of ``user``'s modules."""
    files = (
        select(func.coalesce(func.sum(ModuleFile.size), 0))
        .join(Module, Module.id == ModuleFile.module_id)
        .where(Module.owner_id == user.id)
    )
    versions = (
        select(func.coalesce(func.sum(ModuleVersion.size), 0))
        .join(Module, Module.id == ModuleVersion.module_id)
        .where(Module.owner_id == user.id)
    )
    return int(db.scalar(files) or 0) + int(db.scalar(versions) or 0)


def snapshot_use(db: Session, user: User) -> tuple[int, int]:
    """How many snapshots ``user`` has and their bytes."""
    query = select(func.count(), func.coalesce(func.sum(Snapshot.size), 0)).where(
        Snapshot.owner_id == user.id
    )
    count, size = db.execute(query).one()
    return int(count or 0), int(size or 0)


def history_bytes(db: Session, owner_ids: Iterable[str]) -> dict[str, int]:
    """About how many bytes of recorded history each account has (the sum of its series'
    ``bytes``, which the recorder adds to and retention takes from)."""
    owners = list(owner_ids)
    query = (
        select(Dashboard.owner_id, func.coalesce(func.sum(HistorySeries.bytes), 0))
        .join(Dashboard, Dashboard.id == HistorySeries.dashboard_id)
        .where(Dashboard.owner_id.in_(owners))
        .group_by(Dashboard.owner_id)
    )
    found = dict.fromkeys(owners, 0)
    found.update({owner: int(size) for owner, size in db.execute(query)})
    return found


def history_room(db: Session, owner_ids: Iterable[str]) -> dict[str, tuple[int, int] | None]:
    """``{account: (bytes of history used, history_bytes limit)}``, ``None`` for an
    unlimited account (two queries, for every account of a batch of the recorder)."""
    owners = set(owner_ids)
    if not owners:
        return {}
    rows = db.execute(
        select(User.id, User.is_system, QuotaOverride.history_bytes)
        .outerjoin(QuotaOverride, QuotaOverride.user_id == User.id)
        .where(User.id.in_(owners))
    ).all()
    default = defaults(db).history_bytes
    limited = {
        user_id: override if override is not None else default
        for user_id, system, override in rows
        if not system
    }
    used = history_bytes(db, limited)
    return {owner: (used[owner], limited[owner]) if owner in limited else None for owner in owners}


def keep_running_count(db: Session, user: User, *, except_dashboard: str | None = None) -> int:
    """Instances set to keep running over ``user``'s dashboards (but ``except_dashboard``)."""
    query = select(Dashboard.id, Dashboard.document).where(Dashboard.owner_id == user.id)
    return sum(
        keep_running_in(document)
        for dashboard_id, document in db.execute(query)
        if dashboard_id != except_dashboard
    )


def keep_running_in(document: dict[str, Any]) -> int:
    return sum(1 for item in document.get("integrations", []) if item.get("keep_running"))


# --- checks ----------------------------------------------------------------------------


def check_dashboards(db: Session, user: User, adding: int = 1) -> None:
    limit = limits(db, user).dashboards
    if limit is not None:
        _check("dashboards", dashboard_count(db, user), limit, adding, "delete one")


def check_modules(db: Session, user: User, adding: int = 1) -> None:
    limit = limits(db, user).modules
    if limit is not None:
        _check("modules", module_count(db, user), limit, adding, "delete one")


def check_dashboard_document(
    db: Session,
    user: User,
    document: dict[str, Any],
    *,
    before: dict[str, Any] | None = None,
    dashboard_id: str | None = None,
) -> None:
    """Instances per dashboard and keep-running instances of a dashboard about to be
    stored as ``document`` (``before``: its stored document, for a save)."""
    quota = limits(db, user)
    old = before or {"integrations": []}
    now, was = len(document["integrations"]), len(old["integrations"])
    if quota.instances_per_dashboard is not None and now > was:
        _check(
            "instances_per_dashboard",
            was,
            quota.instances_per_dashboard,
            now - was,
            "remove one",
            subject="This dashboard has",
        )
    keep_now, keep_was = keep_running_in(document), keep_running_in(old)
    if quota.keep_running is not None and keep_now > keep_was:
        others = keep_running_count(db, user, except_dashboard=dashboard_id)
        _check(
            "keep_running", others + keep_was, quota.keep_running, keep_now - keep_was, "unset one"
        )


def check_module_bytes(db: Session, owner_id: str, adding: int) -> None:
    """Refuse storing ``adding`` more bytes of module content of account ``owner_id``
    beyond its quota."""
    if adding <= 0:
        return
    user = _account(db, owner_id)
    limit = limits(db, user).module_bytes
    if limit is not None:
        _check(
            "module_bytes",
            module_bytes(db, user),
            limit,
            adding,
            "delete files, modules or versions",
        )


def check_snapshot(db: Session, user: User, size: int) -> None:
    """Refuse one more snapshot of ``size`` bytes beyond ``user``'s snapshot quotas."""
    quota = limits(db, user)
    count, stored = snapshot_use(db, user)
    if quota.snapshots is not None:
        _check("snapshots", count, quota.snapshots, 1, "delete one")
    if quota.snapshot_bytes is not None:
        _check("snapshot_bytes", stored, quota.snapshot_bytes, size, "delete snapshots")


def _check(
    name: str, used: int, limit: int, adding: int, hint: str, subject: str = "You have"
) -> None:
    if used + adding <= limit:
        return
    raise exceeded(name, used, limit, hint=hint, adding=adding, subject=subject)


def exceeded(
    name: str,
    used: int,
    limit: int,
    *,
    hint: str,
    adding: int = 1,
    subject: str = "You have",
) -> QuotaExceeded:
    """The error (and its message) for quota ``name`` at ``used`` of ``limit``."""
    return QuotaExceeded(
        message(name, used, limit, adding=adding, subject=subject)
        + f" To go on, {hint} or ask an administrator for a higher quota.",
        [FieldError(f"quotas.{name}", f"{amount(name, used)} of {amount(name, limit)} used")],
    )


def message(name: str, used: int, limit: int, *, adding: int = 1, subject: str = "You have") -> str:
    """``You have 100 of 100 dashboards allowed; this needs 1 more.``"""
    noun = _NOUNS[name]
    more = f"; this needs {amount(name, adding)} more" if name in _BYTES or adding > 1 else ""
    return f"{subject} {amount(name, used)} of {amount(name, limit)} {noun} allowed{more}."


def amount(name: str, value: int) -> str:
    if name not in _BYTES:
        return str(value)
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return plural(value, "byte")


# --- administration --------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    limit: int | None
    default: int
    override: int | None
    used: int | None


def account_quotas(db: Session, user_id: str, *, sandboxes: int | None = None) -> dict[str, Quota]:
    """Every quota of account ``user_id`` with its default, override and current use
    (``sandboxes``: how many of its integrations run now, as the live service counts)."""
    user = _account(db, user_id)
    base = defaults(db)
    override = db.get(QuotaOverride, user.id)
    effective = limits(db, user)
    snapshot_count, snapshot_bytes = snapshot_use(db, user)
    used: dict[str, int | None] = {
        "dashboards": dashboard_count(db, user),
        "modules": module_count(db, user),
        "instances_per_dashboard": _largest_dashboard(db, user),
        "keep_running": keep_running_count(db, user),
        "sandboxes": sandboxes,
        "output_bytes_per_s": None,
        "module_bytes": module_bytes(db, user),
        "snapshots": snapshot_count,
        "snapshot_bytes": snapshot_bytes,
        "history_bytes": history_bytes(db, [user.id])[user.id],
    }
    return {
        name: Quota(
            limit=effective.of(name),
            default=getattr(base, name),
            override=getattr(override, name) if override is not None else None,
            used=used[name],
        )
        for name in NAMES
    }


def set_overrides(db: Session, user_id: str, changes: dict[str, int | None]) -> None:
    """Set (a number) or clear (``None``) the overrides named in ``changes``."""
    user = _account(db, user_id)
    override = db.get(QuotaOverride, user.id)
    if override is None:
        override = QuotaOverride(user_id=user.id)
        db.add(override)
    for name, value in changes.items():
        if name not in NAMES:
            raise KeyError(name)  # the schema refuses unknown names before this
        setattr(override, name, value)
    if all(getattr(override, name) is None for name in NAMES):
        if override in db.new:
            db.expunge(override)
        else:
            db.delete(override)
    db.commit()


def _account(db: Session, user_id: str) -> User:
    user = db.get(User, user_id) if "\x00" not in user_id else None
    if user is None:
        raise NotFound("No such account.", [FieldError("user_id", "no such account")])
    return user


def _largest_dashboard(db: Session, user: User) -> int:
    query = select(Dashboard.document).where(Dashboard.owner_id == user.id)
    return max((len(document["integrations"]) for document in db.scalars(query)), default=0)


# --- teams (settings.teams: the same for every account, no overrides) -----------------


def check_teams(db: Session, user: User, limit: int) -> None:
    """Refuse ``user`` joining or creating one more team beyond ``limit``."""
    if user.is_system:
        return
    query = select(func.count()).select_from(TeamMember).where(TeamMember.user_id == user.id)
    used = db.scalar(query) or 0
    if used + 1 > limit:
        raise QuotaExceeded(
            f"You already belong to {plural(used, 'team')}, the most an account may "
            f"({limit}): leave one first."
        )


def check_team_members(db: Session, team_id: str, limit: int, *, pending: bool) -> None:
    """Refuse one more member of team ``team_id`` beyond ``limit`` (counting pending
    invitations too when ``pending``)."""
    used = (
        db.scalar(select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id))
        or 0
    )
    if pending:
        used += (
            db.scalar(
                select(func.count())
                .select_from(TeamInvitation)
                .where(
                    TeamInvitation.team_id == team_id,
                    TeamInvitation.accepted_at.is_(None),
                    TeamInvitation.revoked_at.is_(None),
                    TeamInvitation.expires_at > utcnow(),
                )
            )
            or 0
        )
    if used + 1 > limit:
        raise QuotaExceeded(
            f"The team has {plural(used, 'member')} (pending invitations included), the "
            f"most a team may ({limit})."
        )
