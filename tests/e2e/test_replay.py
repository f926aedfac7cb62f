"""Replay in the browser (docs/history.md#replay, issue #14): a viewer plays a recorded
range back into the dashboard with a scrubber, at 1× and 60×, pauses; every widget gets
the recorded values in order, and another viewer of the same dashboard stays live.
The player's exact timing at 60× is proven by frontend/src/builder/replay.test.ts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Frame, Page, expect

from tests.e2e.conftest import LiveServer, wait_for_history

# A user's own integration: a counter, 5 a second (every value is recorded).
MAIN_PY = """\
import time

import visualbox

n = 0
while True:
    n += 1
    visualbox.output({"n": n})
    time.sleep(0.2)
"""
RECORDED = 20  # values to record before replaying them (about 4 s)

# Keeps every text the Value widget shows, with the frame's time, in window.__seen.
WATCH_VALUE = """() => {
  window.__seen = [];
  const el = document.getElementById('value');
  new MutationObserver(() => window.__seen.push([performance.now(), el.textContent]))
    .observe(el, { childList: true, characterData: true, subtree: true });
}"""


def _frame(page: Page, title: str) -> Frame:
    handle = page.locator(f'iframe[title="{title}"]').element_handle()
    frame = handle.content_frame() if handle else None
    assert frame is not None, f"no frame {title}"
    return frame


def test_replay_with_the_scrubber_plays_recorded_values_in_order_for_this_viewer_only(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    module = live_server.publish_integration(
        new_context().request, "Counter feed", {"config.json": "[]", "main.py": MAIN_PY}
    )
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    page.set_viewport_size({"width": 1400, "height": 900})
    widget = {"module_id": "builtin-value", "source": "/src/n", "y": 0, "w": 8, "h": 5}
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={
            "name": "Counter",
            "integrations": [{"id": "src", "module_id": module, "label": "Counter"}],
            "widgets": [
                {**widget, "id": "w1", "title": "Count", "x": 0},
                {
                    "id": "w2",
                    "module_id": "builtin-line-chart",
                    "title": "Line",
                    "source": "/src/n",
                    "x": 8,
                    "y": 0,
                    "w": 12,
                    "h": 8,
                },
            ],
        },
    )
    assert created.status == 201, created.text()
    dashboard = created.json()["id"]
    page.goto(f"{live_server.url}/d/{dashboard}")
    value = page.frame_locator('iframe[title="Count"]').locator("#value")
    expect(value).to_have_text(re.compile(r"^\d+$"), timeout=60_000)
    series = f"{live_server.url}/api/dashboards/{dashboard}/history?instance=src&pointer=/n"
    points = wait_for_history(page.request, series + "&points=10000", RECORDED)["points"]
    recorded = {int(v): t for t, v in points}
    first, last = points[0][0], points[-1][0]

    # A custom range around what was recorded, from its link: paused at its last value.
    page.goto(f"{live_server.url}/d/{dashboard}?from={first - 500}&to={last + 1}")
    expect(page.get_by_text("Paused: recorded values")).to_be_visible()
    expect(value).to_have_text(str(points[-1][1]), timeout=30_000)

    page.get_by_role("button", name="Replay").click()
    replay = page.get_by_role("group", name="Replay")
    expect(replay).to_be_visible()
    # At its start nothing was recorded yet: no value.
    expect(value).to_have_text("–")

    # The scrubber: the Value shows what was recorded at that moment.
    scrubber = replay.get_by_label("Replay position")
    scrubber.fill(str(first + 2_000))
    at = int(scrubber.input_value())
    expected = max(v for v, t in recorded.items() if t <= at)
    expect(value).to_have_text(str(expected))

    # Play at 1×: the Value counts on through the recorded values, one by one, in order.
    count = _frame(page, "Count")
    count.evaluate(WATCH_VALUE)
    replay.get_by_role("button", name="Play", exact=True).click()
    count.wait_for_function(
        f"Number(document.getElementById('value').textContent) >= {expected + 5}", timeout=10_000
    )
    replay.get_by_role("button", name="Pause", exact=True).click()
    paused_at = int(value.text_content() or 0)
    seen: list[list[Any]] = count.evaluate("window.__seen")
    shown = [int(text) for _, text in seen]
    assert shown == list(range(expected + 1, paused_at + 1)), shown
    # ...with their recorded spacing (200 ms apart at 1×; generous for a loaded machine).
    spent = seen[-1][0] - seen[0][0]
    planned = recorded[shown[-1]] - recorded[shown[0]]
    assert 0.5 * planned <= spent <= 2 * planned + 300, (spent, planned)
    expect(value).to_have_text(str(paused_at))
    assert int(value.text_content() or 0) == paused_at, "the replay went on while paused"

    # Another viewer of the same dashboard (its public link) stays live meanwhile.
    shared = page.request.post(
        f"{live_server.url}/api/dashboards/{dashboard}/sharing", data={"public": True}
    )
    assert shared.ok, shared.text()
    viewer = new_context(viewport={"width": 1400, "height": 900}).new_page()
    viewer.goto(f"{live_server.url}/p/{shared.json()['token']}")
    live_value = viewer.frame_locator('iframe[title="Count"]').locator("#value")
    newest = int(points[-1][1])
    expect(live_value).to_have_text(re.compile(r"^\d+$"), timeout=60_000)
    deadline = time.monotonic() + 30
    while int(live_value.text_content() or 0) <= newest:
        assert time.monotonic() < deadline, "the other viewer's value stopped"
        time.sleep(0.2)
    expect(viewer.get_by_label("Time range")).to_have_value("live")

    # 60×: the rest of the range plays in a moment and the replay ends on its last value;
    # the Line chart drew the replayed values as they came.
    replay.get_by_label("Replay speed").select_option("60")
    replay.get_by_role("button", name="Play", exact=True).click()
    expect(value).to_have_text(str(newest), timeout=10_000)
    expect(replay.get_by_role("button", name="Play", exact=True)).to_be_visible()
    line = page.frame_locator('iframe[title="Line"]').locator("#chart")
    expect(line).to_have_attribute("data-range", "live")
    expect(line).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    assert int(line.get_attribute("data-points") or 0) <= len(points) + 1

    # Stop replay: back to the paused range.
    replay.get_by_role("button", name="Stop replay").click()
    expect(replay).to_be_hidden()
    expect(value).to_have_text(str(points[-1][1]))
