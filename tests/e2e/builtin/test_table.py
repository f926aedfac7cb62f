"""The built-in Table widget in Chromium."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink


def column(body: Locator, index: int) -> list[str]:
    return body.locator(f"tr:not(#more) td:nth-child({index})").all_text_contents()


def test_table_draws_sorts_and_reacts(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "table")
    head = preview.frame.locator("#head th")
    body = preview.frame.locator("#body")
    # The sample: {columns, rows} of eight cities.
    expect(head).to_have_count(5)
    expect(head.first).to_have_text("City")
    expect(body.locator("tr")).to_have_count(8)
    first = preview.shot()
    assert ink(first) > 3000
    # Sorting: click "Temperature (°C)" (numeric), then again (descending).
    head.nth(1).click()
    expect(head.nth(1)).to_have_attribute("aria-sort", "ascending")
    assert column(body, 2)[:3] == ["3.5", "4.1", "6.8"]
    head.nth(1).click()
    expect(body.locator("tr").first.locator("td").first).to_have_text("Rome")
    # Data update: natural order for text with numbers, the sort is kept.
    preview.set_data({"columns": ["item", "n"], "rows": [["item 10", 2], ["item 2", 10]]})
    expect(body.locator("tr")).to_have_count(2)
    head.first.click()
    expect(body.locator("tr").first.locator("td").first).to_have_text("item 2")
    second = preview.shot_after_change(first)
    # Config: decimals, max rows with "… more", title.
    preview.set_data(
        [{"city": "Oslo", "temp": 3.456}, {"city": "Rome", "temp": 18}, {"city": "Bergen"}]
    )
    preview.set_config("Number decimals", "1")
    expect(body.locator("tr").first.locator("td").nth(1)).to_have_text("3.5")
    preview.set_config("Max rows", "2")
    expect(body.locator("tr:not(#more)")).to_have_count(2)
    expect(preview.frame.locator("#more")).to_have_text("… 1 more row")
    preview.set_config("Title", "Cities")
    expect(preview.frame.locator("#title")).to_have_text("Cities")
    third = preview.shot_after_change(second)

    # No colours set: the theme's; on the viewer's dark theme light text, the sticky
    # header on the dark cell colour, the sorted column in the lighter accent.
    cell = body.locator("td").first
    expect(cell).to_have_css("color", "rgb(31, 41, 55)")
    page.get_by_role("button", name="Use the dark theme").click()
    expect(cell).to_have_css("color", "rgb(230, 232, 239)")
    expect(head.nth(1)).to_have_css("background-color", "rgb(27, 30, 40)")
    head.first.click()  # sorted by city: the header in the theme's (lighter) accent
    expect(head.first).to_have_attribute("aria-sort", "ascending")
    expect(head.first).to_have_css("color", "rgb(115, 145, 255)")
    preview.shot_after_change(third)
    preview.set_config("Text colour", "#0891b2")  # a colour of the user's wins
    expect(cell).to_have_css("color", "rgb(8, 145, 178)")


def test_table_shapes_escaping_and_refusal(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "table")
    head = preview.frame.locator("#head th")
    body = preview.frame.locator("#body")
    # Array of arrays: first row is the header (the switch is on by default).
    preview.set_data([["a", "b"], [1, "<img src=x onerror=alert(1)>"], [2, "<b>bold</b>"]])
    expect(head).to_have_text(["a", "b"])
    expect(body.locator("tr").first.locator("td").nth(1)).to_have_text(
        "<img src=x onerror=alert(1)>"
    )
    expect(body.locator("img")).to_have_count(0)
    expect(body.locator("b")).to_have_count(0)
    preview.config.get_by_label("First row is header (array of arrays)", exact=True).uncheck()
    expect(head).to_have_text(["1", "2"])
    expect(body.locator("tr")).to_have_count(3)
    # A plain object: key and value; objects as JSON.
    preview.set_data({"temperature": 21.5, "tags": ["x", "y"]})
    expect(head).to_have_text(["key", "value"])
    assert column(body, 2) == ["21.5", '["x","y"]']
    # Array of objects: columns are the union of the keys.
    preview.set_data([{"a": 1}, {"b": 2, "a": 3}])
    expect(head).to_have_text(["a", "b"])
    # Refused: a single number.
    preview.set_data(42)
    expect(preview.frame.locator("#message")).to_have_text(
        "Expected a table: {columns, rows}, an array or an object"
    )
    expect(preview.frame.locator("#scroll")).to_be_hidden()
    preview.set_data({"columns": ["x"], "rows": [[1]]})
    expect(preview.frame.locator("#scroll")).to_be_visible()
