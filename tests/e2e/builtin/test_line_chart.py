"""The built-in Line chart widget in Chromium."""

from __future__ import annotations

import io

from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink

EXPECTED = 'Expected [[time, value], …], {"name": [[time, value], …]} or a number'


def light_pixels(png: bytes) -> int:
    """Pixels of the picture lighter than the series' colours (text and lines on dark)."""
    grey = Image.open(io.BytesIO(png)).convert("L")
    return grey.point(lambda v: 255 if v > 140 else 0).histogram()[255]


def test_line_chart_draws_series_and_reacts_to_data_and_config(
    live_server: LiveServer, page: Page
) -> None:
    preview = WidgetPreview.open(live_server, page, "line-chart")
    chart = preview.frame.locator("#chart")
    legend = preview.frame.locator("#legend .item")
    # The sample: two named series of 90 points (epoch seconds).
    expect(chart).to_have_attribute("data-series", "2")
    expect(chart).to_have_attribute("data-points", "180")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(legend).to_have_text(["indoor21.2", "outdoor8"])
    first = preview.shot()
    assert ink(first) > 3000

    # One series in epoch milliseconds, unsorted: drawn, its newest value in the legend.
    preview.set_data([[1795000120000, 30.5], [1795000000000, 10], [1795000060000, 25]])
    expect(chart).to_have_attribute("data-series", "1")
    expect(chart).to_have_attribute("data-points", "3")
    expect(legend).to_have_text(["30.5"])
    second = preview.shot_after_change(first)

    preview.set_config("Unit / y-axis label", "°C")
    expect(legend).to_have_text(["30.5 °C"])
    third = preview.shot_after_change(second)
    preview.config.get_by_label("Show points", exact=True).check()
    preview.shot_after_change(third)

    # A time window counts back from the newest point: 1 minute keeps two of the three.
    preview.set_config("Time window (minutes)", "1")
    expect(chart).to_have_attribute("data-points", "2")

    # The viewer's dark theme: the legend (HTML) and the axes (drawn on the canvas) turn
    # light. On the light theme's white the axes have no light pixels to count.
    before = preview.shot()
    page.get_by_role("button", name="Use the dark theme").click()
    expect(legend.first).to_have_css("color", "rgb(230, 232, 239)")
    preview.shot_after_change(before)
    assert light_pixels(chart.locator("canvas").screenshot()) > 300


def test_line_chart_keeps_a_bounded_history_of_single_values(
    live_server: LiveServer, page: Page
) -> None:
    preview = WidgetPreview.open(live_server, page, "line-chart")
    chart = preview.frame.locator("#chart")
    legend = preview.frame.locator("#legend .item")
    expect(chart).to_have_attribute("data-points", "180")
    for count, value in enumerate([5, 7.5, "6.25"], start=1):
        preview.set_data(value)
        expect(chart).to_have_attribute("data-points", str(count))
    expect(legend).to_have_text(["6.25"])
    before = preview.shot()

    preview.set_config("Points kept per series", "2")
    expect(chart).to_have_attribute("data-points", "2")
    preview.set_data(8)
    expect(chart).to_have_attribute("data-points", "2")
    expect(legend).to_have_text(["8"])
    preview.shot_after_change(before)

    # Several live series at once: {name: number}.
    preview.set_data({"cpu": 40, "gpu": 55})
    expect(legend).to_have_text(["cpu40", "gpu55"])
    preview.set_data({"cpu": 42, "gpu": 51})
    expect(legend).to_have_text(["cpu42", "gpu51"])
    expect(chart).to_have_attribute("data-points", "4")


def test_line_chart_refuses_other_data_calmly(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "line-chart")
    message = preview.frame.locator("#message")
    expect(preview.frame.locator("#chart")).to_have_attribute("data-points", "180")
    preview.set_data({"status": "hot"})
    expect(message).to_have_text(EXPECTED)
    expect(preview.frame.locator("#chart")).to_be_hidden()
    preview.set_data([])
    expect(message).to_have_text("No data")
    preview.set_data([[1795000000, 1]])
    expect(message).to_be_hidden()
    expect(preview.frame.locator("#chart")).to_have_attribute("data-points", "1")
