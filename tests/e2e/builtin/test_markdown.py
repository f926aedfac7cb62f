"""The built-in Markdown widget in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink

TEMPLATE = "Text (Markdown template)"
# A 1×1 PNG: images from data: URLs are shown.
DOT = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_markdown_draws_reacts_to_data_and_config(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "markdown")
    content = preview.frame.locator("#content")
    # The sample is Markdown text: a heading, a list and a table.
    expect(content.locator("h2")).to_have_text("Line 2 — morning shift")
    expect(content.locator("li")).to_have_count(3)
    expect(content.locator("table tbody tr")).to_have_count(3)
    first = preview.shot()
    assert ink(first) > 3000
    preview.set_data("# Hello *there*")
    expect(content.locator("h1 em")).to_have_text("there")
    second = preview.shot_after_change(first)
    # A template with {{value}} and JSON Pointers into the data.
    preview.set_data({"room": {"name": "Kitchen", "a/b": 3}, "temps": [20.5, 21.5]})
    preview.set_config(
        TEMPLATE, "### {{/room/name}}\n**{{/temps/1}} °C**, {{/room/a~1b}} {{/nowhere}}"
    )
    expect(content.locator("h3")).to_have_text("Kitchen")
    expect(content.locator("strong")).to_have_text("21.5 °C")
    expect(content.locator("p")).to_have_text("21.5 °C, 3 –")
    preview.set_config(TEMPLATE, "all: `{{value}}`")
    expect(content.locator("code")).to_have_text(
        '{"room":{"name":"Kitchen","a/b":3},"temps":[20.5,21.5]}'
    )
    preview.set_config("Alignment", "Right")
    expect(preview.frame.locator("body")).to_have_css("text-align", "right")
    preview.shot_after_change(second)

    # No colours set: the theme's, light text on the viewer's dark theme.
    code = content.locator("code")
    expect(code).to_have_css("color", "rgb(31, 41, 55)")
    page.get_by_role("button", name="Use the dark theme").click()
    expect(code).to_have_css("color", "rgb(230, 232, 239)")
    preview.set_config("Text colour", "#0891b2")  # a colour of the user's wins
    expect(code).to_have_css("color", "rgb(8, 145, 178)")


def test_markdown_never_runs_html_from_data(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "markdown")
    content = preview.frame.locator("#content")
    evil = (
        "<img src=x onerror=\"document.title='pwned'\">"
        "<script>document.title='pwned'</script> **ok**"
    )
    preview.set_data(evil)
    expect(content.locator("strong")).to_have_text("ok")
    expect(content.locator("p")).to_contain_text("<img src=x onerror=")
    expect(content.locator("p")).to_contain_text("<script>document.title='pwned'</script>")
    expect(content.locator("img")).to_have_count(0)
    expect(content.locator("script")).to_have_count(0)
    # Through a template too, and with a javascript: link and an image from elsewhere.
    preview.set_data({"x": "<svg onload=\"document.title='pwned'\">"})
    preview.set_config(
        TEMPLATE,
        "{{/x}} [click](javascript:document.title='pwned') ![remote](http://127.0.0.1:9/x.png)",
    )
    expect(content.locator("p")).to_contain_text("<svg onload=")
    expect(content.locator("p")).to_contain_text("remote")  # a remote image is its alt text
    expect(content.locator("svg, img, a[href^='javascript']")).to_have_count(0)
    preview.set_config(TEMPLATE, f"![dot]({DOT})")
    expect(content.locator("img")).to_have_count(1)
    expect(preview.frame.locator("title")).to_have_js_property("textContent", "Markdown")
    # Refused without a template: an object; a calm message.
    preview.set_config(TEMPLATE, "")
    preview.set_data([1, 2])
    expect(preview.frame.locator("#message")).to_have_text(
        "Expected Markdown text (or write a template in Text)"
    )
    expect(content).to_be_empty()
    preview.set_data(None)
    expect(preview.frame.locator("#message")).to_have_text("No data")
