"""History in the browser (docs/history.md, issue #14): widgets read the recorded
values of their own source through the widget SDK, so a reloaded dashboard draws the
last minutes at once; the time range picker shows a past range in every widget (a
Value shows the value at the end of the range, and live values wait), kept in the URL
and opened the same by a public link."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import APIRequestContext, BrowserContext, FrameLocator, Page, expect

from tests.e2e.conftest import LiveServer, wait_for_history

# A user's own integration (it does not re-send its history): a counter and a position
# that moves north, 5 a second.
MAIN_PY = """\
import time

import visualbox

n = 0
while True:
    n += 1
    visualbox.output({"n": n, "pos": {"lat": 59.9 + n * 0.0001, "lon": 10.75}})
    time.sleep(0.2)
"""
RECORDED = 10  # recorded values to wait for before reloading
# The browser's local time as the Table writes it (2026-12-02 18:05:09).
LOCAL_NOW = """(() => {
  const d = new Date(), p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
})()"""


def _history(request: APIRequestContext, url: str) -> dict[str, Any]:
    answer = request.get(url)
    assert answer.ok, answer.text()
    body: dict[str, Any] = answer.json()
    return body


def _recorded_count(frame: FrameLocator, shown: str) -> int:
    """How many recorded points the Line chart draws (its ``data-history``), once it
    shows the ``live`` or ``paused`` range and has any."""
    chart = frame.locator("#chart")
    expect(chart).to_have_attribute("data-range", shown, timeout=30_000)
    expect(chart).to_have_attribute("data-history", re.compile(r"^[1-9]\d*$"), timeout=30_000)
    return int(chart.get_attribute("data-history") or 0)


def test_reload_draws_history_and_a_past_range_pauses_every_widget(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    module = live_server.publish_integration(
        new_context().request, "Counter feed", {"config.json": "[]", "main.py": MAIN_PY}
    )
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    page.set_viewport_size({"width": 1400, "height": 900})
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={
            "name": "Counter",
            "integrations": [{"id": "src", "module_id": module, "label": "Counter"}],
            "widgets": [
                {
                    "id": "w1",
                    "module_id": "builtin-line-chart",
                    "title": "Line",
                    "source": "/src/n",
                    "x": 0,
                    "y": 0,
                    "w": 12,
                    "h": 8,
                },
                {
                    "id": "w2",
                    "module_id": "builtin-value",
                    "title": "Count",
                    "source": "/src/n",
                    "x": 12,
                    "y": 0,
                    "w": 6,
                    "h": 5,
                },
                {
                    "id": "w3",
                    "module_id": "builtin-table",
                    "title": "Rows",
                    "source": "/src/n",
                    "x": 18,
                    "y": 0,
                    "w": 6,
                    "h": 8,
                },
                {
                    "id": "w4",
                    "module_id": "builtin-map",
                    "title": "Track",
                    "source": "/src/pos",
                    "config": {"track": True},
                    "x": 0,
                    "y": 8,
                    "w": 12,
                    "h": 8,
                },
                {
                    "id": "w5",
                    "module_id": "builtin-bar-chart",
                    "title": "Bars",
                    "source": "/src/n",
                    "x": 12,
                    "y": 8,
                    "w": 12,
                    "h": 8,
                },
            ],
        },
    )
    assert created.status == 201, created.text()
    dashboard = created.json()["id"]
    builder = f"{live_server.url}/d/{dashboard}"
    page.goto(builder)
    value = page.frame_locator('iframe[title="Count"]').locator("#value")
    expect(value).to_have_text(re.compile(r"^\d+$"), timeout=60_000)

    # The server records every second: wait until the series holds some values.
    series = f"{live_server.url}/api/dashboards/{dashboard}/history?instance=src&pointer=/n"
    recorded = wait_for_history(page.request, series, RECORDED)

    track = wait_for_history(page.request, series.replace("/n", "/pos"), RECORDED)

    # Reload: the Line chart draws what was recorded at once, before many live values;
    # the Map the recorded track, the Table and the Bar chart rows and bars from before.
    reloaded = page.evaluate(LOCAL_NOW)
    page.reload()
    line = page.frame_locator('iframe[title="Line"]')
    drawn = _recorded_count(line, "live")
    assert drawn >= len(recorded["points"]), (drawn, len(recorded["points"]))
    assert int(line.locator("#chart").get_attribute("data-points") or 0) >= drawn
    positions = page.frame_locator('iframe[title="Track"]').locator("#map")
    expect(positions).to_have_attribute("data-track", re.compile(r"^[1-9]\d+$"), timeout=30_000)
    assert int(positions.get_attribute("data-track") or 0) >= len(track["points"])
    rows = page.frame_locator('iframe[title="Rows"]').locator("tbody tr")
    oldest = rows.last.locator("td").first
    expect(oldest).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"), timeout=30_000)
    expect(rows.first.locator("td").first).not_to_have_text(oldest.text_content() or "")
    assert (oldest.text_content() or "") < reloaded, (oldest.text_content(), reloaded)
    bars = page.frame_locator('iframe[title="Bars"]').locator("#chart")
    # Each recorded bar is "<time>: <mean>", then the live "now: <value>"; the recording
    # may straddle a bucket boundary, so one bar or more.
    recorded_then_now = re.compile(r"^(?:[^,:]*\d\d:\d\d[^,]*: [\d.]+, )+now: \d+$")
    expect(bars).to_have_attribute("aria-label", recorded_then_now)
    expect(page.get_by_label("Time range")).to_have_value("live")

    # The last hour: the URL carries it, the chart shows the range, the Value the
    # value at its end, and live values no longer change it.
    page.get_by_label("Time range").select_option("1h")
    expect(page).to_have_url(re.compile(r"[?&]range=1h\b"))
    expect(page.get_by_text("Paused: recorded values")).to_be_visible()
    expect(line.locator("#message")).to_be_hidden()
    assert _recorded_count(line, "paused") >= drawn
    expect(value).to_have_text(re.compile(r"^\d+$"))
    paused_at = int(value.text_content() or 0)
    ended = _history(page.request, series)["last"][1]
    assert paused_at <= ended, (paused_at, ended)
    # Let the counter go well past what is shown (it records on), then look again.
    deadline = time.monotonic() + 60
    while _history(page.request, series)["last"][1] < paused_at + 10:
        assert time.monotonic() < deadline, "the counter stopped"
        time.sleep(0.2)
    expect(value).to_have_text(str(paused_at))
    points = int(line.locator("#chart").get_attribute("data-points") or 0)
    assert points == _recorded_count(line, "paused"), "a live value was added to a paused chart"
    expect(bars).not_to_have_attribute("aria-label", re.compile("now"))

    # A public link with the same range shows the same, in a fresh context.
    shared = page.request.post(
        f"{live_server.url}/api/dashboards/{dashboard}/sharing", data={"public": True}
    )
    assert shared.ok, shared.text()
    viewer = new_context(viewport={"width": 1400, "height": 900}).new_page()
    viewer.goto(f"{live_server.url}/p/{shared.json()['token']}?range=1h")
    expect(viewer.get_by_label("Time range")).to_have_value("1h")
    public_line = viewer.frame_locator('iframe[title="Line"]')
    assert _recorded_count(public_line, "paused") >= drawn
    public_value = viewer.frame_locator('iframe[title="Count"]').locator("#value")
    expect(public_value).to_have_text(re.compile(r"^\d+$"))
    assert int(public_value.text_content() or 0) >= paused_at

    # Back to Live: the URL drops the range and live values move the Value again.
    page.get_by_label("Time range").select_option("live")
    expect(page).not_to_have_url(re.compile(r"range="))
    expect(value).not_to_have_text(str(paused_at), timeout=30_000)
    expect(page.get_by_text("Paused: recorded values")).to_be_hidden()


def test_a_custom_range_is_checked_in_words_and_kept_in_the_url(
    live_server: LiveServer, page: Page
) -> None:
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    created = page.request.post(f"{live_server.url}/api/dashboards", data={"name": "Empty"})
    assert created.status == 201, created.text()
    page.goto(f"{live_server.url}/d/{created.json()['id']}")
    page.get_by_label("Time range").select_option("custom")
    form = page.get_by_role("form", name="Custom time range")
    form.get_by_label("From").fill("2026-01-02T10:00")
    form.get_by_label("To").fill("2026-01-02T09:00")
    form.get_by_role("button", name="Show this range").click()
    expect(form.get_by_role("alert")).to_have_text("The end must be after the start.")
    form.get_by_label("To").fill("2026-01-02T11:30")
    form.get_by_role("button", name="Show this range").click()
    expect(form).to_be_hidden()
    query = parse_qs(urlparse(page.url).query)
    start = page.evaluate("new Date(2026, 0, 2, 10, 0).toISOString()")
    end = page.evaluate("new Date(2026, 0, 2, 11, 30).toISOString()")
    assert query == {"from": [start], "to": [end]}, page.url

    # The link opens the same range; a link it does not understand says so, in words.
    page.reload()
    expect(page.get_by_label("Time range")).to_have_value("custom")
    page.goto(f"{live_server.url}/d/{created.json()['id']}?range=3y")
    expect(page.get_by_role("alert")).to_contain_text("“3y” that does not exist")
    expect(page.get_by_label("Time range")).to_have_value("live")
