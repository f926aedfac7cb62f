"""The authorisation matrix: every route and every live command, tried by every kind of
caller against one owner's objects.

The callers: the **owner**, **another** verified user, an **unverified** user, an
**anonymous** visitor, and a **public**-link holder (anonymous, holding the share
token of the owner's public dashboard), the members of the team the owner's dashboard
and module belong to (**team_viewer**, **team_editor**, **team_admin**), plus an
**admin** for the administration routes. The rules come from :data:`RULES`, one per
route of the app's route table: ``test_every_route_has_a_rule`` fails when a route is
added without one. On the owner's dashboard and module, ``viewer``, ``editor`` and
``team-admin`` admit the owner and the team members with at least that role; a member
with a lower role is told 403, everyone else as for ``owner``.

A caller the rule admits may still get a 4xx for what the request means (an empty
body is 422): the matrix only checks that nobody but the admitted callers gets past
authorisation, and that the refusals are the documented ones (401 without
credentials, 403 unverified or not allowed, 404 for someone else's private object).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient

from visualbox.api.frames import FramesOrigin
from visualbox.app import create_app
from visualbox.db.base import utcnow
from visualbox.db.tables.teams import TeamInvitation, TeamMember
from visualbox.schemas.alerts import AlertRuleCreate
from visualbox.schemas.dashboards import DashboardContent, IntegrationInstance
from visualbox.schemas.live import ClientMessage
from visualbox.services import (
    accounts,
    alerts,
    dashboards,
    modules,
    registry,
    sharing,
    snapshots,
    teams,
)
from visualbox.services.tokens import new_token, token_hash
from visualbox.settings import DatabaseSettings, Settings, TeamSettings

TEAM = ("team_viewer", "team_editor", "team_admin")
CALLERS = ("owner", "other", "unverified", "anonymous", "public", *TEAM)

# Who gets past authorisation, per rule; everyone else gets the refusal of DENIED.
ADMITTED: dict[str, set[str]] = {
    "anyone": set(CALLERS),
    "signed-in": {"owner", "other", "unverified", *TEAM},
    "verified": {"owner", "other", *TEAM},
    "owner": {"owner"},
    "viewer": {"owner", *TEAM},  # of the team's dashboard or module
    "editor": {"owner", "team_editor", "team_admin"},
    "team-admin": {"owner", "team_admin"},
    "invitee": {"owner"},  # the invitation is for the owner's address
    "author": {"owner"},  # of a published (so public) module: others are told 403
    "admin": set(),  # the admin caller is checked separately
    "runner": set(),  # a run token, never a user's credentials
}
DENIED = {"other": 404, "unverified": 403, "anonymous": 401, "public": 401}
DENIED |= dict.fromkeys(TEAM, 404)
"""The refusal each caller gets where the rule does not admit it (``other`` gets 404
for an owner's object: a private object's existence is not told; a team member whose
role is too low gets 403, see :func:`_refusal`)."""
ADMIN_DENIED = {"owner": 403, "other": 403, "unverified": 403, "anonymous": 401, "public": 401}
ADMIN_DENIED |= dict.fromkeys(TEAM, 403)
RUNNER_DENIED = dict.fromkeys(CALLERS, 401)

RULES: dict[str, str] = {
    # accounts
    "POST /api/auth/signup": "anyone",
    "POST /api/auth/signin": "anyone",
    "POST /api/auth/signout": "anyone",
    "POST /api/auth/verify": "anyone",
    "POST /api/auth/verify/resend": "signed-in",
    "POST /api/auth/forgot": "anyone",
    "POST /api/auth/reset": "anyone",
    "GET /api/auth/session": "anyone",
    "GET /api/account": "signed-in",
    "PATCH /api/account": "signed-in",
    "POST /api/account/email": "signed-in",
    "POST /api/account/password": "signed-in",
    "GET /api/account/tokens": "verified",
    "POST /api/account/tokens": "verified",
    "DELETE /api/account/tokens/{token_id}": "owner",
    "GET /api/account/2fa": "signed-in",
    "POST /api/account/2fa": "signed-in",
    "POST /api/account/2fa/confirm": "signed-in",
    "POST /api/account/2fa/disable": "signed-in",
    "POST /api/auth/signin/2fa": "anyone",
    "GET /api/users": "admin",
    "GET /api/users/{user_id}": "admin",
    "PATCH /api/users/{user_id}": "admin",
    "POST /api/users/{user_id}/reset-link": "admin",
    "GET /api/users/{user_id}/quotas": "admin",
    "PUT /api/users/{user_id}/quotas": "admin",
    # modules (the working copy)
    "GET /api/modules": "verified",
    "POST /api/modules": "verified",
    "GET /api/modules/{module_id}": "editor",
    "PATCH /api/modules/{module_id}": "editor",
    "DELETE /api/modules/{module_id}": "team-admin",
    "GET /api/modules/{module_id}/files": "editor",
    "GET /api/modules/{module_id}/files/{path}": "editor",
    "PUT /api/modules/{module_id}/files/{path}": "editor",
    "DELETE /api/modules/{module_id}/files/{path}": "editor",
    "POST /api/modules/{module_id}/folders": "editor",
    "POST /api/modules/{module_id}/rename": "editor",
    "PUT /api/modules/{module_id}/archive": "editor",
    "GET /api/modules/{module_id}/archive": "editor",
    "GET /api/modules/{module_id}/working-copy": "editor",
    "GET /api/modules/{module_id}/working-copy/compare": "editor",
    "POST /api/modules/{module_id}/working-copy/undo": "editor",
    "POST /api/modules/{module_id}/working-copy/reset": "editor",
    "POST /api/modules/{module_id}/frame": "editor",
    "GET /api/modules/{module_id}/check": "editor",
    "POST /api/modules/{module_id}/versions": "editor",
    "GET /api/modules/{module_id}/usage": "editor",
    # the registry: published modules are public
    "GET /api/registry/search": "anyone",
    "GET /api/registry/modules/{module_id}": "anyone",
    "GET /api/registry/modules/{module_id}/versions/{version}": "anyone",
    "GET /api/registry/modules/{module_id}/versions/{version}/archive": "anyone",
    "GET /api/registry/modules/{module_id}/versions/{version}/files/{path}": "anyone",
    "GET /api/registry/modules/{module_id}/versions/{version}/frame": "anyone",
    "POST /api/registry/modules/{module_id}/versions/{version}/yank": "author",
    "POST /api/registry/modules/{module_id}/versions/{version}/withdraw": "author",
    "POST /api/registry/modules/{module_id}/fork": "verified",
    "GET /api/registry/key": "anyone",
    "GET /api/registry/modules/{module_id}/versions/{version}/manifest": "anyone",
    "POST /api/registry/modules/{module_id}/versions/{version}/block": "admin",
    "POST /api/registry/modules/{module_id}/versions/{version}/unblock": "admin",
    # dashboards
    "GET /api/dashboards": "verified",
    "POST /api/dashboards": "verified",
    "POST /api/dashboards/import": "verified",
    "GET /api/dashboards/samples": "verified",
    "POST /api/dashboards/samples/{name}": "verified",
    "GET /api/dashboards/{dashboard_id}": "viewer",
    "PUT /api/dashboards/{dashboard_id}": "editor",
    "PATCH /api/dashboards/{dashboard_id}": "editor",
    "DELETE /api/dashboards/{dashboard_id}": "team-admin",
    "POST /api/dashboards/{dashboard_id}/duplicate": "editor",
    "GET /api/dashboards/{dashboard_id}/export": "editor",
    "POST /api/dashboards/{dashboard_id}/integrations": "editor",
    "PATCH /api/dashboards/{dashboard_id}/integrations/{instance_id}": "editor",
    "DELETE /api/dashboards/{dashboard_id}/integrations/{instance_id}": "editor",
    "GET /api/dashboards/{dashboard_id}/sharing": "editor",
    "POST /api/dashboards/{dashboard_id}/sharing": "team-admin",
    "POST /api/dashboards/{dashboard_id}/sharing/regenerate": "team-admin",
    "GET /api/dashboards/{dashboard_id}/history": "viewer",
    "GET /api/dashboards/{dashboard_id}/history.csv": "viewer",
    "GET /api/dashboards/{dashboard_id}/history.json": "viewer",
    "GET /api/dashboards/{dashboard_id}/snapshots": "editor",
    "POST /api/dashboards/{dashboard_id}/snapshots": "editor",
    "DELETE /api/dashboards/{dashboard_id}/snapshots/{snapshot_id}": "owner",
    "GET /api/dashboards/{dashboard_id}/alerts": "editor",
    "POST /api/dashboards/{dashboard_id}/alerts": "editor",
    "GET /api/dashboards/{dashboard_id}/alerts/{rule_id}": "editor",
    "PATCH /api/dashboards/{dashboard_id}/alerts/{rule_id}": "editor",
    "DELETE /api/dashboards/{dashboard_id}/alerts/{rule_id}": "editor",
    "GET /api/dashboards/{dashboard_id}/alerts/{rule_id}/history": "editor",
    "POST /api/dashboards/{dashboard_id}/alerts/{rule_id}/silence": "editor",
    "DELETE /api/dashboards/{dashboard_id}/alerts/{rule_id}/silence": "editor",
    "POST /api/dashboards/{dashboard_id}/alerts/{rule_id}/test": "editor",
    "GET /api/dashboards/{dashboard_id}/versions": "editor",
    "GET /api/dashboards/{dashboard_id}/versions/compare": "editor",
    "GET /api/dashboards/{dashboard_id}/versions/{number}": "editor",
    "POST /api/dashboards/{dashboard_id}/versions/{number}/restore": "editor",
    # public links: the token is the credential
    "GET /api/public/dashboards": "anyone",
    "GET /api/public/dashboards/{token}": "anyone",
    "GET /api/public/dashboards/{token}/history": "anyone",
    "GET /api/public/dashboards/{token}/history.csv": "anyone",
    "GET /api/public/dashboards/{token}/history.json": "anyone",
    "GET /embed/{token}": "anyone",  # the public page, framed where the owner allows it
    "GET /api/snapshots/{snapshot_token}": "anyone",  # the snapshot's own link
    # the runner API: run tokens only
    "GET /api/runner/modules/{module_id}/versions/{version}/archive": "runner",
    # pages and frames: the link or the frame ticket is the credential
    "GET /verify-email": "anyone",
    "GET /reset-password": "anyone",
    "POST /reset-password": "anyone",
    "GET /api/health": "anyone",
    "GET /api/health/ready": "anyone",
    "GET /api/openapi.json": "anyone",
    "GET /api/docs": "anyone",
    # teams (the owner created the team: its first admin)
    "GET /api/teams": "verified",
    "POST /api/teams": "verified",
    "GET /api/teams/{team_id}": "viewer",
    "PATCH /api/teams/{team_id}": "team-admin",
    "DELETE /api/teams/{team_id}": "team-admin",
    "GET /api/teams/{team_id}/members": "viewer",
    "PATCH /api/teams/{team_id}/members/{member_id}": "team-admin",
    "DELETE /api/teams/{team_id}/members/{member_id}": "team-admin",
    "GET /api/teams/{team_id}/invitations": "team-admin",
    "POST /api/teams/{team_id}/invitations": "team-admin",
    "DELETE /api/teams/{team_id}/invitations/{invitation_id}": "team-admin",
    "GET /api/invitations/{invitation_token}": "signed-in",  # the link is the credential
    "POST /api/invitations/{invitation_token}/accept": "invitee",
    "WS /api/live": "anyone",  # each command has its own rule: LIVE_RULES
    "WS /api/runner/channel": "runner",  # a pod's single-use pod token (Kubernetes runner)
}

FRAMES_RULES: dict[str, str] = {
    # the frames origin (docs/web.md): a frame ticket or a published version's address
    # is the credential, so every caller is admitted; none of it is an API
    "GET /frames/sdk.js": "anyone",
    "GET /frames/lib/{name}": "anyone",
    "GET /frames/{ticket}": "anyone",
    "GET /frames/{ticket}/{path}": "anyone",
    "GET /registry/modules/{widget_id}/versions/{version}/files/{path}": "anyone",
}

LIVE_RULES: dict[str, str] = {  # tried in this order
    "TICK": "anyone",
    "JOIN": "viewer",  # by dashboard id; by share token: the public caller
    "RESTART": "editor",
    "TERMINATE": "editor",
    "LEAVE": "anyone",
    "DEV_START": "editor",
    "DEV_RESTART": "editor",
    "DEV_STOP": "editor",
}
LIVE_DENIED = {"other": "not_found", "unverified": "forbidden", "anonymous": "unauthenticated"}


def _frames_app(app: FastAPI) -> FastAPI:
    """The app behind the frames origin (``api/frames.py``: ``FramesOrigin``)."""
    middleware = app.build_middleware_stack()
    while not isinstance(middleware, FramesOrigin):
        middleware = middleware.app  # type: ignore[attr-defined]
    frames: FastAPI = middleware.frames  # type: ignore[assignment]
    return frames


def route_table(app: FastAPI) -> set[str]:
    """``METHOD path`` of every route the app serves (the web app's catch-all aside)."""
    found = set()
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path_format or context.path
        if isinstance(route, APIWebSocketRoute):
            found.add(f"WS {path}")
        elif isinstance(route, APIRoute) or path in ("/api/openapi.json", "/api/docs"):
            found |= {f"{method} {path}" for method in context.methods or () if method != "HEAD"}
    return found


@dataclass
class World:
    app: FastAPI
    http: dict[str, TestClient]
    params: dict[str, str]
    owner: Any
    users: dict[str, Any]


def _team(db: Any, users: dict[str, Any], name: str) -> Any:
    """A team of the owner (its creator: admin) with a member of each role and a spare
    viewer (the one removed by the member routes)."""
    team = teams.create_team(db, TeamSettings(), users["owner"], name)
    roles = {"team_viewer": "viewer", "team_editor": "editor", "team_admin": "admin"}
    for caller, role in {**roles, "spare": "viewer"}.items():
        db.add(TeamMember(team_id=team.id, user_id=users[caller].id, role=role))
    db.commit()
    return team


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("authorization")
    app = create_app(
        Settings(data_dir=data, database=DatabaseSettings(url=f"sqlite:///{Path(data) / 'vb.db'}"))
    )
    tokens: dict[str, str] = {}
    with app.state.db.session() as db:
        box = app.state.secret_box
        users = {}
        for name in ("admin", "owner", "other", "unverified", *TEAM, "spare"):
            users[name] = accounts.create_user(
                db,
                name=name,
                email=f"{name}@example.test",
                password="x" * 12,
                is_admin=name == "admin",
                verified=name != "unverified",
            )
        for name, user in users.items():
            _row, tokens[name] = accounts.create_api_token(db, user, "matrix")
        owner = users["owner"]
        module = modules.create_module(
            db, owner, name="Owner's module", kind="integration", runtime="python", template=False
        )
        modules.write_file(db, module, "config.json", b"[]")
        modules.write_file(db, module, "README.md", b"# Owner's module\n")
        modules.write_file(db, module, "main.py", b"import visualbox\nvisualbox.output(1)\n")
        registry.publish(db, module, "1.0.0")
        registry.publish(db, module, "1.1.0")  # still usable once 1.0.0 is yanked
        integration = IntegrationInstance(id="i1", module_id=module.id, label="C")
        content = DashboardContent(name="Owner's board", integrations=[integration])
        board = dashboards.create_dashboard(db, box, owner, content)
        sharing.update_sharing(db, owner, board.id, public=True, listed=False)
        team = _team(db, users, "Owner's team")
        modules.move_module(db, owner, module, team.id)
        dashboards.move_dashboard(db, owner, board, team.id)
        db.commit()
        invitation_token = new_token()
        invitation = TeamInvitation(
            team_id=team.id,
            email=owner.email,  # a member already: accepting it is refused with 409
            role="viewer",
            token_hash=token_hash(invitation_token),
            expires_at=utcnow() + timedelta(days=1),
        )
        db.add(invitation)
        db.commit()
        widget = modules.create_module(
            db, owner, name="Owner's widget", kind="widget", runtime=None
        )
        registry.publish(db, widget, "1.0.0")
        token_row = accounts.list_api_tokens(db, owner)[0]
        now = int(time.time() * 1000)
        snapshot = snapshots.create_snapshot(
            db, app.state.settings.history, owner, board.id, name=None, start=now - 1, end=now
        )
        params = {
            "module_id": module.id,
            "dashboard_id": board.id,
            "instance_id": "i1",
            "version": "1.0.0",
            "path": "main.py",
            "token_id": token_row.id,
            "user_id": owner.id,
            "name": "live-device",
            "widget_id": widget.id,
            "snapshot_id": snapshot.id,
            "rule_id": _alert_rule(app, db, owner, board.id),
            "snapshot_token": snapshot.token,
            "number": "1",  # the board's first version
            "team_id": team.id,
            "member_id": users["spare"].id,
            "invitation_id": invitation.id,
            "invitation_token": invitation_token,
        }
    http = {
        name: TestClient(app, headers={"Authorization": f"Bearer {token}"})
        for name, token in tokens.items()
    }
    http["anonymous"] = http["public"] = TestClient(app)
    with http["owner"]:
        yield World(app, http, params, owner, users)
    app.state.db.dispose()


def test_every_route_has_a_rule(world: World) -> None:
    routes = route_table(world.app)
    assert routes - RULES.keys() == set(), "a route without an authorisation rule"
    assert RULES.keys() - routes == set(), "a rule for a route that no longer exists"
    frames = route_table(_frames_app(world.app))
    rules = {key.replace("{widget_id}", "{module_id}") for key in FRAMES_RULES}
    assert frames == rules, "every route of the frames origin needs a rule"
    models = get_args(get_args(ClientMessage)[0])  # Annotated[A | B | ..., Field(...)]
    commands = {get_args(model.model_fields["type"].annotation)[0] for model in models}
    assert commands == LIVE_RULES.keys()


def _revision(world: World) -> int:
    with world.app.state.db.session() as db:
        return int(dashboards.get_dashboard(db, world.owner, world.params["dashboard_id"]).revision)


def _body(world: World, key: str) -> Any:
    """A request that would succeed for an admitted caller: refusals must come from
    authorisation, never from a bad body."""
    module, revision = world.params["module_id"], _revision
    bodies: dict[str, Any] = {
        "POST /api/modules/{module_id}/folders": lambda: {"path": "docs"},
        "POST /api/modules/{module_id}/rename": lambda: {"from": "README.md", "to": "NOTES.md"},
        "POST /api/modules/{module_id}/versions": lambda: {"version": "3.0.0"},
        "POST /api/modules/{module_id}/working-copy/reset": lambda: {"version": "1.1.0"},
        "POST /api/registry/modules/{module_id}/versions/{version}/block": lambda: {
            "reason": "it sends readings to a third party"
        },
        "POST /api/registry/modules/{module_id}/versions/{version}/withdraw": lambda: {
            "reason": "a key was published by mistake",
            "confirm": True,
        },
        "PUT /api/dashboards/{dashboard_id}": lambda: {
            "name": "Renamed",
            "revision": revision(world),
            "integrations": [{"id": "i1", "module_id": module, "label": "C"}],
        },
        "PATCH /api/dashboards/{dashboard_id}": lambda: {
            "name": "Patched",
            "revision": revision(world),
        },
        "POST /api/dashboards/{dashboard_id}/integrations": lambda: {
            "revision": revision(world),
            "instance": {"id": f"n{revision(world)}", "module_id": module, "label": "N"},
        },
        "PATCH /api/dashboards/{dashboard_id}/integrations/{instance_id}": lambda: {
            "revision": revision(world),
            "label": "D",
        },
        "POST /api/dashboards/{dashboard_id}/sharing": lambda: {"public": True},
        "POST /api/dashboards/{dashboard_id}/versions/{number}/restore": lambda: {
            "revision": revision(world)
        },
        "POST /api/dashboards/{dashboard_id}/snapshots": lambda: {
            "from": int(time.time() * 1000) - 60_000,
            "to": int(time.time() * 1000),
        },
        "POST /api/dashboards/{dashboard_id}/alerts": lambda: {
            "name": "Rule",
            "source": "/i1/level",
            "condition": "changed",
        },
        "POST /api/dashboards/{dashboard_id}/alerts/{rule_id}/silence": lambda: {"minutes": 5},
        "PUT /api/modules/{module_id}/files/{path}": lambda: "print(1)\n",
        "PATCH /api/teams/{team_id}": lambda: {"name": "Owner's team"},
        "PATCH /api/teams/{team_id}/members/{member_id}": lambda: {"role": "viewer"},
        "POST /api/teams/{team_id}/invitations": lambda: {  # no account: 409, no mail
            "email": "nobody@example.test",
            "role": "viewer",
        },
    }
    make = bodies.get(key)
    return make() if make else None


def _request(world: World, caller: str, key: str) -> Any:
    method, path = key.split(" ", 1)
    params = dict(world.params) | _prepare(world, key)
    if "{token}" in path:
        params["token"] = _share_token(world)  # a case may have regenerated it
    url = path.format(**params)
    if key == "DELETE /api/dashboards/{dashboard_id}/integrations/{instance_id}":
        url += f"?revision={_revision(world)}"
    if key == "GET /api/dashboards/{dashboard_id}/versions/compare":
        url += "?before=1&after=1"
    if key == "GET /api/modules/{module_id}/working-copy/compare":
        url += "?version=1.1.0"
    body = _body(world, key)
    if isinstance(body, str):
        return world.http[caller].request(method, url, content=body.encode())
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = {}
    return world.http[caller].request(method, url, json=body)


def _prepare(world: World, key: str) -> dict[str, str]:
    """Put back what an earlier admitted caller's request used up, so that the next one
    is refused (or not) by authorisation only; a fresh object in the owner's team to
    delete where deleting the shared one would end the matrix."""
    owner, params = world.owner, world.params
    with world.app.state.db.session() as db:
        if key == "POST /api/modules/{module_id}/rename":
            module = modules.get_owned(db, params["module_id"], owner)
            if "README.md" not in modules.working_tree(db, module):
                modules.rename(db, module, "NOTES.md", "README.md")
        if key == "DELETE /api/modules/{module_id}/files/{path}":
            module = modules.get_owned(db, params["module_id"], owner)
            modules.write_file(db, module, "main.py", b"import visualbox\nvisualbox.output(1)\n")
        if key in (
            "DELETE /api/dashboards/{dashboard_id}/integrations/{instance_id}",
            "DELETE /api/dashboards/{dashboard_id}/alerts/{rule_id}",  # a rule's source
        ):
            board = dashboards.get_dashboard(db, owner, params["dashboard_id"])
            if not any(i["id"] == "i1" for i in board.document["integrations"]):
                instance = {"id": "i1", "module_id": params["module_id"], "label": "C"}
                dashboards.add_integration(
                    db, world.app.state.secret_box, owner, board.id, board.revision, instance
                )
        if key == "DELETE /api/teams/{team_id}/members/{member_id}":
            if db.get(TeamMember, (params["team_id"], params["member_id"])) is None:
                db.add(
                    TeamMember(
                        team_id=params["team_id"], user_id=params["member_id"], role="viewer"
                    )
                )
                db.commit()
        if key == "DELETE /api/dashboards/{dashboard_id}/alerts/{rule_id}":
            return {"rule_id": _alert_rule(world.app, db, owner, params["dashboard_id"])}
        if key == "DELETE /api/dashboards/{dashboard_id}":
            content = DashboardContent(name="Spare board")
            spare = dashboards.create_dashboard(
                db, world.app.state.secret_box, owner, content, team_id=params["team_id"]
            )
            return {"dashboard_id": spare.id}
        if key == "DELETE /api/modules/{module_id}":
            spare = modules.create_module(
                db, owner, name="Spare", kind="widget", runtime=None, template=False
            )
            modules.move_module(db, owner, spare, params["team_id"])
            db.commit()
            return {"module_id": spare.id}
        if key == "DELETE /api/teams/{team_id}":
            return {"team_id": _team(db, world.users, "Spare team").id}
    return {}


def _alert_rule(app: FastAPI, db: Any, owner: Any, board_id: str) -> str:
    """An alert rule on the owner's board that tells nobody (its test is refused with 422)."""
    body = AlertRuleCreate(name="Rule", source="/i1/level", condition="above", threshold=1)
    box, settings = app.state.secret_box, app.state.settings.alerts
    return alerts.create_rule(db, box, settings, owner, board_id, body).id


def _share_token(world: World) -> str:
    """The board's current public link (a case may have regenerated or withdrawn it)."""
    with world.app.state.db.session() as db:
        board = dashboards.get_dashboard(db, world.owner, world.params["dashboard_id"])
        if board.share_token is None:
            board = sharing.update_sharing(db, world.owner, board.id, public=True, listed=False)
        return str(board.share_token)


def _cases(destructive: bool) -> list[tuple[str, str]]:
    """(route, caller) pairs; an admitted DELETE only in the destructive run, which
    comes last, revoking the owner's own API token at its very end."""
    cases: list[tuple[str, str]] = []
    for key, rule in RULES.items():
        if key.startswith("WS ") or rule == "admin":
            continue
        for caller in CALLERS:
            admitted_delete = key.startswith("DELETE ") and caller in ADMITTED[rule]
            if admitted_delete == destructive:
                cases.append((key, caller))

    # Children before their parents (a file before its module), the token at the end.
    def order(case: tuple[str, str]) -> tuple[bool, int]:
        return case[0] == "DELETE /api/account/tokens/{token_id}", -case[0].count("/")

    return sorted(cases, key=order)


def _refusal(rule: str, caller: str) -> int:
    if rule == "runner":
        return RUNNER_DENIED[caller]
    if rule in ("author", "invitee") and caller in ("other", *TEAM):
        return 403  # told they may not (a published module, an invitation: not secret)
    if rule in ("viewer", "editor", "team-admin") and caller in TEAM:
        return 403  # a member of the team, in too low a role
    return DENIED[caller]


@pytest.mark.parametrize(("key", "caller"), _cases(destructive=False))
def test_only_admitted_callers_get_past_authorisation(world: World, key: str, caller: str) -> None:
    rule = RULES[key]
    response = _request(world, caller, key)
    if caller in ADMITTED[rule]:
        assert response.status_code not in (401, 403, 404), response.text
    else:
        assert response.status_code == _refusal(rule, caller), response.text


@pytest.mark.parametrize("caller", ["admin", *CALLERS])
def test_administration_is_for_administrators(world: World, caller: str) -> None:
    for key in (k for k, rule in RULES.items() if rule == "admin"):
        response = _request(world, caller, key)
        if caller == "admin":
            assert response.status_code not in (401, 403, 404), response.text
        else:
            assert response.status_code == ADMIN_DENIED[caller], (key, response.text)


@pytest.mark.parametrize("caller", CALLERS)
def test_the_frames_origin_admits_whoever_holds_the_address(world: World, caller: str) -> None:
    """Frames and published files need no credentials (a sandboxed frame has none): the
    ticket (short-lived, signed) or the published version's address is what admits."""
    frame = world.http["owner"].post(f"/api/modules/{world.params['widget_id']}/frame")
    assert frame.status_code == 200, frame.text
    origin, _, ticket_path = frame.json()["url"].partition("/frames/")
    ticket = ticket_path.strip("/")
    params = {**world.params, "ticket": ticket, "path": "index.html", "name": "purify.min.js"}
    client = world.http[caller]
    for key in FRAMES_RULES:
        method, path = key.split(" ", 1)
        response = client.request(method, origin + path.format(**params), follow_redirects=False)
        assert response.status_code in (200, 308), (key, response.status_code, response.text)
        assert "set-cookie" not in response.headers


# -- the live WebSocket -----------------------------------------------------------------

REFUSALS = {"not_found", "forbidden", "unauthenticated"}


class Socket:
    """One live connection; ``ask`` sends a command and returns what answered it: a
    TICK sent right after it comes back once the command was handled (in order)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def ask(self, command: dict[str, Any], until: str | None = None) -> list[dict[str, Any]]:
        self.connection.send_json(command)
        self.connection.send_json({"type": "TICK"})
        ticks = 2 if command["type"] == "TICK" else 1
        seen: list[dict[str, Any]] = []
        while True:
            frame = self.connection.receive_json()
            for message in frame if isinstance(frame, list) else [frame]:
                seen.append(message)
                done = sum(m["type"] == "TICK" for m in seen) == ticks
                if done and (until is None or _has(seen, until)):
                    return seen

    def refusal(self, command: dict[str, Any]) -> str | None:
        errors = [m["code"] for m in self.ask(command) if m["type"] == "ERROR"]
        return errors[0] if errors else None


def _has(messages: list[dict[str, Any]], kind: str) -> bool:
    return any(m["type"] == kind for m in messages)


def _commands(world: World, room: str) -> dict[str, dict[str, Any]]:
    module, instance = world.params["module_id"], world.params["instance_id"]
    return {
        "TICK": {"type": "TICK"},
        "JOIN": {"type": "JOIN", "dashboard": world.params["dashboard_id"]},
        "LEAVE": {"type": "LEAVE", "room": room},
        "RESTART": {"type": "RESTART", "room": room, "instance": instance},
        "TERMINATE": {"type": "TERMINATE", "room": room, "instance": instance},
        "DEV_START": {"type": "DEV_START", "module": module, "config": {}},
        "DEV_RESTART": {"type": "DEV_RESTART", "module": module},
        "DEV_STOP": {"type": "DEV_STOP", "module": module},
    }


@pytest.mark.parametrize("caller", CALLERS)
def test_live_commands_are_for_admitted_callers(world: World, caller: str) -> None:
    room = f"dashboard:{world.params['dashboard_id']}"
    commands = _commands(world, room)
    with world.http[caller].websocket_connect("/api/live") as connection:
        socket = Socket(connection)
        if caller == "public":  # the link admits to the room, as a viewer
            joined = socket.ask({"type": "JOIN", "share": _share_token(world)}, until="JOINED")
            assert next(m for m in joined if m["type"] == "JOINED")["role"] == "viewer"
        for name in LIVE_RULES:
            command = commands[name]
            refused = socket.refusal(command)
            admitted = caller in ADMITTED[LIVE_RULES[name]]
            if name == "JOIN" and caller == "public":
                admitted = False  # by dashboard id: only the owner
            if admitted:
                assert refused is None, (name, refused)
            else:
                assert refused in REFUSALS, (name, refused)
        if caller in ADMITTED["editor"]:  # the console's run ended with DEV_STOP
            socket.ask({"type": "LEAVE", "room": f"dev:{world.params['module_id']}"})


# -- last: the deletes (the owner's own API token at the very end) -----------------------


@pytest.mark.parametrize(("key", "caller"), _cases(destructive=True))
def test_admitted_callers_may_delete(world: World, key: str, caller: str) -> None:
    response = _request(world, caller, key)
    assert response.status_code not in (401, 403, 404), response.text
