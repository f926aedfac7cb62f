"""The built-in JSON viewer widget in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink


def test_json_viewer_draws_reacts_to_data_and_config(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "json-viewer")
    tree = preview.frame.locator("#tree")
    rows = tree.locator(".row")
    # The sample, open two levels deep: the root, its 6 keys, firmware's 2, 4 sensors.
    expect(rows).to_have_count(13)
    expect(tree.locator(".key").first).to_have_text("device")
    expect(tree.locator("[data-path='/sensors/0']")).to_contain_text('kind: "temperature"')
    first = preview.shot()
    assert ink(first) > 2000
    # Open a closed row; it stays open when new data arrives.
    tree.locator("[data-path='/sensors/0']").click()
    expect(tree.locator("[data-path='/sensors/0/kind'] .string")).to_have_text('"temperature"')
    preview.set_data({"sensors": [{"kind": "humidity", "value": 65}], "device": "gh-3"})
    expect(tree.locator("[data-path='/sensors/0/kind'] .string")).to_have_text('"humidity"')
    expect(tree.locator("[data-path='/device'] .string")).to_have_text('"gh-3"')
    second = preview.shot_after_change(first)
    # Close it again with a click.
    tree.locator("[data-path='/sensors/0']").click()
    expect(tree.locator("[data-path='/sensors/0/kind']")).to_have_count(0)
    # Config: sorted keys, types, depth.
    expect(tree.locator(".key").first).to_have_text("sensors")
    preview.config.get_by_label("Sort keys", exact=True).check()
    expect(tree.locator(".key").first).to_have_text("device")
    preview.config.get_by_label("Show types", exact=True).check()
    expect(tree.locator("[data-path='/device'] .type")).to_have_text("string")
    device = tree.locator("[data-path='/device'] .string")
    expect(device).to_have_css("color", "rgb(15, 123, 63)")  # a string's green
    depth = preview.config.get_by_label("Expanded depth", exact=True)
    depth.evaluate("e => { e.value = '0'; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("aria-expanded", "false")
    third = preview.shot_after_change(second)

    # No text colour set: the theme's; the viewer's dark theme also lightens the
    # values' colours.
    expect(rows.first).to_have_css("color", "rgb(31, 41, 55)")
    page.get_by_role("button", name="Use the dark theme").click()
    expect(rows.first).to_have_css("color", "rgb(230, 232, 239)")
    preview.shot_after_change(third)
    depth.evaluate("e => { e.value = '1'; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(device).to_have_css("color", "rgb(126, 226, 168)")  # a lighter green


def test_json_viewer_long_arrays_escaping_and_scalars(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "json-viewer")
    tree = preview.frame.locator("#tree")
    preview.set_data({"html": "<img src=x onerror=alert(1)>", "big": list(range(250))})
    expect(tree.locator("[data-path='/html'] .string")).to_have_text(
        '"<img src=x onerror=alert(1)>"'
    )
    expect(tree.locator("img")).to_have_count(0)
    # 250 items: the first 100, then "… 150 more", which shows 100 more per click.
    expect(tree.locator("[data-path^='/big/']")).to_have_count(100)
    more = tree.locator(".row.more")
    expect(more).to_have_text("… 150 more")
    more.click()
    expect(tree.locator("[data-path^='/big/']")).to_have_count(200)
    more.click()
    expect(tree.locator("[data-path^='/big/']")).to_have_count(250)
    expect(more).to_have_count(0)
    # Odd shapes: a single value, an empty object, null.
    preview.set_data("just text")
    expect(tree.locator(".row")).to_have_text(['"just text"'])
    preview.set_data({})
    expect(tree.locator(".row")).to_have_text(["{}"])
    expect(tree.locator(".row").first).not_to_have_attribute("aria-expanded", "true")
    preview.set_data(None)
    expect(tree.locator(".row .null")).to_have_text("null")
