"""The built-in Value widget in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink


def test_value_draws_reacts_to_data_and_config(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "value")
    first = preview.shot()
    assert ink(first) > 200
    preview.set_data(23.17)
    expect(preview.frame.locator("#value")).to_have_text("23.17")
    second = preview.shot_after_change(first)
    preview.set_config("Label", "Temperature")
    expect(preview.frame.locator("#label")).to_have_text("Temperature")
    preview.shot_after_change(second)
