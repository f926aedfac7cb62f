"""The web app's shell: served, signed-out visitors land on the sign-in page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer


def test_signed_out_visitor_gets_the_sign_in_page(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/d/some-dashboard")
    expect(page).to_have_url(f"{live_server.url}/signin?next=/d/some-dashboard")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page).to_have_title("Sign in · VisualBox")
