"""Accounts over HTTP: sign-up, email links, sign-in/out, rate limits, settings, tokens."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.websockets import WebSocketDisconnect

from tests.conftest import Account
from tests.fixtures.smtp import SmtpServer
from visualbox.db.base import utcnow
from visualbox.db.tables.accounts import EmailToken, RecoveryCode, SigninFailure, User
from visualbox.services.accounts import LINKS_PER_HOUR
from visualbox.services.secrets import load_or_create_key
from visualbox.settings import Settings

PASSWORD = "correct horse battery"
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"


@pytest.fixture
def mail(settings: Settings, smtp: SmtpServer) -> SmtpServer:
    """Route the app's mail to the loopback SMTP server."""
    settings.mail.smtp_host = smtp.host
    settings.mail.smtp_port = smtp.port
    settings.mail.smtp_starttls = False
    return smtp


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> str:
    """Assert the error shape; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code
    fields = [f["field"] for f in body["fields"]]
    if field is not None:
        assert field in fields, fields
    return str(body["message"])


def signup(http: TestClient, email: str, name: str = "Ada", password: str = PASSWORD) -> Any:
    response = http.post(
        "/api/auth/signup", json={"name": name, "email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return response.json()


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def logged_link(caplog: pytest.LogCaptureFixture) -> str:
    lines = [r.getMessage() for r in caplog.records if r.name == "visualbox.mail"]
    assert lines, "no link was logged"
    found = re.search(r"https?://\S+", lines[-1])
    assert found is not None
    return found.group(0)


def signin(http: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/auth/signin", json={"email": email, "password": password})


# -- sign-up ----------------------------------------------------------------------------


def test_first_signup_is_a_verified_admin_signed_in_by_cookie(client: TestClient) -> None:
    response = client.post(
        "/api/auth/signup", json={"name": " Ada ", "email": "Ada@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Ada" and body["email"] == "ada@example.com"
    assert body["is_admin"] is True and body["email_verified"] is True
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("visualbox_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert f"Max-Age={30 * 86400}" in cookie and "Secure" not in cookie
    assert client.get("/api/account").json()["id"] == body["id"]
    assert client.get("/api/account/tokens").status_code == 200  # verified: allowed


def test_later_signups_verify_through_the_logged_link(
    client: TestClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    signup(client, "first@example.com")
    other = TestClient(app)
    with caplog.at_level(logging.INFO, logger="visualbox.mail"):
        body = signup(other, "bob@example.com", "Bob")
    assert body["is_admin"] is False and body["email_verified"] is False
    error(other.get("/api/account/tokens"), 403, "forbidden")
    link = logged_link(caplog)
    assert link.startswith("http://127.0.0.1:8000/verify-email?token=")
    assert PASSWORD not in caplog.text
    page = other.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert page.status_code == 200 and "confirmed" in page.text
    assert page.headers["content-security-policy"] == CSP
    assert other.get("/api/account").json()["email_verified"] is True
    assert other.get("/api/account/tokens").status_code == 200
    again = other.get("/verify-email", params={"token": token_of(link)})
    assert again.status_code == 400 and "invalid" in again.text


def test_with_smtp_even_the_first_account_verifies_by_mail(
    client: TestClient, mail: SmtpServer
) -> None:
    assert signup(client, "ada@example.com")["email_verified"] is False
    [message] = mail.wait_for(1)
    assert message["To"] == "ada@example.com"
    token = token_of(mail.link())
    verified = client.post("/api/auth/verify", json={"token": token})
    assert verified.status_code == 200 and verified.json()["email_verified"] is True
    error(client.post("/api/auth/verify", json={"token": token}), 400, "invalid_token", "token")
    error(client.post("/api/auth/verify", json={"token": "nope"}), 400, "invalid_token")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"name": "A", "email": "a@example.com", "password": "short"}, "password"),
        ({"name": "  ", "email": "a@example.com", "password": PASSWORD}, "name"),
        ({"name": "A" * 101, "email": "a@example.com", "password": PASSWORD}, "name"),
        ({"name": "A", "email": "a@example.com", "password": PASSWORD, "x": 1}, "x"),
        ({"name": "A", "password": PASSWORD}, "email"),
    ],
)
def test_signup_rejects_bad_input(client: TestClient, body: dict[str, Any], field: str) -> None:
    error(client.post("/api/auth/signup", json=body), 422, "invalid", field)


def test_signup_refuses_a_registered_email(client: TestClient, app: FastAPI) -> None:
    signup(client, "ada@example.com")
    again = TestClient(app).post(
        "/api/auth/signup", json={"name": "X", "email": "ADA@example.com", "password": PASSWORD}
    )
    error(again, 409, "conflict", "email")


def test_closed_signup_still_admits_the_first_account(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    settings.accounts.signup_open = False
    signup(client, "ada@example.com")
    late = TestClient(app).post(
        "/api/auth/signup", json={"name": "B", "email": "b@example.com", "password": PASSWORD}
    )
    error(late, 403, "forbidden")


def test_resend_verification(
    client: TestClient, app: FastAPI, mail: SmtpServer, make_account: Callable[..., Account]
) -> None:
    error(client.post("/api/auth/verify/resend"), 401, "unauthenticated")
    signup(client, "ada@example.com")
    mail.wait_for(1)
    resent = client.post("/api/auth/verify/resend")
    assert resent.status_code == 202
    assert mail.wait_for(2)[1]["To"] == "ada@example.com"
    assert mail.link(1) != mail.link(0)
    client.post("/api/auth/verify", json={"token": token_of(mail.link(1))})
    error(client.post("/api/auth/verify/resend"), 409, "conflict")


# -- sign-in, sign-out, cookies ---------------------------------------------------------


def test_signin_and_signout(client: TestClient, app: FastAPI) -> None:
    signup(client, "ada@example.com")
    browser = TestClient(app)
    wrong = error(signin(browser, "ada@example.com", "wrong password"), 401, "unauthenticated")
    unknown = error(signin(browser, "nobody@example.com"), 401, "unauthenticated")
    assert wrong == unknown
    response = signin(browser, "ADA@example.com")
    assert response.status_code == 200 and response.json()["email"] == "ada@example.com"
    cookie = response.cookies["visualbox_session"]
    assert "HttpOnly" in response.headers["set-cookie"]
    assert browser.get("/api/account").status_code == 200
    out = browser.post("/api/auth/signout")
    assert out.status_code == 204
    assert "Max-Age=0" in out.headers["set-cookie"]
    stale = TestClient(app, cookies={"visualbox_session": cookie})
    error(stale.get("/api/account"), 401, "unauthenticated")
    error(browser.get("/api/account"), 401, "unauthenticated")


def test_cookie_is_secure_behind_https(client: TestClient, settings: Settings) -> None:
    settings.server.public_url = "https://vb.example.com"
    response = client.post(
        "/api/auth/signup", json={"name": "A", "email": "a@example.com", "password": PASSWORD}
    )
    assert "Secure" in response.headers["set-cookie"]


def test_cross_site_requests_with_the_cookie_are_refused(client: TestClient) -> None:
    signup(client, "ada@example.com")
    evil = {"Origin": "https://evil.example"}
    error(client.patch("/api/account", json={"name": "Eve"}, headers=evil), 403, "forbidden")
    error(client.post("/api/auth/signout", headers=evil), 403, "forbidden")
    cross_signin = client.post(
        "/api/auth/signin", json={"email": "ada@example.com", "password": PASSWORD}, headers=evil
    )
    error(cross_signin, 403, "forbidden")
    same = client.patch(
        "/api/account", json={"name": "Ada L"}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 200 and same.json()["name"] == "Ada L"


def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(
    client: TestClient, app: FastAPI
) -> None:
    """The cheap targeted lock-out: ten wrong passwords for ada from one address must not
    keep ada, at another address, from signing in at once."""
    signup(client, "ada@example.com")
    stranger = TestClient(app, client=("10.66.0.1", 1000))
    codes = [signin(stranger, "ada@example.com", f"guess {n}").status_code for n in range(10)]
    assert set(codes) <= {401, 429}
    owner = TestClient(app, client=("10.66.0.2", 1000))
    assert signin(owner, "ada@example.com").status_code == 200


def _age_failures(app: FastAPI, seconds: float) -> None:
    """Let ``seconds`` pass for the throttle: every recorded failure gets older."""
    with app.state.db.session() as db:
        for row in db.scalars(select(SigninFailure)):
            row.failed_at -= timedelta(seconds=seconds)
        db.commit()


def test_waits_per_client_and_account_grow_up_to_the_cap(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    settings.accounts.signin_attempts = 2
    settings.accounts.signin_delay_s = 30
    settings.accounts.signin_max_delay_s = 100
    signup(client, "ada@example.com")
    guesser = TestClient(app, client=("10.9.0.1", 1000))
    for _ in range(2):  # free
        error(signin(guesser, "ada@example.com", "guess"), 401, "unauthenticated")
    waits = []
    for _ in range(3):
        early = signin(guesser, "ada@example.com")  # even the right password must wait
        error(early, 429, "rate_limited")
        waits.append(int(early.headers["retry-after"]))
        _age_failures(app, waits[-1])
        error(signin(guesser, "ada@example.com", "guess"), 401, "unauthenticated")
    assert 28 <= waits[0] <= 30 and 58 <= waits[1] <= 60 and 98 <= waits[2] <= 100, waits
    assert int(signin(guesser, "ada@example.com").headers["retry-after"]) <= 100  # the cap
    # Meanwhile another address is not slowed down at all.
    assert signin(TestClient(app, client=("10.9.0.2", 1000)), "ada@example.com").status_code == 200
    # After the wait the right password works, and success forgets the pair's failures.
    _age_failures(app, 100)
    assert signin(guesser, "ada@example.com").status_code == 200
    error(signin(guesser, "ada@example.com", "guess"), 401, "unauthenticated")
    assert signin(guesser, "ada@example.com").status_code == 200


def test_one_client_guessing_across_accounts_must_wait(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    settings.accounts.signin_client_attempts = 2
    settings.accounts.signin_delay_s = 30
    signup(client, "ada@example.com")
    signup(TestClient(app), "bob@example.com", "Bob")
    roamer = TestClient(app, client=("10.0.0.9", 1))
    error(signin(roamer, "nobody@example.com", "x"), 401, "unauthenticated")
    error(signin(roamer, "other@example.com", "x"), 401, "unauthenticated")
    blocked = signin(roamer, "bob@example.com")
    error(blocked, 429, "rate_limited")
    assert 28 <= int(blocked.headers["retry-after"]) <= 30
    assert signin(TestClient(app, client=("10.0.0.10", 1)), "bob@example.com").status_code == 200
    _age_failures(app, 30)
    assert signin(roamer, "bob@example.com").status_code == 200


def test_guessing_one_account_from_many_addresses_only_slows_it_down(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    settings.accounts.signin_account_attempts = 3
    settings.accounts.signin_delay_s = 30
    signup(client, "ada@example.com")
    for n in range(3):
        guesser = TestClient(app, client=(f"10.8.0.{n}", 1000))
        error(signin(guesser, "ada@example.com", "guess"), 401, "unauthenticated")
    late = signin(TestClient(app, client=("10.8.1.1", 1000)), "ada@example.com", "guess")
    error(late, 429, "rate_limited")
    assert 28 <= int(late.headers["retry-after"]) <= 30  # a short wait, never a long lock
    _age_failures(app, 30)
    assert signin(TestClient(app, client=("10.8.1.2", 1000)), "ada@example.com").status_code == 200


def test_simultaneous_sign_ups_with_one_address_give_one_account(app: FastAPI) -> None:
    start = threading.Barrier(4)

    def sign_up(n: int) -> int:
        http = TestClient(app)
        start.wait()
        body = {"name": f"Twin {n}", "email": "same@example.com", "password": PASSWORD}
        return int(http.post("/api/auth/signup", json=body).status_code)

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(sign_up, range(4)))
    assert codes == [201, 409, 409, 409]  # never a 500, whoever wins the race


def test_simultaneous_first_sign_ups_make_one_administrator(app: FastAPI) -> None:
    start = threading.Barrier(4)

    def sign_up(n: int) -> dict[str, Any]:
        http = TestClient(app)
        start.wait()
        body = {"name": f"Early {n}", "email": f"early{n}@example.com", "password": PASSWORD}
        response = http.post("/api/auth/signup", json=body)
        assert response.status_code == 201, response.text
        return dict(http.get("/api/account").json())

    with ThreadPoolExecutor(4) as pool:
        accounts = list(pool.map(sign_up, range(4)))
    assert sum(a["is_admin"] for a in accounts) == 1
    assert sum(a["email_verified"] for a in accounts) == 1  # only the first skips the mail


@pytest.mark.parametrize("addresses", ["one", "many"])
def test_concurrent_wrong_passwords_cannot_exceed_the_limit(
    client: TestClient, app: FastAPI, settings: Settings, addresses: str
) -> None:
    # Every attempt counts itself before the password is checked, so parallel
    # guesses cannot all pass the check before the first failure is written: from
    # one address the pair's free failures bind, from many the account's.
    settings.accounts.signin_attempts = 3
    settings.accounts.signin_account_attempts = 3
    settings.accounts.signin_delay_s = 600  # no straggler may arrive after a wait
    signup(client, "ada@example.com")
    start = threading.Barrier(12)

    def guess(n: int) -> int:
        address = "10.7.0.1" if addresses == "one" else f"10.7.0.{n}"
        http = TestClient(app, client=(address, 1000))
        start.wait()
        return signin(http, "ada@example.com", f"guess {n}").status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(guess, range(12)))
    assert set(codes) <= {401, 429}
    assert codes.count(401) <= 3, codes  # at most the free failures were really tried


def test_signin_rehashes_old_parameters(client: TestClient, app: FastAPI) -> None:
    signup(client, "ada@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    with app.state.db.session() as db:
        db.execute(update(User).where(User.email == "ada@example.com").values(password_hash=weak))
        db.commit()
    assert signin(TestClient(app), "ada@example.com").status_code == 200
    with app.state.db.session() as db:
        stored = db.query(User).filter(User.email == "ada@example.com").one().password_hash
    assert stored != weak and not PasswordHasher().check_needs_rehash(stored)
    assert signin(TestClient(app), "ada@example.com").status_code == 200


# -- password reset ---------------------------------------------------------------------


def test_forgot_never_reveals_whether_an_account_exists(
    client: TestClient, mail: SmtpServer
) -> None:
    signup(client, "ada@example.com")
    mail.wait_for(1)
    known = client.post("/api/auth/forgot", json={"email": "ADA@example.com"})
    unknown = client.post("/api/auth/forgot", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [m["To"] for m in mail.wait_for(2)] == ["ada@example.com", "ada@example.com"]
    assert "/reset-password?token=" in mail.link(1)
    assert len(mail.messages) == 2  # nothing went to the unknown address
    error(client.post("/api/auth/forgot", json={}), 422, "invalid", "email")


def test_forgot_answers_without_waiting_for_the_mail_server(
    client: TestClient, mail: SmtpServer
) -> None:
    # A slow answer for real accounts only would tell which addresses have one.
    signup(client, "ada@example.com")
    mail.wait_for(1)
    mail.hold.clear()  # the SMTP server now keeps every client waiting
    try:
        response = client.post("/api/auth/forgot", json={"email": "ada@example.com"})
        assert response.status_code == 202
        assert len(mail.messages) == 1  # answered while the reset mail is still on its way
    finally:
        mail.hold.set()
    assert "/reset-password?token=" in mail.link(1)


def test_link_mails_are_limited_per_hour(
    client: TestClient, app: FastAPI, mail: SmtpServer
) -> None:
    signup(client, "ada@example.com")  # the first account: its verification mail
    bob = TestClient(app)
    signup(bob, "bob@example.com", "Bob")  # a verification mail too
    mail.wait_for(2)
    for _ in range(LINKS_PER_HOUR - 1):  # the sign-up mail counts as one
        assert bob.post("/api/auth/verify/resend").status_code == 202
    error(bob.post("/api/auth/verify/resend"), 429, "rate_limited")
    for _ in range(LINKS_PER_HOUR + 2):  # the answer never changes ...
        assert client.post("/api/auth/forgot", json={"email": "ada@example.com"}).status_code == 202
    with app.state.db.session() as db:  # ... but only LINKS_PER_HOUR links were made and sent
        resets = db.query(EmailToken).filter(EmailToken.purpose == "reset").count()
    assert resets == LINKS_PER_HOUR
    mail.wait_for(2 + (LINKS_PER_HOUR - 1) + LINKS_PER_HOUR)


def test_reset_through_the_html_form(client: TestClient, app: FastAPI, mail: SmtpServer) -> None:
    signup(client, "ada@example.com")
    other_session = TestClient(app)
    assert signin(other_session, "ada@example.com").status_code == 200
    client.post("/api/auth/forgot", json={"email": "ada@example.com"})
    token = token_of(mail.link(1))
    browser = TestClient(app)

    form = browser.get("/reset-password", params={"token": token})
    assert form.status_code == 200
    assert form.headers["content-security-policy"] == CSP
    assert form.headers["referrer-policy"] == "no-referrer"
    assert '<form method="post" action="/reset-password">' in form.text
    assert f'name="token" value="{token}"' in form.text

    fields = {"token": token, "password": "a new password", "confirm": "another one"}
    mismatch = browser.post("/reset-password", data=fields)
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    short = browser.post("/reset-password", data={**fields, "password": "x", "confirm": "x"})
    assert short.status_code == 400 and "at least 8" in short.text

    done = browser.post("/reset-password", data={**fields, "confirm": "a new password"})
    assert done.status_code == 200 and "changed" in done.text
    error(client.get("/api/account"), 401, "unauthenticated")
    error(other_session.get("/api/account"), 401, "unauthenticated")
    error(signin(TestClient(app), "ada@example.com"), 401, "unauthenticated")
    assert signin(TestClient(app), "ada@example.com", "a new password").status_code == 200

    used = browser.post("/reset-password", data={**fields, "confirm": "a new password"})
    assert used.status_code == 400 and "already used" in used.text
    assert browser.get("/reset-password", params={"token": token}).status_code == 400


def test_reset_pages_escape_what_they_echo(client: TestClient) -> None:
    hostile = '"><script>alert(1)</script>'
    page = client.post(
        "/reset-password", data={"token": hostile, "password": "a" * 8, "confirm": "b" * 8}
    )
    assert page.status_code == 400
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    bad = client.get("/verify-email", params={"token": hostile})
    assert bad.status_code == 400 and "<script>" not in bad.text
    assert client.get("/reset-password").status_code == 400


def test_reset_through_the_json_api(client: TestClient, app: FastAPI, mail: SmtpServer) -> None:
    signup(client, "ada@example.com")
    client.post("/api/auth/forgot", json={"email": "ada@example.com"})
    token = token_of(mail.link(1))
    error(
        client.post("/api/auth/reset", json={"token": token, "password": "short"}),
        422,
        "invalid",
        "password",
    )
    wrong_kind = token_of(mail.link(0))  # a verification link is no reset link
    error(
        client.post("/api/auth/reset", json={"token": wrong_kind, "password": "long enough"}),
        400,
        "invalid_token",
        "token",
    )
    ok = client.post("/api/auth/reset", json={"token": token, "password": "long enough"})
    assert ok.status_code == 200
    error(client.get("/api/account"), 401, "unauthenticated")
    assert signin(TestClient(app), "ada@example.com", "long enough").status_code == 200
    again = client.post("/api/auth/reset", json={"token": token, "password": "long enough 2"})
    error(again, 400, "invalid_token")


def test_an_expired_link_is_refused(client: TestClient, app: FastAPI, mail: SmtpServer) -> None:
    signup(client, "ada@example.com")
    client.post("/api/auth/forgot", json={"email": "ada@example.com"})
    reset_token, verify_token = token_of(mail.link(1)), token_of(mail.link(0))
    with app.state.db.session() as db:
        db.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    body = {"token": reset_token, "password": "long enough"}
    error(client.post("/api/auth/reset", json=body), 400, "invalid_token")
    assert client.get("/reset-password", params={"token": reset_token}).status_code == 400
    assert client.get("/verify-email", params={"token": verify_token}).status_code == 400
    assert client.get("/api/account").json()["email_verified"] is False


def test_a_reset_voids_a_squatters_pending_email_change(
    client: TestClient, app: FastAPI, mail: SmtpServer
) -> None:
    """The takeover: a squatter signs up with the victim's address and asks to move the
    account to their own; the victim reclaims it by a reset; the old change link is void."""
    signup(TestClient(app), "first@example.com", "First")  # the administrator
    squatter = TestClient(app)
    signup(squatter, "victim@example.com", "Squatter")
    asked = squatter.post(
        "/api/account/email", json={"email": "squatter@example.net", "password": PASSWORD}
    )
    assert asked.status_code == 202
    change_link = token_of(mail.link(2))
    victim = TestClient(app)
    victim.post("/api/auth/forgot", json={"email": "victim@example.com"})
    reset = token_of(mail.link(3))
    body = {"token": reset, "password": "the victim's own"}
    assert victim.post("/api/auth/reset", json=body).status_code == 200
    assert signin(victim, "victim@example.com", "the victim's own").status_code == 200

    followed = TestClient(app).get("/verify-email", params={"token": change_link})
    assert followed.status_code == 400
    assert victim.get("/api/account").json()["email"] == "victim@example.com"
    error(squatter.get("/api/account"), 401, "unauthenticated")


def test_following_any_link_voids_every_other_pending_link(
    client: TestClient, app: FastAPI, mail: SmtpServer
) -> None:
    signup(client, "ada@example.com")  # link 0: verify
    client.post("/api/auth/forgot", json={"email": "ada@example.com"})  # link 1
    client.post("/api/auth/forgot", json={"email": "ada@example.com"})  # link 2
    verify, first_reset, second_reset = (token_of(mail.link(i)) for i in range(3))
    body = {"token": second_reset, "password": "long enough"}
    assert client.post("/api/auth/reset", json=body).status_code == 200
    assert client.get("/verify-email", params={"token": verify}).status_code == 400
    again = {"token": first_reset, "password": "another one"}
    error(client.post("/api/auth/reset", json=again), 400, "invalid_token")
    assert client.get("/reset-password", params={"token": first_reset}).status_code == 400


def test_a_password_change_or_a_new_address_voids_pending_links(
    client: TestClient, app: FastAPI, mail: SmtpServer
) -> None:
    signup(client, "ada@example.com")
    change = {"email": "one@example.com", "password": PASSWORD}
    assert client.post("/api/account/email", json=change).status_code == 202
    first_change = token_of(mail.link(1))
    change = {"email": "two@example.com", "password": PASSWORD}
    assert client.post("/api/account/email", json=change).status_code == 202
    second_change = token_of(mail.link(2))
    # Asking for a second address voids the first request's link.
    assert client.get("/verify-email", params={"token": first_change}).status_code == 400
    client.post("/api/auth/forgot", json={"email": "ada@example.com"})
    reset = token_of(mail.link(3))
    body = {"current_password": PASSWORD, "new_password": "new password"}
    assert client.post("/api/account/password", json=body).status_code == 204
    assert client.get("/verify-email", params={"token": second_change}).status_code == 400
    error(
        client.post("/api/auth/reset", json={"token": reset, "password": "long enough"}),
        400,
        "invalid_token",
    )
    assert client.get("/api/account").json()["email"] == "ada@example.com"


def test_a_reset_revokes_api_tokens_unless_asked_to_keep_them(
    client: TestClient, app: FastAPI, mail: SmtpServer
) -> None:
    signup(client, "ada@example.com")
    assert client.get("/verify-email", params={"token": token_of(mail.link(0))}).status_code == 200
    token = client.post("/api/account/tokens", json={"name": "ci"}).json()["token"]
    bearer = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    client.post("/api/auth/forgot", json={"email": "ada@example.com"})
    keep = {"token": token_of(mail.link(1)), "password": "long enough", "revoke_tokens": False}
    assert client.post("/api/auth/reset", json=keep).status_code == 200
    assert bearer.get("/api/account").status_code == 200  # kept, as asked

    client.post("/api/auth/forgot", json={"email": "ada@example.com"})
    browser = TestClient(app)
    form = browser.get("/reset-password", params={"token": token_of(mail.link(2))})
    assert 'name="revoke_tokens" value="yes" checked' in form.text  # offered, on by default
    fields = {"token": token_of(mail.link(2)), "password": "a new password"}
    done = browser.post(
        "/reset-password", data={**fields, "confirm": "a new password", "revoke_tokens": "yes"}
    )
    assert done.status_code == 200 and "API tokens" in done.text
    error(bearer.get("/api/account"), 401, "unauthenticated")


# -- account settings -------------------------------------------------------------------


def test_account_read_and_rename(client: TestClient, make_account: Callable[..., Account]) -> None:
    error(client.get("/api/account"), 401, "unauthenticated")
    error(client.patch("/api/account", json={"name": "X"}), 401, "unauthenticated")
    unverified = make_account(verified=False)
    assert unverified.http.get("/api/account").json()["email_verified"] is False
    renamed = unverified.http.patch("/api/account", json={"name": "  Grace  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Grace"
    assert unverified.http.get("/api/account").json()["name"] == "Grace"
    error(unverified.http.patch("/api/account", json={"name": ""}), 422, "invalid", "name")
    error(unverified.http.patch("/api/account", json={"email": "a@b.co"}), 422, "invalid")


def test_change_email_takes_effect_when_the_link_is_followed(
    client: TestClient, app: FastAPI, mail: SmtpServer
) -> None:
    signup(client, "ada@example.com")
    signup(TestClient(app), "bob@example.com", "Bob")
    mail.wait_for(2)
    url = "/api/account/email"
    wrong = client.post(url, json={"email": "new@example.com", "password": "wrong password"})
    error(wrong, 403, "forbidden", "password")
    taken = client.post(url, json={"email": "BOB@example.com", "password": PASSWORD})
    error(taken, 409, "conflict", "email")
    error(client.post(url, json={"email": "bad", "password": PASSWORD}), 422, "invalid", "email")
    same = client.post(url, json={"email": "ada@example.com", "password": PASSWORD})
    error(same, 422, "invalid", "email")

    asked = client.post(url, json={"email": "new@example.com", "password": PASSWORD})
    assert asked.status_code == 202
    message = mail.wait_for(3)[2]
    assert message["To"] == "new@example.com"
    assert client.get("/api/account").json()["email"] == "ada@example.com"  # not yet
    page = client.get("/verify-email", params={"token": token_of(mail.link(2))})
    assert page.status_code == 200 and "new@example.com" in page.text
    account = client.get("/api/account").json()
    assert account["email"] == "new@example.com" and account["email_verified"] is True
    error(signin(TestClient(app), "ada@example.com"), 401, "unauthenticated")
    assert signin(TestClient(app), "new@example.com").status_code == 200


def test_change_email_conflict_when_the_address_was_taken_meanwhile(
    client: TestClient, app: FastAPI, mail: SmtpServer
) -> None:
    signup(client, "ada@example.com")
    client.post("/api/account/email", json={"email": "new@example.com", "password": PASSWORD})
    token = token_of(mail.link(1))
    signup(TestClient(app), "new@example.com", "Newcomer")
    page = client.get("/verify-email", params={"token": token})
    assert page.status_code == 409 and "Another account" in page.text
    assert client.get("/api/account").json()["email"] == "ada@example.com"


def test_change_password_ends_every_other_session(client: TestClient, app: FastAPI) -> None:
    signup(client, "ada@example.com")
    other = TestClient(app)
    assert signin(other, "ada@example.com").status_code == 200
    url = "/api/account/password"
    wrong = client.post(url, json={"current_password": "nope", "new_password": "new password"})
    error(wrong, 403, "forbidden", "current_password")
    short = client.post(url, json={"current_password": PASSWORD, "new_password": "short"})
    error(short, 422, "invalid", "new_password")
    ok = client.post(url, json={"current_password": PASSWORD, "new_password": "new password"})
    assert ok.status_code == 204
    assert client.get("/api/account").status_code == 200  # this session survives
    error(other.get("/api/account"), 401, "unauthenticated")
    error(signin(TestClient(app), "ada@example.com"), 401, "unauthenticated")
    assert signin(TestClient(app), "ada@example.com", "new password").status_code == 200


def test_password_checks_on_the_account_are_rate_limited(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    settings.accounts.signin_attempts = 2
    settings.accounts.signin_delay_s = 30
    signup(client, "ada@example.com")
    url = "/api/account/password"
    for _ in range(2):
        body = {"current_password": "guess", "new_password": "new password"}
        error(client.post(url, json=body), 403, "forbidden")
    body = {"current_password": PASSWORD, "new_password": "new password"}
    blocked = client.post(url, json=body)
    error(blocked, 429, "rate_limited")
    assert int(blocked.headers["retry-after"]) >= 1
    # Guesses on the account page never slow down signing in.
    assert signin(TestClient(app), "ada@example.com").status_code == 200


# -- API tokens -------------------------------------------------------------------------


def test_api_tokens_create_list_use_delete(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    ada, bob = make_account(), make_account()
    created = ada.http.post("/api/account/tokens", json={"name": "ci", "expires_in_days": 7})
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith("vbx_") and token["token"].startswith(token["prefix"])
    assert token["expires_at"] is not None and token["last_used_at"] is None
    listed = ada.http.get("/api/account/tokens").json()
    assert {t["name"] for t in listed} == {"tests", "ci"}
    assert all("token" not in t for t in listed)
    assert token["token"] not in str(listed)

    bearer = TestClient(app, headers={"Authorization": f"Bearer {token['token']}"})
    assert bearer.get("/api/account").json()["id"] == ada.id
    used = [t for t in ada.http.get("/api/account/tokens").json() if t["name"] == "ci"]
    assert used[0]["last_used_at"] is not None

    error(bob.http.delete(f"/api/account/tokens/{token['id']}"), 404, "not_found")
    assert ada.http.delete(f"/api/account/tokens/{token['id']}").status_code == 204
    error(bearer.get("/api/account"), 401, "unauthenticated")
    error(ada.http.delete(f"/api/account/tokens/{token['id']}"), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 100_000}, "expires_in_days"),
        ({}, "name"),
    ],
)
def test_api_token_bad_input(
    make_account: Callable[..., Account], body: dict[str, Any], field: str
) -> None:
    error(make_account().http.post("/api/account/tokens", json=body), 422, "invalid", field)


def test_api_tokens_need_a_verified_account(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    error(client.get("/api/account/tokens"), 401, "unauthenticated")
    unverified = make_account(verified=False)
    error(unverified.http.get("/api/account/tokens"), 403, "forbidden")
    error(unverified.http.post("/api/account/tokens", json={"name": "x"}), 403, "forbidden")
    bad = TestClient(unverified.http.app, headers={"Authorization": "Bearer vbx_wrong"})
    error(bad.get("/api/account"), 401, "unauthenticated")


# -- administration ---------------------------------------------------------------------


def test_users_list_is_for_administrators(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    admin = make_account("Admin", admin=True)
    for _ in range(3):
        make_account()
    page = admin.http.get("/api/users", params={"offset": 1, "limit": 2}).json()
    assert page["total"] == 4 and page["offset"] == 1 and page["limit"] == 2
    assert [u["name"] for u in page["items"]] == ["User 2", "User 3"]
    assert "password_hash" not in str(page)
    error(admin.http.get("/api/users", params={"limit": 0}), 422, "invalid", "limit")
    error(make_account().http.get("/api/users"), 403, "forbidden")
    error(client.get("/api/users"), 401, "unauthenticated")


def test_the_session_endpoint_answers_visitors_without_an_error(
    client: TestClient, app: FastAPI
) -> None:
    visitor = TestClient(app)
    assert visitor.get("/api/auth/session").json() == {
        "user": None,
        "two_factor_setup_required": False,
        "mail": False,
        "first_account": True,
    }
    signup(client, "ada@example.com")
    body = client.get("/api/auth/session").json()
    assert body["user"]["email"] == "ada@example.com" and "password" not in str(body)
    client.post("/api/auth/signout")
    assert client.get("/api/auth/session").json()["user"] is None


# -- two-factor sign-in -----------------------------------------------------------------


def _step() -> int:
    return int(time.time()) // 30


def _enrol(http: TestClient, password: str = PASSWORD) -> tuple[pyotp.TOTP, list[str]]:
    """Set up two-factor sign-in confirmed with the current step's code; returns the
    app's generator and the recovery codes."""
    started = http.post("/api/account/2fa", json={"password": password})
    assert started.status_code == 200, started.text
    totp = pyotp.TOTP(started.json()["secret"])
    confirmed = http.post("/api/account/2fa/confirm", json={"code": totp.at(_step() * 30)})
    assert confirmed.status_code == 200, confirmed.text
    return totp, confirmed.json()["recovery_codes"]


def _wrong_code(totp: pyotp.TOTP) -> str:
    near = {totp.at((_step() + d) * 30) for d in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(1000)) if c not in near)


def _challenge(app: FastAPI, email: str, address: str = "10.5.0.1") -> tuple[TestClient, str]:
    browser = TestClient(app, client=(address, 1000))
    answer = signin(browser, email)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["two_factor_required"] is True and "set-cookie" not in answer.headers
    return browser, str(body["challenge"])


def test_two_factor_enrol_confirm_and_sign_in_with_a_code(client: TestClient, app: FastAPI) -> None:
    signup(client, "ada@example.com")
    assert client.get("/api/account/2fa").json() == {
        "enabled": False,
        "recovery_codes_left": 0,
        "required": False,
    }
    wrong = client.post("/api/account/2fa", json={"password": "wrong password"})
    error(wrong, 403, "forbidden", "password")
    started = client.post("/api/account/2fa", json={"password": PASSWORD}).json()
    secret = started["secret"]
    assert started["uri"].startswith("otpauth://totp/VisualBox:ada%40example.com?")
    assert f"secret={secret}" in started["uri"]
    assert started["qr_svg"].startswith("data:image/svg+xml")
    with app.state.db.session() as db:  # encrypted at rest
        stored = db.scalars(select(User.totp_secret).where(User.email == "ada@example.com")).one()
    assert stored is not None and secret not in stored
    assert app.state.secret_box.decrypt(stored).decode() == secret
    # Not on until a code confirms it: signing in still needs only the password.
    assert signin(TestClient(app), "ada@example.com").json()["email"] == "ada@example.com"
    totp = pyotp.TOTP(secret)
    bad = client.post("/api/account/2fa/confirm", json={"code": _wrong_code(totp)})
    error(bad, 422, "invalid", "code")
    step = _step()
    confirmed = client.post("/api/account/2fa/confirm", json={"code": totp.at(step * 30)})
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    assert client.get("/api/account").json()["two_factor_enabled"] is True
    assert client.get("/api/account/2fa").json()["recovery_codes_left"] == 10
    again = client.post("/api/account/2fa", json={"password": PASSWORD})
    error(again, 409, "conflict")

    browser, challenge = _challenge(app, "ada@example.com")
    error(browser.get("/api/account"), 401, "unauthenticated")  # no session yet
    url = "/api/auth/signin/2fa"
    refused = browser.post(url, json={"challenge": challenge, "code": _wrong_code(totp)})
    error(refused, 401, "unauthenticated", "code")
    next_code = totp.at((step + 1) * 30)  # the confirming step is spent
    done = browser.post(url, json={"challenge": challenge, "code": next_code})
    assert done.status_code == 200 and done.json()["email"] == "ada@example.com"
    assert "HttpOnly" in done.headers["set-cookie"]
    assert browser.get("/api/account").status_code == 200

    # A code works once: replayed (even with a new challenge) it is refused.
    other, challenge = _challenge(app, "ada@example.com", "10.5.0.2")
    replay = other.post(url, json={"challenge": challenge, "code": next_code})
    error(replay, 401, "unauthenticated", "code")
    old = other.post(url, json={"challenge": challenge, "code": totp.at(step * 30)})
    error(old, 401, "unauthenticated", "code")


def test_two_factor_recovery_codes_work_once(client: TestClient, app: FastAPI) -> None:
    signup(client, "ada@example.com")
    _totp, codes = _enrol(client)
    with app.state.db.session() as db:
        hashes = db.scalars(select(RecoveryCode.code_hash)).all()
    assert len(hashes) == 10 and not set(codes) & set(hashes)  # stored hashed
    url = "/api/auth/signin/2fa"
    browser, challenge = _challenge(app, "ada@example.com")
    typed = " " + codes[0].upper().replace("-", " - ") + " "  # as a person may type it
    assert browser.post(url, json={"challenge": challenge, "code": typed}).status_code == 200
    other, challenge = _challenge(app, "ada@example.com", "10.5.0.2")
    used = other.post(url, json={"challenge": challenge, "code": codes[0]})
    error(used, 401, "unauthenticated", "code")
    assert client.get("/api/account/2fa").json()["recovery_codes_left"] == 9


def test_two_factor_challenges_are_short_lived_and_bound_to_the_password(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    signup(client, "ada@example.com")
    totp, codes = _enrol(client)
    url = "/api/auth/signin/2fa"
    browser, challenge = _challenge(app, "ada@example.com")
    for bad in ("nonsense", challenge[:-4] + "AAAA"):
        answer = browser.post(url, json={"challenge": bad, "code": codes[0]})
        error(answer, 401, "unauthenticated", "challenge")
    # Made six minutes ago: expired.
    with app.state.db.session() as db:
        user_id = db.scalars(select(User.id).where(User.email == "ada@example.com")).one()
    fernet = Fernet(load_or_create_key(settings.data_dir))
    payload = json.loads(app.state.secret_box.decrypt(challenge))
    assert payload["user"] == user_id
    stale = fernet.encrypt_at_time(json.dumps(payload).encode(), int(time.time()) - 360)
    answer = browser.post(url, json={"challenge": stale.decode(), "code": codes[0]})
    error(answer, 401, "unauthenticated", "challenge")
    # A password change voids challenges made before it.
    change = {"current_password": PASSWORD, "new_password": "new password"}
    assert client.post("/api/account/password", json=change).status_code == 204
    answer = browser.post(url, json={"challenge": challenge, "code": codes[0]})
    error(answer, 401, "unauthenticated", "challenge")
    assert client.get("/api/account/2fa").json()["recovery_codes_left"] == 10  # none spent


def test_two_factor_codes_are_throttled_like_passwords(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    settings.accounts.signin_attempts = 2
    settings.accounts.signin_delay_s = 30
    signup(client, "ada@example.com")
    totp, codes = _enrol(client)
    url = "/api/auth/signin/2fa"
    guesser, challenge = _challenge(app, "ada@example.com")
    for _ in range(2):
        wrong = guesser.post(url, json={"challenge": challenge, "code": _wrong_code(totp)})
        error(wrong, 401, "unauthenticated")
    early = guesser.post(url, json={"challenge": challenge, "code": codes[0]})
    error(early, 429, "rate_limited")
    assert 28 <= int(early.headers["retry-after"]) <= 30
    owner, challenge = _challenge(app, "ada@example.com", "10.5.0.9")
    assert owner.post(url, json={"challenge": challenge, "code": codes[0]}).status_code == 200


def test_two_factor_disable_needs_the_password_and_a_code(client: TestClient, app: FastAPI) -> None:
    signup(client, "ada@example.com")
    url = "/api/account/2fa/disable"
    error(client.post(url, json={"password": PASSWORD, "code": "123456"}), 409, "conflict")
    totp, codes = _enrol(client)
    wrong = client.post(url, json={"password": "wrong password", "code": codes[0]})
    error(wrong, 403, "forbidden", "password")
    bad_code = client.post(url, json={"password": PASSWORD, "code": _wrong_code(totp)})
    error(bad_code, 403, "forbidden", "code")
    error(client.post(url, json={"password": PASSWORD}), 422, "invalid", "code")
    assert client.post(url, json={"password": PASSWORD, "code": codes[1]}).status_code == 204
    assert client.get("/api/account/2fa").json()["enabled"] is False
    with app.state.db.session() as db:
        assert db.scalars(select(RecoveryCode)).all() == []
        assert (
            db.scalars(select(User.totp_secret).where(User.email == "ada@example.com")).one()
            is None
        )
    answer = signin(TestClient(app), "ada@example.com")
    assert answer.status_code == 200 and answer.json()["two_factor_enabled"] is False


def test_administrators_must_set_up_two_factor_when_the_server_requires_it(
    client: TestClient, app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    signup(client, "admin@example.com")  # the first account: an administrator
    token = client.post("/api/account/tokens", json={"name": "ci"}).json()["token"]
    member = make_account()
    settings.accounts.require_2fa_for_admins = True

    session = client.get("/api/auth/session").json()
    assert session["two_factor_setup_required"] is True
    assert client.get("/api/account").status_code == 200  # the account page still works
    assert client.get("/api/account/2fa").json()["required"] is True
    for path in ("/api/users", "/api/account/tokens", "/api/dashboards"):
        message = error(client.get(path), 403, "two_factor_setup_required")
        assert "two-factor" in message
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/api/live"):
        pass
    assert closed.value.code == 1008 and "two-factor" in closed.value.reason
    # API tokens are unaffected (a token is already a second factor's equivalent).
    bearer = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/users").status_code == 200
    assert member.http.get("/api/account/tokens").status_code == 200  # not an administrator

    _totp, codes = _enrol(client)
    assert client.get("/api/auth/session").json()["two_factor_setup_required"] is False
    assert client.get("/api/users").status_code == 200
    off = client.post("/api/account/2fa/disable", json={"password": PASSWORD, "code": codes[0]})
    error(off, 403, "forbidden")  # required: it stays on
