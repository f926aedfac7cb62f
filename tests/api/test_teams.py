"""Teams: members and roles, invitations (mailed through a real SMTP server, or a
direct add without mail), the last-admin rule, quotas, and what each role sees of a
team dashboard. Who may call which route is in ``test_authorization.py``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.test_dashboards import error_fields
from tests.conftest import Account
from tests.fixtures.smtp import SmtpServer
from visualbox.db.tables.accounts import User
from visualbox.services import modules
from visualbox.settings import Settings


@pytest.fixture
def mail(settings: Settings, smtp: SmtpServer) -> SmtpServer:
    settings.mail.smtp_host = smtp.host
    settings.mail.smtp_port = smtp.port
    settings.mail.smtp_starttls = False
    return smtp


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return str(body["message"])


def make_team(admin: Account, name: str = "Field station") -> str:
    response = admin.http.post("/api/teams", json={"name": name})
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "admin"
    return str(response.json()["id"])


def add(admin: Account, team_id: str, member: Account, role: str) -> None:
    """Without mail, inviting an existing account adds it at once (and says so)."""
    response = admin.http.post(
        f"/api/teams/{team_id}/invitations", json={"email": member.email, "role": role}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["invitation"] is None and body["member"]["role"] == role
    assert "No mail server is configured" in body["message"]
    assert "added to the team directly" in body["message"]


def test_invitation_is_mailed_and_accepted_by_the_invited_address(
    mail: SmtpServer, make_account: Callable[..., Account]
) -> None:
    ada, bob, eve = make_account("Ada"), make_account("Bob"), make_account("Eve")
    team = make_team(ada)
    sent = ada.http.post(
        f"/api/teams/{team}/invitations", json={"email": bob.email.upper(), "role": "editor"}
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["message"] == f"An invitation was mailed to {bob.email.upper()}."
    message = mail.wait_for(1)[0]
    assert message["To"] == bob.email.upper()
    assert "Field station" in message["Subject"]
    link = mail.link(0)
    assert link.startswith("http://") and "/teams/join?token=" in link
    token = link.split("token=", 1)[1]
    pending = ada.http.get(f"/api/teams/{team}/invitations").json()
    assert [(i["email"], i["role"]) for i in pending] == [(bob.email.upper(), "editor")]

    preview = eve.http.get(f"/api/invitations/{token}")
    assert preview.json() == {
        "team_name": "Field station",
        "role": "editor",
        "email": bob.email.upper(),
    }
    assert "is for" in error(eve.http.post(f"/api/invitations/{token}/accept"), 403, "forbidden")

    joined = bob.http.post(f"/api/invitations/{token}/accept")
    assert joined.status_code == 200, joined.text
    assert joined.json()["role"] == "editor" and joined.json()["members"] == 2
    error(bob.http.post(f"/api/invitations/{token}/accept"), 410, "gone")  # once only
    assert ada.http.get(f"/api/teams/{team}/invitations").json() == []
    members = ada.http.get(f"/api/teams/{team}/members").json()
    assert {(m["name"], m["role"]) for m in members} == {("Ada", "admin"), ("Bob", "editor")}

    # a revoked invitation's link is dead at once
    again = ada.http.post(f"/api/teams/{team}/invitations", json={"email": eve.email})
    revoked = again.json()["invitation"]["id"]
    assert ada.http.delete(f"/api/teams/{team}/invitations/{revoked}").status_code == 204
    eve_token = mail.link(1).split("token=", 1)[1]
    assert "withdrawn" in error(eve.http.post(f"/api/invitations/{eve_token}/accept"), 410, "gone")


def test_without_mail_only_an_existing_account_is_added(
    make_account: Callable[..., Account],
) -> None:
    ada, bob = make_account("Ada"), make_account("Bob")
    team = make_team(ada)
    add(ada, team, bob, "viewer")
    nobody = ada.http.post(
        f"/api/teams/{team}/invitations", json={"email": "nobody@example.test", "role": "viewer"}
    )
    assert "sign up" in error(nobody, 409, "conflict")
    twice = ada.http.post(f"/api/teams/{team}/invitations", json={"email": bob.email})
    assert "already a member" in error(twice, 409, "conflict")
    bad = ada.http.post(f"/api/teams/{team}/invitations", json={"email": "not an address"})
    error(bad, 422, "invalid")


def test_the_last_admin_can_neither_leave_nor_be_demoted(
    make_account: Callable[..., Account],
) -> None:
    ada, bob = make_account("Ada"), make_account("Bob")
    team = make_team(ada)
    add(ada, team, bob, "editor")
    leave = ada.http.delete(f"/api/teams/{team}/members/{ada.id}")
    assert "last admin" in error(leave, 409, "conflict")
    demote = ada.http.patch(f"/api/teams/{team}/members/{ada.id}", json={"role": "editor"})
    assert "last admin" in error(demote, 409, "conflict")
    # an editor may not promote itself; with a second admin, the first may leave
    error(
        bob.http.patch(f"/api/teams/{team}/members/{bob.id}", json={"role": "admin"}),
        403,
        "forbidden",
    )
    promoted = ada.http.patch(f"/api/teams/{team}/members/{bob.id}", json={"role": "admin"})
    assert promoted.json()["role"] == "admin"
    assert ada.http.delete(f"/api/teams/{team}/members/{ada.id}").status_code == 204
    error(ada.http.get(f"/api/teams/{team}"), 404, "not_found")  # gone from her teams
    assert [t["id"] for t in bob.http.get("/api/teams").json()] == [team]


def test_quotas_on_teams_and_members(
    settings: Settings, make_account: Callable[..., Account]
) -> None:
    settings.teams.per_user = 1
    settings.teams.members = 2
    ada, bob, cy = make_account("Ada"), make_account("Bob"), make_account("Cy")
    team = make_team(ada)
    assert "belong to 1 team" in error(
        ada.http.post("/api/teams", json={"name": "Two"}), 403, "quota_exceeded"
    )
    add(ada, team, bob, "viewer")
    full = ada.http.post(f"/api/teams/{team}/invitations", json={"email": cy.email})
    assert "most a team may (2)" in error(full, 403, "quota_exceeded")


SECRET = "pw-51d0-do-not-leak"
SCHEMA = [
    {"type": "text", "name": "city", "label": "City"},
    {"type": "password", "name": "api_key", "label": "API key"},
]


def test_roles_on_a_team_dashboard(app: FastAPI, make_account: Callable[..., Account]) -> None:
    """The team's unpublished module is usable on its dashboards; a viewer sees the
    stripped view (no config, no secrets, no link) and may not change it; an editor
    changes it but may not delete or move it; an admin may; a team with dashboards
    cannot be deleted."""
    ada, viewer, editor, admin, other = (make_account(n) for n in ("Ada", "Vi", "Ed", "Al", "Ot"))
    team = make_team(ada)
    add(ada, team, viewer, "viewer")
    add(ada, team, editor, "editor")
    add(ada, team, admin, "admin")
    with app.state.db.session() as db:
        module = modules.create_module(
            db, db.get(User, ada.id), name="Station", kind="integration", runtime="python"
        )
        modules.write_file(db, module, "config.json", json.dumps(SCHEMA).encode())
        module_id = module.id
    content = {
        "name": "Station",
        "integrations": [
            {
                "id": "i1",
                "module_id": module_id,
                "version": "working",
                "label": "Sim",
                "config": {"city": "Oslo", "api_key": SECRET},
            }
        ],
    }
    private = editor.http.post("/api/dashboards", json=content)
    assert error_fields(private) == {
        "integrations[0].version": 'no version "working" that you can use'
    }
    moved = ada.http.patch(f"/api/modules/{module_id}", json={"team_id": team})
    assert moved.status_code == 200 and moved.json()["team_id"] == team, moved.text
    created = editor.http.post("/api/dashboards", json={**content, "team_id": team})
    assert created.status_code == 201, created.text
    board = created.json()
    assert (board["team_id"], board["team_name"], board["role"]) == (team, "Field station", "owner")
    error(other.http.post("/api/dashboards", json={**content, "team_id": team}), 404, "not_found")
    error(viewer.http.post("/api/dashboards", json={**content, "team_id": team}), 403, "forbidden")

    listed = {d["id"]: d for d in viewer.http.get("/api/dashboards").json()}
    assert (listed[board["id"]]["role"], listed[board["id"]]["team_name"]) == (
        "viewer",
        "Field station",
    )
    seen = viewer.http.get(f"/api/dashboards/{board['id']}")
    assert seen.json()["role"] == "viewer" and seen.json()["share_url"] is None
    assert [i["config"] for i in seen.json()["integrations"]] == [{}]
    assert SECRET not in seen.text and "Oslo" not in seen.text
    as_editor = editor.http.get(f"/api/dashboards/{board['id']}")
    assert as_editor.json()["integrations"][0]["config"] == {
        "city": "Oslo",
        "api_key": {"secret": True, "set": True},
    }
    assert SECRET not in as_editor.text
    change = {"name": "Renamed", "revision": board["revision"]}
    error(viewer.http.patch(f"/api/dashboards/{board['id']}", json=change), 403, "forbidden")
    error(viewer.http.get(f"/api/dashboards/{board['id']}/export"), 403, "forbidden")
    error(other.http.get(f"/api/dashboards/{board['id']}"), 404, "not_found")

    saved = ada.http.patch(f"/api/dashboards/{board['id']}", json=change)
    assert saved.status_code == 200, saved.text
    assert saved.json()["role"] == "admin"
    move_out = {"team_id": None, "revision": saved.json()["revision"]}
    error(viewer.http.patch(f"/api/dashboards/{board['id']}", json=move_out), 403, "forbidden")
    adas = ada.http.post("/api/dashboards", json={"name": "Ada's", "team_id": team}).json()
    error(editor.http.delete(f"/api/dashboards/{adas['id']}"), 403, "forbidden")
    away = {"team_id": None, "revision": adas["revision"]}
    error(editor.http.patch(f"/api/dashboards/{adas['id']}", json=away), 403, "forbidden")
    assert ada.http.delete(f"/api/dashboards/{adas['id']}").status_code == 204
    in_use = ada.http.delete(f"/api/teams/{team}")
    assert "1 dashboard and 1 module" in error(in_use, 409, "conflict")
    # an admin moves it out: it is the editor's private dashboard again
    out = admin.http.patch(f"/api/dashboards/{board['id']}", json=move_out)
    assert out.status_code == 200 and out.json()["team_id"] is None, out.text
    error(viewer.http.get(f"/api/dashboards/{board['id']}"), 404, "not_found")
    assert editor.http.get(f"/api/dashboards/{board['id']}").json()["role"] == "owner"
    assert ada.http.patch(f"/api/modules/{module_id}", json={"team_id": None}).status_code == 200
    assert ada.http.delete(f"/api/teams/{team}").status_code == 204
