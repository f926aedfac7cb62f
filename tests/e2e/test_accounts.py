"""Account journeys in the browser: sign up and verify, sign out and in, forgotten
password, account settings, two-factor sign-in and API tokens."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import update

from tests.e2e.conftest import PASSWORD, LiveServer
from visualbox.db.tables.accounts import User


def _sign_in_with_form(page: Page, server: LiveServer, email: str, password: str) -> None:
    page.goto(f"{server.url}/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_up_verify_with_the_mailed_link_then_sign_out_and_in(
    live_server: LiveServer, page: Page
) -> None:
    live_server.create_user("Admin")  # the first account exists: this one is ordinary
    user = live_server.new_user_details("Grace Hopper")

    page.goto(f"{live_server.url}/signup")
    page.get_by_label("Name").fill(user.name)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_label("Repeat the password").fill("something else")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("The two passwords differ.")).to_be_visible()
    page.get_by_label("Repeat the password").fill(user.password)
    page.get_by_role("button", name="Sign up").click()

    # Unverified: the notice with the address, and a fresh link on request.
    expect(page).to_have_url(f"{live_server.url}/verify")
    expect(page.get_by_role("heading", name="Verify your email")).to_be_visible()
    expect(page.get_by_text(user.email)).to_be_visible()
    page.get_by_role("button", name="I have confirmed it").click()
    expect(page.get_by_text("Not confirmed yet")).to_be_visible()
    page.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_text(f"We sent a new verification link to {user.email}")).to_be_visible()
    # Other pages send an unverified user back to the notice.
    page.goto(f"{live_server.url}/modules")
    expect(page).to_have_url(f"{live_server.url}/verify?next=/modules")

    # The mailed link (the latest) confirms the address; the app then lets them in.
    page.goto(live_server.mail_link(user.email, count=2))
    expect(page.get_by_text(f"{user.email} is confirmed")).to_be_visible()
    page.get_by_role("link", name="Go to VisualBox").click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/signin")
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/signin")

    _sign_in_with_form(page, live_server, user.email, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("the password is wrong")
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()


def test_sign_in_returns_to_the_page_asked_for(live_server: LiveServer, page: Page) -> None:
    user = live_server.create_user()
    page.goto(f"{live_server.url}/account")
    expect(page).to_have_url(f"{live_server.url}/signin?next=/account")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(f"{live_server.url}/account")
    expect(page.get_by_role("heading", name="Account", exact=True)).to_be_visible()


def test_sign_up_shows_the_servers_reasons_by_field(live_server: LiveServer, page: Page) -> None:
    taken = live_server.create_user()
    page.goto(f"{live_server.url}/signup")
    page.get_by_label("Name").fill("Someone")
    page.get_by_label("Email").fill(taken.email)
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_contain_text(re.compile("at least 8", re.I))

    password.fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_contain_text(re.compile("already", re.I))
    expect(page).to_have_url(f"{live_server.url}/signup")


def test_forgot_and_reset_password(live_server: LiveServer, page: Page) -> None:
    user = live_server.create_user()
    page.goto(f"{live_server.url}/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    # The sign-in page has an Email field too: fill the one of the forgot page.
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Send the reset link").click()
    expect(page.get_by_role("status")).to_contain_text("we sent it a reset link")

    link = live_server.mail_link(user.email)
    token = parse_qs(urlsplit(link).query)["token"][0]
    page.goto(f"{live_server.url}/reset?token={token}")
    page.get_by_label("New password", exact=True).fill("a brand new secret")
    page.get_by_label("Repeat the new password").fill("a different one")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_text("The two passwords differ.")).to_be_visible()
    page.get_by_label("Repeat the new password").fill("a brand new secret")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")

    # The link worked once; the old password no longer does, the new one does.
    page.goto(f"{live_server.url}/reset?token={token}")
    page.get_by_label("New password", exact=True).fill("yet another secret")
    page.get_by_label("Repeat the new password").fill("yet another secret")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()
    _sign_in_with_form(page, live_server, user.email, user.password)
    expect(page.get_by_role("alert")).to_contain_text("the password is wrong")
    _sign_in_with_form(page, live_server, user.email, "a brand new secret")
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()


def test_account_settings_name_password_and_email(live_server: LiveServer, page: Page) -> None:
    user = live_server.create_user("Ada")
    live_server.sign_in(page, user)
    page.goto(f"{live_server.url}/account")

    profile = page.get_by_role("region", name="Profile")
    profile.get_by_label("Name").fill("Ada Lovelace")
    profile.get_by_role("button", name="Save name").click()
    expect(page.get_by_text("Name saved.")).to_be_visible()
    page.reload()
    expect(profile.get_by_label("Name")).to_have_value("Ada Lovelace")

    password = page.get_by_role("region", name="Password")
    password.get_by_label("Current password").fill("wrong password")
    password.get_by_label("New password").fill("the next password")
    password.get_by_role("button", name="Change password").click()
    expect(password.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    password.get_by_label("Current password").fill(user.password)
    password.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Password changed.")).to_be_visible()

    email = page.get_by_role("region", name="Email address")
    email.get_by_label("New email address").fill("ada@new.example.com")
    email.get_by_label("Current password").fill("the next password")
    email.get_by_role("button", name="Send a confirmation link").click()
    expect(email.get_by_role("status")).to_contain_text("ada@new.example.com")
    # The app's own /verify page takes the mailed token as well as the server's page.
    link = live_server.mail_link("ada@new.example.com")
    token = parse_qs(urlsplit(link).query)["token"][0]
    page.goto(f"{live_server.url}/verify?token={token}")
    expect(page.get_by_text("Thank you, your email address is confirmed.")).to_be_visible()
    page.get_by_role("link", name="Go to your dashboards").click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    page.goto(f"{live_server.url}/verify?token={token}")  # used: refused
    expect(page.get_by_role("alert")).to_contain_text("already used")
    page.goto(f"{live_server.url}/account")
    expect(page.get_by_role("region", name="Email address")).to_contain_text("ada@new.example.com")

    page.get_by_role("button", name="Sign out").click()
    _sign_in_with_form(page, live_server, "ada@new.example.com", "the next password")
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()


def test_api_token_create_use_and_revoke(live_server: LiveServer, page: Page) -> None:
    user = live_server.create_user()
    live_server.sign_in(page, user)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{live_server.url}/account")
    tokens = page.get_by_role("region", name="API tokens")
    expect(tokens.get_by_text("No tokens yet.")).to_be_visible()

    tokens.get_by_label("New token name").fill("backup script")
    tokens.get_by_role("button", name="Create token").click()
    dialog = page.get_by_role("dialog", name="Your new token")
    secret = dialog.get_by_label("The new token")
    expect(secret).to_have_value(re.compile(r"^vbx_"))
    token = secret.input_value()
    dialog.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Token copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()

    row = tokens.get_by_role("row", name=re.compile("backup script"))
    expect(row).to_contain_text(token[:8])
    assert token not in tokens.inner_text()  # listed by its prefix only
    answer = page.request.get(
        f"{live_server.url}/api/account", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.ok and answer.json()["email"] == user.email

    # Revoking asks first; cancelling keeps it.
    row.get_by_role("button", name="Revoke backup script").click()
    confirm = page.get_by_role("dialog", name="Revoke this token?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    row.get_by_role("button", name="Revoke backup script").click()
    confirm.get_by_role("button", name="Revoke").click()
    expect(tokens.get_by_text("No tokens yet.")).to_be_visible()
    answer = page.request.get(
        f"{live_server.url}/api/account", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status == 401


def test_an_ended_session_leads_back_to_sign_in(live_server: LiveServer, page: Page) -> None:
    user = live_server.create_user("Ada")
    live_server.sign_in(page, user)
    page.goto(f"{live_server.url}/account")
    expect(page.get_by_role("heading", name="Account", exact=True)).to_be_visible()
    # The session ends behind the page's back (signed out in another tab).
    assert page.request.post(f"{live_server.url}/api/auth/signout").status == 204
    page.get_by_role("region", name="Profile").get_by_label("Name").fill("Ada L.")
    page.get_by_role("button", name="Save name").click()
    expect(page).to_have_url(f"{live_server.url}/signin?next=/account")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/account")


def test_two_factor_set_up_then_sign_in_with_a_code(live_server: LiveServer, page: Page) -> None:
    user = live_server.create_user("Ada")
    live_server.sign_in(page, user)
    page.goto(f"{live_server.url}/account")
    section = page.get_by_role("region", name="Two-factor sign-in")
    section.get_by_label("Current password").fill(user.password)
    section.get_by_role("button", name="Set up two-factor sign-in").click()
    expect(section.get_by_role("img", name="QR code of the two-factor key")).to_be_visible()
    key = section.get_by_label("Two-factor key").inner_text()
    totp = pyotp.TOTP(key.replace(" ", ""))
    section.screenshot(path="/tmp/vbx-2fa-enrol.png")
    section.get_by_label("Code from the app").fill(totp.now())
    section.get_by_role("button", name="Turn on").click()
    codes = section.get_by_role("group", name="Recovery codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    section.screenshot(path="/tmp/vbx-2fa-recovery.png")
    section.get_by_role("button", name="I have saved them").click()
    expect(section).to_contain_text("Signing in asks for a code from your authenticator app.")

    page.get_by_role("button", name="Sign out").click()
    _sign_in_with_form(page, live_server, user.email, user.password)
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    page.screenshot(path="/tmp/vbx-2fa-code.png")
    page.get_by_label("Authentication code").fill("12345")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_label("Authentication code")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_contain_text("wrong or already used")
    # The next step's code: the one used to turn it on may be this step's, spent.
    page.get_by_label("Authentication code").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()


def test_an_administrator_without_two_factor_is_sent_to_set_it_up(
    live_server: LiveServer, page: Page
) -> None:
    admin = live_server.create_user("Admin")
    with live_server.app.state.db.session() as db:
        db.execute(update(User).where(User.email == admin.email).values(is_admin=True))
        db.commit()
    live_server.app.state.settings.accounts.require_2fa_for_admins = True
    _sign_in_with_form(page, live_server, admin.email, admin.password)
    expect(page).to_have_url(f"{live_server.url}/account")
    notice = page.get_by_role("status").filter(has_text="requires two-factor sign-in")
    expect(notice).to_be_visible()
    section = page.get_by_role("region", name="Two-factor sign-in")
    expect(section.get_by_role("alert")).to_contain_text("Set it up below")
    expect(page.get_by_role("region", name="API tokens")).to_have_count(0)
    page.goto(f"{live_server.url}/modules")
    expect(page).to_have_url(f"{live_server.url}/account")

    section.get_by_label("Current password").fill(admin.password)
    section.get_by_role("button", name="Set up two-factor sign-in").click()
    key = section.get_by_label("Two-factor key").inner_text()
    section.get_by_label("Code from the app").fill(pyotp.TOTP(key.replace(" ", "")).now())
    section.get_by_role("button", name="Turn on").click()
    section.get_by_role("button", name="I have saved them").click()
    expect(page.get_by_role("region", name="API tokens")).to_be_visible()
    expect(section.get_by_role("button", name="Turn off two-factor sign-in")).to_have_count(0)
    page.goto(f"{live_server.url}/modules")
    expect(page).to_have_url(f"{live_server.url}/modules")
