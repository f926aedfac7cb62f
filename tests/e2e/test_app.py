"""The web app's shell: served under its CSP, guarded routes, themes, installable,
usable with the keyboard alone."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

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


def test_a_disabled_button_looks_disabled_in_both_themes(
    live_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(color_scheme="dark").new_page()
    live_server.sign_in(page, live_server.create_user())
    page.goto(f"{live_server.url}/account")
    save = page.get_by_role("button", name="Save name")
    html = page.locator("html")
    for theme in ("dark", "light"):
        expect(html).to_have_attribute("data-theme", theme)
        expect(save).to_be_disabled()
        greyed = save.evaluate("e => getComputedStyle(e).backgroundColor")
        page.get_by_label("Name", exact=True).fill("Someone else")
        expect(save).to_be_enabled()
        enabled = save.evaluate("e => getComputedStyle(e).backgroundColor")
        assert greyed != enabled, f"{theme}: a disabled Save has the colour of an enabled one"
        page.reload()  # the name was not saved: Save is disabled again
        if theme == "dark":
            page.get_by_role("button", name="Use the light theme").click()


@pytest.mark.browser_context_args(service_workers="allow")
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


def _tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until ``target`` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("(el) => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def test_keyboard_only_sign_in_navigate_create_and_delete(
    live_server: LiveServer, page: Page
) -> None:
    user = live_server.create_user()
    page.goto(f"{live_server.url}/signin")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type(user.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()

    # The rail: a link activated with Enter moves the focus to the new page.
    _tab_to(page, page.get_by_role("link", name="Account"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Account", exact=True)).to_be_visible()
    expect(page.locator("#main")).to_be_focused()
    _tab_to(page, page.get_by_role("link", name="Dashboards"))
    page.keyboard.press("Enter")

    _tab_to(page, page.get_by_role("button", name="New dashboard"))
    page.keyboard.press("Enter")
    expect(page.get_by_label("Name of the new dashboard")).to_be_focused()
    page.keyboard.type("Keyboard made")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/d/[\w-]+$"))
    page.go_back()

    _tab_to(page, page.get_by_role("button", name="Delete Keyboard made"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Delete “Keyboard made”?")
    expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("link", name="Keyboard made")).to_be_visible()
    _tab_to(page, page.get_by_role("button", name="Delete Keyboard made"))
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="No dashboards yet")).to_be_visible()
