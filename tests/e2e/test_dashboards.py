"""The dashboards list in the browser: create, open, rename, duplicate, delete, export
and import; and the public dashboards explorer."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.e2e.conftest import LiveServer


def _cards(page: Page) -> Locator:
    return page.get_by_role("list", name="Your dashboards").get_by_role("listitem")


def test_create_rename_duplicate_and_delete(live_server: LiveServer, page: Page) -> None:
    user = live_server.create_user()
    live_server.sign_in(page, user)
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="No dashboards yet")).to_be_visible()

    # Create: the inline form, then the new dashboard opens.
    page.get_by_role("button", name="Create your first dashboard").click()
    page.get_by_label("Name of the new dashboard").fill("Plant floor")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/d/[\w-]+$"))
    dashboard_id = page.url.rsplit("/", 1)[1]
    page.goto(f"{live_server.url}/")
    card = _cards(page).filter(has_text="Plant floor")
    expect(card.get_by_role("link", name="Plant floor")).to_have_attribute(
        "href", f"/d/{dashboard_id}"
    )

    # Rename in place (Escape cancels; Enter saves), kept after a reload.
    card.get_by_role("button", name="Rename Plant floor").click()
    field = page.get_by_label("New name")
    expect(field).to_be_focused()
    field.fill("Something else")
    field.press("Escape")
    expect(_cards(page).filter(has_text="Plant floor")).to_have_count(1)
    _cards(page).get_by_role("button", name="Rename Plant floor").click()
    page.get_by_label("New name").fill("Plant floor, hall 2")
    page.get_by_label("New name").press("Enter")
    expect(page.get_by_role("link", name="Plant floor, hall 2")).to_be_visible()
    page.reload()
    expect(page.get_by_role("link", name="Plant floor, hall 2")).to_be_visible()

    # Duplicate.
    page.get_by_role("button", name="Duplicate Plant floor, hall 2").click()
    expect(page.get_by_role("link", name="Plant floor, hall 2 (copy)")).to_be_visible()
    expect(_cards(page)).to_have_count(2)

    # Delete asks first: cancel keeps it, confirm removes it (also after a reload).
    page.get_by_role("button", name="Delete Plant floor, hall 2 (copy)").click()
    dialog = page.get_by_role("dialog", name="Delete “Plant floor, hall 2 (copy)”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(_cards(page)).to_have_count(2)
    page.get_by_role("button", name="Delete Plant floor, hall 2 (copy)").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted “Plant floor, hall 2 (copy)”.")).to_be_visible()
    expect(_cards(page)).to_have_count(1)
    page.reload()
    expect(_cards(page)).to_have_count(1)
    expect(page.get_by_role("link", name="Plant floor, hall 2")).to_be_visible()


def test_the_servers_reasons_show_by_the_field(live_server: LiveServer, page: Page) -> None:
    user = live_server.create_user()
    live_server.sign_in(page, user)
    page.goto(f"{live_server.url}/")
    page.get_by_role("button", name="New dashboard").click()
    field = page.get_by_label("Name of the new dashboard")
    expect(field).to_be_focused()
    field.press("Enter")  # an empty name
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).not_to_be_empty()
    expect(page).to_have_url(f"{live_server.url}/")


def test_export_then_import(live_server: LiveServer, page: Page, tmp_path: Path) -> None:
    user = live_server.create_user()
    live_server.sign_in(page, user)
    created = page.request.post(f"{live_server.url}/api/dashboards", data={"name": "Weather"})
    assert created.ok
    page.goto(f"{live_server.url}/")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export Weather").click()
    download = download_info.value
    assert download.suggested_filename == "weather.visualbox.json"
    exported = tmp_path / download.suggested_filename
    download.save_as(exported)
    document = json.loads(exported.read_text())
    assert document["format"] == "visualbox.dashboard" and document["name"] == "Weather"

    page.locator("input[type=file]").set_input_files(exported)
    expect(page.get_by_text("Imported “Weather”.")).to_be_visible()
    expect(_cards(page).filter(has_text="Weather")).to_have_count(2)

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    page.locator("input[type=file]").set_input_files(broken)
    expect(page.get_by_role("alert")).to_contain_text("broken.json is not a dashboard export")


def test_explore_lists_public_dashboards_and_opens_them_in_a_new_tab(
    live_server: LiveServer, page: Page, context: BrowserContext
) -> None:
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    tokens = {}
    for name, listed in (("Shared and listed", True), ("Shared, unlisted", False)):
        made = page.request.post(f"{live_server.url}/api/dashboards", data={"name": name})
        shared = page.request.post(
            f"{live_server.url}/api/dashboards/{made.json()['id']}/sharing",
            data={"public": True, "listed": listed},
        )
        tokens[name] = shared.json()["token"]
    # The owner's home shows the newest public dashboards (listed ones only).
    page.goto(f"{live_server.url}/")
    newest = page.get_by_role("list", name="New public dashboards")
    expect(newest.get_by_role("listitem")).to_have_count(1)
    expect(newest).to_contain_text("Shared and listed")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/signin")

    # A signed-out visitor may explore.
    page.goto(f"{live_server.url}/explore")
    explorer = page.get_by_role("list", name="Public dashboards")
    expect(explorer.get_by_role("listitem")).to_have_count(1)
    link = explorer.get_by_role("link", name=re.compile("Shared and listed"))
    expect(link).to_have_attribute("href", f"/p/{tokens['Shared and listed']}")
    expect(link).to_have_attribute("target", "_blank")
    with context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == f"{live_server.url}/p/{tokens['Shared and listed']}"
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_a_signed_in_user_explores_with_the_navigation(live_server: LiveServer, page: Page) -> None:
    live_server.sign_in(page, live_server.create_user())
    page.goto(f"{live_server.url}/explore")
    expect(page.get_by_role("heading", name="Nothing to explore yet")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_have_count(0)


def test_a_long_list_can_be_filtered_by_name(live_server: LiveServer, page: Page) -> None:
    live_server.sign_in(page, live_server.create_user())
    names = [f"Hall {n}" for n in range(1, 7)] + ["Weather"]
    for name in names:
        assert page.request.post(f"{live_server.url}/api/dashboards", data={"name": name}).ok
    page.goto(f"{live_server.url}/")
    expect(_cards(page)).to_have_count(7)
    search = page.get_by_label("Filter dashboards by name")
    search.fill("weath")
    expect(_cards(page)).to_have_count(1)
    expect(_cards(page)).to_contain_text("Weather")
    search.fill("hall 9")
    expect(_cards(page)).to_have_count(0)
    expect(page.get_by_text("No dashboard has “hall 9” in its name.")).to_be_visible()
    search.fill("")
    expect(_cards(page)).to_have_count(7)
