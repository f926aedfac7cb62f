"""Dashboard versions in Chromium: a dashboard saved twice, its Versions panel, version 1
compared with the current one side by side, then restored: the builder shows its layout."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer


def _widget(wid: str, title: str, x: int, y: int, w: int) -> dict[str, Any]:
    return {
        "id": wid,
        "module_id": "builtin-json-viewer",
        "title": title,
        "x": x,
        "y": y,
        "w": w,
        "h": 4,
    }


def test_compare_and_restore_a_version(live_server: LiveServer, page: Page) -> None:
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    api = f"{live_server.url}/api/dashboards"
    first = [_widget("w1", "Temperature", 0, 0, 12), _widget("w2", "Humidity", 12, 0, 12)]
    created = page.request.post(api, data={"name": "Greenhouse", "widgets": first})
    assert created.status == 201, created.text()
    board = created.json()["id"]
    moved = [_widget("w1", "Temperature", 6, 4, 8), first[1]]
    second = page.request.put(
        f"{api}/{board}", data={"name": "Greenhouse", "revision": 1, "widgets": moved}
    )
    assert second.status == 200, second.text()
    third = page.request.patch(f"{api}/{board}", data={"revision": 2, "widgets": moved[:1]})
    assert third.status == 200, third.text()

    page.goto(f"{live_server.url}/d/{board}")
    expect(page.locator('[data-widget="w2"]')).to_have_count(0)
    page.get_by_role("button", name="Versions", exact=True).click()
    panel = page.get_by_role("region", name="Versions")
    expect(panel.locator("[data-version]")).to_have_count(3)
    expect(panel.locator('[data-version="3"]')).to_contain_text("Removed widget “Humidity”")
    expect(panel.locator('[data-version="2"]')).to_contain_text("Moved “Temperature”")
    expect(panel.locator('[data-version="1"]')).to_contain_text("Created the dashboard")

    panel.locator('[data-version="1"]').get_by_role("button", name="Compare with current").click()
    dialog = page.get_by_role("dialog", name="Version 1 and the current version")
    before = dialog.get_by_role("list", name="Layout of version 1")
    after = dialog.get_by_role("list", name="Layout of version 3")
    expect(before.locator('[data-cell="w2"]')).to_have_attribute("data-status", "removed")
    expect(before.locator('[data-cell="w1"]')).to_have_attribute("data-status", "changed")
    expect(after.locator('[data-cell="w1"]')).to_have_attribute("data-status", "changed")
    expect(after.locator('[data-cell="w2"]')).to_have_count(0)
    temperature = dialog.locator('[data-item="w1"]')
    expect(temperature.get_by_role("row", name="x")).to_contain_text("0")
    expect(temperature.get_by_role("row", name="x")).to_contain_text("6")
    expect(
        dialog.get_by_role("listitem").filter(has_text="Removed widget “Humidity”")
    ).to_be_visible()

    dialog.get_by_role("button", name="Restore version 1").click()
    confirm = page.get_by_role("dialog", name="Restore version 1?")
    confirm.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("Version 1 restored.")).to_be_visible()
    expect(dialog).to_be_hidden()
    expect(page.locator('[data-widget="w2"]')).to_have_count(1)
    expect(panel.locator("[data-version]")).to_have_count(4)
    expect(panel.locator('[data-version="4"]')).to_contain_text("Restored version 1")
    saved = page.request.get(f"{api}/{board}").json()
    assert saved["revision"] == 4
    assert [(w["id"], w["x"], w["y"], w["w"]) for w in saved["widgets"]] == [
        ("w1", 0, 0, 12),
        ("w2", 12, 0, 12),
    ]
