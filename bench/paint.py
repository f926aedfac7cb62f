"""Paint: a 20-widget dashboard in Chromium, first visit and reload.

`visualbox serve` on a fresh data dir (bench/relay.py's ``VisualBox``); one Simulated
device feeding 7 Value, 7 Gauge and 6 Line chart widgets. A first browser keeps the
dashboard open, so the integration is running; then, ``--runs`` times, a fresh
browser context (empty cache) opens it and reloads it. For each it prints the
requests and bytes the browser received (headers and bodies as sent, so compressed),
those of the widget libraries, and the time from navigation start until every widget
shows data (medians over the runs).

    .venv/bin/python bench/paint.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Request, sync_playwright
from relay import VisualBox

CHROMIUM = "/usr/bin/chromium"
LIBRARY_PATHS = ("/lib/", "/frames/lib/")
SHOWS_DATA = """() => {
  const value = document.getElementById('value');
  if (value) return value.textContent !== '–' && value.textContent !== '';
  const message = document.getElementById('message');
  return message ? message.hidden : false;
}"""


def _dashboard(server: VisualBox) -> str:
    widgets: list[dict[str, Any]] = []
    kinds = [("value", "/device/temperature")] * 7 + [("gauge", "/device/humidity")] * 7
    kinds += [("line-chart", "/device/history/temperature")] * 6
    for n, (kind, source) in enumerate(kinds):
        widgets.append(
            {
                "id": f"w{n}",
                "module_id": f"builtin-{kind}",
                "title": f"{kind} {n}",
                "source": source,
                "x": (n % 4) * 6,
                "y": (n // 4) * 5,
                "w": 6,
                "h": 5,
            }
        )
    device = {"id": "device", "module_id": "builtin-simulator", "label": "Device", "config": {}}
    body = {"name": "Paint", "integrations": [device], "widgets": widgets}
    answer = server.http.post("/api/dashboards", json=body)
    answer.raise_for_status()
    dashboard_id: str = answer.json()["id"]
    return dashboard_id


def _signed_in_page(browser: Browser, server: VisualBox) -> Page:
    # Tall enough for all 20 widgets: every one is in view.
    context = browser.new_context(service_workers="block", viewport={"width": 1400, "height": 2000})
    page = context.new_page()
    url = f"http://127.0.0.1:{server.port}/api/auth/signin"
    answer = page.request.post(
        url, data={"email": "bench@example.com", "password": "bench password 1"}
    )
    if not answer.ok:
        raise RuntimeError(f"cannot sign in: {answer.text()}")
    return page


def _every_widget_shows_data(page: Page, count: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        frames = [f for f in page.frames if "/frames/" in f.url]
        if len(frames) == count:
            try:
                if all(frame.evaluate(SHOWS_DATA) for frame in frames):
                    return
            except Exception:  # a frame between its boot page and the widget's page
                pass
        page.wait_for_timeout(10)  # (not time.sleep: Playwright's events must flow)
    raise TimeoutError("not every widget showed data within 60 s")


def _visit(page: Page, go: Callable[[], Any], count: int) -> dict[str, float]:
    figures = {"requests": 0.0, "bytes": 0.0, "library requests": 0.0, "library bytes": 0.0}

    def finished(request: Request) -> None:
        sizes = request.sizes()
        size = max(0, sizes["responseBodySize"]) + max(0, sizes["responseHeadersSize"])
        if sizes["responseBodySize"] < 0:  # from the browser's cache: nothing was sent
            return
        figures["requests"] += 1
        figures["bytes"] += size
        if any(path in request.url for path in LIBRARY_PATHS):
            figures["library requests"] += 1
            figures["library bytes"] += size

    page.on("requestfinished", finished)
    start = time.monotonic()
    go()
    _every_widget_shows_data(page, count, start + 60)
    figures["seconds to data"] = time.monotonic() - start
    page.wait_for_load_state("networkidle")
    page.remove_listener("requestfinished", finished)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = VisualBox(Path(folder)).start()
        try:
            dashboard = _dashboard(server)
            url = f"http://127.0.0.1:{server.port}/d/{dashboard}"
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            keeper = _signed_in_page(browser, server)  # keeps the integration running
            _visit(keeper, lambda: keeper.goto(url), 20)
            results: dict[str, list[dict[str, float]]] = {"first visit": [], "reload": []}
            for _ in range(runs):
                page = _signed_in_page(browser, server)
                results["first visit"].append(_visit(page, lambda p=page: p.goto(url), 20))
                results["reload"].append(_visit(page, lambda p=page: p.reload(), 20))
                page.context.close()
            for visit, samples in results.items():
                print(f"{visit} (median of {runs}):")
                for key in samples[0]:
                    value = statistics.median(sample[key] for sample in samples)
                    shown = f"{value / 1000:,.0f} KB" if "bytes" in key else f"{value:g}"
                    print(f"  {key:>18}: {shown}")
            browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
