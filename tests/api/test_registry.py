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
from visualbox.errors import NotFound
from visualbox.modules.manifest import MAX_TAG_CHARS
from visualbox.services import registry


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
