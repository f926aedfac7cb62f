"""Takes the screenshots of docs/screenshots/ (run ``scripts/screenshots``).

Starts a real VisualBox on a temporary data dir and a free 127.0.0.1 port, and a
file server on another with three days of an arctic field site (the thesis's DAO
case, ``tests/builtin/fieldcase.py``). Signs up (the first account gets the live
sample dashboard), creates two modules (a Greenhouse integration and a small Level
bar widget for the studio), a Greenhouse dashboard of built-in widgets fed by it
and by the built-in Counter, a Shop dashboard, a Field station dashboard fed by the
built-in File collector, shares one, then drives Debian's Chromium with Playwright
through the main pages and saves 1280x800 PNGs (the public view at 390x844).
Nothing leaves loopback: the sandbox reaches the file server as 10.0.2.2:<port>.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import (
    APIRequestContext,
    Browser,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from visualbox.app import create_app
from visualbox.services.builtin import builtin_id
from visualbox.services.samples import FIRST_RUN, load_sample
from visualbox.settings import FrameSettings, SandboxSettings, ServerSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # a dev script: the field site generator of the tests
from tests.builtin.fieldcase import write_field_site  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
OUT = ROOT / "docs" / "screenshots"
HOST_ALIAS = "10.0.2.2"  # the host's loopback as the sandbox sees it (slirp4netns)
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
NUMBER = re.compile(r"\d")
expect.set_options(timeout=30_000)

GREENHOUSE_PY = '''\
"""Greenhouse sensors (simulated): temperature, humidity and CO2."""

import math
import random
import time

import visualbox

interval = visualbox.MODEL.get("interval") or 2
print(f"Greenhouse: reading the sensors every {interval} s", flush=True)
step = 0
while True:
    step += 1
    t = step / 8
    visualbox.output({
        "temperature": round(21.5 + 2.5 * math.sin(t) + random.uniform(-0.2, 0.2), 1),
        "humidity": round(58 + 9 * math.cos(t / 2)),
        "co2": int(620 + 90 * math.sin(t / 3)),
        "soil": round(41 + 4 * math.sin(t / 5)),
        "tank": round(max(5, 82 - step * 0.1)),
        "light": int(14000 + 6000 * math.sin(t / 4)),
        "time": time.strftime("%H:%M:%S"),
    })
    if step % 3 == 0:
        print(f"sensors OK after {step} readings", flush=True)
    time.sleep(interval)
'''
GREENHOUSE_CONFIG = [
    {"type": "slider", "name": "interval", "label": "Seconds between readings",
     "min": 1, "max": 60, "default": 2},
]  # fmt: skip
LEVEL_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Level bar</title>
<style>
  html, body { margin: 0; height: 100%; }
  body { display: flex; flex-direction: column; justify-content: center; padding: 0 18px;
         box-sizing: border-box; font-family: system-ui, sans-serif; color: var(--vb-muted); }
  .row { display: flex; justify-content: space-between; align-items: baseline; }
  #value { font-size: 28px; font-weight: 600; }
  .track { height: 12px; margin: 8px 0 4px; border-radius: 6px; background: #94a3b840; }
  #bar { height: 100%; width: 0; border-radius: 6px; transition: width 0.4s; }
  .scale { font-size: 12px; }
</style>
</head>
<body>
<div class="row"><span id="label"></span><span id="value">–</span></div>
<div class="track"><div id="bar"></div></div>
<div class="row scale"><span id="min"></span><span id="max"></span></div>
<script>
  var config = {}, data;
  function render() {
    var min = Number(config.min || 0), max = Number(config.max || 100), v = Number(data);
    var known = data !== undefined && data !== null && !isNaN(v);
    document.getElementById('label').textContent = config.label || '';
    document.getElementById('min').textContent = min;
    document.getElementById('max').textContent = max + ' ' + (config.unit || '');
    document.getElementById('value').textContent = known ? v + ' ' + (config.unit || '') : '–';
    var bar = document.getElementById('bar');
    bar.style.background = config.color || '#14b8a6';
    document.getElementById('value').style.color = config.color || '#14b8a6';
    bar.style.width = known ? Math.max(0, Math.min(100, (v - min) / (max - min) * 100)) + '%' : 0;
  }
  visualbox.onConfigChanged(function (c) { config = c || {}; render(); });
  visualbox.onDataChanged(function (d) { data = d; render(); });
</script>
</body>
</html>
"""
LEVEL_CONFIG = [
    {"type": "text", "name": "label", "label": "Label", "default": ""},
    {"type": "number", "name": "min", "label": "Minimum", "default": 0},
    {"type": "number", "name": "max", "label": "Maximum", "default": 100},
    {"type": "text", "name": "unit", "label": "Unit", "default": ""},
    {"type": "color", "name": "color", "label": "Bar colour", "default": "#14b8a6"},
]


@contextmanager
def running_server(data: Path, allow_host_ports: list[int]) -> Iterator[str]:
    """VisualBox on ``data`` served by uvicorn in a thread; yields its URL. Its
    integrations may reach the host loopback ports ``allow_host_ports``. The second
    socket is the frames origin (widgets)."""
    sockets = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)  # listening before uvicorn runs: early requests wait in the backlog
        sockets.append(sock)
    port, frames_port = (int(s.getsockname()[1]) for s in sockets)
    settings = Settings(
        data_dir=data,
        server=ServerSettings(host="127.0.0.1", port=port),
        sandbox=SandboxSettings(allow_host_ports=allow_host_ports),
        frames=FrameSettings(port=frames_port),
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        for sock in sockets:
            sock.close()


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def file_server(root: Path) -> Iterator[int]:
    """A plain HTTP file server with folder listings for ``root`` on 127.0.0.1; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietFiles, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def call(api: APIRequestContext, method: str, path: str, body: Any = None) -> Any:
    """One API call that must succeed; its JSON answer (None for 204)."""
    if isinstance(body, bytes):
        headers = {"Content-Type": "application/octet-stream"}
        answer = api.fetch(path, method=method, data=body, headers=headers)
    else:
        answer = api.fetch(path, method=method, data=body)
    if not answer.ok:
        sys.exit(f"{method} {path}: {answer.status} {answer.text()}")
    return answer.json() if answer.status != 204 else None


def module(
    api: APIRequestContext, spec: dict[str, Any], files: dict[str, str], about: dict[str, Any]
) -> str:
    """A module of mine with ``files`` written over its template and ``about`` (description,
    tags), published as 1.0.0."""
    made = call(api, "POST", "/api/modules", spec)
    call(api, "PATCH", f"/api/modules/{made['id']}", about)
    for path, text in files.items():
        call(api, "PUT", f"/api/modules/{made['id']}/files/{path}", text.encode())
    call(api, "POST", f"/api/modules/{made['id']}/versions", {"version": "1.0.0"})
    return str(made["id"])


# A dashboard's cell: (id, widget, title, source, x, y, w, h, config), the widget a
# built-in one (its folder name).
Cell = tuple[str, str, str, str, int, int, int, int, dict[str, Any]]
GREENHOUSE: list[Cell] = [
    ("temp", "value", "Temperature (°C)", "/sensors/temperature", 0, 0, 6, 5,
     {"color": "#ea580c"}),
    ("hum", "value", "Humidity (%)", "/sensors/humidity", 6, 0, 6, 5, {"color": "#0284c7"}),
    ("visitcount", "value", "Visitors today", "/visitors/count", 12, 0, 6, 5, {}),
    ("ordercount", "value", "Orders", "/orders/count", 18, 0, 6, 5, {"color": "#16a34a"}),
    ("co2", "gauge", "CO₂ (ppm)", "/sensors/co2", 0, 5, 6, 7,
     {"unit": "ppm", "decimals": 0, "min": 400, "max": 1200, "warn": 800, "alarm": 1000}),
    ("soil", "gauge", "Soil moisture, bed 3", "/sensors/soil", 6, 5, 6, 7,
     {"unit": "%", "decimals": 0, "warn": 35, "alarm": 25, "lowIsBad": True}),
    ("trend", "line-chart", "Temperature, live", "/sensors/temperature", 12, 5, 12, 7,
     {"unit": "°C", "color": "#ea580c"}),
    ("tank", "status-light", "Rainwater tank", "/sensors/tank", 0, 12, 6, 5,
     {"unit": "%", "warn": 30, "alarm": 15, "lowIsBad": True}),
    ("light", "value", "Light (lux)", "/sensors/light", 6, 12, 9, 5, {"color": "#ca8a04"}),
    ("time", "value", "Last reading", "/sensors/time", 15, 12, 9, 5,
     {"fontSize": 40, "color": "#7c3aed"}),
]  # fmt: skip
GREENHOUSE_INSTANCES = [
    {"id": "sensors", "label": "Sensors", "config": {"interval": 1}},
    {"id": "visitors", "module_id": "builtin-counter", "label": "Visitors",
     "config": {"start": 1280, "step": 3, "interval": 1}},
    {"id": "orders", "module_id": "builtin-counter", "label": "Orders",
     "config": {"start": 86, "step": 1, "interval": 2}},
]  # fmt: skip

# The thesis's field case (§7.5): two arctic stations' day files on a plain file server,
# collected by the built-in File collector (instance "dao").
COLD = {"unit": "°C", "decimals": 1, "min": -40, "max": 10, "warn": -28, "alarm": -35,
        "lowIsBad": True}  # fmt: skip
BATTERY = {"unit": "V", "warn": 3.75, "alarm": 3.6, "lowIsBad": True}
LATEST = """\
| | station-a | station-b |
|---|--:|--:|
| Temperature | {{/station-a/temperature/v}} °C | {{/station-b/temperature/v}} °C |
| Humidity | {{/station-a/humidity/v}} % | {{/station-b/humidity/v}} % |
| Battery | {{/station-a/battery/v}} V | {{/station-b/battery/v}} V |
"""
FIELD: list[Cell] = [
    ("temp-a", "gauge", "Temperature A", "/dao/latest/station-a/temperature/v",
     0, 0, 5, 6, COLD),
    ("temp-b", "gauge", "Temperature B", "/dao/latest/station-b/temperature/v",
     5, 0, 5, 6, COLD),
    ("battery-a", "status-light", "Battery A", "/dao/latest/station-a/battery/v",
     10, 0, 5, 3, BATTERY),
    ("battery-b", "status-light", "Battery B", "/dao/latest/station-b/battery/v",
     10, 3, 5, 3, BATTERY),
    ("temp-a-days", "line-chart", "Station A internal temperature, last 3 days",
     "/dao/devices/station-a/temperature", 0, 6, 15, 8, {"unit": "°C", "color": "#0284c7"}),
    ("battery-b-days", "line-chart", "Station B battery, last 3 days",
     "/dao/devices/station-b/battery", 0, 14, 15, 8, {"unit": "V", "color": "#d97706"}),
    ("positions", "map", "Positions (GNSS)", "/dao/positions", 15, 0, 9, 15, {}),
    ("latest", "markdown", "Latest readings", "/dao/latest", 15, 15, 9, 7,
     {"text": LATEST, "fontSize": 13}),
]  # fmt: skip

# When a built-in widget's frame has drawn live data: (element, attribute, pattern), the
# element's text when the attribute is "".
TEN_OR_MORE = re.compile(r"^[1-9]\d+$")
STATE = re.compile(r"^(ok|warn|alarm)$")
DRAWN = {
    "value": ("#value", "", NUMBER),
    "gauge": ("#gauge", "data-state", STATE),
    "status-light": ("#light", "data-state", STATE),
    "line-chart": ("#chart", "data-points", TEN_OR_MORE),  # some seconds of history
    "map": ("#map", "data-track", TEN_OR_MORE),
    "markdown": ("#content", "", NUMBER),
}
SAMPLE = load_sample(FIRST_RUN)
SAMPLE_CELLS = [(w.title, w.module_id.removeprefix("builtin-")) for w in SAMPLE.widgets]


def cells(layout: list[Cell]) -> list[tuple[str, str]]:
    """(title, widget) of each cell."""
    return [(cell[2], cell[1]) for cell in layout]


def widgets(layout: list[Cell]) -> list[dict[str, Any]]:
    return [
        {"id": wid, "module_id": builtin_id(kind), "title": title, "source": source,
         "x": x, "y": y, "w": w, "h": h, "config": config}
        for wid, kind, title, source, x, y, w, h, config in layout
    ]  # fmt: skip


def sign_up(api: APIRequestContext) -> None:
    """Ada, the server's first account: she gets the live sample dashboard."""
    account = {"name": "Ada Lovelace", "email": "ada@example.org", "password": "a long password"}
    call(api, "POST", "/api/auth/signup", account)


def seed(api: APIRequestContext, site_port: int) -> dict[str, str]:
    """Ada's modules and dashboards; the ids and the public link token."""
    greenhouse = module(
        api,
        {"name": "Greenhouse", "kind": "integration", "runtime": "python"},
        {"main.py": GREENHOUSE_PY, "config.json": json.dumps(GREENHOUSE_CONFIG, indent=2)},
        {"description": "Temperature, humidity and CO₂ of the greenhouse.", "tags": ["iot"]},
    )
    level = module(
        api,
        {"name": "Level bar", "kind": "widget"},
        {"index.html": LEVEL_HTML, "config.json": json.dumps(LEVEL_CONFIG, indent=2)},
        {"description": "A value on a bar between a minimum and a maximum.", "tags": ["bar"]},
    )
    integrations = [{"module_id": greenhouse, **instance} for instance in GREENHOUSE_INSTANCES]
    farm = call(
        api,
        "POST",
        "/api/dashboards",
        {"name": "Greenhouse", "integrations": integrations, "widgets": widgets(GREENHOUSE)},
    )
    sales = {**widgets(GREENHOUSE)[2], "id": "w1", "title": "Sales", "source": "/sales/count"}
    shop = {
        "name": "Shop",
        "integrations": [{"id": "sales", "module_id": "builtin-counter", "label": "Sales"}],
        "widgets": [sales],
    }
    call(api, "POST", "/api/dashboards", shop)
    collector = {
        "id": "dao",
        "module_id": "builtin-file-collector",
        "label": "DAO data server",
        "config": {"baseUrl": f"http://{HOST_ALIAS}:{site_port}/", "lastDays": 3},
    }
    field = call(
        api,
        "POST",
        "/api/dashboards",
        {"name": "Field station", "integrations": [collector], "widgets": widgets(FIELD)},
    )
    sharing = {"public": True, "listed": True}
    shared = call(api, "POST", f"/api/dashboards/{farm['id']}/sharing", sharing)
    return {
        "dashboard": farm["id"],
        "field": field["id"],
        "greenhouse": greenhouse,
        "level": level,
        "token": shared["token"],
    }


def wait_drawn(page: Page, titles: list[tuple[str, str]]) -> None:
    """Every (title, widget) cell's frame has drawn live data (see DRAWN)."""
    for title, kind in titles:
        selector, attribute, pattern = DRAWN[kind]
        element = page.frame_locator(f'iframe[title="{title}"]').locator(selector)
        if attribute:
            expect(element).to_have_attribute(attribute, pattern)
        else:
            expect(element).to_have_text(pattern)


def shoot(page: Page, name: str) -> None:
    page.mouse.move(0, DESKTOP["height"] - 1)  # no hover toolbars
    page.screenshot(path=OUT / f"{name}.png")
    print(f"docs/screenshots/{name}.png")


# The element's scrolling pane, back at its top (filling fields below scrolled it).
SCROLL_TO_TOP = """e => {
  let pane = e.parentElement;
  while (pane && pane.scrollHeight <= pane.clientHeight) pane = pane.parentElement;
  if (pane) pane.scrollTop = 0;
}"""


ALERT_RULES = [
    {"name": "Too warm", "source": "/sensors/temperature", "condition": "above",
     "threshold": 18, "for_s": 0, "emails": ["ada@example.org"],
     "webhook_url": "https://hooks.example.org/greenhouse",
     "webhook_secret": "greenhouse-webhook-secret"},
    {"name": "Tank almost empty", "source": "/sensors/tank", "condition": "below",
     "threshold": 10, "for_s": 300, "emails": ["ada@example.org"]},
    {"name": "Sensors silent", "source": "/sensors/temperature", "condition": "no_data",
     "no_data_s": 600, "emails": ["ada@example.org"]},
]  # fmt: skip


def shoot_alerts(page: Page, api: APIRequestContext, dashboard: str) -> None:
    """The Greenhouse's alert rules: one firing (its widget has a badge), the others ok."""
    for rule in ALERT_RULES:
        call(api, "POST", f"/api/dashboards/{dashboard}/alerts", rule)
    page.goto(f"/d/{dashboard}")
    wait_drawn(page, cells(GREENHOUSE))
    page.get_by_role("button", name="Alerts", exact=True).click()
    rules = page.get_by_role("list", name="Alert rules")
    expect(rules.locator(".state-firing")).to_have_count(1)
    expect(page.locator(".cell-alert").first).to_be_visible()  # on each temperature widget
    shoot(page, "alerts")


def shoot_versions(page: Page, api: APIRequestContext, dashboard: str) -> None:
    """Two saves of the Greenhouse, then its first version compared with the current one
    side by side; restored afterwards, so the later shots show it as it was."""
    board = call(api, "GET", f"/api/dashboards/{dashboard}")
    first = board["revision"]
    kept = ("frame", "withdrawn")
    items = [{k: v for k, v in w.items() if k not in kept} for w in board["widgets"]]
    for w in items:
        if w["id"] == "light":
            w.update(w=18, title="Light (lux), bed 3")
    saved = call(
        api,
        "PATCH",
        f"/api/dashboards/{dashboard}",
        {"revision": first, "widgets": [w for w in items if w["id"] != "time"]},
    )
    for w in items:
        if w["id"] == "hum":
            w.update(x=12, config={**w["config"], "color": "#7c3aed"})
        elif w["id"] == "visitcount":
            w["x"] = 6
    saved = call(
        api,
        "PATCH",
        f"/api/dashboards/{dashboard}",
        {"revision": saved["revision"], "widgets": [w for w in items if w["id"] != "time"]},
    )
    page.goto(f"/d/{dashboard}")
    page.get_by_role("button", name="Versions", exact=True).click()
    version = page.locator(f'[data-version="{first}"]')
    version.get_by_role("button", name="Compare with current").click()
    dialog = page.get_by_role("dialog", name=f"Version {first} and the current version")
    expect(dialog.locator('[data-status="removed"]')).to_have_count(1)
    shoot(page, "version-compare")
    dialog.get_by_role("button", name="Close").click()
    path = f"/api/dashboards/{dashboard}/versions/{first}/restore"
    call(api, "POST", path, {"revision": saved["revision"]})


def shoot_variables(page: Page, api: APIRequestContext, site_port: int) -> None:
    """One field-station dashboard for either station: the variables picker above it."""
    collector = {
        "id": "dao",
        "module_id": "builtin-file-collector",
        "label": "DAO data server",
        "config": {"baseUrl": f"http://{HOST_ALIAS}:{site_port}/", "lastDays": 3},
    }
    station = [
        ("temp", "gauge", "Temperature", "/dao/latest/${station}/temperature/v",
         0, 0, 6, 6, COLD),
        ("battery", "status-light", "Battery", "/dao/latest/${station}/battery/v",
         6, 0, 6, 6, BATTERY),
        ("days", "line-chart", "Internal temperature, last 3 days",
         "/dao/devices/${station}/temperature", 12, 0, 12, 6, {"unit": "°C", "color": "#0284c7"}),
    ]  # fmt: skip
    variables = [{"name": "station", "label": "Station", "kind": "path", "path": "/dao/latest"}]
    dashboard = call(
        api,
        "POST",
        "/api/dashboards",
        {"name": "Stations", "variables": variables, "integrations": [collector],
         "widgets": widgets(station)},
    )  # fmt: skip
    page.goto(f"/d/{dashboard['id']}?var-station=station-b")
    wait_drawn(page, cells(station))
    expect(page.get_by_role("combobox", name="Station")).to_have_value("station-b")
    shoot(page, "variables")


def take(browser: Browser, url: str, site_port: int) -> None:
    context = browser.new_context(
        base_url=url, viewport=DESKTOP, color_scheme="light", service_workers="block"
    )
    page = context.new_page()
    sign_up(context.request)
    page.goto("/")
    page.get_by_role("link", name=SAMPLE.name, exact=True).click()
    page.mouse.move(0, DESKTOP["height"] - 1)  # no hover toolbar where the link was
    wait_drawn(page, SAMPLE_CELLS)
    shoot(page, "sample-dashboard")

    ids = seed(context.request, site_port)
    page.goto("/")
    expect(page.get_by_role("link", name="Field station", exact=True)).to_be_visible()
    shoot(page, "dashboards")

    page.goto(f"/d/{ids['dashboard']}")
    wait_drawn(page, cells(GREENHOUSE))
    shoot(page, "dashboard")

    page.get_by_role("button", name="Edit Temperature (°C)").click()
    tree = page.get_by_role("tree", name="Data source")
    expect(tree.get_by_role("button", name=re.compile(r"^temperature\s"))).to_be_visible()
    shoot(page, "widget-panel")

    # An unsaved change shows on the grid at once, and leaving asks what to do with it.
    page.get_by_label("Heading").fill("Greenhouse air (°C)")
    page.get_by_role("button", name="Back to the panel").click()
    expect(page.get_by_role("dialog", name="Save the changes to this widget?")).to_be_visible()
    shoot(page, "widget-panel-leave")
    page.get_by_role("button", name="Discard", exact=True).click()

    shoot_alerts(page, context.request, ids["dashboard"])
    shoot_versions(page, context.request, ids["dashboard"])

    page.goto(f"/d/{ids['field']}")
    wait_drawn(page, cells(FIELD))
    shoot(page, "field-station")
    shoot_variables(page, context.request, site_port)

    page.goto(f"/modules/{ids['level']}")
    preview = page.frame_locator("iframe[title='Widget preview']").locator("#value")
    page.get_by_label("Label").fill("Air quality")
    page.get_by_label("Minimum").fill("400")
    page.get_by_label("Maximum").fill("1000")
    page.get_by_label("Unit").fill("ppm")
    page.get_by_label("Sample data").fill("712")
    expect(preview).to_have_text("712 ppm")
    page.evaluate("document.activeElement.blur()")
    page.get_by_role("region", name="Preview").evaluate(SCROLL_TO_TOP)
    shoot(page, "studio-widget")

    page.goto(f"/modules/{ids['greenhouse']}")
    page.get_by_role("tab", name="main.py").click()
    page.get_by_label("Seconds between readings").fill("1")
    page.get_by_role("button", name="Run").click()
    console = page.get_by_role("log", name="Console output")
    expect(console.locator(".line-info").filter(has_text="sensors OK after 6")).to_be_visible()
    shoot(page, "studio-console")
    page.get_by_role("button", name="Stop").click()

    page.goto("/registry")
    expect(
        page.get_by_role("list", name="Modules").get_by_role("link", name="Level bar")
    ).to_be_visible()
    shoot(page, "registry")

    dark = browser.new_context(
        base_url=url,
        viewport=DESKTOP,
        color_scheme="dark",
        service_workers="block",
        storage_state=context.storage_state(),
    )
    page = dark.new_page()
    page.goto(f"/d/{ids['dashboard']}")
    wait_drawn(page, cells(GREENHOUSE))
    shoot(page, "dashboard-dark")

    phone = browser.new_context(
        base_url=url,
        viewport=PHONE,
        color_scheme="light",
        service_workers="block",
        is_mobile=True,
        has_touch=True,
    )
    page = phone.new_page()
    page.goto(f"/p/{ids['token']}")
    wait_drawn(page, cells(GREENHOUSE)[:3])
    page.screenshot(path=OUT / "public-phone.png")
    print("docs/screenshots/public-phone.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temp:
        data, site = Path(temp) / "data", Path(temp) / "site"
        data.mkdir()
        write_field_site(site, days=3)
        with (
            file_server(site) as site_port,
            running_server(data, [site_port]) as url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                take(browser, url, site_port)
            finally:
                browser.close()


if __name__ == "__main__":
    main()
