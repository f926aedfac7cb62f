"""Paint fast (docs/widgets.md, issue #13): a dashboard's widgets show the last-known
values as soon as their frames are ready, with no new output from the integration;
frames are created in reading order whatever the order of the saved widgets, those
in view first and the others once those are ready. (How fast: bench/paint.py.)"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Page, WebSocket, expect

from tests.e2e.conftest import LiveServer, User

# Notes, in the page (not its frames), each widget frame inserted and each widget's
# first hello to the page, in the order they happen.
EVENTS = """(() => {
  if (window.top !== window || window.__paintEvents) return;
  const events = (window.__paintEvents = []);
  new MutationObserver((changes) => {
    for (const change of changes)
      for (const node of change.addedNodes) {
        const frames = node instanceof Element
          ? (node.matches('iframe') ? [node] : [...node.querySelectorAll('iframe')]) : [];
        for (const frame of frames) events.push(['inserted', frame.title]);
      }
  }).observe(document, { subtree: true, childList: true });
  window.addEventListener('message', (event) => {
    if (!event.data || event.data.visualbox !== 'hello') return;
    const frame = [...document.querySelectorAll('iframe')]
      .find((f) => f.contentWindow === event.source);
    if (frame) events.push(['hello', frame.title]);
  });
})();"""
NO_VALUE = re.compile(r"^(–)?$")
KINDS = {
    "value": "/device/temperature",
    "gauge": "/device/humidity",
    "line-chart": "/device/history/temperature",
}


def _dashboard(live_server: LiveServer, page: Page, cells: list[tuple[str, int, int]]) -> str:
    """A Simulated device and a widget per ``(kind, x, y)`` (6 × 5 cells), saved in
    the order given."""
    widgets: list[dict[str, Any]] = []
    for n, (kind, x, y) in enumerate(cells):
        title = f"{kind} at {y},{x}"
        widgets.append(
            {"id": f"w{n}", "module_id": f"builtin-{kind}", "title": title, "source": KINDS[kind]}
        )
        widgets[-1].update(x=x, y=y, w=6, h=5)
    device = {"id": "device", "module_id": "builtin-simulator", "label": "Device", "config": {}}
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={"name": "Paint", "integrations": [device], "widgets": widgets},
    )
    assert created.status == 201, created.text()
    return str(created.json()["id"])


def _titles(cells: list[tuple[str, int, int]]) -> list[str]:
    """The widgets' titles in reading order: top to bottom, then left to right."""
    return [f"{kind} at {y},{x}" for kind, x, y in sorted(cells, key=lambda c: (c[2], c[1]))]


def _expect_data(page: Page, kind: str, title: str) -> None:
    """The widget shows data: a Value its number, a Gauge or Line chart no message."""
    frame = page.frame_locator(f'iframe[title="{title}"]')
    if kind == "value":
        expect(frame.locator("#value")).not_to_have_text(NO_VALUE, timeout=30_000)
    else:
        expect(frame.locator("#message")).to_be_hidden(timeout=30_000)


def _signed_in(
    new_context: Callable[..., BrowserContext], live_server: LiveServer, user: User, **options: Any
) -> Page:
    page = new_context(**options).new_page()
    page.add_init_script(EVENTS)
    live_server.sign_in(page, user)
    return page


def test_last_known_values_are_painted_with_the_integration_stopped(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    """The widgets of a dashboard whose integration is stopped (no output can come)
    show its last values, the ones another tab shows, from the JOINED snapshot alone;
    the frames are created in reading order although the widgets are saved in another."""
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    page.set_viewport_size({"width": 1400, "height": 1000})
    # Saved bottom-right first: reading order is not the saved order.
    cells = [("line-chart", 12, 5), ("gauge", 6, 5), ("value", 0, 5)]
    cells += [("value", 12, 0), ("gauge", 6, 0), ("line-chart", 0, 0)]
    dashboard = _dashboard(live_server, page, cells)
    url = f"{live_server.url}/d/{dashboard}"
    page.goto(url)
    expect(page.locator("iframe")).to_have_count(len(cells))
    for kind, x, y in cells:
        _expect_data(page, kind, f"{kind} at {y},{x}")

    # Stop the integration: from now on, no OUTPUT, only its last values.
    page.get_by_role("list", name="Integration instances").get_by_role("button").click()
    panel = page.get_by_role("complementary", name="Device")
    panel.get_by_role("button", name="Stop", exact=True).click()
    expect(panel.get_by_role("status").locator(".state")).to_have_text("Stopped")
    values = {
        f"value at {y},{x}": page.frame_locator(f'iframe[title="value at {y},{x}"]')
        .locator("#value")
        .text_content()
        for kind, x, y in cells
        if kind == "value"
    }

    viewer = _signed_in(new_context, live_server, owner, viewport={"width": 1400, "height": 1000})
    received: list[dict[str, Any]] = []

    def on_socket(socket: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            frame = json.loads(payload)
            received.extend(frame if isinstance(frame, list) else [frame])

        socket.on("framereceived", on_frame)

    viewer.on("websocket", on_socket)
    viewer.goto(url)
    expect(viewer.locator("iframe")).to_have_count(len(cells))
    for kind, x, y in cells:
        title = f"{kind} at {y},{x}"
        _expect_data(viewer, kind, title)
        if kind == "value":
            shown = viewer.frame_locator(f'iframe[title="{title}"]').locator("#value")
            expect(shown).to_have_text(values[title] or "")
    types = [message["type"] for message in received]
    assert "JOINED" in types and "OUTPUT" not in types, types

    events = viewer.evaluate("window.__paintEvents")
    inserted = [title for event, title in events if event == "inserted"]
    assert inserted == _titles(cells), events


def test_frames_in_view_start_first_and_the_others_once_those_are_ready(
    live_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    owner = live_server.create_user()
    page = _signed_in(new_context, live_server, owner, viewport={"width": 1400, "height": 700})
    # Two rows in view, two far below (row 60 is 1,800 px down), saved below-first.
    below = [("value", 6, 60), ("gauge", 0, 60)]
    in_view = [("value", 6, 0), ("gauge", 0, 0), ("value", 0, 5), ("line-chart", 6, 5)]
    cells = below + in_view
    dashboard = _dashboard(live_server, page, cells)
    page.goto(f"{live_server.url}/d/{dashboard}")
    expect(page.locator("iframe")).to_have_count(len(cells), timeout=30_000)
    for kind, x, y in cells:
        _expect_data(page, kind, f"{kind} at {y},{x}")

    events = page.evaluate("window.__paintEvents")
    inserted = [title for event, title in events if event == "inserted"]
    assert inserted == _titles(cells), events
    # Every frame in view said hello (its SDK connects then) before the first one
    # below was created.
    first_below = events.index(["inserted", _titles(below)[0]])
    hellos = {title for event, title in events[:first_below] if event == "hello"}
    assert hellos >= set(_titles(in_view)), events
