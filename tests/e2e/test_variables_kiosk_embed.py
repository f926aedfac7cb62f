"""Variables, embedding and kiosk mode in Chromium (docs/dashboards.md): two viewers
choose two values of one variable and see two views of ONE running instance; a page of
another loopback origin embeds the dashboard that lists it and is refused the one that
does not; a kiosk cycles two dashboards."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer

# One process: a random id of this run, and two devices, output once.
MAIN_PY = """\
import secrets
import time

import visualbox

visualbox.output({"run": secrets.token_hex(8),
                  "devices": {"north": {"t": 11}, "south": {"t": 22}}})
while True:
    time.sleep(60)
"""


@contextmanager
def host_page(page: dict[str, str]) -> Iterator[str]:
    """A page (``page["html"]`` when asked) served by another origin (another loopback
    port): its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def value_of(page: Page, frame: str = "") -> Any:
    """The value widget titled Temperature (inside the iframe ``frame``, if given)."""
    scope = page.frame_locator(frame) if frame else page
    return scope.frame_locator('iframe[title="Temperature"]').locator("#value")


def test_variables_per_viewer_embedding_by_origin_and_a_kiosk(
    live_server: LiveServer,
    page: Page,
    new_context: Callable[..., BrowserContext],
    console_errors: list[str],
) -> None:
    with ExitStack() as stack:
        journey(live_server, page, new_context, console_errors, stack)


def journey(
    live_server: LiveServer,
    page: Page,
    new_context: Callable[..., BrowserContext],
    console_errors: list[str],
    stack: ExitStack,
) -> None:
    stations = live_server.publish_integration(
        new_context().request, "Stations", {"config.json": "[]", "main.py": MAIN_PY}
    )
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    api = f"{live_server.url}/api/dashboards"
    weather = page.request.post(
        api,
        data={
            "name": "Weather room",
            "variables": [
                {"name": "device", "label": "Device", "kind": "path", "path": "/i1/devices"}
            ],
            "integrations": [{"id": "i1", "module_id": stations, "label": "Stations"}],
            "widgets": [
                {
                    "id": "w1",
                    "module_id": "builtin-value",
                    "w": 12,
                    "title": "Temperature",
                    "source": "/i1/devices/${device}/t",
                    "config": {"label": "Device ${device}"},
                }
            ],
        },
    )
    assert weather.status == 201, weather.text()
    weather_id = weather.json()["id"]
    second = page.request.post(api, data={"name": "Second screen"})
    assert second.status == 201, second.text()
    second_id = second.json()["id"]

    hosted = {"html": ""}
    other_origin = stack.enter_context(host_page(hosted))
    # The weather dashboard may be embedded by the other origin; the second may not.
    shared = page.request.post(
        f"{api}/{weather_id}/sharing", data={"public": True, "embed_origins": [other_origin]}
    ).json()
    unlisted = page.request.post(f"{api}/{second_id}/sharing", data={"public": True}).json()

    # Two viewers, two choices: the owner in the builder, a visitor on the public link.
    page.goto(f"{live_server.url}/d/{weather_id}?var-device=north")
    expect(value_of(page)).to_have_text("11", timeout=30_000)
    supervisor = live_server.app.state.live.runner.supervisor
    started = supervisor.runs()
    public = f"{live_server.url}/api/public/dashboards/{shared['token']}"
    first_run = page.request.get(public).json()["data"]["i1"]["run"]
    visitor = new_context().new_page()
    visitor.goto(f"{live_server.url}/p/{shared['token']}")  # no choice: the first key
    expect(value_of(visitor)).to_have_text("11")
    visitor.get_by_role("combobox", name="Device").select_option("south")
    expect(value_of(visitor)).to_have_text("22")
    expect(visitor).to_have_url(f"{live_server.url}/p/{shared['token']}?var-device=south")
    label = visitor.frame_locator('iframe[title="Temperature"]').locator("#label")
    expect(label).to_have_text("Device south")  # config values are substituted too
    expect(value_of(page)).to_have_text("11")  # the owner's choice is their own
    page.get_by_role("combobox", name="Device").select_option("south")
    visitor.get_by_role("combobox", name="Device").select_option("north")
    expect(value_of(page)).to_have_text("22")
    expect(value_of(visitor)).to_have_text("11")
    # ... of one running instance, started once: the same single run as before the
    # choices, whose one output (with its random run id) is still the last.
    assert len(started) == 1 and supervisor.runs() == started and not started[0].done
    assert visitor.request.get(public).json()["data"]["i1"]["run"] == first_run

    # The owner adds a variable in the settings panel: the bar offers it at once.
    page.get_by_role("button", name="Settings", exact=True).click()
    page.get_by_role("button", name="Add a variable").click()
    page.get_by_label("Name of variable 2").fill("unit")
    page.get_by_label("Values of variable 2").fill("C\nF")
    page.get_by_role("button", name="Save variables").click()
    expect(page.get_by_role("combobox", name="unit")).to_have_value("C")
    expect(page.get_by_role("combobox", name="Device")).to_have_value("south")

    # Another origin's page embeds the listed dashboard (it draws, with the choice its
    # URL makes) and Chromium refuses the one that does not list it.
    hosted["html"] = (
        f'<iframe id="listed" src="{shared["embed_url"]}?var-device=south" width="900" '
        'height="500"></iframe>'
        f'<iframe id="unlisted" src="{unlisted["embed_url"]}" width="900" height="500"></iframe>'
    )
    assert other_origin != live_server.url
    embedder = new_context().new_page()
    embedder.goto(other_origin)
    expect(value_of(embedder, "#listed")).to_have_text("22", timeout=30_000)
    refused = embedder.locator("#unlisted").element_handle().content_frame()
    deadline = time.monotonic() + 10
    while refused is None or not refused.url.startswith("chrome-error://"):
        assert time.monotonic() < deadline, f"the unlisted embed loaded: {refused!r}"
        embedder.wait_for_timeout(100)
        refused = embedder.locator("#unlisted").element_handle().content_frame()
    assert refused.locator(".static-grid, .empty").count() == 0
    # Chromium logs each refusal as a console error: the one expected here, and no other.
    refusals = [e for e in console_errors if "frame-ancestors" in e]
    assert len(refusals) == 1 and "frame-ancestors 'none'" in refusals[0], console_errors
    console_errors[:] = [e for e in console_errors if e not in refusals]

    # A kiosk cycles the two dashboards (every 2 s), without chrome, and asks for a
    # screen wake lock (recorded by a stand-in: headless Chromium grants none).
    page.add_init_script(
        "window.wakeLocks = []; Object.defineProperty(navigator, 'wakeLock', {value: {"
        "request: (type) => { window.wakeLocks.push(type); "
        "return Promise.resolve({release: () => Promise.resolve()}); }}});"
    )
    page.goto(f"{live_server.url}/kiosk?dashboards={weather_id},{second_id}&every=2s")
    titles = page.locator(".kiosk-title")
    expect(titles.filter(has_text="Weather room")).to_be_visible()
    expect(value_of(page)).to_have_text("11")  # no choice in the kiosk's URL: the first key
    expect(page.get_by_role("navigation")).to_have_count(0)
    expect(titles.filter(has_text="Second screen")).to_be_visible(timeout=15_000)
    expect(titles.filter(has_text="Weather room")).to_be_hidden()
    expect(titles.filter(has_text="Weather room")).to_be_visible(timeout=15_000)
    assert page.evaluate("window.wakeLocks") == ["screen"]  # asked once, while visible
