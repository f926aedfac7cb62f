"""Nothing an editor does is lost or overwritten without a word: the widget panel's
changes show on the grid before they are saved and are saved or discarded (asked)
before leaving; two tabs follow each other's saves as they happen; the same widget
changed in both is a visible conflict with a choice; Edit and Escape move the focus."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer

MAIN_PY = """\
import time

import visualbox

while True:
    visualbox.output({"temperature": 21.5, "humidity": 40})
    time.sleep(0.5)
"""


def _dashboard(live_server: LiveServer, page: Page, *, integration: str | None = None) -> str:
    value = {"module_id": "builtin-value", "y": 0, "w": 8, "h": 5}
    body: dict[str, Any] = {
        "name": "Greenhouse",
        "widgets": [
            {**value, "id": "w1", "x": 0, "title": "First"},
            {**value, "id": "w2", "x": 8, "title": "Second"},
        ],
    }
    if integration:
        body["integrations"] = [{"id": "i1", "module_id": integration, "label": "Climate"}]
    created = page.request.post(f"{live_server.url}/api/dashboards", data=body)
    assert created.status == 201, created.text()
    return str(created.json()["id"])


def _saved_widget(page: Page, url: str, widget_id: str) -> dict[str, Any]:
    answer = page.request.get(url)
    assert answer.ok, answer.text()
    return next(w for w in answer.json()["widgets"] if w["id"] == widget_id)


def _edit(page: Page, title: str) -> None:
    # A user edits in the tab in front; Chromium pauses animation frames in the others,
    # which Playwright's hover and click wait for.
    page.bring_to_front()
    page.locator(f'[data-widget] .cell-title:text-is("{title}")').hover()
    page.get_by_role("button", name=f"Edit {title}").click()


def test_panel_changes_show_at_once_and_are_saved_or_discarded_before_leaving(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    files = {"config.json": json.dumps([]), "main.py": MAIN_PY}
    module = live_server.publish_integration(new_context().request, "Climate feed", files)
    user = live_server.create_user()
    live_server.sign_in(page, user)
    dashboard_id = _dashboard(live_server, page, integration=module)
    url = f"{live_server.url}/api/dashboards/{dashboard_id}"
    page.goto(f"{live_server.url}/d/{dashboard_id}")
    status = page.get_by_role("status").filter(has_text=re.compile("saved|Unsaved"))
    cell = page.locator('[data-widget="w1"]')

    # Heading and source are shown on the grid while they are edited, not only after Save.
    _edit(page, "First")
    page.get_by_label("Heading").fill("Air temperature")
    expect(cell.locator(".cell-title")).to_have_text("Air temperature")
    tree = page.get_by_role("tree", name="Data source")
    tree.get_by_role("button", name=re.compile(r"^temperature\s+21\.5(\s+fits)?$")).click(
        timeout=30_000
    )
    frame = cell.frame_locator("iframe")
    expect(frame.locator("#value")).to_have_text("21.5")
    expect(status).to_have_text("Unsaved changes in the widget panel")
    assert _saved_widget(page, url, "w1")["title"] == "First"

    # Leaving asks; "Keep editing" stays with every change in place.
    page.get_by_role("button", name="Back to the panel").click()
    dialog = page.get_by_role("dialog", name="Save the changes to this widget?")
    dialog.get_by_role("button", name="Keep editing").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_label("Heading")).to_have_value("Air temperature")
    expect(page.get_by_test_id("source-value")).to_contain_text("/i1/temperature")

    # "Save" saves them, then leaves.
    page.get_by_role("button", name="Back to the panel").click()
    dialog.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard", level=2)).to_be_visible()
    expect(status).to_have_text("All changes saved")
    saved = _saved_widget(page, url, "w1")
    assert (saved["title"], saved["source"]) == ("Air temperature", "/i1/temperature")
    expect(frame.locator("#value")).to_have_text("21.5")

    # Leaving the page asks too; "Discard" puts the grid back and saves nothing.
    _edit(page, "Second")
    page.get_by_label("Heading").fill("Not wanted")
    expect(page.locator('[data-widget="w2"] .cell-title')).to_have_text("Not wanted")
    page.get_by_role("link", name="Back to dashboards").click()
    dialog.get_by_role("button", name="Discard").click()
    expect(page).to_have_url(f"{live_server.url}/")
    assert _saved_widget(page, url, "w2")["title"] == "Second"


def test_tabs_follow_each_others_saves_and_a_same_widget_edit_is_a_choice(
    live_server: LiveServer, page: Page, context: BrowserContext
) -> None:
    user = live_server.create_user()
    live_server.sign_in(page, user)
    dashboard_id = _dashboard(live_server, page)
    url = f"{live_server.url}/api/dashboards/{dashboard_id}"
    other = context.new_page()
    for tab in (page, other):
        tab.goto(f"{live_server.url}/d/{dashboard_id}")
        expect(tab.locator('[data-widget="w2"] .cell-title')).to_have_text("Second")

    def save_heading(tab: Page, old: str, new: str) -> None:
        _edit(tab, old)
        tab.get_by_label("Heading").fill(new)
        tab.get_by_role("button", name="Save", exact=True).click()
        expect(tab.get_by_text("Widget saved.").last).to_be_visible()
        tab.get_by_role("button", name="Back to the panel").click()

    # Each tab saves in turn; the other shows it at once, also after saving itself.
    save_heading(page, "First", "One")
    expect(other.locator('[data-widget="w1"] .cell-title')).to_have_text("One")
    save_heading(other, "Second", "Two")
    expect(page.locator('[data-widget="w2"] .cell-title')).to_have_text("Two")
    save_heading(page, "One", "Uno")
    expect(other.locator('[data-widget="w1"] .cell-title')).to_have_text("Uno")
    for tab in (page, other):
        expect(tab.get_by_role("status").filter(has_text="All changes saved")).to_be_visible()

    # Both edit the same widget: the first save wins, the second tab is told and chooses.
    _edit(page, "Two")
    _edit(other, "Two")
    other.get_by_label("Heading").fill("Dos")
    page.get_by_label("Heading").fill("Deux")
    page.bring_to_front()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Widget saved.").last).to_be_visible()
    alert = other.get_by_role("alert").filter(has_text="changed somewhere else")
    expect(alert).to_be_visible()
    expect(other.get_by_label("Heading")).to_have_value("Dos")
    expect(other.get_by_role("button", name="Save", exact=True)).to_be_disabled()
    assert _saved_widget(page, url, "w2")["title"] == "Deux"

    # "Keep my changes" then Save: a deliberate overwrite, which the first tab follows.
    other.bring_to_front()
    alert.get_by_role("button", name="Keep my changes").click()
    other.get_by_role("button", name="Save", exact=True).click()
    expect(other.get_by_text("Widget saved.").last).to_be_visible()
    assert _saved_widget(page, url, "w2")["title"] == "Dos"
    expect(page.get_by_label("Heading")).to_have_value("Dos")

    # The other way: "Use their version" drops this tab's change.
    page.get_by_label("Heading").fill("Zwei")
    other.get_by_label("Heading").fill("Due")
    other.get_by_role("button", name="Save", exact=True).click()
    expect(other.get_by_text("Widget saved.").last).to_be_visible()
    alert = page.get_by_role("alert").filter(has_text="changed somewhere else")
    page.bring_to_front()
    alert.get_by_role("button", name="Use their version").click()
    expect(page.get_by_label("Heading")).to_have_value("Due")
    expect(page.locator('[data-widget="w2"] .cell-title')).to_have_text("Due")
    assert _saved_widget(page, url, "w2")["title"] == "Due"


def test_edit_moves_the_focus_into_the_panel_and_escape_gives_it_back(
    live_server: LiveServer, page: Page
) -> None:
    user = live_server.create_user()
    live_server.sign_in(page, user)
    dashboard_id = _dashboard(live_server, page)
    page.goto(f"{live_server.url}/d/{dashboard_id}")

    edit = page.get_by_role("button", name="Edit First")
    edit.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Heading")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="Dashboard", level=2)).to_be_visible()
    expect(edit).to_be_focused()

    # With a change, Escape asks first; the dialog's own Escape keeps editing.
    page.keyboard.press("Enter")
    page.get_by_label("Heading").fill("Changed")
    page.keyboard.press("Escape")
    dialog = page.get_by_role("dialog", name="Save the changes to this widget?")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_label("Heading")).to_have_value("Changed")
    page.keyboard.press("Escape")
    dialog.get_by_role("button", name="Discard").click()
    expect(edit).to_be_focused()
    expect(page.locator('[data-widget="w1"] .cell-title')).to_have_text("First")
