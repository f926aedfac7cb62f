from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import Account
from visualbox.db.tables.accounts import User
from visualbox.errors import Conflict
from visualbox.services import dashboard_secrets, dashboards, modules, registry
from visualbox.services.secrets import SecretBox

SECRET = "pw-7c1e-do-not-leak"
WIDGET_SECRET = "wk-93af-do-not-leak"
INTEGRATION_SCHEMA: list[dict[str, Any]] = [
    {"type": "number", "name": "level", "label": "Level", "min": 0, "max": 10, "default": 1},
    {"type": "text", "name": "city", "label": "City"},
    {"type": "password", "name": "api_key", "label": "API key"},
]
WIDGET_SCHEMA: list[dict[str, Any]] = [
    {"type": "color", "name": "colour", "label": "Colour", "default": "#ffffff"},
    {"type": "password", "name": "token", "label": "Token"},
]


def make_module(
    app: FastAPI, account: Account, kind: str, schema: list[dict[str, Any]], publish: bool = True
) -> str:
    """A real module owned by ``account`` with this config.json, published as 1.0.0."""
    with app.state.db.session() as db:
        user = db.get(User, account.id)
        module = modules.create_module(
            db,
            user,
            name=f"Test {kind}",
            kind=kind,
            runtime="python" if kind == "integration" else None,
        )
        modules.write_file(db, module, "config.json", json.dumps(schema).encode())
        if publish:
            registry.publish(db, module, "1.0.0")
        module_id: str = module.id
        return module_id


def secret_box(app: FastAPI) -> SecretBox:
    return SecretBox.from_settings(app.state.settings)


def error_fields(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    return {f["field"]: f["reason"] for f in body["error"]["fields"]}


class World:
    """An owner with one integration module and one widget module."""

    def __init__(self, app: FastAPI, make_account: Callable[..., Account]) -> None:
        self.app = app
        self.owner = make_account()
        self.integration = make_module(app, self.owner, "integration", INTEGRATION_SCHEMA)
        self.widget = make_module(app, self.owner, "widget", WIDGET_SCHEMA)

    def content(self, **changes: Any) -> dict[str, Any]:
        content: dict[str, Any] = {
            "name": "Weather",
            "settings": {"background": "#102030", "radius": 8, "shadow": {"opacity": 10}},
            "integrations": [
                {
                    "id": "i1",
                    "module_id": self.integration,
                    "version": "latest",
                    "label": "Tromsø",
                    "config": {"level": 7, "city": "Tromsø-unique-city", "api_key": SECRET},
                }
            ],
            "widgets": [
                {
                    "id": "w1",
                    "module_id": self.widget,
                    "version": "1.0.0",
                    "x": 0,
                    "y": 0,
                    "w": 12,
                    "h": 4,
                    "config": {"colour": "#ff0000", "token": WIDGET_SECRET},
                    "source": "/i1/temperature",
                }
            ],
        }
        content.update(changes)
        return content

    def create(self, **changes: Any) -> dict[str, Any]:
        response = self.owner.http.post("/api/dashboards", json=self.content(**changes))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def instance_config(self, dashboard_id: str, instance_id: str = "i1") -> dict[str, Any]:
        with self.app.state.db.session() as db:
            box = secret_box(self.app)
            config: dict[str, Any] = dashboard_secrets.instance_config(
                db, box, dashboard_id, instance_id
            )
            return config


@pytest.fixture
def world(app: FastAPI, make_account: Callable[..., Account]) -> World:
    return World(app, make_account)


def test_create_read_list_delete(world: World) -> None:
    http = world.owner.http
    minimal = http.post("/api/dashboards", json={"name": "Empty"})
    assert minimal.status_code == 201
    assert minimal.json()["settings"] == {
        "background": None,
        "radius": 5,
        "shadow": {"opacity": 3, "radius": 5},
    }
    created = world.create()
    assert created["revision"] == 1
    assert created["integrations"][0]["config"]["level"] == 7
    assert created["widgets"][0]["source"] == "/i1/temperature"
    listed = http.get("/api/dashboards").json()
    assert {d["id"]: d["revision"] for d in listed} == {created["id"]: 1, minimal.json()["id"]: 1}
    assert all("updated_at" in d for d in listed)
    assert http.get(f"/api/dashboards/{created['id']}").json() == created
    assert http.delete(f"/api/dashboards/{created['id']}").status_code == 204
    assert http.get(f"/api/dashboards/{created['id']}").status_code == 404
    with world.app.state.db.session() as db:
        assert registry.use_count(db, world.integration) == 0


def test_saves_bump_the_revision_and_record_module_uses(world: World) -> None:
    created = world.create()
    with world.app.state.db.session() as db:
        assert registry.use_count(db, world.integration) == 1
        assert registry.use_count(db, world.widget) == 1
    body = world.content(name="Renamed", widgets=[], revision=1)
    saved = world.owner.http.put(f"/api/dashboards/{created['id']}", json=body)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["revision"], saved.json()["name"]) == (2, "Renamed")
    with world.app.state.db.session() as db:
        assert registry.use_count(db, world.widget) == 0


def test_denials(world: World, client: TestClient, make_account: Callable[..., Account]) -> None:
    dashboard = world.create()
    url = f"/api/dashboards/{dashboard['id']}"
    assert client.get("/api/dashboards").status_code == 401
    assert client.post("/api/dashboards", json={"name": "x"}).json()["error"]["code"] == (
        "unauthenticated"
    )
    bad_token = client.get(url, headers={"Authorization": "Bearer vbx_nonsense"})
    assert bad_token.status_code == 401
    unverified = make_account(verified=False)
    assert unverified.http.get("/api/dashboards").status_code == 403
    for other in (make_account(), make_account(admin=True)):
        assert other.http.get(url).status_code == 404
        assert other.http.put(url, json=world.content(revision=1)).status_code == 404
        assert other.http.patch(url, json={"revision": 1, "name": "x"}).status_code == 404
        assert other.http.delete(url).status_code == 404
        assert other.http.post(f"{url}/duplicate").status_code == 404
        assert other.http.get(f"{url}/export").status_code == 404
        assert other.http.get("/api/dashboards").json() == []
    assert world.owner.http.get(url).json()["revision"] == 1


def test_another_users_modules_working_copy_cannot_be_used(
    world: World, make_account: Callable[..., Account]
) -> None:
    stranger = make_account()
    private = make_module(world.app, stranger, "integration", INTEGRATION_SCHEMA, publish=False)
    content = world.content()
    content["integrations"][0].update(module_id=private, version="working")
    response = world.owner.http.post("/api/dashboards", json=content)
    assert response.status_code == 422
    assert "integrations[0].version" in error_fields(response)
    own = make_module(world.app, world.owner, "integration", INTEGRATION_SCHEMA, publish=False)
    content["integrations"][0]["module_id"] = own
    assert world.owner.http.post("/api/dashboards", json=content).status_code == 201


def _bad(world: World, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    content = world.content()
    change(content)
    return content


BAD_INPUTS: list[tuple[str, Callable[[World, dict[str, Any]], None], str, str]] = [
    ("bad colour", lambda w, c: c["settings"].update(background="red"), "settings.background", ""),
    ("radius", lambda w, c: c["settings"].update(radius=51), "settings.radius", "50"),
    (
        "relative pointer",
        lambda w, c: c["widgets"][0].update(source="i1/t"),
        "widgets[0].source",
        "/",
    ),
    ("bad escape", lambda w, c: c["widgets"][0].update(source="/i1/a~2"), "widgets[0].source", "~"),
    (
        "unknown instance",
        lambda w, c: c["widgets"][0].update(source="/i9/t"),
        "widgets[0].source",
        "i9",
    ),
    ("too wide", lambda w, c: c["widgets"][0].update(x=20, w=5), "widgets[0].w", "24"),
    ("no width", lambda w, c: c["widgets"][0].update(w=0), "widgets[0].w", ""),
    (
        "unknown module",
        lambda w, c: c["integrations"][0].update(module_id="nope"),
        "integrations[0].module_id",
        "nope",
    ),
    (
        "unknown version",
        lambda w, c: c["integrations"][0].update(version="9.9.9"),
        "integrations[0].version",
        "9.9.9",
    ),
    (
        "widget as integration",
        lambda w, c: c["integrations"][0].update(module_id=w.widget),
        "integrations[0].module_id",
        "widget module",
    ),
    (
        "integration as widget",
        lambda w, c: c["widgets"][0].update(module_id=w.integration),
        "widgets[0].module_id",
        "integration module",
    ),
    (
        "config value",
        lambda w, c: c["integrations"][0]["config"].update(level=11),
        "integrations[0].config.level",
        "at most 10",
    ),
    (
        "unknown config name",
        lambda w, c: c["widgets"][0]["config"].update(typo=1),
        "widgets[0].config.typo",
        "unknown",
    ),
    (
        "duplicate id",
        lambda w, c: c["widgets"][0].update(id="i1"),
        "widgets[0].id",
        "integrations[0]",
    ),
    ("extra key", lambda w, c: c.update(colour="#fff"), "colour", ""),
]


@pytest.mark.parametrize(("change", "field", "words"), [b[1:] for b in BAD_INPUTS],
                         ids=[b[0] for b in BAD_INPUTS])  # fmt: skip
def test_bad_documents_are_refused_naming_the_field(
    world: World, change: Callable[[World, dict[str, Any]], None], field: str, words: str
) -> None:
    created = world.create()
    content = world.content()
    change(world, content)
    for response in (
        world.owner.http.post("/api/dashboards", json=content),
        world.owner.http.put(f"/api/dashboards/{created['id']}", json={**content, "revision": 1}),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid"
        fields = error_fields(response)
        assert field in fields, fields
        assert words in fields[field]
    assert world.owner.http.get(f"/api/dashboards/{created['id']}").json() == created


def test_a_stale_save_is_a_conflict_and_the_first_change_survives(world: World) -> None:
    created = world.create()
    url = f"/api/dashboards/{created['id']}"
    first = world.owner.http.get(url).json()
    second = world.owner.http.get(url).json()
    assert first["revision"] == second["revision"] == 1
    ok = world.owner.http.put(url, json=world.content(name="First wins", revision=1))
    assert ok.json()["revision"] == 2
    stale = world.owner.http.put(url, json=world.content(name="Second loses", revision=1))
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict"
    assert "changed" in stale.json()["error"]["message"]
    assert "changed elsewhere" in stale.json()["error"]["message"]
    assert not re.search(r"revision \d", stale.json()["error"]["message"])
    assert "revision" in error_fields(stale)
    patched = world.owner.http.patch(url, json={"revision": 1, "name": "Patch loses"})
    assert patched.status_code == 409
    current = world.owner.http.get(url).json()
    assert (current["name"], current["revision"]) == ("First wins", 2)


def test_the_database_compare_and_set_refuses_a_second_writer(world: World) -> None:
    """Both writers pass the in-memory revision check; only the UPDATE ... WHERE decides."""
    from visualbox.schemas.dashboards import DashboardContent

    created = world.create()
    box = secret_box(world.app)
    database = world.app.state.db
    with database.session() as a, database.session() as b:
        user_a, user_b = a.get(User, world.owner.id), b.get(User, world.owner.id)
        dashboards.get_dashboard(a, user_a, created["id"])  # A holds revision 1 in memory
        content = DashboardContent.model_validate(world.content(name="B"))
        dashboards.save_dashboard(b, box, user_b, created["id"], content, 1)
        with pytest.raises(Conflict) as info:
            content = DashboardContent.model_validate(world.content(name="A"))
            dashboards.save_dashboard(a, box, user_a, created["id"], content, 1)
    assert "changed elsewhere" in info.value.message
    assert world.owner.http.get(f"/api/dashboards/{created['id']}").json()["name"] == "B"


def test_concurrent_saves_exactly_one_wins(world: World) -> None:
    created = world.create()
    url = f"/api/dashboards/{created['id']}"
    writers = 6
    barrier = threading.Barrier(writers)
    statuses: list[int] = []
    lock = threading.Lock()

    def save(n: int) -> None:
        http = TestClient(world.app, headers={"Authorization": f"Bearer {world.owner.token}"})
        barrier.wait(timeout=30)
        response = http.put(url, json=world.content(name=f"writer {n}", revision=1))
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [200] + [409] * (writers - 1)
    assert world.owner.http.get(url).json()["revision"] == 2


def test_secrets_are_encrypted_write_only_and_never_logged(
    world: World, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = world.create()
    dashboard_id, url = created["id"], f"/api/dashboards/{created['id']}"
    responses = [created]
    marker = {"secret": True, "set": True}
    assert created["integrations"][0]["config"]["api_key"] == marker
    assert created["widgets"][0]["config"]["token"] == marker
    assert world.instance_config(dashboard_id)["api_key"] == SECRET
    with world.app.state.db.session() as db:
        assert (
            dashboard_secrets.widget_config(db, secret_box(world.app), dashboard_id, "w1")["token"]
            == WIDGET_SECRET
        )
        raw = db.execute(text("SELECT document, secrets FROM dashboards")).all()
    stored = repr(raw).encode()
    assert SECRET.encode() not in stored and WIDGET_SECRET.encode() not in stored
    assert b"pw-7c1e" not in stored

    # Omitted → kept; marker → kept; a new string → replaced; null → cleared.
    content = world.content(revision=1)
    del content["integrations"][0]["config"]["api_key"]
    content["widgets"][0]["config"]["token"] = marker
    responses.append(world.owner.http.put(url, json=content).json())
    assert world.instance_config(dashboard_id)["api_key"] == SECRET
    responses.append(world.owner.http.patch(url, json={"revision": 2, "name": "Patched"}).json())
    assert world.instance_config(dashboard_id)["api_key"] == SECRET
    content = world.content(revision=3)
    content["integrations"][0]["config"]["api_key"] = None
    cleared = world.owner.http.put(url, json=content).json()
    responses.append(cleared)
    assert cleared["integrations"][0]["config"]["api_key"] == {"secret": True, "set": False}
    assert world.instance_config(dashboard_id)["api_key"] is None
    assert cleared["widgets"][0]["config"]["token"] == marker  # the new value was WIDGET_SECRET

    responses.append(world.owner.http.get(f"{url}/export").json())
    responses.append(world.owner.http.get(url).json())
    responses.append(world.owner.http.get("/api/dashboards").json())
    everything = json.dumps(responses)
    assert SECRET not in everything and WIDGET_SECRET not in everything
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert caplog.records, "the flow logged nothing at DEBUG: the log check would be empty"
    assert SECRET not in logged and WIDGET_SECRET not in logged


def test_nul_characters_are_refused_not_crashed_on(world: World) -> None:
    """PostgreSQL cannot store or compare NUL: a name with one is a 422, an id a 404."""
    http = world.owner.http
    bad = http.post("/api/dashboards", json={"name": "a\u0000b"})
    assert bad.status_code == 422, bad.text
    assert "name" in error_fields(bad)
    created = world.create()
    bad = http.patch(f"/api/dashboards/{created['id']}", json={"revision": 1, "name": "\u0000"})
    assert bad.status_code == 422 and "name" in error_fields(bad)
    for path in ("a%00b", "a%00b/sharing", "a%00b/export"):
        response = http.get(f"/api/dashboards/{path}")
        assert response.status_code == 404, response.text


def test_patch_without_a_name_keeps_the_name(world: World) -> None:
    """``name`` is optional in a PATCH (docs/api/dashboards.md), like every other part."""
    created = world.create()
    url = f"/api/dashboards/{created['id']}"
    patched = world.owner.http.patch(url, json={"revision": 1, "settings": {"radius": 9}})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["revision"]) == ("Weather", 2)
    assert patched.json()["settings"]["radius"] == 9


def test_a_secret_never_follows_its_item_to_another_module(
    world: World, make_account: Callable[..., Account]
) -> None:
    """Changing an item's module (or re-using its id) drops the stored password."""
    created = world.create()
    url = f"/api/dashboards/{created['id']}"
    stranger = make_account()
    theirs = make_module(world.app, stranger, "integration", INTEGRATION_SCHEMA)
    their_widget = make_module(world.app, stranger, "widget", WIDGET_SCHEMA)

    content = world.content(revision=1)
    content["integrations"][0]["module_id"] = theirs
    del content["integrations"][0]["config"]["api_key"]  # "keep": but not for another module
    content["widgets"][0]["module_id"] = their_widget
    content["widgets"][0]["config"]["token"] = {"secret": True, "set": True}
    saved = world.owner.http.put(url, json=content)
    assert saved.status_code == 200, saved.text
    assert saved.json()["integrations"][0]["config"]["api_key"] == {"secret": True, "set": False}
    assert saved.json()["widgets"][0]["config"]["token"] == {"secret": True, "set": False}
    assert world.instance_config(created["id"])["api_key"] is None
    with world.app.state.db.session() as db:
        box = secret_box(world.app)
        assert dashboard_secrets.widget_config(db, box, created["id"], "w1")["token"] is None

    # The same module under the same id keeps it, as before.
    kept = world.create()
    content = world.content(revision=1, name="Kept")
    del content["integrations"][0]["config"]["api_key"]
    assert world.owner.http.put(f"/api/dashboards/{kept['id']}", json=content).status_code == 200
    assert world.instance_config(kept["id"])["api_key"] == SECRET


def test_export_and_import(world: World) -> None:
    created = world.create()
    exported = world.owner.http.get(f"/api/dashboards/{created['id']}/export").json()
    assert (exported["format"], exported["version"]) == ("visualbox.dashboard", 1)
    assert exported["integrations"][0]["config"]["api_key"] == {"secret": True, "set": False}
    assert exported["integrations"][0]["config"]["city"] == "Tromsø-unique-city"
    assert "id" not in exported and "revision" not in exported
    assert SECRET not in json.dumps(exported)
    imported = world.owner.http.post("/api/dashboards/import", json=exported)
    assert imported.status_code == 201, imported.text
    copy = imported.json()
    assert copy["id"] != created["id"] and copy["revision"] == 1
    assert copy["integrations"][0]["config"]["api_key"] == {"secret": True, "set": False}
    assert copy["widgets"] == [
        {**w, "config": {**w["config"], "token": {"secret": True, "set": False}}}
        for w in created["widgets"]
    ]
    exported["integrations"][0]["module_id"] = "gone"
    refused = world.owner.http.post("/api/dashboards/import", json=exported)
    assert refused.status_code == 422
    assert "integrations[0].module_id" in error_fields(refused)
    wrong = world.owner.http.post("/api/dashboards/import", json={**exported, "format": "x"})
    assert "format" in error_fields(wrong)


def test_import_accepts_a_required_secret_left_unset(world: World) -> None:
    schema = [{"type": "password", "name": "key", "label": "Key", "required": True}]
    module = make_module(world.app, world.owner, "integration", schema)
    instance = {"id": "a", "module_id": module, "label": "A", "config": {}}
    saved = world.owner.http.post("/api/dashboards", json={"name": "x", "integrations": [instance]})
    assert "integrations[0].config.key" in error_fields(saved)
    doc = {"format": "visualbox.dashboard", "version": 1, "name": "x", "integrations": [instance]}
    imported = world.owner.http.post("/api/dashboards/import", json=doc)
    assert imported.status_code == 201, imported.text
    assert imported.json()["integrations"][0]["config"]["key"] == {"secret": True, "set": False}


def test_duplicate_copies_content_and_secrets(world: World) -> None:
    created = world.create()
    response = world.owner.http.post(f"/api/dashboards/{created['id']}/duplicate")
    assert response.status_code == 201
    copy = response.json()
    assert copy["id"] != created["id"]
    assert (copy["name"], copy["revision"], copy["public"]) == ("Weather (copy)", 1, False)
    assert copy["integrations"] == created["integrations"]
    assert world.instance_config(copy["id"])["api_key"] == SECRET


def test_instance_endpoints(world: World) -> None:
    created = world.create()
    url = f"/api/dashboards/{created['id']}/integrations"
    second = {"id": "i2", "module_id": world.integration, "label": "Oslo", "config": {"level": 2}}
    added = world.owner.http.post(url, json={"revision": 1, "instance": second})
    assert added.status_code == 201, added.text
    assert [i["id"] for i in added.json()["integrations"]] == ["i1", "i2"]
    assert added.json()["revision"] == 2
    duplicate = world.owner.http.post(url, json={"revision": 2, "instance": second})
    assert "integrations[2].id" in error_fields(duplicate)
    changed = world.owner.http.patch(f"{url}/i1", json={"revision": 2, "config": {"level": 3}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["integrations"][0]["config"]["level"] == 3
    assert world.instance_config(created["id"])["api_key"] == SECRET  # omitted → kept
    bad = world.owner.http.patch(f"{url}/i1", json={"revision": 3, "config": {"level": 99}})
    assert "integrations[0].config.level" in error_fields(bad)
    stale = world.owner.http.patch(f"{url}/i1", json={"revision": 2, "label": "x"})
    assert stale.status_code == 409
    assert world.owner.http.patch(f"{url}/nope", json={"revision": 3}).status_code == 404
    removed = world.owner.http.delete(f"{url}/i1", params={"revision": 3})
    assert removed.status_code == 200, removed.text
    assert [i["id"] for i in removed.json()["integrations"]] == ["i2"]
    assert removed.json()["widgets"][0]["source"] is None  # it pointed into i1
    assert removed.json()["revision"] == 4
    missing = world.owner.http.delete(f"{url}/i2")
    assert "revision" in error_fields(missing)


def test_a_module_in_use_is_deleted_only_when_confirmed(world: World) -> None:
    dashboard = world.create()
    http = world.owner.http
    refused = http.delete(f"/api/modules/{world.integration}")
    assert refused.status_code == 409
    assert error_fields(refused) == {"confirm": "1 dashboard uses this module"}
    assert http.get(f"/api/registry/modules/{world.integration}").status_code == 200
    assert http.delete(f"/api/dashboards/{dashboard['id']}").status_code == 204
    assert http.delete(f"/api/modules/{world.integration}").status_code == 204
