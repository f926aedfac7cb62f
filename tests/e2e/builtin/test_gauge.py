"""The built-in Gauge widget in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink

LIGHT_TEXT = "rgb(31, 41, 55)"  # the theme's text colour, light and dark
DARK_TEXT = "rgb(230, 232, 239)"


def test_gauge_draws_reacts_to_data_and_config(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "gauge")
    gauge = preview.frame.locator("#gauge")
    # The sample, {"value": 63.4}, is below the default warning threshold (70).
    expect(gauge).to_have_attribute("aria-label", "63.4 (ok)")
    expect(gauge.locator("svg text", has_text="63.4")).to_have_count(1)
    first = preview.shot()
    assert ink(first) > 3000

    # A value in the alarm range: the text and the state follow, the arc is redrawn.
    preview.set_data(95.25)
    expect(gauge).to_have_attribute("aria-label", "95.3 (alarm)")
    second = preview.shot_after_change(first)

    # Low is bad (a battery): 95 is now fine; units and decimals show in the text.
    preview.config.get_by_label("Low is bad", exact=True).check()
    expect(gauge).to_have_attribute("aria-label", "95.3 (ok)")
    preview.set_config("Unit", "%")
    preview.set_config("Decimals", "2")
    expect(gauge).to_have_attribute("aria-label", "95.25 % (ok)")
    expect(gauge.locator("svg text", has_text="95.25")).to_have_count(1)
    third = preview.shot_after_change(second)

    preview.set_data("12")  # a numeric string, now below the alarm threshold (90 > 12)
    expect(gauge).to_have_attribute("aria-label", "12.00 % (alarm)")
    preview.shot_after_change(third)

    # No text colour set: the theme's, light on the viewer's dark theme; a set one wins.
    number = gauge.locator("svg text", has_text="12.00")
    expect(number).to_have_css("fill", LIGHT_TEXT)
    page.get_by_role("button", name="Use the dark theme").click()
    expect(number).to_have_css("fill", DARK_TEXT)
    expect(gauge.locator("svg text", has_text="100")).to_have_css("fill", DARK_TEXT)  # scale
    preview.set_config("Text colour", "#0891b2")
    expect(number).to_have_css("fill", "rgb(8, 145, 178)")


def test_gauge_refuses_other_data_calmly(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "gauge")
    expect(preview.frame.locator("#gauge")).to_have_attribute("aria-label", "63.4 (ok)")
    message = preview.frame.locator("#message")
    preview.set_data({"temperature": "hot"})
    expect(message).to_have_text('Expected a number (or {"value": number})')
    expect(preview.frame.locator("#gauge")).to_be_hidden()
    preview.set_data(None)
    expect(message).to_have_text("No data")
    preview.set_config("Maximum", "-5")
    expect(message).to_have_text("The maximum must be above the minimum")
