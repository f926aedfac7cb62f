"""The registry: publish, read (public), yank, fork, resolve."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_modules import BINARY, error_fields, new_module
from tests.conftest import Account
from visualbox.db.tables.modules import Blob
from visualbox.errors import Gone, NotFound
from visualbox.modules.manifest import MAX_TAG_CHARS
from visualbox.runtime.runners import SourceRef
from visualbox.services import frames, registry, run_tokens
from visualbox.services.secrets import SecretBox


def publish(http: TestClient, module_id: str, version: str, **body: Any) -> Any:
    return http.post(f"/api/modules/{module_id}/versions", json={"version": version, **body})


def published_module(http: TestClient, version: str = "1.0.0", **body: Any) -> dict[str, Any]:
    module = new_module(http, **body)
    response = publish(http, module["id"], version, changelog="First.")
    assert response.status_code == 201, response.text
    return module


def test_publish_and_read_publicly(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account(name="Ada")
    module = new_module(ada.http)
    mid = module["id"]
    assert client.get(f"/api/registry/modules/{mid}").status_code == 404  # not published yet
    ada.http.put(f"/api/modules/{mid}/files/bin/data.bin", content=BINARY)
    created = publish(ada.http, mid, "1.0.0", changelog="First.")
    assert created.status_code == 201, created.text
    assert created.json()["version"] == "1.0.0"
    page = client.get(f"/api/registry/modules/{mid}").json()
    assert page["owner_name"] == "Ada" and page["latest_version"] == "1.0.0"
    assert [v["version"] for v in page["versions"]] == ["1.0.0"]
    assert page["forks"] == 0 and page["uses"] == 0
    version = client.get(f"/api/registry/modules/{mid}/versions/latest").json()
    assert version["version"] == "1.0.0" and version["yanked"] is False
    assert {f["name"] for f in version["config_schema"]} >= {"title"}
    assert version["manifest"]["kind"] == "integration"
    assert version["readme"].startswith("#")
    archive = client.get(f"/api/registry/modules/{mid}/versions/1.0.0/archive")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        assert zf.read("bin/data.bin") == BINARY
    one = client.get(f"/api/registry/modules/{mid}/versions/1.0.0/files/bin/data.bin")
    assert one.content == BINARY and one.headers["x-content-type-options"] == "nosniff"
    missing = client.get(f"/api/registry/modules/{mid}/versions/1.0.0/files/nope.txt")
    assert missing.status_code == 404
    # The snapshot is immutable: later edits of the working copy do not change it.
    ada.http.put(f"/api/modules/{mid}/files/bin/data.bin", content=b"changed")
    again = client.get(f"/api/registry/modules/{mid}/versions/1.0.0/files/bin/data.bin")
    assert again.content == BINARY


def test_published_html_is_sandboxed(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account()
    module = published_module(ada.http, name="W", kind="widget", runtime=None)
    got = client.get(f"/api/registry/modules/{module['id']}/versions/latest/files/index.html")
    assert got.headers["content-type"].startswith("text/html")
    assert got.headers["content-security-policy"].startswith("sandbox")
    assert "allow-same-origin" not in got.headers["content-security-policy"]
    assert got.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("version", "reason"),
    [("1.0", "semantic"), ("v1.0.0", "semantic"), ("banana", "semantic"), ("0.9.0", "greater")],
)
def test_publish_refuses_bad_versions(
    make_account: Callable[..., Account], version: str, reason: str
) -> None:
    ada = make_account()
    module = published_module(ada.http)
    response = publish(ada.http, module["id"], version)
    assert response.status_code == 422
    assert error_fields(response) == ["version"]
    assert reason in response.json()["error"]["fields"][0]["reason"]
    equal = publish(ada.http, module["id"], "1.0.0")
    assert equal.status_code == 422


def test_publish_refuses_an_invalid_module(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module = new_module(ada.http)
    ada.http.delete(f"/api/modules/{module['id']}/files/README.md")
    response = publish(ada.http, module["id"], "1.0.0")
    assert response.status_code == 422
    assert "README.md" in error_fields(response)
    assert ada.http.get(f"/api/registry/modules/{module['id']}").status_code == 404


def test_publish_denials(client: TestClient, make_account: Callable[..., Account]) -> None:
    ada, bob = make_account(), make_account()
    module = new_module(ada.http)
    assert (
        client.post(f"/api/modules/{module['id']}/versions", json={"version": "1.0.0"}).status_code
        == 401
    )
    assert publish(bob.http, module["id"], "1.0.0").status_code == 404
    unverified = make_account(verified=False)
    assert publish(unverified.http, module["id"], "1.0.0").status_code == 403


def test_yank(client: TestClient, make_account: Callable[..., Account], app: FastAPI) -> None:
    ada, bob, admin = make_account(), make_account(), make_account(admin=True)
    module = published_module(ada.http)
    mid = module["id"]
    assert publish(ada.http, mid, "1.1.0").status_code == 201
    yank_url = f"/api/registry/modules/{mid}/versions/1.1.0/yank"
    assert client.post(yank_url).status_code == 401
    denied = bob.http.post(yank_url)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert ada.http.post(yank_url).json()["yanked"] is True
    assert ada.http.post(yank_url).status_code == 200  # idempotent
    assert client.get(f"/api/registry/modules/{mid}/versions/latest").json()["version"] == "1.0.0"
    pinned = client.get(f"/api/registry/modules/{mid}/versions/1.1.0").json()
    assert pinned["yanked"] is True
    public = [v["version"] for v in client.get(f"/api/registry/modules/{mid}").json()["versions"]]
    mine = [v["version"] for v in ada.http.get(f"/api/registry/modules/{mid}").json()["versions"]]
    assert public == ["1.0.0"] and mine == ["1.1.0", "1.0.0"]
    reuse = publish(ada.http, mid, "1.1.0")
    assert reuse.status_code == 422 and error_fields(reuse) == ["version"]
    assert admin.http.post(f"/api/registry/modules/{mid}/versions/1.0.0/yank").status_code == 200
    assert client.get(f"/api/registry/modules/{mid}/versions/latest").status_code == 404
    with app.state.db.session() as db:
        resolved = registry.resolve(db, mid, "1.1.0", user=None)
        assert resolved.yanked is True and resolved.version == "1.1.0"
        with pytest.raises(NotFound):
            registry.resolve(db, mid, "latest", user=None)
    assert client.post(f"/api/registry/modules/{mid}/versions/9.9.9/yank").status_code == 401
    assert ada.http.post(f"/api/registry/modules/{mid}/versions/9.9.9/yank").status_code == 404


def _withdraw(http: TestClient, module_id: str, version: str, **body: Any) -> Any:
    url = f"/api/registry/modules/{module_id}/versions/{version}/withdraw"
    return http.post(url, json={"reason": "An API key was published by mistake.", **body})


def test_a_withdrawn_versions_files_are_gone_for_everyone(
    client: TestClient, make_account: Callable[..., Account], app: FastAPI
) -> None:
    """Issue 11: a yanked version's files stay downloadable; a withdrawn one's never again."""
    ada, bob, admin = make_account(name="Ada"), make_account(), make_account(admin=True)
    module = new_module(ada.http)
    mid = module["id"]
    ada.http.put(f"/api/modules/{mid}/files/bin/data.bin", content=BINARY)
    assert publish(ada.http, mid, "1.0.0").status_code == 201
    ada.http.put(f"/api/modules/{mid}/files/bin/data.bin", content=b"no key here")
    assert publish(ada.http, mid, "1.1.0").status_code == 201
    base = f"/api/registry/modules/{mid}/versions/1.0.0"
    paths = [f"{base}/archive", f"{base}/files/bin/data.bin", f"{base}/files/README.md"]
    assert ada.http.post(f"{base}/yank").status_code == 200
    for http in (ada.http, bob.http, client):  # yanked: still served (to those pinned)
        assert [http.get(p).status_code for p in paths] == [200, 200, 200]
    with app.state.db.session() as db:
        row = registry.get_version(db, registry.listed_module(db, mid), "1.0.0")
        archive_sha = row.archive_sha
        ref = SourceRef(mid, "1.0.0", row.content_hash, "python")
    box = SecretBox.from_settings(app.state.settings)
    runner = {"Authorization": f"Bearer {run_tokens.issue(box, [ref])}"}
    source = f"/api/runner/modules/{mid}/versions/1.0.0/archive"
    assert client.get(source, headers=runner).status_code == 200  # what a runner fetches

    assert _withdraw(client, mid, "1.0.0").status_code == 401
    denied = _withdraw(bob.http, mid, "1.0.0")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert error_fields(_withdraw(ada.http, mid, "1.0.0", reason="")) == ["reason"]
    assert error_fields(_withdraw(ada.http, mid, "1.0.0", reason="   ")) == ["reason"]
    assert error_fields(_withdraw(ada.http, mid, "latest")) == ["version"]
    assert _withdraw(ada.http, mid, "9.9.9").status_code == 404
    done = _withdraw(ada.http, mid, "1.0.0")
    assert done.status_code == 200, done.text
    withdrawn = done.json()
    assert withdrawn["withdrawn"] is True and withdrawn["yanked"] is True
    assert withdrawn["withdrawn_reason"] == "An API key was published by mistake."
    assert withdrawn["readme"] == "" and withdrawn["config_schema"] == []
    note = 'Version 1.0.0 of "Weather" was withdrawn by its author: An API key was published'
    for http in (ada.http, bob.http, client):
        for path in [*paths, f"{base}/files/main.py"]:
            gone = http.get(path)
            assert gone.status_code == 410, (path, gone.text)
            assert gone.json()["error"]["code"] == "gone"
            assert gone.json()["error"]["message"].startswith(note)
            assert BINARY not in gone.content
        assert http.get(f"{base}/files/nope").status_code == 410  # no file list either
    fork = bob.http.post(f"/api/registry/modules/{mid}/fork", json={"version": "1.0.0"})
    assert fork.status_code == 410
    refused = client.get(source, headers=runner)  # with a run token issued before
    assert refused.status_code == 410 and BINARY not in refused.content
    # The bytes are gone from the database, not only hidden.
    with app.state.db.session() as db:
        assert db.get(Blob, archive_sha) is None
        with pytest.raises(Gone):
            registry.resolve(db, mid, "1.0.0", user=ada.user)
    # It cannot be undone, its number stays taken, and everyone sees why it went.
    again = _withdraw(ada.http, mid, "1.0.0", reason="Changed my mind.")
    assert again.json()["withdrawn_reason"] == "An API key was published by mistake."
    assert client.get(f"{base}/archive").status_code == 410
    assert publish(ada.http, mid, "1.0.0").status_code == 422
    listed = client.get(f"/api/registry/modules/{mid}").json()["versions"]
    assert [(v["version"], v["withdrawn"], v["withdrawn_reason"]) for v in listed] == [
        ("1.1.0", False, None),
        ("1.0.0", True, "An API key was published by mistake."),
    ]
    # An administrator may withdraw too; then nothing is left to use.
    by_admin = _withdraw(admin.http, mid, "1.1.0", reason="Malware.")
    assert by_admin.status_code == 200, by_admin.text
    latest = client.get(f"/api/registry/modules/{mid}/versions/1.1.0/archive")
    assert latest.json()["error"]["message"].endswith("withdrawn by an administrator: Malware.")
    with app.state.db.session() as db, pytest.raises(Gone) as caught:
        registry.resolve(db, mid, "latest", user=None)
    assert "Malware." in caught.value.message


def test_withdrawing_a_version_in_use_asks_first(
    make_account: Callable[..., Account], app: FastAPI
) -> None:
    """Dashboards pinned to a withdrawn version keep loading and show the reason."""
    ada, bob = make_account(), make_account()
    widget = published_module(ada.http, name="Gauge", kind="widget", runtime=None)
    mid = widget["id"]
    assert publish(ada.http, mid, "1.1.0").status_code == 201
    content = {
        "name": "Bob's",
        "widgets": [
            {"id": "w1", "module_id": mid, "version": "1.0.0"},
            {"id": "w2", "module_id": mid, "version": "latest", "x": 6},
        ],
    }
    board = bob.http.post("/api/dashboards", json=content).json()
    old_frame = board["widgets"][0]["frame"]
    assert old_frame and "withdrawn" not in board["widgets"][0]
    usage = ada.http.get(f"/api/modules/{mid}/usage", params={"version": "1.0.0"}).json()
    assert usage == {"dashboards": 1, "own_dashboards": 0, "other_users": 1}
    unused = ada.http.get(f"/api/modules/{mid}/usage", params={"version": "1.1.0"}).json()
    assert unused["dashboards"] == 0  # w2 on "latest" would fall back to 1.0.0
    assert ada.http.get(f"/api/modules/{mid}/usage", params={"version": "7.0.0"}).status_code == 404
    warned = _withdraw(ada.http, mid, "1.0.0")
    assert warned.status_code == 409 and warned.json()["error"]["code"] == "in_use"
    message = warned.json()["error"]["message"]
    assert message.startswith("1 dashboard depends on it (it belongs to 1 other user).")
    assert _withdraw(ada.http, mid, "1.0.0", confirm=True).status_code == 200

    loaded = bob.http.get(f"/api/dashboards/{board['id']}")
    assert loaded.status_code == 200, loaded.text
    pinned, latest = loaded.json()["widgets"]
    assert pinned["frame"] is None
    assert pinned["withdrawn"].endswith(
        "withdrawn by its author: An API key was published by mistake."
    )
    assert latest["frame"] and "withdrawn" not in latest  # latest is 1.1.0
    frame = bob.http.get(f"/api/registry/modules/{mid}/versions/1.0.0/frame")
    assert frame.status_code == 410 and "by mistake" in frame.json()["error"]["message"]
    # A frame opened before the withdrawal stops serving it (the cache included).
    ticket = old_frame.split("/frames/")[1].split("/")[0]
    with app.state.db.session() as db:
        opened = frames.open_ticket(SecretBox.from_settings(app.state.settings), ticket)
        with pytest.raises(Gone):
            frames.frame_file(db, opened, "")


def test_fork_records_its_parent(client: TestClient, make_account: Callable[..., Account]) -> None:
    ada, bob = make_account(), make_account()
    module = published_module(ada.http)
    mid = module["id"]
    url = f"/api/registry/modules/{mid}/fork"
    assert client.post(url).status_code == 401
    fork = bob.http.post(url, json={"name": "Bob's weather"})
    assert fork.status_code == 201, fork.text
    copy = fork.json()
    assert copy["forked_from"] == {"module_id": mid, "version": "1.0.0"}
    assert copy["name"] == "Bob's weather" and copy["owner_id"] == bob.id
    assert copy["latest_version"] is None
    original = ada.http.get(f"/api/modules/{mid}/archive").content
    assert bob.http.get(f"/api/modules/{copy['id']}/archive").content == original
    assert client.get(f"/api/registry/modules/{mid}").json()["forks"] == 1
    plain = bob.http.post(url)
    assert plain.status_code == 201 and plain.json()["name"] == module["name"]
    assert bob.http.post(url, json={"version": "7.0.0"}).status_code == 404
    assert bob.http.post("/api/registry/modules/nope/fork").status_code == 404


def test_resolve(app: FastAPI, make_account: Callable[..., Account]) -> None:
    ada, bob = make_account(), make_account()
    module = published_module(ada.http)
    mid = module["id"]
    ada.http.put(f"/api/modules/{mid}/files/config.json", content=b"[]")
    with app.state.db.session() as db:
        latest = registry.resolve(db, mid, "latest", user=None)
        assert latest.version == "1.0.0" and latest.kind == "integration"
        assert latest.schema.field("title") is not None
        assert "main.py" in registry.module_tree(db, latest)
        working = registry.resolve(db, mid, "working", user=ada.user)
        assert working.version is None and working.schema.fields == ()
        assert registry.module_tree(db, working)["config.json"] == b"[]"
        assert working.content_hash != latest.content_hash
        for spec, user in [("working", bob.user), ("working", None), ("2.0.0", None), ("x", None)]:
            with pytest.raises(NotFound) as caught:
                registry.resolve(db, mid, spec, user=user)
            assert caught.value.fields[0].field == "version"
        with pytest.raises(NotFound) as missing:
            registry.resolve(db, "nope", "latest", user=None)
        assert missing.value.fields[0].field == "module_id"


def test_search_accepts_the_longest_allowed_tag(client: TestClient) -> None:
    """The ``tag`` filter takes every tag the module format allows (1-32 characters)."""
    found = client.get("/api/registry/search", params={"tag": "t" * MAX_TAG_CHARS})
    assert found.status_code == 200, found.text
    assert found.json()["items"] == []
    too_long = client.get("/api/registry/search", params={"tag": "t" * (MAX_TAG_CHARS + 1)})
    assert too_long.status_code == 422 and error_fields(too_long) == ["tag"]
