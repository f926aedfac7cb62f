"""Live data from an integration to a widget in Chromium, through the whole typed path:
SDK frame, relay, WebSocket, the web app's live data, the widget frame."""

from __future__ import annotations

import json
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer

# One instance outputs the text "42", the other the number 42, then waits.
MAIN_PY = """\
import time

import visualbox

visualbox.output("42" if visualbox.MODEL["as_text"] else 42)
while True:
    time.sleep(60)
"""
CONFIG_JSON = [{"type": "switch", "name": "as_text", "label": "As text", "default": True}]


def test_a_text_output_reaches_the_widget_as_text_and_a_number_as_a_number(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    files = {"config.json": json.dumps(CONFIG_JSON), "main.py": MAIN_PY}
    answer = live_server.publish_integration(new_context().request, "Answer", files)
    owner = live_server.create_user()
    live_server.sign_in(page, owner)
    viewer = {"module_id": "builtin-json-viewer", "y": 0, "w": 12, "h": 4}
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={
            "name": "Answers",
            "integrations": [
                {"id": "text", "module_id": answer, "label": "Text", "config": {"as_text": True}},
                {"id": "num", "module_id": answer, "label": "Number", "config": {"as_text": False}},
            ],
            "widgets": [
                {**viewer, "id": "w1", "x": 0, "source": "/text", "title": "As text"},
                {**viewer, "id": "w2", "x": 12, "source": "/num", "title": "As number"},
            ],
        },
    )
    assert created.status == 201, created.text()
    page.goto(f"{live_server.url}/d/{created.json()['id']}")
    text = page.frame_locator('iframe[title="As text"]').locator("#tree .row")
    number = page.frame_locator('iframe[title="As number"]').locator("#tree .row")
    expect(text).to_have_text(['"42"'], timeout=30_000)
    expect(text.locator(".string")).to_have_count(1)
    expect(number).to_have_text(["42"], timeout=30_000)
    expect(number.locator(".number")).to_have_count(1)
