"""Withdrawing in the browser (issue 11): the author withdraws a version another user's
dashboard is pinned to, then deletes the module; both ask first, saying how many
dashboards (and whose) depend on it, and that dashboard keeps loading with a notice."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer

REASON = "An API key was published by mistake."


def test_withdraw_a_version_then_delete_the_module_another_user_uses(
    live_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    url = live_server.url
    live_server.sign_in(page, live_server.create_user("Ada"))
    made = page.request.post(f"{url}/api/modules", data={"name": "Gauge", "kind": "widget"})
    assert made.status == 201, made.text()
    mid = made.json()["id"]
    for version in ("1.0.0", "1.1.0"):
        published = page.request.post(
            f"{url}/api/modules/{mid}/versions", data={"version": version}
        )
        assert published.status == 201, published.text()

    bob = new_context().new_page()
    live_server.sign_in(bob, live_server.create_user("Bob"))
    widget = {"id": "w1", "module_id": mid, "version": "1.0.0", "w": 8, "h": 4}
    board = bob.request.post(f"{url}/api/dashboards", data={"name": "Bob's", "widgets": [widget]})
    assert board.status == 201, board.text()
    board_url = f"{url}/d/{board.json()['id']}"
    bob.goto(board_url)
    expect(bob.locator('iframe[title="Widget w1"]')).to_be_attached()

    # Ada withdraws 1.0.0 from the studio: the dialog says Bob's dashboard depends on it.
    page.goto(f"{url}/modules/{mid}")
    page.get_by_role("button", name="Withdraw 1.0.0").click()
    dialog = page.get_by_role("dialog", name="Withdraw version 1.0.0")
    expect(dialog).to_contain_text("1 dashboard depends on it (it belongs to 1 other user).")
    dialog.get_by_role("button", name="Withdraw").click()
    expect(dialog.get_by_text("Say why")).to_be_visible()  # a reason is required
    dialog.get_by_label("Reason (shown to everyone)").fill(REASON)
    page.screenshot(path="/tmp/withdraw-dialog.png")
    dialog.get_by_role("button", name="Withdraw").click()
    expect(dialog).to_be_hidden()
    versions = page.get_by_role("list", name="Published versions")
    expect(versions).to_contain_text(f"Withdrawn: {REASON}")
    expect(page.get_by_role("button", name="Withdraw 1.0.0")).to_have_count(0)
    expect(page.get_by_role("button", name="Withdraw 1.1.0")).to_be_visible()
    page.screenshot(path="/tmp/withdraw-versions.png")

    # Bob's dashboard still loads and says why instead of showing the widget.
    bob.reload()
    cell = bob.locator('[data-widget="w1"]')
    expect(cell).to_contain_text("Module withdrawn")
    expect(cell).to_contain_text(f'Version 1.0.0 of "Gauge" was withdrawn by its author: {REASON}')
    expect(bob.locator('iframe[title="Widget w1"]')).to_have_count(0)
    bob.screenshot(path="/tmp/withdraw-dashboard.png")

    # Everybody sees it in the registry, with the reason.
    bob.goto(f"{url}/registry/{mid}")
    listed = bob.get_by_text(f"withdrawn: {REASON}")
    expect(listed).to_be_visible()
    listed.scroll_into_view_if_needed()
    bob.screenshot(path="/tmp/withdraw-registry.png")

    # Bob moves his widget to latest (1.1.0); then Ada deletes the whole module.
    moved = bob.request.patch(
        f"{url}/api/dashboards/{board.json()['id']}",
        data={"revision": 1, "widgets": [{**widget, "version": "latest"}]},
    )
    assert moved.ok, moved.text()
    page.goto(f"{url}/modules")
    page.get_by_role("button", name="Delete Gauge").click()
    confirm = page.get_by_role("dialog", name="Delete “Gauge”?")
    expect(confirm).to_contain_text("1 dashboard uses it (it belongs to 1 other user).")
    page.screenshot(path="/tmp/delete-confirm.png")
    confirm.get_by_role("button", name="Delete and withdraw it").click()
    expect(page.get_by_text("Deleted “Gauge”.")).to_be_visible()

    bob.goto(board_url)
    expect(cell).to_contain_text('The module "Gauge" was withdrawn: its author deleted it.')
    bob.screenshot(path="/tmp/delete-dashboard.png")
