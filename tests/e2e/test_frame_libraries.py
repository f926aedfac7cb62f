"""Widget libraries once per browser (docs/widgets.md): a dashboard of Gauge and Line
chart widgets, first visit and reload, counting the library requests that reach the
server (either origin) and the bytes the browser received for them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.conftest import LiveServer
from visualbox.api import frames as frames_api
from visualbox.api import web

GAUGES = 4
LINES = 3
LIBRARIES = ("echarts-gauge.min.js", "uplot.iife.min.js", "uplot.min.css")


def _dashboard(live_server: LiveServer, page: Page) -> str:
    widgets: list[dict[str, Any]] = []
    for n in range(GAUGES):
        widgets.append({"id": f"g{n}", "module_id": "builtin-gauge", "title": f"Gauge {n}"})
    for n in range(LINES):
        widgets.append({"id": f"l{n}", "module_id": "builtin-line-chart", "title": f"Line {n}"})
    for n, widget in enumerate(widgets):
        widget.update(x=(n % 4) * 6, y=(n // 4) * 4, w=6, h=4)
    created = page.request.post(
        f"{live_server.url}/api/dashboards", data={"name": "Libraries", "widgets": widgets}
    )
    assert created.status == 201, created.text()
    return str(created.json()["id"])


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """``{"<origin>:<file>": count}`` of the library files the server sent (or
    answered 304 for): the app's ``/lib/...`` and the frames origin's ``/frames/lib/...``."""
    counts: Counter[str] = Counter()
    for module, origin in ((web, "app"), (frames_api, "frames")):
        real = module.static_file

        def counting(
            path: Path, *args: Any, _real: Any = real, _origin: str = origin, **kwargs: Any
        ) -> Any:
            if path.parent.name == "lib":
                counts[f"{_origin}:{path.name}"] += 1
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(module, "static_file", counting)
    return counts


def _widgets_drawn(page: Page) -> None:
    expect(page.locator("iframe")).to_have_count(GAUGES + LINES)
    # The libraries ran in each frame: ECharts drew its gauge, uPlot waits for data.
    for n in range(GAUGES):
        frame = page.frame_locator(f'iframe[title="Gauge {n}"]')
        expect(frame.locator("#gauge svg").first).to_be_attached(timeout=20_000)
    for n in range(LINES):
        frame = page.frame_locator(f'iframe[title="Line {n}"]')
        expect(frame.locator("#message")).to_have_text("Waiting for data…")
    loaded = sorted(frame.evaluate("[typeof echarts, typeof uPlot]") for frame in page.frames[1:])
    assert loaded == [["object", "undefined"]] * GAUGES + [["undefined", "function"]] * LINES


def test_each_library_is_fetched_once_on_a_first_visit_and_never_on_reload(
    live_server: LiveServer, page: Page, served: Counter[str]
) -> None:
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    dashboard = _dashboard(live_server, page)
    received: Counter[str] = Counter()  # bytes on the wire per library, browser's count
    documents: list[str] = []  # the widget pages the frames loaded

    def finished(request: Request) -> None:
        name = request.url.split("?")[0].rsplit("/", 1)[-1]
        if name in LIBRARIES:
            received[name] += request.sizes()["responseBodySize"]
        if request.resource_type == "document" and "/frames/" in request.url:
            documents.append(request.url)

    page.on("requestfinished", finished)
    figures = {}
    for visit in ("first visit", "reload"):
        served.clear()
        received.clear()
        documents.clear()
        if visit == "first visit":
            page.goto(f"{live_server.url}/d/{dashboard}")
        else:
            page.reload()
        _widgets_drawn(page)
        page.wait_for_load_state("networkidle")
        figures[visit] = (dict(served), dict(received))
        # Each frame loads its page once (a frame moved in the page would load it again).
        assert len(documents) == GAUGES + LINES, documents
        print(visit, "served:", dict(served), "bytes received:", dict(received))
    first, _ = figures["first visit"]
    # Once each, from the app's origin (the host), never per frame from the frames origin.
    assert {name: first.get(f"app:{name}", 0) for name in LIBRARIES} == dict.fromkeys(LIBRARIES, 1)
    assert not [key for key in first if key.startswith("frames:")], first
    # Compressed on the wire: the Gauge's ECharts build is 347 KB as a file.
    assert 0 < figures["first visit"][1]["echarts-gauge.min.js"] < 120_000
    reload, _ = figures["reload"]
    assert reload == {}
