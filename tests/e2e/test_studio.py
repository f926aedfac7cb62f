"""The module studio in the browser: the module developer journey (create a widget, edit,
preview with sample data, publish, pinned and latest dashboards), the integration console,
and file management with ZIP download and upload."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer


def _widget_html(marker: str) -> str:
    return (
        "<!DOCTYPE html>\n<html><body>\n"
        '<p id="out">waiting</p>\n<script>\n'
        "var cfg = {}, val;\n"
        "function draw() { document.getElementById('out').textContent =\n"
        f"  (cfg.title || '') + ' {marker} ' + JSON.stringify(val); }}\n"
        "visualbox.onConfigChanged(function (c) { cfg = c; draw(); });\n"
        "visualbox.onDataChanged(function (d) { val = d; draw(); });\n"
        "</script>\n</body></html>\n"
    )


def _replace_editor_text(page: Page, path: str, text: str) -> None:
    """Select everything in the CodeMirror editor of ``path`` and type ``text`` over it."""
    editor = page.get_by_role("textbox", name=f"Contents of {path}")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(text)


def _tab(page: Page, path: str) -> Locator:
    return page.get_by_role("tablist", name="Open files").get_by_role("tab", name=path)


def _publish(page: Page, version: str) -> None:
    page.get_by_role("button", name="Publish", exact=True).click()
    dialog = page.get_by_role("dialog", name="Publish to the registry")
    dialog.get_by_label("Version").fill(version)
    dialog.get_by_label("Changelog").fill(f"Release {version}")
    dialog.get_by_role("button", name="Publish").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("list", name="Published versions")).to_contain_text(version)


def _frame_html(page: Page, url: str, dashboard_id: str) -> str:
    answer = page.request.get(f"{url}/api/dashboards/{dashboard_id}")
    assert answer.ok, answer.text()
    frame = answer.json()["widgets"][0]["frame"]
    assert frame, "the widget has no frame URL"
    html = page.request.get(f"{url}{frame}" if frame.startswith("/") else frame)
    assert html.ok
    return html.text()


def _dashboard_shows(page: Page, url: str, dashboard_id: str, marker: str) -> None:
    """The dashboard page renders the widget's version ``marker`` inside its iframe."""
    page.goto(f"{url}/d/{dashboard_id}")
    widget = page.frame_locator('iframe[title="Widget w1"]').locator("#out")
    expect(widget).to_contain_text(f" {marker} ")


def test_module_developer_journey(live_server: LiveServer, page: Page) -> None:
    url = live_server.url
    live_server.sign_in(page, live_server.create_user())
    page.goto(f"{url}/modules")

    # Create a widget module from the starting template.
    page.get_by_role("button", name="Create your first module").click()
    dialog = page.get_by_role("dialog", name="New module")
    dialog.get_by_label("Name").fill("Big number")
    dialog.get_by_label("Widget").check()
    dialog.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(url)}/modules/[\w-]+$"))
    module_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", name="Big number")).to_be_visible()
    expect(page.get_by_text("The module passes the check.")).to_be_visible()

    # index.html is open; edit it: the tab shows unsaved changes until Ctrl-S.
    expect(_tab(page, "index.html")).to_have_attribute("aria-selected", "true")
    _replace_editor_text(page, "index.html", _widget_html("v1"))
    expect(_tab(page, "index.html").get_by_label("unsaved changes")).to_be_visible()
    page.keyboard.press("ControlOrMeta+s")
    expect(page.get_by_text("Saved index.html.")).to_be_visible()
    expect(_tab(page, "index.html").get_by_label("unsaved changes")).to_have_count(0)
    saved = page.request.get(f"{url}/api/modules/{module_id}/files/index.html")
    assert "' v1 '" in saved.text()

    # The preview runs the saved page with the test config and the sample data, live.
    preview = page.frame_locator("iframe[title='Widget preview']").locator("#out")
    page.get_by_label("Sample data").fill('{"temp": 21.5}')
    page.get_by_label("Title").fill("Hall")
    expect(preview).to_have_text('Hall v1 {"temp":21.5}')
    page.get_by_label("Sample data").fill('{"temp": ')
    expect(page.get_by_text("Not valid JSON (not sent)")).to_be_visible()
    page.get_by_label("Sample data").fill("[1, 2]")
    expect(preview).to_have_text("Hall v1 [1,2]")

    # Publish 1.0.0: a version that is not semver is refused in the dialog first.
    page.get_by_role("button", name="Publish", exact=True).click()
    dialog = page.get_by_role("dialog", name="Publish to the registry")
    expect(dialog.get_by_label("Version")).to_have_value("1.0.0")
    dialog.get_by_label("Version").fill("1.0")
    dialog.get_by_role("button", name="Publish").click()
    expect(dialog.get_by_text("must be a semantic version")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    _publish(page, "1.0.0")

    # Two dashboards use it (the builder is another page): one pinned, one on latest.
    dashboards: dict[str, str] = {}
    for name, version in (("Pinned", "1.0.0"), ("Latest", "latest")):
        widget: dict[str, Any] = {"id": "w1", "module_id": module_id, "version": version}
        made = page.request.post(f"{url}/api/dashboards", data={"name": name, "widgets": [widget]})
        assert made.status == 201, made.text()
        dashboards[name] = made.json()["id"]
    for name in dashboards:
        assert "' v1 '" in _frame_html(page, url, dashboards[name])
    studio = page.url
    _dashboard_shows(page, url, dashboards["Latest"], "v1")
    page.goto(studio)

    # Change the widget, see it in the preview, publish 1.1.0 (1.0.0 again is refused).
    _replace_editor_text(page, "index.html", _widget_html("v2"))
    page.keyboard.press("ControlOrMeta+s")
    expect(preview).to_have_text("Hall v2 [1,2]")  # test values and sample data were kept
    page.get_by_role("button", name="Publish", exact=True).click()
    dialog = page.get_by_role("dialog", name="Publish to the registry")
    expect(dialog.get_by_label("Version")).to_have_value("1.1.0")
    dialog.get_by_label("Version").fill("1.0.0")
    dialog.get_by_role("button", name="Publish").click()
    expect(dialog.get_by_text("must be greater than 1.0.0")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    _publish(page, "1.1.0")

    pinned = _frame_html(page, url, dashboards["Pinned"])
    latest = _frame_html(page, url, dashboards["Latest"])
    assert "' v1 '" in pinned and "' v2 '" not in pinned
    assert "' v2 '" in latest and "' v1 '" not in latest
    _dashboard_shows(page, url, dashboards["Pinned"], "v1")
    _dashboard_shows(page, url, dashboards["Latest"], "v2")


def test_integration_console_runs_the_working_copy(live_server: LiveServer, page: Page) -> None:
    live_server.sign_in(page, live_server.create_user())
    page.goto(f"{live_server.url}/modules")
    page.get_by_role("button", name="New module").first.click()
    dialog = page.get_by_role("dialog", name="New module")
    dialog.get_by_label("Name").fill("Counter")
    dialog.get_by_label("Integration").check()
    expect(dialog.get_by_label("Runtime")).to_have_value("python")
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Counter")).to_be_visible()
    expect(_tab(page, "main.py")).to_be_visible()

    console = page.get_by_role("log", name="Console output")
    page.get_by_label("Title").fill("Tick")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("status").filter(has_text="running")).to_be_visible(timeout=30_000)
    output = console.locator(".line-output").first
    expect(output).to_contain_text('"title":"Tick"', timeout=30_000)
    expect(output.locator(".line-label")).to_have_text("OUTPUT")
    expect(console.locator(".line-info").filter(has_text="Tick: one output every")).to_be_visible()

    page.get_by_role("button", name="Stop").click()
    expect(
        page.get_by_role("status").filter(has_text=re.compile("stopped|finished", re.IGNORECASE))
    ).to_be_visible(timeout=15_000)
    page.get_by_role("button", name="Clear").click()
    expect(console.locator(".line")).to_have_count(0)


def test_files_add_rename_delete_and_zips(live_server: LiveServer, page: Page) -> None:
    url = live_server.url
    live_server.sign_in(page, live_server.create_user())
    made = page.request.post(f"{url}/api/modules", data={"name": "Files", "kind": "widget"})
    assert made.status == 201, made.text()
    module_id = made.json()["id"]
    page.goto(f"{url}/modules/{module_id}")
    tree = page.get_by_role("tree", name="Files")
    expect(tree.get_by_role("treeitem", name="index.html")).to_be_visible()

    # The tree works with the keyboard: arrows move, Left/Right fold a folder.
    expect(_tab(page, "index.html")).to_have_attribute("aria-selected", "true")
    tree.get_by_role("treeitem", name="config.json").focus()
    page.keyboard.press("ArrowDown")
    expect(tree.get_by_role("treeitem", name="index.html")).to_be_focused()
    page.keyboard.press("End")
    expect(tree.get_by_role("treeitem", name="visualbox.json")).to_be_focused()

    # Add a file in a new folder: it opens in a tab.
    page.get_by_role("button", name="New file").click()
    dialog = page.get_by_role("dialog", name="New file")
    dialog.get_by_label("File path").fill("lib/util.js")
    dialog.get_by_role("button", name="Create").click()
    expect(tree.get_by_role("treeitem", name="util.js")).to_be_visible()
    expect(_tab(page, "util.js")).to_have_attribute("aria-selected", "true")

    # Rename it: the tree and the tab follow.
    tree.get_by_role("button", name="Rename lib/util.js").click()
    dialog = page.get_by_role("dialog", name="Rename lib/util.js")
    dialog.get_by_label("New path").fill("lib/helpers.js")
    dialog.get_by_role("button", name="Rename").click()
    expect(tree.get_by_role("treeitem", name="helpers.js")).to_be_visible()
    expect(tree.get_by_role("treeitem", name="util.js")).to_have_count(0)
    expect(_tab(page, "helpers.js")).to_be_visible()
    folder = tree.get_by_role("treeitem", name="lib")
    folder.focus()
    page.keyboard.press("ArrowLeft")
    expect(folder).to_have_attribute("aria-expanded", "false")
    expect(tree.get_by_role("treeitem", name="helpers.js")).to_have_count(0)
    page.keyboard.press("ArrowRight")
    expect(tree.get_by_role("treeitem", name="helpers.js")).to_be_visible()

    # An empty folder, then delete the lib folder (asks first).
    page.get_by_role("button", name="New folder").click()
    dialog = page.get_by_role("dialog", name="New folder")
    dialog.get_by_label("Folder path").fill("img")
    dialog.get_by_role("button", name="Create").click()
    expect(tree.get_by_role("treeitem", name="img")).to_be_visible()
    tree.get_by_role("button", name="Delete lib", exact=True).click()
    page.get_by_role("dialog", name="Delete lib?").get_by_role("button", name="Delete").click()
    expect(tree.get_by_role("treeitem", name="lib")).to_have_count(0)
    expect(_tab(page, "helpers.js")).to_have_count(0)

    # Download the working copy as a ZIP.
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download ZIP").click()
    with zipfile.ZipFile(caught.value.path()) as archive:
        names = set(archive.namelist())
    assert {"index.html", "README.md", "config.json"} <= names
    assert not any(n.startswith("lib/") for n in names)

    # Upload a ZIP: it replaces everything, after a confirmation.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<p>replaced</p>")
        archive.writestr("README.md", "# Replaced\n\nFrom a ZIP.\n")
        archive.writestr("config.json", json.dumps([]))
        archive.writestr("img/dot.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    page.locator("input[type=file][accept^='.zip']").set_input_files(
        {"name": "new.zip", "mimeType": "application/zip", "buffer": buffer.getvalue()}
    )
    page.get_by_role("dialog", name="Replace every file with new.zip?").get_by_role(
        "button", name="Replace everything"
    ).click()
    expect(page.get_by_text("Imported new.zip.")).to_be_visible()
    expect(tree.get_by_role("treeitem", name="dot.png")).to_be_visible()
    expect(tree.get_by_role("treeitem", name="lib")).to_have_count(0)

    # A binary file opens read-only and is never rewritten; the README renders.
    tree.get_by_role("treeitem", name="dot.png").click()
    expect(page.get_by_text("is a binary file")).to_be_visible()
    page.get_by_role("button", name="README", exact=True).click()
    readme = page.get_by_role("dialog", name="README.md")
    expect(readme.get_by_role("heading", name="Replaced")).to_be_visible()


_EVERY_TYPE = [
    {"type": "text", "name": "city", "label": "City", "default": "Tromsø"},
    {"type": "password", "name": "key", "label": "API key"},
    {"type": "textarea", "name": "query", "label": "Query"},
    {"type": "number", "name": "limit", "label": "Limit", "min": 0, "step": 0.5},
    {"type": "color", "name": "tint", "label": "Tint", "default": "#112233cc"},
    {"type": "switch", "name": "metric", "label": "Metric units"},
    {"type": "slider", "name": "size", "label": "Size", "min": 10, "max": 50, "default": 20},
    {
        "type": "select",
        "name": "unit",
        "label": "Unit",
        "options": [{"label": "Celsius", "value": "c"}, {"label": "Fahrenheit", "value": 2}],
    },
    {"type": "date", "name": "since", "label": "Since"},
]


def test_config_test_values_of_every_type_reach_the_preview(
    live_server: LiveServer, page: Page
) -> None:
    url = live_server.url
    live_server.sign_in(page, live_server.create_user())
    module_id = page.request.post(
        f"{url}/api/modules", data={"name": "Types", "kind": "widget"}
    ).json()["id"]
    html = (
        '<pre id="out"></pre><script>visualbox.onConfigChanged(function (c) {'
        " document.getElementById('out').textContent = JSON.stringify(c); });</script>"
    )
    for path, content in (("index.html", html), ("config.json", json.dumps(_EVERY_TYPE))):
        saved = page.request.put(f"{url}/api/modules/{module_id}/files/{path}", data=content)
        assert saved.ok, saved.text()
    page.goto(f"{url}/modules/{module_id}")
    out = page.frame_locator("iframe[title='Widget preview']").locator("#out")

    def shown() -> dict[str, Any]:
        expect(out).not_to_be_empty()
        return dict(json.loads(out.inner_text()))

    expect(out).to_contain_text('"city":"Tromsø"')
    assert shown() == {
        "city": "Tromsø",
        "key": None,
        "query": None,
        "limit": None,
        "tint": "#112233cc",
        "metric": False,
        "size": 20,
        "unit": None,
        "since": None,
    }
    expect(page.get_by_label("API key")).to_have_attribute("type", "password")
    page.get_by_label("City").fill("Oslo")
    page.get_by_label("API key").fill("s3cret")
    page.get_by_label("Query").fill("line 1\nline 2")
    page.get_by_label("Limit").fill("2.5")
    page.get_by_label("Tint", exact=True).fill("#abcdef")
    page.get_by_label("Metric units").check()
    page.get_by_label("Size").fill("35")
    page.get_by_label("Unit", exact=True).select_option(label="Fahrenheit")
    page.get_by_label("Since").fill("2024-02-29")
    expect(out).to_contain_text('"since":"2024-02-29"')
    assert shown() == {
        "city": "Oslo",
        "key": "s3cret",
        "query": "line 1\nline 2",
        "limit": 2.5,
        "tint": "#abcdef",
        "metric": True,
        "size": 35,
        "unit": 2,
        "since": "2024-02-29",
    }
    # The test values are kept for the tab, except the password.
    kept = page.evaluate("JSON.stringify(Object.entries(sessionStorage))")
    assert "Oslo" in kept and "s3cret" not in kept
    page.reload()
    expect(out).to_contain_text('"city":"Oslo"')
    assert shown()["key"] is None


def test_fork_from_the_registry_and_unsaved_changes_are_guarded(
    live_server: LiveServer, page: Page
) -> None:
    url = live_server.url
    author = live_server.create_user("Author")
    live_server.sign_in(page, author)
    made = page.request.post(f"{url}/api/modules", data={"name": "Dial meter", "kind": "widget"})
    module_id = made.json()["id"]
    published = page.request.post(
        f"{url}/api/modules/{module_id}/versions", data={"version": "1.0.0"}
    )
    assert published.status == 201, published.text()
    page.request.post(f"{url}/api/auth/signout")

    live_server.sign_in(page, live_server.create_user("Forker"))
    page.goto(f"{url}/modules")
    page.get_by_role("button", name="Fork from registry").click()
    dialog = page.get_by_role("dialog", name="Fork from the registry")
    dialog.get_by_label("Search the registry").fill("gauge")
    dialog.get_by_role("button", name="Fork Dial meter").click()
    expect(page.get_by_text("Forked into “Dial meter”.")).to_be_visible()
    expect(page.get_by_role("heading", name="Dial meter")).to_be_visible()
    expect(page.get_by_text("forked from 1.0.0")).to_be_visible()
    assert page.url.rsplit("/", 1)[1] != module_id

    # A tab with unsaved changes asks before closing; so does leaving the page.
    _replace_editor_text(page, "index.html", "<p>changed</p>")
    page.get_by_role("button", name="Close index.html").click()
    confirm = page.get_by_role("dialog", name="Close index.html?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(_tab(page, "index.html")).to_be_visible()
    page.get_by_role("link", name="Back to my modules").click()
    leave = page.get_by_role("dialog", name="Leave the studio?")
    expect(leave).to_contain_text("index.html")
    leave.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name="Dial meter")).to_be_visible()
    page.get_by_role("link", name="Back to my modules").click()
    leave.get_by_role("button", name="Leave without saving").click()
    expect(page).to_have_url(f"{url}/modules")
    expect(page.get_by_role("link", name="Dial meter")).to_be_visible()


def test_list_options_problems_and_yank(live_server: LiveServer, page: Page) -> None:
    url = live_server.url
    live_server.sign_in(page, live_server.create_user())
    for body in (
        {"name": "Weather", "kind": "integration", "runtime": "go"},
        {"name": "Dial meter", "kind": "widget"},
        {"name": "Clock", "kind": "widget"},
    ):
        assert page.request.post(f"{url}/api/modules", data=body).status == 201
    gauge = next(
        m for m in page.request.get(f"{url}/api/modules").json() if m["name"] == "Dial meter"
    )
    page.goto(f"{url}/modules")
    cards = page.get_by_role("list", name="Your modules").get_by_role("listitem")
    expect(cards).to_have_count(3)

    # Filter by kind and search, in the browser.
    page.get_by_label("Integrations").check()
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("Weather")
    expect(cards).to_contain_text("go")
    page.get_by_label("All").check()
    page.get_by_label("Search my modules").fill("dia")
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("Dial meter")
    page.get_by_label("Search my modules").fill("nothing like it")
    expect(page.get_by_text("No module matches these filters.")).to_be_visible()
    page.get_by_label("Search my modules").fill("")

    # Delete asks first.
    page.get_by_role("button", name="Delete Clock").click()
    page.get_by_role("dialog", name="Delete “Clock”?").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted “Clock”.")).to_be_visible()
    expect(cards).to_have_count(2)

    # Options: a bad tag is refused by the field; good values are saved.
    page.get_by_role("link", name="Dial meter").click()
    page.get_by_role("button", name="Options").click()
    options = page.get_by_role("dialog", name="Module options")
    options.get_by_label("Name").fill("Round gauge")
    options.get_by_label("Tags").fill("iot, Not A Tag!")
    options.get_by_role("button", name="Save").click()
    expect(options.get_by_label("Tags")).to_have_attribute("aria-invalid", "true")
    options.get_by_label("Tags").fill("iot, meters")
    options.get_by_role("button", name="Save").click()
    expect(options).to_be_hidden()
    expect(page.get_by_role("heading", name="Round gauge")).to_be_visible()
    assert page.request.get(f"{url}/api/modules/{gauge['id']}").json()["tags"] == ["iot", "meters"]

    # A config.json the check refuses is not saved; the reasons name the field.
    tree = page.get_by_role("tree", name="Files")
    tree.get_by_role("treeitem", name="config.json").click()
    _replace_editor_text(page, "config.json", '[{"type": "colour", "name": "x", "label": "X"}]')
    page.keyboard.press("ControlOrMeta+s")
    refused = page.get_by_text("config.json was not saved")
    expect(refused).to_contain_text("Type (config.json, entry 1): unknown type")
    expect(refused).not_to_contain_text("config.json[0]")  # a label, never a raw path
    expect(_tab(page, "config.json").get_by_label("unsaved changes")).to_be_visible()
    assert (
        page.request.get(f"{url}/api/modules/{gauge['id']}/files/config.json").json()[0]["name"]
        == "title"
    )
    page.get_by_role("button", name="Close config.json").click()
    page.get_by_role("dialog", name="Close config.json?").get_by_role(
        "button", name="Discard changes"
    ).click()
    expect(_tab(page, "config.json")).to_have_count(0)

    # Without README.md the check names the problem and publishing shows the server's reasons.
    tree.get_by_role("button", name="Delete README.md").click()
    page.get_by_role("dialog", name="Delete README.md?").get_by_role(
        "button", name="Delete"
    ).click()
    problems = page.get_by_role("list", name="Problems")
    expect(problems).to_contain_text("README.md")
    page.get_by_role("button", name="Publish", exact=True).click()
    dialog = page.get_by_role("dialog", name="Publish to the registry")
    dialog.get_by_role("button", name="Publish").click()
    expect(dialog.get_by_role("alert")).to_contain_text("README.md")
    dialog.get_by_role("button", name="Cancel").click()

    # README view offers to write one; then publish and yank.
    page.get_by_role("button", name="README", exact=True).click()
    readme = page.get_by_role("dialog", name="README.md")
    expect(readme).to_contain_text("no README.md yet")
    readme.get_by_role("button", name="Edit README.md").click()
    expect(_tab(page, "README.md")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("The module passes the check.")).to_be_visible()
    _publish(page, "1.0.0")
    page.get_by_role("button", name="Yank 1.0.0").click()
    page.get_by_role("dialog", name="Yank version 1.0.0?").get_by_role(
        "button", name="Yank"
    ).click()
    versions = page.get_by_role("list", name="Published versions")
    expect(versions.get_by_text("yanked")).to_be_visible()
    expect(page.get_by_role("button", name="Yank 1.0.0")).to_have_count(0)


def test_a_fork_of_a_builtin_widget_previews_its_sample_data(
    live_server: LiveServer, page: Page
) -> None:
    live_server.sign_in(page, live_server.create_user())
    made = page.request.post(f"{live_server.url}/api/registry/modules/builtin-gauge/fork")
    assert made.ok, made.text()
    page.goto(f"{live_server.url}/modules/{made.json()['id']}")
    sample = page.get_by_label("Sample data")
    expect(sample).to_have_value(re.compile(r'"value": 63\.4'))  # the gauge's visualbox.json
    gauge = page.frame_locator("iframe[title='Widget preview']").locator("svg")
    expect(gauge.get_by_text("63.4").first).to_be_visible()
    sample.fill("12")
    page.reload()  # what the developer typed is kept over the manifest's sample
    expect(page.get_by_label("Sample data")).to_have_value("12")
