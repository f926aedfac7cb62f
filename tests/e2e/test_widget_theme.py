"""Widgets follow the viewer's light or dark theme (visualbox.theme, --vb-* variables)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview

TEXT = "() => getComputedStyle(document.documentElement).getPropertyValue('--vb-text').trim()"


def test_a_widget_gets_the_theme_and_its_changes(live_server: LiveServer, page: Page) -> None:
    page.emulate_media(color_scheme="light")
    preview = WidgetPreview.open(live_server, page, "markdown")
    root = preview.frame.locator("html")
    expect(root).to_have_attribute("data-vb-theme", "light")
    assert root.evaluate(TEXT) == "#1f2937"

    page.get_by_role("button", name="Use the dark theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(root).to_have_attribute("data-vb-theme", "dark")
    assert root.evaluate(TEXT) == "#e6e8ef"
    assert root.evaluate("() => visualbox.theme") == "dark"

    page.reload()  # a new document in the frame gets the theme at once
    expect(preview.frame.locator("html")).to_have_attribute("data-vb-theme", "dark")
