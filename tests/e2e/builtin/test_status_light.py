"""The built-in Status light widget in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink

GREEN = "rgb(22, 163, 74)"
AMBER = "rgb(245, 158, 11)"
RED = "rgb(220, 38, 38)"
GREY = "rgb(156, 163, 175)"


def test_status_light_draws_reacts_to_data_and_config(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "status-light")
    light = preview.frame.locator("#light")
    state = preview.frame.locator("#state")
    value = preview.frame.locator("#value")
    # The sample (58.3) is below the default thresholds (warn 70, alarm 90): OK, green.
    expect(state).to_have_text("OK")
    expect(value).to_have_text("58.3")
    expect(light).to_have_css("background-color", GREEN)
    first = preview.shot()
    assert ink(first) > 2000
    preview.set_data(93.1)
    expect(state).to_have_text("Alarm")
    expect(light).to_have_css("background-color", RED)
    second = preview.shot_after_change(first)
    preview.set_data(75)
    expect(state).to_have_text("Warning")
    expect(light).to_have_css("background-color", AMBER)
    third = preview.shot_after_change(second)
    # Config: a higher alarm threshold, a unit, a title, another warning colour.
    preview.set_config("Warning at", "80")
    expect(state).to_have_text("OK")
    preview.set_config("Unit", "°C")
    expect(value).to_have_text("75 °C")
    preview.set_config("Title", "CPU")
    expect(preview.frame.locator("#title")).to_have_text("CPU")
    preview.shot_after_change(third)
    preview.set_config("Warning at", "70")
    glow = light.evaluate("e => getComputedStyle(e).boxShadow")
    preview.set_config("Warning colour", "#7c3aed")
    expect(light).to_have_css("background-color", "rgb(124, 58, 237)")
    expect(light).not_to_have_css("box-shadow", glow)  # the glow follows the new colour
    glow = light.evaluate("e => getComputedStyle(e).boxShadow")
    preview.set_config("Warning colour", "#a0f")  # a short form glows too
    expect(light).to_have_css("background-color", "rgb(170, 0, 255)")
    expect(light).not_to_have_css("box-shadow", glow)
    preview.set_config("Warning colour", "#7c3aed")
    preview.config.get_by_label("Show the value", exact=True).uncheck()
    expect(value).to_be_empty()

    # No text colour set: the theme's, light on the viewer's dark theme; a set one wins.
    expect(state).to_have_css("color", "rgb(31, 41, 55)")
    page.get_by_role("button", name="Use the dark theme").click()
    expect(state).to_have_css("color", "rgb(230, 232, 239)")
    expect(light).to_have_css("background-color", "rgb(124, 58, 237)")  # the state's, kept
    preview.set_config("Text colour", "#0891b2")
    expect(state).to_have_css("color", "rgb(8, 145, 178)")


def test_status_light_low_is_bad_booleans_and_words(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "status-light")
    light = preview.frame.locator("#light")
    state = preview.frame.locator("#state")
    preview.set_config("Warning at", "30")
    preview.set_config("Alarm at", "10")
    preview.config.get_by_label("Low is bad (warn/alarm at or below)", exact=True).check()
    preview.set_data({"value": "8"})  # numeric text in an object
    expect(state).to_have_text("Alarm")
    preview.set_data(25)
    expect(state).to_have_text("Warning")
    preview.set_data(88)
    expect(light).to_have_css("background-color", GREEN)
    preview.set_data(False)
    expect(state).to_have_text("Alarm")
    preview.config.get_by_label("Invert (true is alarm)", exact=True).check()
    expect(state).to_have_text("OK")
    preview.set_data({"status": "WARNING"})
    expect(light).to_have_css("background-color", AMBER)
    preview.set_data("offline")
    expect(state).to_have_text("Offline")
    expect(light).to_have_css("background-color", RED)
    preview.set_data("maintenance")  # an unknown word: grey, shown as it is
    expect(state).to_have_text("Unknown")
    expect(preview.frame.locator("#value")).to_have_text("maintenance")
    expect(light).to_have_css("background-color", GREY)
    preview.set_data([1, 2])  # refused: a calm message, no error
    expect(state).to_have_text("Expected a number, boolean or status")
    expect(light).to_have_attribute("data-state", "unknown")
    preview.set_data(None)
    expect(state).to_have_text("No data")
