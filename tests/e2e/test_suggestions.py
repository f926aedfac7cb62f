"""The builder suggests widgets for data: choosing a source while adding a widget lists
the widgets that draw that shape first, and a widget's source tree marks the paths it
fits (the built-in library's declared ``accepts``)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer


def named(where: Locator, name: str) -> Locator:
    """A suggested widget's button (its name, then its description)."""
    return where.get_by_role("button", name=re.compile(rf"^{re.escape(name)} "))


def test_fitting_widgets_come_first_and_fitting_paths_are_marked(
    live_server: LiveServer, page: Page
) -> None:
    user = live_server.create_user()
    live_server.sign_in(page, user)
    integration = {
        "id": "i1",
        "module_id": "builtin-simulator",
        "label": "Sim",
        "config": {"interval": 0.6},
    }
    created = page.request.post(
        f"{live_server.url}/api/dashboards", data={"name": "Field", "integrations": [integration]}
    )
    assert created.status == 201, created.text()
    page.goto(f"{live_server.url}/d/{created.json()['id']}")

    page.get_by_role("button", name="Add widget").first.click()
    chooser = page.get_by_label("For data from")
    expect(chooser.locator("option[value='/i1/temperature']")).to_have_count(1, timeout=30_000)

    # A number: the widgets that draw numbers come first, a map does not.
    chooser.select_option("/i1/temperature")
    expect(page.get_by_role("heading", name="Fits this source")).to_be_visible()
    fitting = page.get_by_test_id("fitting-widgets")
    for name in ("Value", "Gauge", "Status light", "Line chart"):
        expect(named(fitting, name)).to_be_visible()
    expect(named(fitting, "Map")).to_have_count(0)
    fits_first = page.locator("#fits-heading, h3:text('Other widgets')")
    expect(fits_first.first).to_have_text("Fits this source")

    # A position: the map fits, the value does not.
    chooser.select_option("/i1/position")
    expect(named(fitting, "Map")).to_be_visible()
    expect(named(fitting, "Value")).to_have_count(0)

    # Added from there, the map gets that source, and its tree marks what fits a map.
    named(fitting, "Map").click()
    page.get_by_role("button", name="Add to dashboard").click()
    expect(page.get_by_test_id("source-value")).to_have_text("Sim: /i1/position")
    tree = page.get_by_role("tree", name="Data source")
    expect(named(tree, "position")).to_have_attribute("data-fits", "true")
    expect(named(tree, "position")).to_contain_text("fits")
    expect(named(tree, "temperature")).not_to_have_attribute("data-fits", "true")
    expect(tree.locator("[data-fits='true']")).to_have_count(1)
