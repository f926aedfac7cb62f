"""Working copies replaced whole: a refused import changes nothing; every replace (an
import, a reset to a published version, an undo) can be undone; owner only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Account
from visualbox.modules.archive import make_zip

README = b"# Weather\n\nToday's weather.\n"
GOOD = {"README.md": README, "config.json": b"[]", "main.py": b"print('imported')\n"}
BAD_OPTION = json.dumps([{"name": "city", "type": "text", "label": "City", "default": 3}])


def new_module(http: TestClient, **body: Any) -> str:
    payload = {"name": "Weather", "kind": "integration", "runtime": "python", **body}
    response = http.post("/api/modules", json=payload)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def snapshot(http: TestClient, module_id: str) -> tuple[bytes, list[dict[str, Any]], Any]:
    """Everything a user can see of a working copy: the archive, every entry, the cover."""
    base = f"/api/modules/{module_id}"
    archive = http.get(f"{base}/archive")
    assert archive.status_code == 200
    return archive.content, http.get(f"{base}/files").json(), http.get(base).json()["cover"]


def working_copy(http: TestClient, module_id: str) -> dict[str, Any]:
    response = http.get(f"/api/modules/{module_id}/working-copy")
    assert response.status_code == 200, response.text
    return dict(response.json())


def files_of(answer: dict[str, Any]) -> set[str]:
    return {f["path"] for f in answer["files"] if not f["is_folder"]}


REFUSALS: dict[str, tuple[dict[str, bytes], list[tuple[str, str]]]] = {
    # name: (the ZIP's files, [(field, words the reason contains)])
    "photos": (
        {"holiday/beach.jpg": b"\xff\xd8\xff", "holiday/sea.jpg": b"\xff\xd8\xff"},
        [
            ("README.md", "README.md is missing"),
            ("config.json", "config.json is missing"),
            ("visualbox.json.kind", "There is no entry file: an integration starts from main.py"),
        ],
    ),
    "no config.json": (
        {"README.md": README, "main.py": b""},
        [("config.json", "config.json is missing: every module needs one")],
    ),
    "no entry file": (
        {"README.md": README, "config.json": b"[]", "helper.py": b""},
        [("visualbox.json.kind", "There is no entry file")],
    ),
    "a bad option": (
        {**GOOD, "config.json": BAD_OPTION.encode()},
        [("config.json[0].default", "config.json, option 1 “default”: ")],
    ),
    "a manifest naming another entry": (
        {**GOOD, "visualbox.json": b'{"kind": "integration", "runtime": "node"}'},
        [("index.js", "index.js is missing: a node integration starts from index.js")],
    ),
    "a widget": (
        {"README.md": README, "config.json": b"[]", "index.html": b"<p>hi</p>"},
        [("kind", "The ZIP holds a widget, and this module is an integration.")],
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_zip_that_is_not_a_valid_module_is_refused_and_changes_nothing(
    make_account: Callable[..., Account], name: str
) -> None:
    ada = make_account()
    module_id = new_module(ada.http)
    base = f"/api/modules/{module_id}"
    assert ada.http.post(f"{base}/folders", json={"path": "empty"}).status_code == 201
    before = snapshot(ada.http, module_id)
    tree, expected = REFUSALS[name]
    response = ada.http.put(f"{base}/archive", content=make_zip(tree))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "nothing was replaced" in error["message"].lower()
    reasons = {f["field"]: f["reason"] for f in error["fields"]}
    for field, words in expected:
        assert words in reasons.get(field, ""), (field, reasons)
    assert all(r.endswith(".") for r in reasons.values()), reasons
    assert snapshot(ada.http, module_id) == before  # byte for byte, folders included
    assert working_copy(ada.http, module_id)["previous"] is None  # nothing to undo


def test_the_error_message_counts_the_problems(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module_id = new_module(ada.http)
    tree = REFUSALS["photos"][0]
    response = ada.http.put(f"/api/modules/{module_id}/archive", content=make_zip(tree))
    assert response.json()["error"]["message"] == (
        "This ZIP is not a valid module (3 problems), so nothing was replaced."
    )


def test_what_is_not_a_zip_is_still_refused_with_words(
    make_account: Callable[..., Account],
) -> None:
    ada = make_account()
    module_id = new_module(ada.http)
    before = snapshot(ada.http, module_id)
    response = ada.http.put(f"/api/modules/{module_id}/archive", content=b"just some text")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "This file cannot be imported, so nothing was replaced."
    assert error["fields"][0]["reason"].startswith("The file is not a valid ZIP archive")
    assert snapshot(ada.http, module_id) == before


def test_an_import_can_be_undone_and_redone(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module_id = new_module(ada.http)
    base = f"/api/modules/{module_id}"
    assert ada.http.put(f"{base}/files/logo.png", content=b"\x89PNG\r\n").status_code == 200
    assert ada.http.patch(base, json={"cover": "logo.png"}).status_code == 200
    assert ada.http.post(f"{base}/folders", json={"path": "empty/inner"}).status_code == 201
    before = snapshot(ada.http, module_id)
    files_before = {e["path"] for e in before[1] if not e["is_folder"]}

    imported = ada.http.put(f"{base}/archive", content=make_zip(GOOD))
    assert imported.status_code == 200, imported.text
    after_import = snapshot(ada.http, module_id)
    assert after_import[2] is None  # the cover went with its file
    state = working_copy(ada.http, module_id)
    assert files_of(state) == set(GOOD)
    previous = state["previous"]
    assert previous["replaced_by"] == "import" and previous["version"] is None
    assert previous["files"] == len(files_before)
    assert previous["size"] == sum(e["size"] for e in before[1] if not e["is_folder"])

    undone = ada.http.post(f"{base}/working-copy/undo")
    assert undone.status_code == 200, undone.text
    assert files_of(undone.json()) == files_before
    assert snapshot(ada.http, module_id) == before  # files, empty folders and cover
    assert undone.json()["previous"]["replaced_by"] == "undo"

    redone = ada.http.post(f"{base}/working-copy/undo")
    assert redone.status_code == 200
    assert snapshot(ada.http, module_id) == after_import


def test_nothing_to_undo(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module_id = new_module(ada.http)
    before = snapshot(ada.http, module_id)
    response = ada.http.post(f"/api/modules/{module_id}/working-copy/undo")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["message"] == "There is nothing to undo: this working copy has not been replaced."
    assert [f["field"] for f in error["fields"]] == ["previous"]
    assert snapshot(ada.http, module_id) == before


def test_reset_to_a_published_version_and_undo_it(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module_id = new_module(ada.http)
    base = f"/api/modules/{module_id}"
    assert ada.http.put(f"{base}/files/main.py", content=b"print('one')\n").status_code == 200
    published = ada.http.post(f"{base}/versions", json={"version": "1.0.0"})
    assert published.status_code == 201, published.text
    version_files = {e["path"]: e["sha256"] for e in ada.http.get(f"{base}/files").json()}
    assert ada.http.put(f"{base}/files/main.py", content=b"print('two')\n").status_code == 200
    assert ada.http.put(f"{base}/files/notes.txt", content=b"later").status_code == 200
    assert ada.http.post(f"{base}/versions", json={"version": "1.1.0"}).status_code == 201
    assert ada.http.put(f"{base}/files/main.py", content=b"print('three')\n").status_code == 200
    edited = snapshot(ada.http, module_id)
    compared = ada.http.get(f"{base}/working-copy/compare", params={"version": "1.0.0"})
    assert compared.status_code == 200, compared.text
    assert compared.json() == {
        "version": "1.0.0",
        "changed": ["main.py"],
        "removed": ["notes.txt"],
        "added": [],
    }
    assert snapshot(ada.http, module_id) == edited  # comparing writes nothing
    unknown = ada.http.get(f"{base}/working-copy/compare", params={"version": "7.0.0"})
    assert unknown.status_code == 404
    assert [f["field"] for f in unknown.json()["error"]["fields"]] == ["version"]

    reset = ada.http.post(f"{base}/working-copy/reset", json={"version": "1.0.0"})
    assert reset.status_code == 200, reset.text
    answer = reset.json()
    assert {f["path"]: f["sha256"] for f in answer["files"]} == version_files
    assert ada.http.get(f"{base}/files/main.py").content == b"print('one')\n"
    assert answer["previous"]["replaced_by"] == "reset"
    assert answer["previous"]["version"] == "1.0.0"

    assert ada.http.post(f"{base}/working-copy/undo").status_code == 200
    assert snapshot(ada.http, module_id) == edited  # the unpublished edit is back

    # A yanked version is still there to go back to.
    yank = ada.http.post(f"/api/registry/modules/{module_id}/versions/1.1.0/yank")
    assert yank.status_code == 200, yank.text
    again = ada.http.post(f"{base}/working-copy/reset", json={"version": "1.1.0"})
    assert again.status_code == 200
    assert ada.http.get(f"{base}/files/main.py").content == b"print('two')\n"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"version": "9.9.9"}, 404, "version"),
        ({}, 422, "version"),
        ({"version": ""}, 422, "version"),
        ({"version": "1.0.0", "files": []}, 422, "files"),
    ],
)
def test_reset_refuses_bad_input(
    make_account: Callable[..., Account], body: dict[str, Any], status: int, field: str
) -> None:
    ada = make_account()
    module_id = new_module(ada.http)
    base = f"/api/modules/{module_id}"
    assert ada.http.post(f"{base}/versions", json={"version": "1.0.0"}).status_code == 201
    before = snapshot(ada.http, module_id)
    response = ada.http.post(f"{base}/working-copy/reset", json=body)
    assert response.status_code == status, response.text
    assert field in [f["field"] for f in response.json()["error"]["fields"]]
    assert snapshot(ada.http, module_id) == before


def test_a_withdrawn_version_cannot_be_reset_to(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module_id = new_module(ada.http)
    base = f"/api/modules/{module_id}"
    assert ada.http.post(f"{base}/versions", json={"version": "1.0.0"}).status_code == 201
    withdrawn = ada.http.post(
        f"/api/registry/modules/{module_id}/versions/1.0.0/withdraw",
        json={"reason": "Published by mistake."},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    before = snapshot(ada.http, module_id)
    response = ada.http.post(f"{base}/working-copy/reset", json={"version": "1.0.0"})
    assert response.status_code == 410
    assert "Published by mistake." in response.json()["error"]["message"]
    assert snapshot(ada.http, module_id) == before


def test_only_the_owner_can_replace_undo_or_reset(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada, bob = make_account(), make_account()
    module_id = new_module(ada.http)
    base = f"/api/modules/{module_id}"
    assert ada.http.post(f"{base}/versions", json={"version": "1.0.0"}).status_code == 201
    assert ada.http.put(f"{base}/archive", content=make_zip(GOOD)).status_code == 200
    before = snapshot(ada.http, module_id)
    before_previous = working_copy(ada.http, module_id)["previous"]
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{base}/working-copy", {}),
        ("GET", f"{base}/working-copy/compare?version=1.0.0", {}),
        ("POST", f"{base}/working-copy/undo", {}),
        ("POST", f"{base}/working-copy/reset", {"json": {"version": "1.0.0"}}),
        ("PUT", f"{base}/archive", {"content": make_zip({**GOOD, "main.py": b"bob"})}),
    ]
    for method, url, extra in attempts:
        theirs = bob.http.request(method, url, **extra)
        assert theirs.status_code == 404, (method, url, theirs.text)
        assert theirs.json()["error"]["message"] == "No such module."
        assert client.request(method, url, **extra).status_code == 401
    assert snapshot(ada.http, module_id) == before
    assert working_copy(ada.http, module_id)["previous"] == before_previous
