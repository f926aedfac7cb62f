"""Teams in Chromium: an admin creates a team on the Teams page and invites a viewer by
email (a real SMTP server receives the link); the viewer joins through the link and
opens the team's dashboard read-only with its live data."""

from __future__ import annotations

import json
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer

MAIN_PY = """\
import time

import visualbox

visualbox.output({"level": 73})
while True:
    time.sleep(60)
"""


def test_a_viewer_joins_by_mail_and_sees_the_live_dashboard_read_only(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    files = {"config.json": json.dumps([]), "main.py": MAIN_PY}
    tank = live_server.publish_integration(new_context().request, "Tank", files)
    admin, viewer = live_server.create_user("Ada"), live_server.create_user("Vic")
    live_server.sign_in(page, admin)

    page.goto(f"{live_server.url}/teams")
    page.get_by_label("New team").fill("Field station")
    page.get_by_role("button", name="Create team").click()
    section = page.get_by_role("region", name="Field station")
    expect(section.get_by_role("cell", name="Ada", exact=True)).to_be_visible()
    section.get_by_label("Email address").fill(viewer.email)
    section.get_by_role("button", name="Invite", exact=True).click()
    expect(page.get_by_text(f"An invitation was mailed to {viewer.email}.")).to_be_visible()
    expect(section.get_by_text(viewer.email)).to_be_visible()  # pending

    team_id = page.request.get(f"{live_server.url}/api/teams").json()[0]["id"]
    created = page.request.post(
        f"{live_server.url}/api/dashboards",
        data={
            "name": "Station",
            "team_id": team_id,
            "integrations": [{"id": "t", "module_id": tank, "label": "Tank"}],
            "widgets": [
                {"id": "w1", "module_id": "builtin-json-viewer", "w": 12, "h": 4,
                 "source": "/t/level", "title": "Level"},
            ],
        },
    )  # fmt: skip
    assert created.status == 201, created.text()
    board = created.json()["id"]

    other = new_context().new_page()
    live_server.sign_in(other, viewer)
    other.goto(live_server.mail_link(viewer.email))
    expect(other.get_by_text("Field station")).to_be_visible()
    other.get_by_role("button", name="Join the team").click()
    expect(other).to_have_url(f"{live_server.url}/teams")
    expect(other.get_by_role("button", name="Field station")).to_be_visible()

    other.goto(f"{live_server.url}/")
    card = other.get_by_role("listitem").filter(has_text="Station")
    expect(card.get_by_text("Field station")).to_be_visible()  # the team badge
    other.goto(f"{live_server.url}/d/{board}")
    level = other.frame_locator('iframe[title="Level"]').locator("#tree .row")
    expect(level).to_have_text(["73"], timeout=30_000)
    expect(other.get_by_text("Read-only · Field station")).to_be_visible()
    for tool in ("Unlock layout", "Settings", "Versions", "Alerts"):
        expect(other.get_by_role("button", name=tool, exact=True)).to_have_count(0)
    expect(other.get_by_role("button", name="Add integration")).to_have_count(0)
