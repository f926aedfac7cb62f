"""Who may do what: one policy function per noun (docs/teams.md).

Every authorisation check on a dashboard, a module or a team goes through here:

* :func:`team_role` — the caller's role in a team (``viewer``, ``editor``, ``admin``);
* :func:`dashboard_role` — ``owner`` for the dashboard's own account, else the
  caller's role in the dashboard's team;
* :func:`module_role` — the same for a module (its working copy).

``owner`` ≥ ``admin`` > ``editor`` > ``viewer``. What each may do:

* **viewer** sees the dashboard and its live data, never integration config or
  secrets (the stripped view a public link gets);
* **editor** changes layout, widgets and integration config, sets secrets without
  reading them, restarts and stops instances; edits the team's modules;
* **admin** manages members, deletes, moves dashboards and modules in or out of the team.

The ``require_*`` helpers raise :class:`NotFound` for a caller with no role at all (a
private object's existence is not told) and :class:`Forbidden` for a member whose role
is too low.
"""

from __future__ import annotations

import enum
from typing import Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.modules import Module
from visualbox.db.tables.teams import Team, TeamMember
from visualbox.errors import FieldError, Forbidden, NotFound

Need = Literal["view", "edit", "admin"]
_Row = TypeVar("_Row", Dashboard, Module, Team)


class Role(enum.IntEnum):
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3
    OWNER = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, name: str) -> Role:
        return cls[name.upper()]


NEEDED: dict[Need, Role] = {"view": Role.VIEWER, "edit": Role.EDITOR, "admin": Role.ADMIN}
_DOING: dict[Need, str] = {
    "view": "see it",
    "edit": "change it",
    "admin": "do this (it needs the team's admin role)",
}


def team_role(db: Session, user: User | None, team_id: str | None) -> Role | None:
    """``user``'s role in team ``team_id``; ``None`` for a non-member (or no team)."""
    if user is None or team_id is None or not user.is_verified:
        return None
    name = db.scalar(
        select(TeamMember.role).where(TeamMember.team_id == team_id, TeamMember.user_id == user.id)
    )
    return Role.of(name) if name is not None else None


def _role(db: Session, user: User | None, owned: Dashboard | Module) -> Role | None:
    """``owner`` for the object's own account, else the role in its team."""
    if user is None:
        return None
    if owned.owner_id == user.id:
        return Role.OWNER
    return team_role(db, user, owned.team_id)


def _get(db: Session, table: type[_Row], key: str) -> _Row | None:
    """The row with primary key ``key``; ``None`` for a key no row can have (a NUL)."""
    return db.get(table, key) if "\x00" not in key else None


def dashboard_role(db: Session, user: User | None, dashboard: Dashboard) -> Role | None:
    return _role(db, user, dashboard)


def dashboard_role_by_id(db: Session, user: User | None, dashboard_id: str) -> Role | None:
    dashboard = _get(db, Dashboard, dashboard_id)
    return _role(db, user, dashboard) if dashboard is not None else None


def module_role(db: Session, user: User | None, module: Module) -> Role | None:
    return _role(db, user, module)


def allows(role: Role | None, need: Need) -> bool:
    return role is not None and role >= NEEDED[need]


def require_dashboard(db: Session, user: User, dashboard_id: str, need: Need) -> Dashboard:
    """The dashboard if ``user`` may ``need`` it: :class:`NotFound` without any role,
    :class:`Forbidden` with too low a one."""
    dashboard = _get(db, Dashboard, dashboard_id)
    role = _role(db, user, dashboard) if dashboard is not None else None
    if dashboard is None or role is None:
        raise NotFound("No such dashboard.")
    _check(role, need, "dashboard")
    return dashboard


def require_module(db: Session, user: User, module_id: str, need: Need) -> Module:
    """The module (working copy) if ``user`` may ``need`` it (as :func:`require_dashboard`)."""
    module = _get(db, Module, module_id)
    role = _role(db, user, module) if module is not None else None
    if module is None or role is None:
        raise NotFound("No such module.", [FieldError("module_id", "no such module")])
    _check(role, need, "module")
    return module


def require_team(db: Session, user: User, team_id: str, need: Need) -> tuple[Team, Role]:
    """The team and ``user``'s role in it if the role allows ``need``."""
    team = _get(db, Team, team_id)
    role = team_role(db, user, team.id) if team is not None else None
    if team is None or role is None:
        raise NotFound("No such team.")
    _check(role, need, "team")
    return team, role


def may_use_working_copy(db: Session, user: User | None, module: Module) -> bool:
    """A module's working copy (unpublished) is usable by its owner and by every member
    of its team, so on the team's dashboards."""
    return module_role(db, user, module) is not None


def _check(role: Role, need: Need, noun: str) -> None:
    if role < NEEDED[need]:
        raise Forbidden(
            f"Your role in this {noun}'s team ({role.label}) does not let you {_DOING[need]}."
        )
