"""Accounts on a server without mail (the default of a new install): the first visitor
creates the administrator's account, newcomers are told that an administrator lets them
in, and the administrator does so on the Users page (also handing out password links)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import PASSWORD, LiveServer
from visualbox.services import accounts

SCREENSHOTS = os.environ.get("VISUALBOX_SCREENSHOTS_DIR") or tempfile.gettempdir()


def _fill_sign_up(page: Page, name: str, email: str) -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)


def test_without_mail_the_administrator_verifies_newcomers(
    live_server_without_mail: LiveServer,
    page: Page,
    new_context: Callable[..., BrowserContext],
) -> None:
    server = live_server_without_mail
    # An empty server opens on the sign-up page, with words for a first visit.
    page.goto(server.url)
    expect(page).to_have_url(f"{server.url}/signup")
    expect(page.get_by_role("heading", name="Welcome to VisualBox")).to_be_visible()
    expect(
        page.get_by_text("Create the first account: it becomes the administrator")
    ).to_be_visible()
    _fill_sign_up(page, "Ada Lovelace", "ada@example.com")
    page.get_by_role("button", name="Create the first account").click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    expect(page.get_by_text("Welcome to VisualBox, Ada Lovelace!")).to_be_visible()
    expect(page.get_by_text("Welcome back")).to_have_count(0)

    # A second person: the server has an account now, so it opens on "Sign in".
    grace = new_context().new_page()
    grace.goto(server.url)
    expect(grace.get_by_role("heading", name="Sign in")).to_be_visible()
    grace.get_by_role("link", name="Create an account").click()
    expect(grace.get_by_text("This server sends no mail: once you sign up")).to_be_visible()
    _fill_sign_up(grace, "Grace Hopper", "grace@example.com")
    grace.get_by_role("button", name="Sign up").click()
    expect(
        grace.get_by_text("an administrator will verify your account and let you in")
    ).to_be_visible()
    expect(grace.get_by_text("We sent")).to_have_count(0)
    grace.get_by_role("link", name="Sign out").click()
    expect(grace.get_by_role("heading", name="Sign in")).to_be_visible()
    # Forgetting the password: ask an administrator (no form that would promise a mail).
    grace.goto(f"{server.url}/forgot")
    expect(grace.get_by_text("Ask an administrator of this server")).to_be_visible()
    expect(grace.get_by_role("button", name="Send the reset link")).to_have_count(0)

    # The administrator opens the Users page from the navigation and lets Grace in.
    page.get_by_role("link", name="Users").click()
    expect(page).to_have_url(f"{server.url}/admin/users")
    row = page.get_by_role("row", name="Grace Hopper", exact=True)
    expect(row.get_by_text("Pending")).to_be_visible()
    expect(page.get_by_text("One account waits for verification.")).to_be_visible()
    me = page.get_by_role("row", name="Ada Lovelace", exact=True)
    expect(me.get_by_text("Administrator")).to_be_visible()
    expect(me.get_by_role("button", name="Disable Ada Lovelace")).to_have_count(0)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=os.path.join(SCREENSHOTS, f"visualbox-admin-users-{scheme}.png"))
    page.emulate_media(color_scheme="light")
    row.get_by_role("button", name="Verify Grace Hopper").click()
    expect(row.get_by_text("Verified")).to_be_visible()
    expect(page.get_by_text("Grace Hopper can now sign in and use VisualBox.")).to_be_visible()

    # Grace signs in and gets her dashboards.
    grace.goto(f"{server.url}/signin")
    grace.get_by_label("Email").fill("grace@example.com")
    grace.get_by_label("Password").fill(PASSWORD)
    grace.get_by_role("button", name="Sign in").click()
    expect(grace.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    expect(grace.get_by_text("Welcome back, Grace Hopper!")).to_be_visible()
    assert server.smtp.messages == []  # nothing was ever mailed


def test_an_administrator_hands_over_a_password_reset_link(
    live_server_without_mail: LiveServer,
    page: Page,
    new_context: Callable[..., BrowserContext],
) -> None:
    server = live_server_without_mail
    admin = server.create_user("Ada Lovelace")
    grace = server.create_user("Grace Hopper")
    with server.app.state.db.session() as db:
        found = accounts.user_by_email(db, admin.email)
        assert found is not None
        found.is_admin = True
        db.commit()
    server.sign_in(page, admin)
    page.goto(f"{server.url}/admin/users")
    row = page.get_by_role("row", name="Grace Hopper", exact=True)
    row.get_by_role("button", name="Password reset link for Grace Hopper").click()
    dialog = page.get_by_role("dialog", name="A password reset link for Grace Hopper")
    link = dialog.get_by_label("The password reset link").input_value()
    assert link.startswith(f"{server.url}/reset-password?token=")
    dialog.get_by_role("button", name="Done").click()

    # Grace opens the link she was handed and chooses a new password.
    visitor = new_context().new_page()
    visitor.goto(link)
    visitor.get_by_label("New password", exact=True).fill("a brand new password")
    visitor.get_by_label("Repeat the new password").fill("a brand new password")
    visitor.get_by_role("button", name="Set the new password").click()
    expect(visitor.get_by_text("Your password was changed")).to_be_visible()
    visitor.goto(f"{server.url}/signin")
    visitor.get_by_label("Email").fill(grace.email)
    visitor.get_by_label("Password").fill("a brand new password")
    visitor.get_by_role("button", name="Sign in").click()
    expect(visitor.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
