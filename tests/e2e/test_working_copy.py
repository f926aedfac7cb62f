"""Working copies in the studio: a ZIP that is not a module is refused with words and
changes nothing; a good import can be undone (and redone); a reset to a published
version asks first, naming what is lost, and can be undone too."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer


def _zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _upload(page: Page, name: str, data: bytes) -> None:
    page.locator("input[type=file][accept^='.zip']").set_input_files(
        {"name": name, "mimeType": "application/zip", "buffer": data}
    )
    page.get_by_role("dialog", name=f"Replace every file with {name}?").get_by_role(
        "button", name="Replace everything"
    ).click()


def test_bad_zip_refused_then_import_undo_and_reset(live_server: LiveServer, page: Page) -> None:
    url = live_server.url
    live_server.sign_in(page, live_server.create_user())
    created = page.request.post(f"{url}/api/modules", data={"name": "Clock", "kind": "widget"})
    assert created.status == 201, created.text()
    module_id = created.json()["id"]
    base = f"{url}/api/modules/{module_id}"
    published = page.request.post(f"{base}/versions", data={"version": "1.0.0"})
    assert published.status == 201, published.text()
    released = page.request.get(f"{base}/files/index.html").body()
    edited = page.request.put(
        f"{base}/files/index.html",
        data=b"<p>work in progress</p>\n",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert edited.ok, edited.text()
    before = page.request.get(f"{base}/archive").body()

    page.goto(f"{url}/modules/{module_id}")
    tree = page.get_by_role("tree")
    expect(tree.get_by_role("treeitem", name="index.html")).to_be_visible()

    # A ZIP of holiday photos is refused, in words, and nothing is replaced.
    _upload(page, "photos.zip", _zip({"beach.jpg": b"\xff\xd8\xff", "sea.jpg": b"\xff\xd8\xff"}))
    refusal = page.get_by_role("alert", name="Working copy")
    expect(refusal).to_contain_text("photos.zip was not imported.")
    expect(refusal).to_contain_text("nothing was replaced")
    expect(refusal).to_contain_text("README.md is missing")
    expect(refusal).to_contain_text("config.json is missing")
    expect(refusal).to_contain_text("There is no entry file: a widget starts from index.html.")
    expect(refusal).not_to_contain_text("visualbox.json.kind")  # no raw field paths
    shot = Path(tempfile.gettempdir()) / f"studio-refused-{os.getpid()}.png"
    page.screenshot(path=str(shot))
    print(f"screenshot of the refusal: {shot}")
    expect(tree.get_by_role("treeitem", name="index.html")).to_be_visible()
    expect(tree.get_by_role("treeitem", name="beach.jpg")).to_have_count(0)
    assert page.request.get(f"{base}/archive").body() == before
    refusal.get_by_role("button", name="Dismiss").click()
    expect(refusal).to_have_count(0)

    # A good module replaces everything, and Undo brings the working copy back.
    good = {
        "index.html": "<p>imported</p>\n",
        "README.md": "# Imported\n\nFrom a ZIP.\n",
        "config.json": "[]",
        "imported.txt": "hello",
    }
    _upload(page, "good.zip", _zip(good))
    done = page.get_by_role("status", name="Working copy")
    expect(done).to_contain_text("Imported good.zip.")
    expect(tree.get_by_role("treeitem", name="imported.txt")).to_be_visible()
    done.get_by_role("button", name="Undo").click()
    expect(done).to_contain_text("Undone: the working copy is back as it was before.")
    expect(tree.get_by_role("treeitem", name="imported.txt")).to_have_count(0)
    assert page.request.get(f"{base}/archive").body() == before
    # ... and Redo takes the import again.
    done.get_by_role("button", name="Redo").click()
    expect(done).to_contain_text("Redone")
    expect(tree.get_by_role("treeitem", name="imported.txt")).to_be_visible()

    # Reset to the published version: a confirmation names what is lost.
    versions = page.get_by_role("list", name="Published versions")
    versions.get_by_role("button", name="Reset the working copy to 1.0.0").click()
    confirm = page.get_by_role("dialog", name="Reset the working copy to version 1.0.0?")
    expect(confirm).to_contain_text("Every file is replaced by the files of version 1.0.0.")
    expect(confirm).to_contain_text("Deleted, as 1.0.0 does not have them: imported.txt.")
    expect(confirm).to_contain_text("Back as in 1.0.0, losing later changes: ")
    expect(confirm).to_contain_text("index.html")
    expect(confirm).to_contain_text("Undo, right after, brings the working copy back.")
    confirm.get_by_role("button", name="Reset to 1.0.0").click()
    expect(done).to_contain_text("The working copy is now version 1.0.0.")
    expect(tree.get_by_role("treeitem", name="imported.txt")).to_have_count(0)
    assert page.request.get(f"{base}/files/index.html").body() == released
    done.get_by_role("button", name="Undo").click()
    expect(done).to_contain_text("Undone")
    expect(tree.get_by_role("treeitem", name="imported.txt")).to_be_visible()

    # After a reload the kept working copy can still be brought back.
    page.reload()
    kept = page.get_by_text("The working copy before the last undo")
    expect(kept).to_be_visible()
    page.get_by_role("button", name="Bring it back").click()
    expect(done).to_contain_text("Undone")
    expect(tree.get_by_role("treeitem", name="imported.txt")).to_have_count(0)
    assert page.request.get(f"{base}/files/index.html").body() == released


def test_changes_made_outside_the_studio_show_in_it(live_server: LiveServer, page: Page) -> None:
    """`visualbox module dev` (or another tab) saves a file: the open studio follows,
    its preview reloads and a clean editor tab shows the new text."""
    url = live_server.url
    live_server.sign_in(page, live_server.create_user())
    created = page.request.post(f"{url}/api/modules", data={"name": "Sign", "kind": "widget"})
    assert created.status == 201, created.text()
    base = f"{url}/api/modules/{created.json()['id']}"

    def save(text: str) -> None:
        answer = page.request.put(
            f"{base}/files/index.html",
            data=text.encode(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert answer.ok, answer.text()

    save('<p id="out">first</p>\n')
    page.goto(f"{url}/modules/{created.json()['id']}")
    preview = page.frame_locator("iframe[title='Widget preview']").locator("#out")
    expect(preview).to_have_text("first")
    editor = page.locator(".cm-content")
    expect(editor).to_contain_text('<p id="out">first</p>')

    save('<p id="out">second</p>\n')  # as `visualbox module dev` does on save
    expect(page.get_by_text("The files changed outside this tab")).to_be_visible(timeout=15_000)
    expect(preview).to_have_text("second")
    expect(editor).to_contain_text('<p id="out">second</p>')
