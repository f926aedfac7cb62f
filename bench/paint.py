"""Paint: a 20-widget dashboard in Chromium, first visit and reload.

`visualbox serve` on a fresh data dir (bench/relay.py's ``VisualBox``); one Simulated
device feeding 7 Value, 7 Gauge and 6 Line chart widgets, set to keep running (a
first visit waits until it sent data, so it is running); then, ``--runs`` times, a fresh
browser context (empty cache) opens it and reloads it. For each it prints the
requests and bytes the browser received (headers and bodies as sent, so compressed),
those of the widget libraries, and the time from navigation start until every widget
shows data (medians over the runs; issue #13's targets: first visit <= 2.5 MB, every
library once, reload <= 300 KB, <= 1.2 s to data).

The time is measured in the browser: a script in every widget frame notes when its
widget first shows data (``performance.timeOrigin + performance.now()``, the same
clock as the page's navigation start), so the polling that waits for the end costs
nothing measured. The machine may be shared: each run also opens a one-widget
dashboard (a single Value) the same way, the baseline, and the ratio of the two
times is printed too.

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
# In every frame (Playwright runs it in each new document): note when data shows.
WATCH = (
    """(() => {
  if (window.__paintWatch) return;
  window.__paintWatch = true;
  const showsData = """
    + SHOWS_DATA
    + """;
  const check = () => {
    if (window.__paintShownAt || !document.documentElement) return;
    let shown = false;
    try { shown = showsData(); } catch (e) {}
    if (shown) window.__paintShownAt = performance.timeOrigin + performance.now();
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
  const timer = setInterval(() => {
    check();
    if (window.__paintShownAt) clearInterval(timer);
  }, 50);
})();"""
)


def _dashboard(server: VisualBox, kinds: list[tuple[str, str]]) -> str:
    widgets: list[dict[str, Any]] = []
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
    device = {
        "id": "device",
        "module_id": "builtin-simulator",
        "label": "Device",
        "config": {},
        "keep_running": True,  # running before, between and after the visits
    }
    body = {"name": "Paint", "integrations": [device], "widgets": widgets}
    answer = server.http.post("/api/dashboards", json=body)
    answer.raise_for_status()
    dashboard_id: str = answer.json()["id"]
    return dashboard_id


TWENTY = [("value", "/device/temperature")] * 7 + [("gauge", "/device/humidity")] * 7
TWENTY += [("line-chart", "/device/history/temperature")] * 6
ONE = [("value", "/device/temperature")]


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


def _every_widget_shows_data(page: Page, count: int, deadline: float) -> float:
    """Wait until every widget frame noted that it shows data; the seconds from the
    page's navigation start until the last one did."""
    while time.monotonic() < deadline:
        frames = [f for f in page.frames if "/frames/" in f.url]
        if len(frames) == count:
            try:
                shown = [frame.evaluate("window.__paintShownAt || 0") for frame in frames]
            except Exception:  # a frame between its boot page and the widget's page
                shown = [0]
            if all(shown):
                start: float = page.evaluate("performance.timeOrigin")
                return (max(shown) - start) / 1000
        # Not time.sleep: Playwright's events must flow. Seldom: each look is a call
        # into every frame, work for the same processes that are painting.
        page.wait_for_timeout(500)
    raise TimeoutError("not every widget showed data within 60 s")


def _visit(page: Page, go: Callable[[], Any], count: int) -> dict[str, float]:
    figures = {"requests": 0.0, "bytes": 0.0, "library requests": 0.0, "library bytes": 0.0}
    requests: list[Request] = []

    def finished(request: Request) -> None:
        requests.append(request)

    page.on("requestfinished", finished)
    go()
    figures["seconds to data"] = _every_widget_shows_data(page, count, time.monotonic() + 60)
    page.wait_for_load_state("networkidle")
    page.remove_listener("requestfinished", finished)
    # Sizes afterwards: asking for them is a call into the browser while it paints.
    for request in requests:
        sizes = request.sizes()
        if sizes["responseBodySize"] < 0:  # from the browser's cache: nothing was sent
            continue
        size = max(0, sizes["responseBodySize"]) + max(0, sizes["responseHeadersSize"])
        figures["requests"] += 1
        figures["bytes"] += size
        if any(path in request.url for path in LIBRARY_PATHS):
            figures["library requests"] += 1
            figures["library bytes"] += size
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = VisualBox(Path(folder)).start()
        try:
            base = f"http://127.0.0.1:{server.port}/d/"
            twenty, one = base + _dashboard(server, TWENTY), base + _dashboard(server, ONE)
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            first = _signed_in_page(browser, server)  # until the integration sent data
            first.add_init_script(WATCH)
            _visit(first, lambda: first.goto(twenty), len(TWENTY))
            first.context.close()
            results: dict[str, list[dict[str, float]]] = {"first visit": [], "reload": []}
            baseline: list[float] = []
            for _ in range(runs):
                page = _signed_in_page(browser, server)
                page.add_init_script(WATCH)
                baseline.append(_visit(page, lambda p=page: p.goto(one), 1)["seconds to data"])
                page.context.close()
                page = _signed_in_page(browser, server)
                page.add_init_script(WATCH)
                results["first visit"].append(_visit(page, lambda p=page: p.goto(twenty), 20))
                results["reload"].append(_visit(page, lambda p=page: p.reload(), 20))
                page.context.close()
            one_widget = statistics.median(baseline)
            print(f"baseline, one Value widget, first visit (median of {runs}): {one_widget:.2f} s")
            for visit, samples in results.items():
                print(f"{visit} (median of {runs}):")
                for key in samples[0]:
                    value = statistics.median(sample[key] for sample in samples)
                    shown = f"{value / 1000:,.0f} KB" if "bytes" in key else f"{value:g}"
                    if key == "seconds to data":
                        times = ", ".join(f"{sample[key]:.2f}" for sample in samples)
                        shown = f"{value:.2f} (runs: {times}; {value / one_widget:.1f}x baseline)"
                    print(f"  {key:>18}: {shown}")
            browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
