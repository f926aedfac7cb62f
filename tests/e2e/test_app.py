"""The web app's shell: served under its CSP, guarded routes, themes, installable."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer


def test_signed_out_visitor_gets_the_sign_in_page(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/d/some-dashboard")
    expect(page).to_have_url(f"{live_server.url}/signin?next=/d/some-dashboard")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page).to_have_title("Sign in · VisualBox")


def test_unknown_pages_say_so(live_server: LiveServer, page: Page) -> None:
    live_server.sign_in(page, live_server.create_user())
    page.goto(f"{live_server.url}/no/such/page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Go to your dashboards").click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()


def test_theme_follows_the_system_until_chosen_and_the_choice_stays(
    live_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(color_scheme="dark").new_page()
    page.goto(f"{live_server.url}/signin")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "dark")
    page.get_by_role("button", name="Use the light theme").click()
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(245, 246, 250)"

    # The account page offers "like the system" again.
    user = live_server.create_user()
    live_server.sign_in(page, user)
    page.goto(f"{live_server.url}/account")
    page.get_by_label("Like the system").check()
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")


def test_installable_as_a_progressive_web_app(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    state = page.evaluate("navigator.serviceWorker.ready.then((r) => r.active.state)")
    assert state in ("activating", "activated")
    cdp = page.context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == []
    assert manifest["url"] == f"{live_server.url}/manifest.webmanifest"
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's contexts are incognito, where Chromium never offers installing.
    assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == []
