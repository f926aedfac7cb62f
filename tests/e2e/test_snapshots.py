"""Snapshots and downloads in Chromium: take a snapshot in the settings panel, open its
link in a fresh browser context (no sign-in) and see the frozen values; download a
widget's data as CSV from its hover actions and compare it with the API."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer
from visualbox.services.history_store import Point, SqlHistoryStore

QUIET_PY = """\
import time

while True:
    time.sleep(60)
"""


def record(live_server: LiveServer, dashboard_id: str, pointer: str, values: list[Any]) -> int:
    """Record ``values`` a minute apart, the last a minute ago; returns the first's time."""
    now = time.time_ns() // 1_000_000
    points = [
        Point(
            (dashboard_id, "dev", pointer),
            now - (len(values) - n) * 60_000,
            json.dumps(value),
            float(value) if isinstance(value, int) else None,
        )
        for n, value in enumerate(values)
    ]
    with live_server.app.state.db.session() as db:
        SqlHistoryStore(db).write(points)
    return points[0].t


def test_a_snapshot_link_shows_the_frozen_values_and_a_widget_downloads_its_data(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    quiet = live_server.publish_integration(new_context().request, "Quiet", {"main.py": QUIET_PY})
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    viewer = {"module_id": "builtin-json-viewer", "y": 0, "w": 12, "h": 4}
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={
            "name": "Greenhouse",
            "integrations": [{"id": "dev", "module_id": quiet, "label": "Sensors"}],
            "widgets": [
                {
                    **viewer,
                    "id": "w1",
                    "x": 0,
                    "source": "/dev/temperature",
                    "title": "Temperature",
                },
                {**viewer, "id": "w2", "x": 12, "source": "/dev/state", "title": "State"},
                {
                    "id": "w3",
                    "module_id": "builtin-line-chart",
                    "title": "Trend",
                    "source": "/dev/temperature",
                    "x": 0,
                    "y": 4,
                    "w": 12,
                    "h": 8,
                },
            ],
        },
    )
    assert created.status == 201, created.text()
    board = created.json()["id"]
    temperatures = [18 + n for n in range(20)]
    first = record(live_server, board, "/temperature", temperatures)
    record(live_server, board, "/state", ["warming", "venting", "closed"])

    page.goto(f"{live_server.url}/d/{board}")
    page.get_by_role("button", name="Settings", exact=True).click()
    page.get_by_label("Snapshot range").select_option("1h")
    page.get_by_label("Snapshot name").fill("Afternoon")
    page.get_by_role("button", name="Take a snapshot").click()
    link_box = page.get_by_label("Link of snapshot Afternoon")
    expect(link_box).to_be_visible()
    link = link_box.input_value()
    assert link.startswith(f"{live_server.url}/s/")

    visitor = new_context().new_page()
    visitor.goto(link)
    expect(visitor.get_by_role("heading", level=1)).to_contain_text("Snapshot of Greenhouse, ")
    expect(visitor.get_by_text("Afternoon")).to_be_visible()
    temperature = visitor.frame_locator('iframe[title="Temperature"]').locator("#tree .row")
    state = visitor.frame_locator('iframe[title="State"]').locator("#tree .row")
    expect(temperature).to_have_text([str(temperatures[-1])], timeout=20_000)
    expect(state).to_have_text(['"closed"'], timeout=20_000)
    # The Line chart draws the series kept in the snapshot, not only its last value.
    trend = visitor.frame_locator('iframe[title="Trend"]').locator("#chart")
    expect(trend).to_have_attribute("data-range", "paused", timeout=20_000)
    expect(trend).to_have_attribute("data-history", str(len(temperatures)), timeout=20_000)

    # Replay the snapshot with its scrubber: each widget shows the value kept for then.
    visitor.get_by_role("button", name="Replay").click()
    scrubber = visitor.get_by_role("group", name="Replay").get_by_label("Replay position")
    scrubber.fill(str(first + 5 * 60_000 + 30_000))
    expect(temperature).to_have_text([str(temperatures[5])])
    scrubber.fill(str(first - 60_000))
    expect(temperature).to_have_text(["null"])

    # Download data: CSV of the Temperature widget's source over the last hour.
    page.locator('[data-widget="w1"]').hover()
    page.get_by_role("button", name="Download data of Temperature").click()
    with page.expect_download() as info:
        page.get_by_role("menuitem", name="CSV").click()
    download = info.value
    assert download.suggested_filename == "dev-temperature.csv"
    downloaded = list(csv.reader(io.StringIO(download.path().read_text())))
    since = time.time_ns() // 1_000_000 - 3_600_000
    api = page.request.get(
        f"{live_server.url}/api/dashboards/{board}/history.csv",
        params={"instance": "dev", "pointer": "/temperature", "from": str(since)},
    )
    assert api.ok, api.text()
    expected = list(csv.reader(io.StringIO(api.text())))
    assert downloaded[0] == ["time", "t_ms", "value", "min", "max"]
    assert downloaded == expected
    assert [float(row[2]) for row in downloaded[1:]] == temperatures

    # Deleting asks first; then the link is dead for the visitor.
    page.get_by_role("button", name="Delete snapshot Afternoon").click()
    page.get_by_role("dialog", name="Delete this snapshot?").get_by_role(
        "button", name="Delete", exact=True
    ).click()
    expect(page.get_by_label("Link of snapshot Afternoon")).to_have_count(0)
    visitor.reload()
    expect(visitor.get_by_role("heading", name="This link does not work")).to_be_visible()
