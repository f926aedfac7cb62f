"""The built-in Value widget in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink


def test_value_draws_reacts_to_data_and_config(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "value")
    value = preview.frame.locator("#value")
    expect(value).to_have_text("23.17")  # the manifest's sample
    first = preview.shot()
    assert ink(first) > 200
    preview.set_data(41.5)
    expect(value).to_have_text("41.5")
    second = preview.shot_after_change(first)
    preview.set_config("Label", "Temperature")
    expect(preview.frame.locator("#label")).to_have_text("Temperature")
    third = preview.shot_after_change(second)
    preview.set_config("Unit", "°C")
    expect(preview.frame.locator("#unit")).to_have_text("°C")
    preview.shot_after_change(third)

    # No colour set: the theme's accent, which the viewer's dark theme makes lighter.
    colour = preview.config.get_by_label("Colour", exact=True)
    expect(colour).to_have_value("")
    expect(colour).to_have_attribute("placeholder", "follows the theme")
    expect(value).to_have_css("color", "rgb(37, 99, 235)")
    page.get_by_role("button", name="Use the dark theme").click()
    expect(value).to_have_css("color", "rgb(115, 145, 255)")
    preview.set_config("Colour", "#16a34a")  # a colour of the user's wins
    expect(value).to_have_css("color", "rgb(22, 163, 74)")


def test_value_decimals_and_shapes(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "value")
    value = preview.frame.locator("#value")
    preview.set_config("Decimals", "1")
    expect(value).to_have_text("23.2")
    preview.set_data({"value": 7})
    expect(value).to_have_text("7.0")
    preview.set_data({"v": "3.14159"})  # numeric text is a number
    expect(value).to_have_text("3.1")
    preview.set_data("open")
    expect(value).to_have_text("open")
    preview.set_data(True)
    expect(value).to_have_text("true")
    preview.set_config("Decimals", "")  # empty: as it is
    preview.set_data(2.71828)
    expect(value).to_have_text("2.71828")
    preview.set_data(None)
    expect(value).to_have_text("–")
    preview.set_data({"a": [1, 2]})  # any other object: its JSON
    expect(value).to_have_text('{"a":[1,2]}')
