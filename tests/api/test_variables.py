"""Dashboard variables in the document, and embedding a public dashboard in other sites
(docs/dashboards.md#variables, #embedding)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_dashboards import World, error_fields, make_module
from tests.api.test_frames import INDEX, widget
from tests.conftest import Account
from visualbox.services.history import bound_values, shows

TEXT_WIDGET = [{"type": "text", "name": "title", "label": "Title"}]
VARIABLES = [
    {"name": "device", "label": "Device", "kind": "path", "path": "/i1/devices"},
    {"name": "unit", "kind": "list", "values": ["C", "F"], "default": "F"},
    {"name": "note", "kind": "text", "default": "hello"},
]


@pytest.fixture
def world(app: FastAPI, make_account: Callable[..., Account]) -> World:
    return World(app, make_account)


def variable_content(world: World, text_widget: str, **changes: Any) -> dict[str, Any]:
    content = world.content(variables=VARIABLES)
    content["widgets"][0]["source"] = "/i1/devices/${device}/temperature"
    content["widgets"].append(
        {
            "id": "w2",
            "module_id": text_widget,
            "version": "1.0.0",
            "x": 12,
            "w": 12,
            "config": {"title": "Temperature (°${unit}), ${note}"},
        }
    )
    content.update(changes)
    return content


def test_variables_are_kept_shown_to_visitors_and_exported(
    world: World, app: FastAPI, client: TestClient
) -> None:
    text_widget = make_module(app, world.owner, "widget", TEXT_WIDGET)
    created = world.owner.http.post("/api/dashboards", json=variable_content(world, text_widget))
    assert created.status_code == 201, created.text
    dashboard = created.json()
    assert [v["name"] for v in dashboard["variables"]] == ["device", "unit", "note"]
    assert dashboard["variables"][0] == {
        "name": "device",
        "label": "Device",
        "kind": "path",
        "values": [],
        "path": "/i1/devices",
        "default": None,
    }
    assert dashboard["widgets"][0]["source"] == "/i1/devices/${device}/temperature"

    token = world.owner.http.post(
        f"/api/dashboards/{dashboard['id']}/sharing", json={"public": True}
    ).json()["token"]
    view = client.get(f"/api/public/dashboards/{token}").json()
    assert view["variables"] == dashboard["variables"]
    assert view["widgets"][1]["config"] == {"title": "Temperature (°${unit}), ${note}"}

    exported = world.owner.http.get(f"/api/dashboards/{dashboard['id']}/export").json()
    assert exported["variables"] == dashboard["variables"]
    imported = world.owner.http.post("/api/dashboards/import", json=exported)
    assert imported.status_code == 201, imported.text
    assert imported.json()["variables"] == dashboard["variables"]

    # A visitor may read the history of any series a ${variable} source reaches, and
    # of nothing else; removing the variables with a patch is refused while widgets use them.
    history = f"/api/public/dashboards/{token}/history"
    reached = client.get(history, params={"instance": "i1", "pointer": "/devices/b/temperature"})
    assert reached.status_code == 200, reached.text
    other = client.get(history, params={"instance": "i1", "pointer": "/devices/b/humidity"})
    assert other.status_code == 404
    patched = world.owner.http.patch(
        f"/api/dashboards/{dashboard['id']}", json={"revision": 1, "variables": []}
    )
    assert patched.status_code == 422
    assert error_fields(patched) == {
        "widgets[0].source": "uses ${device}, but the dashboard has no such variable (none yet)",
        "widgets[1].config.title": "uses ${unit}, but the dashboard has no such variable "
        "(none yet)",
    }


def test_bad_variables_and_unknown_references_are_named(world: World, app: FastAPI) -> None:
    text_widget = make_module(app, world.owner, "widget", TEXT_WIDGET)
    content = variable_content(
        world,
        text_widget,
        variables=[
            {"name": "device", "kind": "path"},
            {"name": "device", "kind": "list", "values": ["a", "a"]},
            {"name": "unit", "kind": "list", "values": ["C"], "default": "K"},
            {"name": "room", "kind": "path", "path": "/i9/rooms", "values": ["x"]},
            {"name": "2bad", "kind": "text"},
        ],
    )
    content["widgets"][1]["config"]["title"] = "${unit} ${missing}"
    content["widgets"].append({**content["widgets"][0], "id": "w3", "source": "/${device}/t"})
    response = world.owner.http.post("/api/dashboards", json=content)
    assert response.status_code == 422
    assert error_fields(response)["variables[4].name"].startswith("must be 1 to 32 letters")
    content["variables"].pop()
    response = world.owner.http.post("/api/dashboards", json=content)
    assert response.status_code == 422
    fields = error_fields(response)
    assert fields == {
        "variables[0].path": "is required: where the values are, such as /i1/devices",
        "variables[1].name": '"device" is used by another variable',
        "variables[1].values": "each value may appear only once",
        "variables[2].default": "must be one of the values",
        "variables[3].values": "only a list variable has values",
        "variables[3].path": '"i9" is not an integration instance of this dashboard',
        "widgets[1].config.title": "uses ${missing}, but the dashboard has no such variable "
        "(device, room, unit)",
        "widgets[2].source": "the instance (the first part) cannot be a variable: name it, "
        "as in /i1/${device}",
    }
    labels = {f["field"]: f["label"] for f in response.json()["error"]["fields"]}
    assert labels["variables[2].default"] == "Default (unit)"


def test_a_variable_source_records_each_value_it_can_reach() -> None:
    data = {"devices": {"a": {"t": 1}, "b/c": {"t": 2}, "d": {}}, "list": [5]}
    assert list(bound_values(data, ["/devices/${d}/t", "/list/${i}", "/none"])) == [
        ("/devices/a/t", 1),
        ("/devices/b~1c/t", 2),
        ("/list/0", 5),
    ]
    sources = {("i1", "/devices/${d}/t"), ("i1", "/x")}
    assert shows(sources, "i1", "/devices/b~1c/t") and shows(sources, "i1", "/x")
    assert not shows(sources, "i1", "/devices/a/u") and not shows(sources, "i2", "/x")


def test_only_listed_origins_may_embed_a_public_dashboard(
    world: World, app: FastAPI, client: TestClient
) -> None:
    drawn = widget(app, world.owner, {"index.html": INDEX}, publish="1.0.0")
    content = world.content()
    content["widgets"][0].update(module_id=drawn, config={})
    dashboard = world.owner.http.post("/api/dashboards", json=content).json()
    sharing = f"/api/dashboards/{dashboard['id']}/sharing"

    def ancestors(path: str) -> str:
        answer = client.get(path)
        assert answer.status_code == 200
        assert "x-frame-options" not in answer.headers
        policy = answer.headers["content-security-policy"]
        assert "frame-src" in policy  # the app's own policy, but for its ancestors
        return policy.rpartition("frame-ancestors ")[2]

    bad = world.owner.http.post(
        sharing,
        json={
            "public": True,
            "embed_origins": [
                "https://intranet.example.org/dashboards",
                "https://*.example.org",
                "ftp://files.example.org",
                "intranet.example.org",
                "http://127.0.0.2:99999",
            ],
        },
    )
    assert bad.status_code == 422
    reasons = error_fields(bad)
    assert reasons["embed_origins[0]"].startswith("must be an origin such as")
    assert reasons["embed_origins[1]"] == "wildcards are not allowed: list each origin"
    assert set(reasons) == {f"embed_origins[{i}]" for i in range(5)}
    assert world.owner.http.get(sharing).json()["public"] is False  # nothing was saved

    listed = ["https://Intranet.example.org/", "http://127.0.0.2:8080"]
    shared = world.owner.http.post(sharing, json={"public": True, "embed_origins": listed})
    assert shared.status_code == 200, shared.text
    body = shared.json()
    assert body["embed_origins"] == ["https://intranet.example.org", "http://127.0.0.2:8080"]
    token = body["token"]
    assert body["embed_url"] == f"{app.state.settings.public_url}/embed/{token}"
    assert ancestors(f"/embed/{token}") == "https://intranet.example.org http://127.0.0.2:8080"
    assert ancestors(f"/p/{token}") == "'none'"  # the public page itself is never framed
    assert ancestors("/embed/no-such-token") == "'none'"

    # The widget frames of the embed view may be framed by the same origins (a frame's
    # ancestors are every page above it); those of the public page may not.
    for embed, expected in (
        (True, " https://intranet.example.org http://127.0.0.2:8080"),
        (False, ""),
    ):
        view = client.get(f"/api/public/dashboards/{token}", params={"embed": embed}).json()
        frame = client.get(view["widgets"][0]["frame"])
        assert frame.status_code == 200
        policy = frame.headers["content-security-policy"]
        assert f"frame-ancestors {app.state.settings.public_url}{expected};" in policy

    # Changing only public/listed keeps the origins; a private dashboard is embedded nowhere.
    world.owner.http.post(sharing, json={"public": True, "listed": True})
    assert ancestors(f"/embed/{token}") != "'none'"
    world.owner.http.post(sharing, json={"public": False})
    assert ancestors(f"/embed/{token}") == "'none'"
    assert world.owner.http.get(sharing).json()["embed_origins"] == body["embed_origins"]
