"""Words for people, in Chromium: real forms driven into errors (a sign-up with bad
values, a dashboard renamed to nothing, an integration setting out of range, a ZIP that
is not a module) and a crashed integration's state. What the page shows never has a raw
field path, a library's phrasing, a revision number, an exit code or "1 things"."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.test_working_copy import _upload, _zip

FORBIDDEN = {
    "a raw path": re.compile(r"\w+\[\d+\]|\.config\."),
    "a library's phrasing": re.compile(
        r"\bshould\b|Input should|Field required|String should|value_error|type=|Value error"
    ),
    "a revision number": re.compile(r"revision \d+", re.IGNORECASE),
    "an exit code": re.compile(r"code -?\d+", re.IGNORECASE),
    "a plural slip": re.compile(r"\b1 (?!is\b|was\b|has\b)\w+s "),
}

CONFIG = '[{"type": "number", "name": "speed", "label": "Speed", "min": 0, "max": 10}]'
CRASHING = "import sys\n\nimport visualbox\n\nsys.exit(1)\n"


def _words_only(where: Locator, what: str) -> str:
    text = where.inner_text()
    for name, pattern in FORBIDDEN.items():
        found = pattern.search(text)
        assert found is None, f"{what} shows {name}: {found.group(0)!r} in\n{text}"
    return text


def test_errors_and_states_are_in_words(live_server: LiveServer, page: Page) -> None:
    url = live_server.url
    live_server.create_user("Admin")  # the first account exists: sign-ups are ordinary

    # Sign up with an address that is not one and a short password.
    page.goto(f"{url}/signup")
    page.get_by_label("Name").fill("Someone")
    page.get_by_label("Email").fill("someone@")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator(".field-error").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("must be")
    _words_only(page.locator("body"), "the sign-up form")

    # A dashboard renamed to blanks.
    owner = live_server.create_user("Owner")
    live_server.sign_in(page, owner)
    module = live_server.publish_integration(
        page.context.browser.new_context().request,  # type: ignore[union-attr]
        "Crashing device",
        {"config.json": CONFIG, "main.py": CRASHING},
    )
    created = page.request.post(
        f"{url}/api/dashboards",
        data={
            "name": "Plant",
            "integrations": [{"id": "i1", "module_id": module, "label": "Simulated device"}],
        },
    )
    assert created.status == 201, created.text()
    page.goto(f"{url}/")
    page.get_by_role("button", name="Rename Plant").click()
    page.get_by_label("New name").fill("   ")
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Name must not be empty.")
    _words_only(page.locator("body"), "the dashboard list")

    # A setting out of range, and the integration's crash, in the builder.
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{url}/d/{created.json()['id']}")
    listed = page.get_by_role("list", name="Integration instances").get_by_role("button")
    expect(listed).to_contain_text("Crashed", timeout=30_000)
    listed.click()
    panel = page.get_by_role("complementary", name="Simulated device")
    panel.get_by_label("Speed").fill("99")
    panel.get_by_role("button", name="Save").click()
    expect(panel).to_contain_text("must be at most 10")
    expect(panel.locator(".state")).to_contain_text("Crashed (error status 1)")
    _words_only(page.locator("body"), "the builder")

    # A ZIP that is not a module, uploaded in the studio.
    made = page.request.post(f"{url}/api/modules", data={"name": "Clock", "kind": "widget"})
    assert made.status == 201, made.text()
    page.goto(f"{url}/modules/{made.json()['id']}")
    expect(page.get_by_role("tree")).to_be_visible()
    _upload(page, "photos.zip", _zip({"beach.jpg": b"\xff\xd8\xff", "a/b.txt": "x"}))
    refusal = page.get_by_role("alert", name="Working copy")
    expect(refusal).to_contain_text("nothing was replaced")
    _words_only(refusal, "the refused upload")
