"""The dashboard builder in the browser: the newcomer journey (sign up to a live public
dashboard that leaks no integration config), grid edits that persist, and the conflict
shown when the dashboard changed elsewhere."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Locator, Page, Response, Route, WebSocket, expect

from tests.e2e.conftest import LiveServer

# A config field whose name, label and value must never reach a public viewer.
SECRET_NAME = "hoist_gain"
SECRET_LABEL = "Hoist gain"
SECRET_VALUE = 98761
CONFIG_JSON = [
    {"type": "number", "name": SECRET_NAME, "label": SECRET_LABEL, "default": 5},
]
# Outputs {"value": hoist_gain + 1000} five times a second ("98761" never appears in it).
MAIN_PY = f"""\
import time

import visualbox

gain = visualbox.MODEL["{SECRET_NAME}"]
while True:
    visualbox.output({{"value": gain + 1000}})
    time.sleep(0.2)
"""


def publish_feed(live_server: LiveServer, make_context: Callable[..., BrowserContext]) -> str:
    """A developer publishes the "Pump feed" Python integration 1.0.0 through the API."""
    files = {"config.json": json.dumps(CONFIG_JSON), "main.py": MAIN_PY}
    return live_server.publish_integration(make_context().request, "Pump feed", files)


def test_newcomer_journey_to_a_live_public_dashboard(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    publish_feed(live_server, new_context)
    newcomer = live_server.new_user_details("Ada Newcomer")

    # Sign up, then verify with the mailed link.
    page.goto(f"{live_server.url}/signup")
    page.get_by_label("Name").fill(newcomer.name)
    page.get_by_label("Email").fill(newcomer.email)
    page.get_by_label("Password", exact=True).fill(newcomer.password)
    page.get_by_label("Repeat the password").fill(newcomer.password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Verify your email")).to_be_visible()
    page.goto(live_server.mail_link(newcomer.email))
    expect(page.get_by_text(f"{newcomer.email} is confirmed")).to_be_visible()

    # Create a dashboard.
    page.goto(f"{live_server.url}/")
    page.get_by_role("button", name="Create your first dashboard").click()
    page.get_by_label("Name of the new dashboard").fill("Pump house")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(r"/d/[\w-]+$"))
    expect(page.get_by_role("button", name="Rename Pump house")).to_be_visible()

    # Add the integration from the registry.
    page.get_by_role("button", name="Add integration").click()
    page.get_by_label("Search modules").fill("pump")
    page.get_by_role("button", name="Pump feed").click()
    expect(page.get_by_role("heading", name="Pump feed", level=2)).to_be_visible()
    page.get_by_role("button", name="Add to dashboard").click()
    expect(page.get_by_label(SECRET_LABEL)).to_have_value("5")

    # Add the built-in Value widget; it opens its panel.
    page.get_by_role("button", name="Back to the panel").click()
    instance = page.get_by_role("list", name="Integration instances").get_by_role("button")
    expect(instance).to_contain_text("Running", timeout=30_000)
    page.get_by_role("button", name="Add widget").click()
    page.get_by_label("Search modules").fill("value")
    page.get_by_role("button", name="Value", exact=True).click()
    page.get_by_role("button", name="Add to dashboard").click()

    # Connect its data source: the tree of the integration's current data.
    tree = page.get_by_role("tree", name="Data source")
    tree.get_by_role("button", name=re.compile(r"^value\s+1005$")).click()
    expect(page.get_by_test_id("source-value")).to_contain_text("/i1/value")
    # Its config is live in the widget before it is saved.
    widget = page.frame_locator('iframe[title="Widget w1"]')
    page.get_by_label("Label", exact=True).fill("Flow rate")
    expect(widget.locator("#label")).to_have_text("Flow rate")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Widget saved.")).to_be_visible()

    # The live value appears inside the widget's sandboxed iframe.
    expect(widget.locator("#value")).to_have_text("1005", timeout=30_000)

    # Change the integration's config: it restarts and the value follows.
    page.get_by_role("button", name="Back to the panel").click()
    instance.click()
    page.get_by_label(SECRET_LABEL).fill(str(SECRET_VALUE))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(widget.locator("#value")).to_have_text(str(SECRET_VALUE + 1000), timeout=30_000)

    # Make it public and open the link in a fresh browser context.
    page.get_by_role("button", name="Settings", exact=True).click()
    page.get_by_label("Make this dashboard public").check()
    link = page.get_by_label("Public link")
    expect(link).to_have_value(re.compile(r"/p/[\w-]+$"))
    public_url = link.input_value()

    visitor = new_context()
    responses: list[Response] = []
    frames: list[str | bytes] = []
    visitor.on("response", lambda response: responses.append(response))
    viewer = visitor.new_page()

    def on_socket(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(payload))

    viewer.on("websocket", on_socket)
    viewer.goto(public_url)
    expect(viewer.get_by_role("heading", name="Pump house")).to_be_visible()
    shown = viewer.frame_locator('iframe[title="Widget w1"]').locator("#value")
    expect(shown).to_have_text(str(SECRET_VALUE + 1000), timeout=30_000)

    # No integration config anywhere: page, HTTP answers, WebSocket frames.
    texts = [viewer.content()]
    for response in responses:
        if response.status < 300 and response.request.method == "GET":
            texts.append(response.body().decode("utf-8", "replace"))
    texts.extend(f if isinstance(f, str) else f.decode("utf-8", "replace") for f in frames)
    assert any(str(SECRET_VALUE + 1000) in t for t in frames if isinstance(t, str)), frames[:5]
    for text in texts:
        for secret in (SECRET_NAME, SECRET_LABEL, str(SECRET_VALUE)):
            assert secret not in text, f"{secret!r} leaked to a public viewer"


def _dashboard_with_a_widget(live_server: LiveServer, page: Page) -> str:
    user = live_server.create_user()
    live_server.sign_in(page, user)
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={
            "name": "Layout",
            "widgets": [
                {"id": "w1", "module_id": "builtin-value", "x": 0, "y": 0, "w": 6, "h": 4},
            ],
        },
    )
    assert created.status == 201, created.text()
    dashboard_id: str = created.json()["id"]
    page.goto(f"{live_server.url}/d/{dashboard_id}")
    expect(page.get_by_role("button", name="Rename Layout")).to_be_visible()
    return dashboard_id


def _widget_of(live_server: LiveServer, page: Page, dashboard_id: str) -> dict[str, Any]:
    answer = page.request.get(f"{live_server.url}/api/dashboards/{dashboard_id}")
    widget: dict[str, Any] = answer.json()["widgets"][0]
    return widget


def _box_in_grid(page: Page, item: Locator) -> dict[str, float]:
    """The item's box relative to the grid (notices above the grid move both)."""
    box, grid = item.bounding_box(), page.locator(".grid-stack").bounding_box()
    assert box is not None and grid is not None
    return {
        "x": box["x"] - grid["x"],
        "y": box["y"] - grid["y"],
        "width": box["width"],
        "height": box["height"],
    }


def test_grid_edits_persist_after_a_reload(live_server: LiveServer, page: Page) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    dashboard_id = _dashboard_with_a_widget(live_server, page)
    item = page.locator('.grid-stack-item[gs-id="w1"]')
    before = item.bounding_box()
    assert before is not None

    # Locked: dragging does nothing.
    page.mouse.move(before["x"] + 40, before["y"] + 40)
    page.mouse.down()
    page.mouse.move(before["x"] + 340, before["y"] + 40, steps=8)
    page.mouse.up()
    assert item.bounding_box() == before

    # Unlocked: move it right, then make it wider and taller from its corner.
    page.get_by_role("button", name="Unlock layout").click()
    expect(page.get_by_role("button", name="Lock layout")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_text("Layout unlocked")).to_be_visible()
    start = item.bounding_box()
    assert start is not None
    page.mouse.move(start["x"] + 40, start["y"] + 40)
    page.mouse.down()
    page.mouse.move(start["x"] + 340, start["y"] + 40, steps=12)
    page.mouse.up()
    moved = item.bounding_box()
    assert moved is not None and moved["x"] > start["x"] + 200, (start, moved)
    item.hover()
    handle = item.locator(".ui-resizable-se")
    corner = handle.bounding_box()
    assert corner is not None
    page.mouse.move(corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2)
    page.mouse.down()
    page.mouse.move(corner["x"] + 200, corner["y"] + 120, steps=12)
    page.mouse.up()
    expect(page.get_by_role("status").filter(has_text="All changes saved")).to_be_visible()

    saved = _widget_of(live_server, page, dashboard_id)
    assert saved["x"] > 0 and saved["w"] > 6 and saved["h"] > 4, saved
    after = _box_in_grid(page, item)

    page.reload()
    expect(item).to_be_visible()
    expect(page.locator('iframe[title="Widget w1"]')).to_be_visible()
    reloaded = _box_in_grid(page, item)
    for key in ("x", "y", "width", "height"):
        assert abs(reloaded[key] - after[key]) < 2, (key, reloaded, after)

    # Without a mouse: the widget panel's position and size fields.
    item.hover()
    page.get_by_role("button", name="Edit Widget w1").click()
    page.get_by_label("Column").fill("20")
    page.get_by_label("Width").fill("10")
    page.get_by_label("Width").press("Tab")
    expect(page.get_by_text("The widget must end by column 24")).to_be_visible()
    page.get_by_label("Column").fill("2")
    page.get_by_label("Column").press("Tab")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Widget saved.")).to_be_visible()
    placed = _widget_of(live_server, page, dashboard_id)
    assert (placed["x"], placed["w"]) == (2, 10), placed
    expect(item).to_have_attribute("gs-x", "2")
    expect(item).to_have_attribute("gs-w", "10")


def test_a_change_made_elsewhere_shows_a_conflict_and_reload_fetches_it(
    live_server: LiveServer, page: Page
) -> None:
    dashboard_id = _dashboard_with_a_widget(live_server, page)
    url = f"{live_server.url}/api/dashboards/{dashboard_id}"

    def someone_else_saves_first(route: Route) -> None:
        if route.request.method == "PATCH":
            other = page.request.patch(url, data={"revision": 1, "name": "Renamed elsewhere"})
            assert other.ok, other.text()
        route.continue_()

    page.route(url, someone_else_saves_first)
    page.get_by_role("button", name="Rename Layout").click()
    page.get_by_label("Dashboard name").fill("My name")
    page.get_by_label("Dashboard name").press("Enter")

    alert = page.get_by_role("alert").filter(has_text="changed somewhere else")
    expect(alert).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Not saved")).to_be_visible()
    page.unroute(url)
    alert.get_by_role("button", name="Reload").click()
    expect(alert).to_be_hidden()
    expect(page.get_by_role("button", name="Rename Renamed elsewhere")).to_be_visible()
    answer = page.request.get(url).json()
    assert answer["name"] == "Renamed elsewhere" and answer["revision"] == 2


def test_public_view_on_a_phone_waits_for_data_in_one_column(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    feed = publish_feed(live_server, new_context)
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    value = {"module_id": "builtin-value", "y": 0, "w": 12, "h": 5}
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={
            "name": "Pumps",
            "integrations": [{"id": "i1", "module_id": feed, "label": "Pump 1"}],
            "widgets": [
                {**value, "id": "w1", "x": 0, "source": "/i1/value", "title": "Flow"},
                {
                    **value,
                    "id": "w2",
                    "x": 12,
                    "source": "/i1/later",
                    "title": "Later",
                    "hide_until_data": True,
                },
            ],
        },
    )
    assert created.status == 201, created.text()
    shared = page.request.post(
        f"{live_server.url}/api/dashboards/{created.json()['id']}/sharing", data={"public": True}
    )
    token = shared.json()["token"]

    phone = new_context(viewport={"width": 390, "height": 800}).new_page()
    phone.goto(f"{live_server.url}/p/{token}")
    expect(phone.get_by_role("heading", name="Pumps")).to_be_visible()
    # Data that arrives after the page opened reaches the widget.
    flow = phone.frame_locator('iframe[title="Flow"]').locator("#value")
    expect(flow).to_have_text("1005", timeout=30_000)
    # The other one has no data yet: a placeholder instead of its frame.
    later = phone.locator('[data-widget="w2"]')
    expect(later.get_by_role("status")).to_have_text("Waiting for data…")
    expect(later.locator("iframe")).to_be_hidden()
    # One column: side by side on a desktop, stacked on a phone, each the page's width.
    first, second = phone.locator('[data-widget="w1"]').bounding_box(), later.bounding_box()
    assert first is not None and second is not None
    assert second["y"] >= first["y"] + first["height"], (first, second)
    assert first["width"] > 300 and abs(first["width"] - second["width"]) < 1

    # The owner's builder on a phone: the same read-only column, no layout editing.
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{live_server.url}/d/{created.json()['id']}")
    expect(page.frame_locator('iframe[title="Flow"]').locator("#value")).to_have_text("1005")
    expect(page.get_by_role("button", name="Unlock layout")).to_have_count(0)
    expect(page.locator(".grid-stack")).to_have_count(0)


def test_registry_search_module_page_preview_and_fork(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    publish_feed(live_server, new_context)
    user = live_server.create_user()
    live_server.sign_in(page, user)
    page.goto(f"{live_server.url}/registry")
    modules = page.get_by_role("list", name="Modules")
    expect(modules.get_by_role("link", name="Pump feed")).to_be_visible()
    expect(modules.get_by_role("link", name="Value", exact=True)).to_be_visible()

    # Filters: widgets only, then a text search across kinds.
    page.get_by_label("Kind").select_option("widget")
    expect(modules.get_by_role("link", name="Pump feed")).to_be_hidden()
    expect(modules.get_by_role("link", name="Value", exact=True)).to_be_visible()
    page.get_by_label("Kind").select_option("")
    page.get_by_label("Search modules").fill("pump")
    expect(page.get_by_text("1 module", exact=True)).to_be_visible()
    expect(modules.get_by_role("listitem")).to_have_count(1)
    page.get_by_label("Search modules").fill("")
    page.get_by_label("Sort").select_option("recent")
    expect(modules.get_by_role("listitem").first).to_contain_text("Pump feed")

    # A widget's page: README, versions, a live preview with sample data.
    modules.get_by_role("link", name="Value", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/registry/builtin-value")
    expect(page.get_by_role("region", name="README")).to_contain_text("Shows one value")
    preview = page.frame_locator('iframe[title="Widget preview"]').locator("#value")
    expect(preview).to_have_text("23.17")  # the sample data of its visualbox.json
    sample = page.get_by_label("Sample data (JSON)")
    expect(sample).to_have_value("23.17")
    sample.fill('{"not json')
    expect(page.get_by_text("This is not valid JSON")).to_be_visible()
    expect(preview).to_have_text("23.17")
    sample.fill('"hello"')
    expect(preview).to_have_text("hello")

    # Fork: a new module of mine, opened in the studio.
    page.get_by_role("button", name="Fork").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/modules/[\w-]+$"))
    mine = page.request.get(f"{live_server.url}/api/modules").json()
    assert [m["forked_from"]["module_id"] for m in mine] == ["builtin-value"]
