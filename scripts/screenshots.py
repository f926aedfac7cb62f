"""Takes the screenshots of docs/screenshots/ (run ``scripts/screenshots``).

Starts a real VisualBox on a temporary data dir and a free 127.0.0.1 port, signs up,
creates two modules (a Greenhouse integration and a Gauge widget), two dashboards fed
by them and by the built-in Counter, shares one, then drives Debian's Chromium with
Playwright through the main pages and saves 1280x800 PNGs (the public view at 390x844).
Nothing leaves loopback.
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
from visualbox.settings import ServerSettings, Settings

CHROMIUM = "/usr/bin/chromium"
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
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
GAUGE_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Gauge</title>
<style>
  html, body { margin: 0; height: 100%; }
  body { display: flex; flex-direction: column; justify-content: center; padding: 0 18px;
         box-sizing: border-box; font-family: system-ui, sans-serif; color: #64748b; }
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
GAUGE_CONFIG = [
    {"type": "text", "name": "label", "label": "Label", "default": ""},
    {"type": "number", "name": "min", "label": "Minimum", "default": 0},
    {"type": "number", "name": "max", "label": "Maximum", "default": 100},
    {"type": "text", "name": "unit", "label": "Unit", "default": ""},
    {"type": "color", "name": "color", "label": "Bar colour", "default": "#14b8a6"},
]


@contextmanager
def running_server(data: Path) -> Iterator[str]:
    """VisualBox on ``data`` served by uvicorn in a thread; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # listening before uvicorn runs: early requests wait in the backlog
    port = int(sock.getsockname()[1])
    app = create_app(Settings(data_dir=data, server=ServerSettings(host="127.0.0.1", port=port)))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


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


# The Greenhouse dashboard: (id, module, title, source, x, y, w, h, config); "gauge" is the
# Gauge widget made here, "value" the built-in Value widget.
Cell = tuple[str, str, str, str, int, int, int, int, dict[str, Any]]
CELLS: list[Cell] = [
    ("temp", "value", "Temperature (°C)", "/sensors/temperature", 0, 0, 6, 5,
     {"color": "#ea580c"}),
    ("hum", "value", "Humidity (%)", "/sensors/humidity", 6, 0, 6, 5, {"color": "#0284c7"}),
    ("visitcount", "value", "Visitors today", "/visitors/count", 12, 0, 6, 5, {}),
    ("ordercount", "value", "Orders", "/orders/count", 18, 0, 6, 5, {"color": "#16a34a"}),
    ("co2", "gauge", "CO₂", "/sensors/co2", 0, 5, 12, 4,
     {"label": "Air quality", "min": 400, "max": 1000, "unit": "ppm", "color": "#14b8a6"}),
    ("humbar", "gauge", "Humidity", "/sensors/humidity", 12, 5, 12, 4,
     {"label": "Target 55–65", "unit": "%", "color": "#0284c7"}),
    ("soil", "gauge", "Soil moisture", "/sensors/soil", 0, 9, 12, 4,
     {"label": "Bed 3", "unit": "%", "color": "#a16207"}),
    ("tank", "gauge", "Water tank", "/sensors/tank", 12, 9, 12, 4,
     {"label": "Rainwater", "unit": "%", "color": "#2563eb"}),
    ("light", "value", "Light (lux)", "/sensors/light", 0, 13, 12, 5, {"color": "#ca8a04"}),
    ("time", "value", "Last reading", "/sensors/time", 12, 13, 12, 5,
     {"fontSize": 40, "color": "#7c3aed"}),
]  # fmt: skip
INSTANCES = [
    {"id": "sensors", "label": "Sensors", "config": {"interval": 1}},
    {"id": "visitors", "module_id": "builtin-counter", "label": "Visitors",
     "config": {"start": 1280, "step": 3, "interval": 1}},
    {"id": "orders", "module_id": "builtin-counter", "label": "Orders",
     "config": {"start": 86, "step": 1, "interval": 2}},
]  # fmt: skip
LIVE = [cell[2] for cell in CELLS]


def seed(api: APIRequestContext) -> dict[str, str]:
    """The account, modules and dashboards; the ids and the public link token."""
    account = {"name": "Ada Lovelace", "email": "ada@example.org", "password": "a long password"}
    call(api, "POST", "/api/auth/signup", account)
    greenhouse = module(
        api,
        {"name": "Greenhouse", "kind": "integration", "runtime": "python"},
        {"main.py": GREENHOUSE_PY, "config.json": json.dumps(GREENHOUSE_CONFIG, indent=2)},
        {"description": "Temperature, humidity and CO₂ of the greenhouse.", "tags": ["iot"]},
    )
    gauge = module(
        api,
        {"name": "Gauge", "kind": "widget"},
        {"index.html": GAUGE_HTML, "config.json": json.dumps(GAUGE_CONFIG, indent=2)},
        {"description": "A value on a bar between a minimum and a maximum.", "tags": ["bar"]},
    )
    modules = {"value": "builtin-value", "gauge": gauge}
    widgets = [
        {"id": wid, "module_id": modules[kind], "title": title, "source": source,
         "x": x, "y": y, "w": w, "h": h, "config": config}
        for wid, kind, title, source, x, y, w, h, config in CELLS
    ]  # fmt: skip
    integrations = [{"module_id": greenhouse, **instance} for instance in INSTANCES]
    farm = call(
        api,
        "POST",
        "/api/dashboards",
        {"name": "Greenhouse", "integrations": integrations, "widgets": widgets},
    )
    shop = {
        "name": "Shop",
        "integrations": [{"id": "sales", "module_id": "builtin-counter", "label": "Sales"}],
        "widgets": [{**widgets[2], "id": "w1", "title": "Sales", "source": "/sales/count"}],
    }
    call(api, "POST", "/api/dashboards", shop)
    sharing = {"public": True, "listed": True}
    shared = call(api, "POST", f"/api/dashboards/{farm['id']}/sharing", sharing)
    return {
        "dashboard": farm["id"],
        "greenhouse": greenhouse,
        "gauge": gauge,
        "token": shared["token"],
    }


def wait_live(page: Page, titles: list[str]) -> None:
    """Every named widget's frame shows a number."""
    for title in titles:
        expect(page.frame_locator(f'iframe[title="{title}"]').locator("#value")).to_have_text(
            NUMBER
        )


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


def take(browser: Browser, url: str) -> None:
    context = browser.new_context(
        base_url=url, viewport=DESKTOP, color_scheme="light", service_workers="block"
    )
    page = context.new_page()
    ids = seed(context.request)

    page.goto("/")
    expect(page.get_by_role("link", name="Greenhouse", exact=True)).to_be_visible()
    shoot(page, "dashboards")

    page.goto(f"/d/{ids['dashboard']}")
    wait_live(page, LIVE)
    shoot(page, "dashboard")

    page.get_by_role("button", name="Edit Temperature (°C)").click()
    tree = page.get_by_role("tree", name="Data source")
    expect(tree.get_by_role("button", name=re.compile(r"^temperature\s"))).to_be_visible()
    shoot(page, "widget-panel")

    page.goto(f"/modules/{ids['gauge']}")
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
        page.get_by_role("list", name="Modules").get_by_role("link", name="Gauge")
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
    wait_live(page, LIVE)
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
    wait_live(page, LIVE[:3])
    page.screenshot(path=OUT / "public-phone.png")
    print("docs/screenshots/public-phone.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, running_server(Path(data)) as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                take(browser, url)
            finally:
                browser.close()


if __name__ == "__main__":
    main()
