"""The administration of users over HTTP (``/api/users``) and accounts on a server
without mail: an administrator verifies, disables, promotes and hands out reset links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_accounts import PASSWORD, error, signin, signup, token_of
from tests.conftest import Account
from tests.fixtures.smtp import SmtpServer
from visualbox.db.base import utcnow
from visualbox.services import accounts
from visualbox.settings import Settings

MakeAccount = Callable[..., Account]
UNKNOWN = "0" * 32


@pytest.fixture
def mail(settings: Settings, smtp: SmtpServer) -> SmtpServer:
    """Route the app's mail to the loopback SMTP server (before the app is built)."""
    settings.mail.smtp_host = smtp.host
    settings.mail.smtp_port = smtp.port
    settings.mail.smtp_starttls = False
    return smtp


def _visitor(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://testserver")


def test_the_list_tells_verified_pending_disabled_and_administrators(
    make_account: MakeAccount,
) -> None:
    admin = make_account("Admin", admin=True)
    pending = make_account("Pending", verified=False)
    admin.http.patch(f"/api/users/{pending.id}", json={"disabled": True})
    page = admin.http.get("/api/users").json()
    rows = {u["name"]: u for u in page["items"]}
    assert page["total"] == 2
    assert rows["Admin"] | {"created_at": None} == {
        "id": admin.id,
        "name": "Admin",
        "email": admin.email,
        "is_admin": True,
        "email_verified": True,
        "two_factor_enabled": False,
        "disabled": False,
        "created_at": None,
    }
    assert rows["Pending"]["email_verified"] is False and rows["Pending"]["disabled"] is True
    one = admin.http.get(f"/api/users/{pending.id}").json()
    assert one == rows["Pending"]


def test_unknown_users_are_not_found(make_account: MakeAccount) -> None:
    admin = make_account("Admin", admin=True)
    error(admin.http.get(f"/api/users/{UNKNOWN}"), 404, "not_found")
    error(admin.http.patch(f"/api/users/{UNKNOWN}", json={"disabled": True}), 404, "not_found")
    error(admin.http.post(f"/api/users/{UNKNOWN}/reset-link"), 404, "not_found")


def test_system_accounts_are_not_users(app: FastAPI, make_account: MakeAccount) -> None:
    admin = make_account("Admin", admin=True)
    with app.state.db.session() as db:
        system = accounts.create_user(
            db, name="System", email="system@example.test", password=None, is_system=True
        )
    assert [u["name"] for u in admin.http.get("/api/users").json()["items"]] == ["Admin"]
    error(admin.http.get(f"/api/users/{system.id}"), 404, "not_found")
    error(admin.http.patch(f"/api/users/{system.id}", json={"is_admin": True}), 404, "not_found")
    error(admin.http.post(f"/api/users/{system.id}/reset-link"), 404, "not_found")


def test_only_administrators_manage_users(app: FastAPI, make_account: MakeAccount) -> None:
    make_account("Admin", admin=True)
    member, other = make_account(), make_account()
    for method, path, body in (
        ("GET", f"/api/users/{other.id}", None),
        ("PATCH", f"/api/users/{other.id}", {"is_admin": True}),
        ("PATCH", f"/api/users/{member.id}", {"is_admin": True}),  # not even themselves
        ("POST", f"/api/users/{other.id}/reset-link", None),
    ):
        error(member.http.request(method, path, json=body), 403, "forbidden")
        error(_visitor(app).request(method, path, json=body), 401, "unauthenticated")
    assert member.http.get("/api/account").json()["is_admin"] is False


def test_bad_input_is_refused_in_words(make_account: MakeAccount) -> None:
    admin = make_account("Admin", admin=True)
    member = make_account()
    path = f"/api/users/{member.id}"
    error(admin.http.patch(path, json={"email": "x@example.test"}), 422, "invalid", "email")
    error(admin.http.patch(path, json={"disabled": "soon"}), 422, "invalid", "disabled")
    assert admin.http.patch(path, json={}).json()["disabled"] is False  # nothing changes


def test_verifying_a_pending_account_lets_it_in(make_account: MakeAccount) -> None:
    admin = make_account("Admin", admin=True)
    pending = make_account(verified=False)
    error(pending.http.get("/api/dashboards"), 403, "forbidden")
    answer = admin.http.patch(f"/api/users/{pending.id}", json={"email_verified": True})
    assert answer.status_code == 200 and answer.json()["email_verified"] is True
    assert pending.http.get("/api/dashboards").status_code == 200


def test_a_disabled_account_cannot_sign_in_and_its_sessions_and_tokens_stop(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    admin = make_account("Admin", admin=True)
    member = make_account()
    assert signin(client, member.email).status_code == 200
    assert client.get("/api/dashboards").status_code == 200

    assert admin.http.patch(f"/api/users/{member.id}", json={"disabled": True}).json()["disabled"]
    error(client.get("/api/dashboards"), 401, "unauthenticated")  # the session ended
    error(member.http.get("/api/dashboards"), 401, "unauthenticated")  # the API token
    message = error(signin(client, member.email), 403, "forbidden")
    assert message == "This account is disabled; ask an administrator."
    # A wrong password is told as before: being disabled is no oracle for guessing.
    error(signin(client, member.email, "wrong password"), 401, "unauthenticated")

    admin.http.patch(f"/api/users/{member.id}", json={"disabled": False})
    assert member.http.get("/api/dashboards").status_code == 200
    assert signin(client, member.email).status_code == 200


def test_making_and_revoking_an_administrator(make_account: MakeAccount) -> None:
    admin = make_account("Admin", admin=True)
    member = make_account()
    assert admin.http.patch(f"/api/users/{member.id}", json={"is_admin": True}).json()["is_admin"]
    assert member.http.get("/api/users").status_code == 200
    # The new administrator may revoke the first one (but not themselves).
    answer = member.http.patch(f"/api/users/{admin.id}", json={"is_admin": False})
    assert answer.status_code == 200 and answer.json()["is_admin"] is False
    error(admin.http.get("/api/users"), 403, "forbidden")


def test_an_administrator_cannot_lock_themselves_out(make_account: MakeAccount) -> None:
    admin = make_account("Admin", admin=True)
    own = f"/api/users/{admin.id}"
    message = error(admin.http.patch(own, json={"is_admin": False}), 409, "conflict")
    assert message == (
        "You cannot remove your own administrator role: another administrator must do it."
    )
    message = error(admin.http.patch(own, json={"disabled": True}), 409, "conflict")
    assert message == "You cannot disable your own account."
    error(admin.http.patch(own, json={"email_verified": False}), 409, "conflict")
    me = admin.http.get(own).json()
    assert me["is_admin"] and not me["disabled"] and me["email_verified"]
    assert admin.http.patch(own, json={"is_admin": True, "disabled": False}).status_code == 200


def test_a_reset_link_to_hand_over_sets_a_new_password_once(
    client: TestClient, make_account: MakeAccount, settings: Settings
) -> None:
    admin = make_account("Admin", admin=True)
    member = make_account(verified=False)
    before = utcnow()
    answer = admin.http.post(f"/api/users/{member.id}/reset-link")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["link"].startswith(f"{settings.public_url}/reset-password?token=")
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(minutes=59) < expires <= utcnow() + timedelta(hours=1)

    token = token_of(body["link"])
    changed = client.post("/api/auth/reset", json={"token": token, "password": "a new password"})
    assert changed.status_code == 200, changed.text
    assert signin(client, member.email, "a new password").status_code == 200
    assert client.get("/api/account").json()["email_verified"] is True  # the link proved it
    again = client.post("/api/auth/reset", json={"token": token, "password": "another one!"})
    error(again, 400, "invalid_token")


# -- a server without mail --------------------------------------------------------------


def test_without_mail_the_session_tells_a_first_visit_and_no_mail(
    app: FastAPI, client: TestClient
) -> None:
    assert _visitor(app).get("/api/auth/session").json() == {
        "user": None,
        "two_factor_setup_required": False,
        "mail": False,
        "first_account": True,
    }
    first = signup(client, "ada@example.com")
    assert first["is_admin"] and first["email_verified"]
    assert first["message"] == "Your account is ready: it is the administrator of this server."
    assert client.get("/api/auth/session").json()["first_account"] is False
    assert _visitor(app).get("/api/auth/session").json()["first_account"] is False


def test_without_mail_newcomers_are_told_an_administrator_lets_them_in(
    app: FastAPI, make_account: MakeAccount
) -> None:
    admin = make_account("Admin", admin=True)
    newcomer = _visitor(app)
    body = signup(newcomer, "grace@example.com", name="Grace")
    assert body["email_verified"] is False
    told = "This server sends no mail: an administrator will verify your account and let you in."
    assert body["message"] == told
    resent = newcomer.post("/api/auth/verify/resend")
    assert resent.status_code == 202 and resent.json()["message"] == told
    message = error(newcomer.get("/api/dashboards"), 403, "forbidden")
    assert message == "An administrator has not verified your account yet."

    admin.http.patch(f"/api/users/{body['id']}", json={"email_verified": True})
    assert newcomer.get("/api/dashboards").status_code == 200


def test_without_mail_forgot_says_to_ask_an_administrator(
    app: FastAPI, make_account: MakeAccount
) -> None:
    member = make_account()
    for email in (member.email, "nobody@example.com"):
        answer = _visitor(app).post("/api/auth/forgot", json={"email": email})
        assert answer.status_code == 202
        assert answer.json()["message"] == (
            "This server sends no mail: ask an administrator for a link to choose a new password."
        )


def test_with_mail_the_words_are_those_of_the_mailed_links(
    mail: SmtpServer, app: FastAPI, make_account: MakeAccount
) -> None:
    make_account("Admin", admin=True)
    visitor = _visitor(app)
    assert visitor.get("/api/auth/session").json()["mail"] is True
    body = signup(visitor, "grace@example.com", name="Grace")
    told = "We sent a link to grace@example.com: follow it to verify your address."
    assert body["message"] == told
    mail.wait_for(1)
    message = error(visitor.get("/api/dashboards"), 403, "forbidden")
    assert message == "Verify your email address first: follow the link we sent you."
    forgot = _visitor(app).post("/api/auth/forgot", json={"email": "grace@example.com"})
    assert forgot.json()["message"] == "If an account uses this address, we sent it a reset link."
    assert signin(visitor, "grace@example.com", PASSWORD).status_code == 200
