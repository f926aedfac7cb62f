"""A crash-looping integration in the builder: its state says it crashed, when it
restarts and which attempt it is; Stop is enabled during the wait and ends the loop;
removing the integration closes its panel."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer
from visualbox.services.live import Live

# Starts, says so on stderr, and fails with exit status 1: a crash every run.
MAIN_PY = """\
import sys

import visualbox

print("cannot reach the pump", file=sys.stderr, flush=True)
sys.exit(1)
"""
RESTARTING = re.compile(r"^Crashed \(error status 1\) — restarting in \d+ s \(attempt (\d+)\)$")


def test_a_crash_loop_says_when_it_restarts_and_stop_ends_it(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    module = live_server.publish_integration(
        new_context().request, "Flaky pump", {"config.json": "[]", "main.py": MAIN_PY}
    )
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={
            "name": "Pumps",
            "integrations": [{"id": "i1", "module_id": module, "label": "Flaky pump"}],
        },
    )
    assert created.status == 201, created.text()
    dashboard_id = created.json()["id"]
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/d/{dashboard_id}")

    # The list says it in words: crashed, restarting, which attempt.
    listed = page.get_by_role("list", name="Integration instances").get_by_role("button")
    restarting = re.compile(r"restarting in \d+ s \(attempt \d+\)")
    expect(listed).to_contain_text(restarting, timeout=30_000)
    listed.click()
    panel = page.get_by_role("complementary", name="Flaky pump")
    state = panel.get_by_role("status")
    # The loop goes on: a second attempt after the first one crashed too.
    expect(state.locator(".state")).to_have_text(
        re.compile(r"^Crashed \(error status 1\) — restarting in \d+ s \(attempt [2-9]\)$"),
        timeout=30_000,
    )
    expect(panel.get_by_text("cannot reach the pump").first).to_be_visible()
    stop = panel.get_by_role("button", name="Stop", exact=True)
    expect(stop).to_be_enabled()
    with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as shot:
        panel.screenshot(path=shot.name)
    print(f"instance panel during the crash loop: {shot.name}")
    assert os.path.getsize(shot.name) > 0
    shown = state.locator(".state").text_content() or ""
    assert RESTARTING.match(shown), shown

    # Stop during the wait (or a run): the loop ends, nothing is pending any more.
    stop.click()
    expect(state.locator(".state")).to_have_text("Stopped")
    expect(stop).to_be_disabled()
    live: Live = live_server.app.state.live
    instance = live.rooms[f"dashboard:{dashboard_id}"].instances["i1"]
    assert instance.stopped_by_owner
    assert instance.restart_timer is None and instance.restart_in_s() is None
    assert instance.handle is None

    # Back in the list, in words too; Restart starts it again, counting from 1.
    panel.get_by_role("button", name="Restart").click()
    expect(state.locator(".state")).to_have_text(
        re.compile(r"^Crashed \(error status 1\) — restarting in \d+ s \(attempt 1\)$"),
        timeout=30_000,
    )

    # Removing the integration closes its panel.
    panel.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog", name="Remove “Flaky pump”?").get_by_role(
        "button", name="Remove"
    ).click()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(page.get_by_text("No integrations yet.")).to_be_visible()
    expect(page.get_by_text("It is no longer on this dashboard.")).to_have_count(0)
