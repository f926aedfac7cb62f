"""Working copies: /api/modules (owner only), files, folders, archives and check."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.asgi import stream
from tests.conftest import Account
from visualbox.api.modules import ARCHIVE_MAX_BYTES
from visualbox.modules.archive import make_zip
from visualbox.modules.tree import LIMITS

BINARY = bytes(range(256)) * 8 + b"\x00\xff\xfe\r\n\x89PNG"


def error_fields(response: Any) -> list[str]:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    return [f["field"] for f in body["error"]["fields"]]


def new_module(http: TestClient, **body: Any) -> dict[str, Any]:
    payload = {"name": "Weather", "kind": "integration", "runtime": "python", **body}
    response = http.post("/api/modules", json=payload)
    assert response.status_code == 201, response.text
    return dict(response.json())


def paths(http: TestClient, module_id: str) -> dict[str, dict[str, Any]]:
    response = http.get(f"/api/modules/{module_id}/files")
    assert response.status_code == 200
    return {e["path"]: e for e in response.json()}


def test_create_scaffolds_a_valid_working_copy(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module = new_module(ada.http)
    assert module["kind"] == "integration" and module["runtime"] == "python"
    files = paths(ada.http, module["id"])
    assert {"config.json", "README.md", "main.py", "visualbox.json"} <= files.keys()
    assert module["description"]  # from the README's first paragraph
    check = ada.http.get(f"/api/modules/{module['id']}/check").json()
    assert check == {"ok": True, "problems": []}
    widget = new_module(ada.http, name="Gauge", kind="widget", runtime=None)
    assert "index.html" in paths(ada.http, widget["id"])
    empty = new_module(ada.http, name="Blank", template=False)
    assert paths(ada.http, empty["id"]) == {}
    listed = ada.http.get("/api/modules", params={"kind": "widget"}).json()
    assert [m["id"] for m in listed] == [widget["id"]]
    assert len(ada.http.get("/api/modules").json()) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "integration"}, "runtime"),
        ({"name": "x", "kind": "widget", "runtime": "python"}, "runtime"),
        ({"name": "x", "kind": "gadget"}, "kind"),
        ({"name": "", "kind": "widget"}, "name"),
        ({"name": "x", "kind": "widget", "extra": 1}, "extra"),
    ],
)
def test_create_refuses_bad_input(
    make_account: Callable[..., Account], body: dict[str, Any], field: str
) -> None:
    response = make_account().http.post("/api/modules", json=body)
    assert response.status_code == 422
    assert field in error_fields(response)


def test_denials(client: TestClient, make_account: Callable[..., Account]) -> None:
    ada, bob = make_account(), make_account()
    module = new_module(ada.http)
    assert client.get("/api/modules").status_code == 401
    assert client.post("/api/modules", json={"name": "x", "kind": "widget"}).status_code == 401
    bad = client.get("/api/modules", headers={"Authorization": "Bearer vbx_nope"})
    assert bad.status_code == 401
    unverified = make_account(verified=False)
    assert (
        unverified.http.post("/api/modules", json={"name": "x", "kind": "widget"}).status_code
        == 403
    )
    base = f"/api/modules/{module['id']}"
    for method, url in [
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("GET", f"{base}/files"),
        ("GET", f"{base}/files/main.py"),
        ("PUT", f"{base}/files/x.txt"),
        ("DELETE", f"{base}/files/main.py"),
        ("GET", f"{base}/archive"),
        ("GET", f"{base}/check"),
    ]:
        kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
        response = bob.http.request(method, url, **kwargs)
        assert response.status_code == 404, (method, url)
        assert response.json()["error"]["code"] == "not_found"
    assert ada.http.get(f"{base}/files/main.py").status_code == 200


def test_update_metadata(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module = new_module(ada.http)
    base = f"/api/modules/{module['id']}"
    assert ada.http.put(f"{base}/files/img/cover.png", content=BINARY).status_code == 200
    response = ada.http.patch(
        base,
        json={"name": "Weather 2", "tags": ["iot", "weather-station"], "cover": "img/cover.png"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["iot", "weather-station"]
    assert response.json()["cover"] == "img/cover.png"
    described = ada.http.patch(base, json={"description": "Mine."}).json()
    assert described["description"] == "Mine."
    ada.http.put(f"{base}/files/README.md", content=b"# T\n\nNew first paragraph.\n")
    assert ada.http.get(base).json()["description"] == "Mine."

    follow = ada.http.patch(base, json={"description": None}).json()
    assert follow["description"] == "New first paragraph."
    for body, field in [
        ({"tags": ["Upper"]}, "tags[0]"),
        ({"tags": ["a" * 33]}, "tags[0]"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"cover": "main.py"}, "cover"),
        ({"cover": "missing.png"}, "cover"),
        ({"cover": "../x.png"}, "cover"),
    ]:
        bad = ada.http.patch(base, json=body)
        assert bad.status_code == 422, body
        assert field in error_fields(bad)


def test_the_longest_tag_is_stored(make_account: Callable[..., Account]) -> None:
    # 32 characters: the module format's limit, on both databases
    ada = make_account()
    module = new_module(ada.http)
    tag = "t" * 32
    response = ada.http.patch(f"/api/modules/{module['id']}", json={"tags": [tag]})
    assert response.status_code == 200, response.text
    assert ada.http.get(f"/api/modules/{module['id']}").json()["tags"] == [tag]


def test_binary_round_trip_and_rename(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http)['id']}"
    saved = ada.http.put(f"{base}/files/assets/logo.bin", content=BINARY)
    assert saved.status_code == 200 and saved.json()["size"] == len(BINARY)
    got = ada.http.get(f"{base}/files/assets/logo.bin")
    assert got.content == BINARY
    assert got.headers["x-content-type-options"] == "nosniff"
    moved = ada.http.post(f"{base}/rename", json={"from": "assets", "to": "static/img"})
    assert moved.status_code == 200, moved.text
    assert ada.http.get(f"{base}/files/static/img/logo.bin").content == BINARY
    assert ada.http.get(f"{base}/files/assets/logo.bin").status_code == 404
    again = ada.http.post(f"{base}/rename", json={"from": "static/img/logo.bin", "to": "l.bin"})
    assert again.status_code == 200
    assert ada.http.get(f"{base}/files/l.bin").content == BINARY
    taken = ada.http.post(f"{base}/rename", json={"from": "l.bin", "to": "main.py"})
    assert taken.status_code == 409
    ada.http.post(f"{base}/folders", json={"path": "docs"})
    into = ada.http.post(f"{base}/rename", json={"from": "docs", "to": "docs/x"})
    assert into.status_code == 422
    missing = ada.http.post(f"{base}/rename", json={"from": "nope", "to": "x"})
    assert missing.status_code == 404 and error_fields(missing) == ["from"]


def test_folders_and_delete(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http)['id']}"
    assert ada.http.post(f"{base}/folders", json={"path": "lib/empty"}).status_code == 201
    files = paths(ada.http, base.rsplit("/", 1)[1])
    assert files["lib/empty"]["is_folder"] and files["lib"]["is_folder"]
    assert ada.http.post(f"{base}/folders", json={"path": "main.py"}).status_code == 409
    assert ada.http.put(f"{base}/files/main.py/x", content=b"x").status_code == 409
    assert ada.http.put(f"{base}/files/lib", content=b"x").status_code == 409
    ada.http.put(f"{base}/files/lib/a.py", content=b"a = 1\n")
    assert ada.http.delete(f"{base}/files/lib").status_code == 204
    files = paths(ada.http, base.rsplit("/", 1)[1])
    assert not any(p.startswith("lib") for p in files)
    assert ada.http.delete(f"{base}/files/lib").status_code == 404


def test_html_is_never_rendered_on_our_origin(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http, name='W', kind='widget', runtime=None)['id']}"
    got = ada.http.get(f"{base}/files/index.html")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["%2E%2E/secret", "a/%2E%2E/%2E%2E/x", "%2Fetc%2Fpasswd", "a//b", "a%5Cb"]
)
def test_path_traversal_refused(make_account: Callable[..., Account], path: str) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http)['id']}"
    put = ada.http.put(f"{base}/files/{path}", content=b"x")
    assert put.status_code == 422, put.text
    assert ada.http.get(f"{base}/files/{path}").status_code == 422


def test_config_json_validated_on_save(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http)['id']}"
    before = ada.http.get(f"{base}/files/config.json").content
    bad = [
        {"type": "slider", "name": "a", "label": "A"},
        {"type": "text", "name": "ok", "label": "Ok"},
        {"type": "nope", "name": "b", "label": "B"},
        {"type": "text", "name": "1bad", "label": "C"},
    ]
    response = ada.http.put(f"{base}/files/config.json", content=json.dumps(bad).encode())
    assert response.status_code == 422
    fields = error_fields(response)
    entries = {f.split("]")[0] + "]" for f in fields}
    assert entries == {"config.json[0]", "config.json[2]", "config.json[3]"}
    assert ada.http.get(f"{base}/files/config.json").content == before
    manifest = ada.http.put(f"{base}/files/visualbox.json", content=b'{"kind": "widget"}')
    assert manifest.status_code == 422
    typo = ada.http.put(f"{base}/files/visualbox.json", content=b'{"nmae": "x"}')
    assert typo.status_code == 422 and "visualbox.json.nmae" in error_fields(typo)


def test_size_limits(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http)['id']}"
    big = ada.http.put(f"{base}/files/big.bin", content=b"\0" * (LIMITS.max_file_bytes + 1))
    assert big.status_code == 413
    assert str(LIMITS.max_file_bytes) in big.json()["error"]["fields"][0]["reason"]
    chunk = os.urandom(LIMITS.max_file_bytes)
    for i in range(LIMITS.max_total_bytes // LIMITS.max_file_bytes - 1):
        ok = ada.http.put(f"{base}/files/part{i}.bin", content=chunk)
        assert ok.status_code == 200
    over = ada.http.put(f"{base}/files/last.bin", content=chunk)
    assert over.status_code == 413 and error_fields(over) == ["files"]


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def _link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


ATTACKS: dict[str, Callable[[], bytes]] = {
    "traversal": lambda: _zip([("../evil.py", b"x"), ("README.md", b"r")]),
    "absolute": lambda: _zip([(zipfile.ZipInfo("/etc/evil"), b"x")]),
    "symlink": lambda: _zip([(_link("link"), b"/etc/passwd"), ("README.md", b"r")]),
    "ratio bomb": lambda: _zip([("zeros.bin", b"\0" * (4 * 1024 * 1024))]),
    "entry count": lambda: _zip([(f"f{i}.txt", b"") for i in range(2 * LIMITS.max_files + 1)]),
    "not a zip": lambda: b"this is not a zip file",
    "total size": lambda: _zip(
        [
            (f"f{i}.bin", os.urandom(LIMITS.max_file_bytes).translate(bytes(b"ab" * 128)))
            for i in range(LIMITS.max_total_bytes // LIMITS.max_file_bytes + 1)
        ]
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hostile_archives_leave_the_working_copy_untouched(
    make_account: Callable[..., Account], attack: str
) -> None:
    ada = make_account()
    module = new_module(ada.http)
    base = f"/api/modules/{module['id']}"
    before = ada.http.get(f"{base}/archive").content
    response = ada.http.put(f"{base}/archive", content=ATTACKS[attack]())
    assert response.status_code in (413, 422), response.text
    assert error_fields(response)
    assert ada.http.get(f"{base}/archive").content == before


def test_archive_round_trip_and_multipart(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http)['id']}"
    tree = {"README.md": b"# X\n\nHello.\n", "config.json": b"[]", "main.py": b"print(1)\n"}
    tree["data/blob.bin"] = BINARY
    replaced = ada.http.put(f"{base}/archive", content=make_zip(tree))
    assert replaced.status_code == 200, replaced.text
    assert {e["path"] for e in replaced.json() if not e["is_folder"]} == set(tree)
    download = ada.http.get(f"{base}/archive")
    assert download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == tree
    assert ada.http.get(base).json()["description"] == "Hello."
    multipart = ada.http.put(
        f"{base}/archive", files={"file": ("m.zip", make_zip({**tree, "extra.txt": b"e"}))}
    )
    assert multipart.status_code == 200
    assert "extra.txt" in paths(ada.http, base.rsplit("/", 1)[1])


def test_check_reports_problems(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http)['id']}"
    ada.http.delete(f"{base}/files/README.md")
    ada.http.delete(f"{base}/files/main.py")
    check = ada.http.get(f"{base}/check").json()
    assert check["ok"] is False
    assert {p["file"] for p in check["problems"]} >= {"README.md", "main.py"}


def test_delete_module(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module = new_module(ada.http)
    assert ada.http.delete(f"/api/modules/{module['id']}").status_code == 204
    assert ada.http.get(f"/api/modules/{module['id']}").status_code == 404
    assert ada.http.get("/api/modules").json() == []


def content_of(board: dict[str, Any]) -> dict[str, Any]:
    """A save's body from an answer: its content without the read-only ``frame`` and
    ``withdrawn`` (a save that sends them is refused)."""

    def writable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in i.items() if k not in ("frame", "withdrawn")} for i in items]

    return {
        "name": board["name"],
        "settings": board["settings"],
        "integrations": writable(board["integrations"]),
        "widgets": writable(board["widgets"]),
    }


def _dashboard_using(
    http: TestClient, integration: str, widget: str, version: str = "latest"
) -> dict[str, Any]:
    """A private dashboard of ``http``'s user with one instance and one widget."""
    content = {
        "name": "Mine",
        "integrations": [
            {"id": "i1", "module_id": integration, "version": version, "label": "Weather"}
        ],
        "widgets": [{"id": "w1", "module_id": widget, "version": version, "source": "/i1"}],
    }
    created = http.post("/api/dashboards", json=content)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_others_use_never_blocks_the_author(make_account: Callable[..., Account]) -> None:
    """Issue 11: B put A's published module on a private dashboard; A still deletes it
    (after confirming) and B's dashboard still loads, saying the module was withdrawn."""
    ada, bob = make_account(name="Ada"), make_account(name="Bob")
    integration = new_module(ada.http)
    widget = new_module(ada.http, name="Gauge", kind="widget", runtime=None)
    for module in (integration, widget):
        published = ada.http.post(
            f"/api/modules/{module['id']}/versions", json={"version": "1.0.0"}
        )
        assert published.status_code == 201, published.text
    mine = _dashboard_using(bob.http, integration["id"], widget["id"])
    url = f"/api/modules/{integration['id']}"
    usage = ada.http.get(f"{url}/usage")
    assert usage.json() == {"dashboards": 1, "own_dashboards": 0, "other_users": 1}
    warned = ada.http.delete(url)
    assert warned.status_code == 409, warned.text
    error = warned.json()["error"]
    assert error["code"] == "in_use" and error_fields(warned) == ["confirm"]
    assert error["message"].startswith("1 dashboard uses this module (it belongs to 1 other")
    assert "confirm=true" in error["message"]
    assert bob.http.delete(url, params={"confirm": "true"}).status_code == 404  # not Bob's
    assert ada.http.delete(url, params={"confirm": "true"}).status_code == 204
    widget_url = f"/api/modules/{widget['id']}"
    assert ada.http.delete(widget_url, params={"confirm": "true"}).status_code == 204
    assert ada.http.get(url).status_code == 404

    loaded = bob.http.get(f"/api/dashboards/{mine['id']}")
    assert loaded.status_code == 200, loaded.text
    board = loaded.json()
    (instance,), (shown,) = board["integrations"], board["widgets"]
    assert instance["withdrawn"] == 'The module "Weather" was withdrawn: its author deleted it.'
    assert shown["withdrawn"] == 'The module "Gauge" was withdrawn: its author deleted it.'
    assert shown["frame"] is None
    # Bob can still save his dashboard (the withdrawn items are kept as they are) ...
    saved = bob.http.put(f"/api/dashboards/{mine['id']}", json={**content_of(board), "revision": 1})
    assert saved.status_code == 200, saved.text
    assert saved.json()["widgets"][0]["withdrawn"] == shown["withdrawn"]
    # ... but not start using a withdrawn module anew.
    again = bob.http.post(
        "/api/dashboards",
        json={"name": "New", "widgets": [{"id": "w1", "module_id": widget["id"]}]},
    )
    assert again.status_code == 422
    assert error_fields(again) == ["widgets[0].module_id"]
    assert "withdrawn" in again.json()["error"]["fields"][0]["reason"]


def test_the_authors_own_dashboards_ask_too(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    integration = new_module(ada.http)
    widget = new_module(ada.http, name="Gauge", kind="widget", runtime=None)
    mine = _dashboard_using(ada.http, integration["id"], widget["id"], "working")
    assert "withdrawn" not in mine["integrations"][0]
    url = f"/api/modules/{widget['id']}"
    usage = ada.http.get(f"{url}/usage").json()
    assert usage == {"dashboards": 1, "own_dashboards": 1, "other_users": 0}
    warned = ada.http.delete(url)
    assert warned.status_code == 409
    assert warned.json()["error"]["message"].startswith("1 dashboard uses this module (yours).")
    assert ada.http.delete(url, params={"confirm": "yes please"}).status_code == 422
    assert ada.http.delete(url, params={"confirm": "true"}).status_code == 204
    board = ada.http.get(f"/api/dashboards/{mine['id']}").json()
    assert "was withdrawn" in board["widgets"][0]["withdrawn"]
    assert "withdrawn" not in board["integrations"][0]


def _endless_multipart(megabytes: int) -> Any:
    yield (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="m.zip"\r\n'
        b"Content-Type: application/zip\r\n\r\n"
    )
    for _ in range(megabytes):
        yield b"\0" * (1024 * 1024)


def test_a_multipart_archive_stops_being_read_at_the_limit(
    app: Any, make_account: Callable[..., Account]
) -> None:
    """An oversized multipart upload is refused without reading (or spooling) all of it."""
    ada = make_account()
    module = new_module(ada.http)
    headers = {
        "authorization": f"Bearer {ada.token}",
        "content-type": "multipart/form-data; boundary=B",
    }
    megabytes = 3 * ARCHIVE_MAX_BYTES // (1024 * 1024)
    status, pulled = stream(
        app, "PUT", f"/api/modules/{module['id']}/archive", headers, _endless_multipart(megabytes)
    )
    assert status == 413
    assert pulled <= ARCHIVE_MAX_BYTES + 2 * 1024 * 1024


@pytest.mark.parametrize("route", ["archive", "files/big.bin"])
def test_uploads_from_strangers_are_refused_before_the_body_is_read(
    app: Any, make_account: Callable[..., Account], route: str
) -> None:
    ada = make_account()
    module = new_module(ada.http)
    chunks = (b"\0" * (1024 * 1024) for _ in range(4))
    status, pulled = stream(app, "PUT", f"/api/modules/{module['id']}/{route}", {}, chunks)
    assert status == 401
    assert pulled == 0


def test_empty_folders_count_against_the_entry_limit(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    base = f"/api/modules/{new_module(ada.http)['id']}"
    module = {"README.md": b"# X\n", "config.json": b"[]", "main.py": b""}  # a valid module
    full = {**module, **{f"f{i}.txt": b"" for i in range(LIMITS.max_files - len(module))}}
    assert ada.http.put(f"{base}/archive", content=make_zip(full)).status_code == 200
    response = ada.http.post(f"{base}/folders", json={"path": "one-too-many"})
    assert response.status_code == 413, response.text
    assert error_fields(response) == ["files"]
    assert "one-too-many" not in paths(ada.http, base.rsplit("/", 1)[1])


def test_a_rename_cannot_make_a_path_too_long(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    module_id = new_module(ada.http)["id"]
    base = f"/api/modules/{module_id}"
    deep = "a/" + "x" * (LIMITS.max_path_len - 2)
    assert ada.http.put(f"{base}/files/{deep}", content=b"x").status_code == 200
    response = ada.http.post(f"{base}/rename", json={"from": "a", "to": "longer-name"})
    assert response.status_code == 422, response.text
    assert error_fields(response) == ["to"]
    assert deep in paths(ada.http, module_id)
