"""The built-in Bar chart widget in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink

LIGHT_TEXT = "rgb(31, 41, 55)"  # the theme's text colour, light and dark
DARK_TEXT = "rgb(230, 232, 239)"

EXPECTED = (
    'Expected {"label": number}, [[label, number], …], [{"label", "value"}, …], '
    'a list of numbers or a table {"columns", "rows"}'
)


def test_bar_chart_draws_reacts_to_data_and_config(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "bar-chart")
    chart = preview.frame.locator("#chart")
    # The sample: energy per weekday, seven bars with their values written on them.
    expect(chart).to_have_attribute("data-bars", "7")
    expect(chart.locator("svg text", has_text="24.6")).to_have_count(1)
    expect(chart.locator("svg text", has_text="Sun")).to_have_count(1)
    first = preview.shot()
    assert ink(first) > 3000

    # A table: the first column labels, the second is the value.
    preview.set_data({"columns": ["city", "alarms"], "rows": [["Oslo", 12], ["Bergen", 7]]})
    expect(chart).to_have_attribute("data-bars", "2")
    expect(chart).to_have_attribute("aria-label", "Oslo: 12, Bergen: 7")
    expect(chart.locator("svg text", has_text="Bergen")).to_have_count(1)
    second = preview.shot_after_change(first)

    preview.set_config("Sort", "Smallest first")
    expect(chart).to_have_attribute("aria-label", "Bergen: 7, Oslo: 12")
    preview.set_config("Unit", "alarms")
    expect(chart.locator("svg text", has_text="12 alarms")).to_have_count(1)
    third = preview.shot_after_change(second)
    preview.config.get_by_label("Horizontal bars", exact=True).check()
    fourth = preview.shot_after_change(third)
    preview.config.get_by_label("Show values", exact=True).uncheck()
    expect(chart.locator("svg text", has_text="12 alarms")).to_have_count(0)
    preview.shot_after_change(fourth)

    # No text colour set: the axes take the theme's, light on the viewer's dark theme.
    label = chart.locator("svg text", has_text="Oslo")
    expect(label).to_have_css("fill", LIGHT_TEXT)
    page.get_by_role("button", name="Use the dark theme").click()
    expect(label).to_have_css("fill", DARK_TEXT)
    preview.set_config("Text colour", "#0891b2")  # a colour of the user's wins
    expect(label).to_have_css("fill", "rgb(8, 145, 178)")


def test_bar_chart_reads_lists(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "bar-chart")
    chart = preview.frame.locator("#chart")
    expect(chart).to_have_attribute("data-bars", "7")
    preview.set_data([["Oslo", "3.5"], ["Bergen", 2]])
    expect(chart).to_have_attribute("aria-label", "Oslo: 3.5, Bergen: 2")
    preview.set_data([{"label": "a", "value": 1}, {"name": "b", "value": 2}])
    expect(chart).to_have_attribute("aria-label", "a: 1, b: 2")
    preview.set_data([4, 8, 15])
    expect(chart).to_have_attribute("aria-label", "1: 4, 2: 8, 3: 15")


def test_bar_chart_refuses_other_data_calmly(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "bar-chart")
    message = preview.frame.locator("#message")
    expect(preview.frame.locator("#chart")).to_have_attribute("data-bars", "7")
    preview.set_data({"Mon": "lots"})
    expect(message).to_have_text(EXPECTED)
    expect(preview.frame.locator("#chart")).to_be_hidden()
    preview.set_data("hello")
    expect(message).to_have_text(EXPECTED)
    preview.set_data({})
    expect(message).to_have_text("No data")
