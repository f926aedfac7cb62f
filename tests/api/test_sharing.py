from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_dashboards import SECRET, WIDGET_SECRET, World, error_fields
from tests.conftest import Account


@pytest.fixture
def world(app: FastAPI, make_account: Callable[..., Account]) -> World:
    return World(app, make_account)


def share(world: World, dashboard_id: str, **body: Any) -> dict[str, Any]:
    response = world.owner.http.post(f"/api/dashboards/{dashboard_id}/sharing", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_public_view_shows_layout_but_no_integration_config_or_secret(
    world: World, client: TestClient, app: FastAPI
) -> None:
    dashboard = world.create()
    shared = share(world, dashboard["id"], public=True)
    token = shared["token"]
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    assert shared["url"] == f"{app.state.settings.public_url}/p/{token}"
    assert shared["listed"] is False
    owner_view = world.owner.http.get(f"/api/dashboards/{dashboard['id']}").json()
    assert owner_view["share_url"] == shared["url"]
    assert owner_view["revision"] == 1  # sharing is not a document change

    response = client.get(f"/api/public/dashboards/{token}")
    assert response.status_code == 200
    view = response.json()
    assert view["name"] == "Weather"
    assert view["integrations"] == [{"id": "i1", "label": "Tromsø"}]
    assert view["widgets"][0]["config"] == {"colour": "#ff0000"}
    assert view["widgets"][0]["source"] == "/i1/temperature"
    assert (view["widgets"][0]["x"], view["widgets"][0]["w"]) == (0, 12)
    assert view["data"] == {}
    everything = json.dumps(view)
    for hidden in ("Tromsø-unique-city", SECRET, WIDGET_SECRET, world.owner.email, "api_key"):
        assert hidden not in everything
    assert world.integration not in everything  # no integration module either


def test_disabling_and_regenerating_kill_the_old_link(world: World, client: TestClient) -> None:
    dashboard = world.create()
    url = f"/api/dashboards/{dashboard['id']}/sharing"
    first = share(world, dashboard["id"], public=True)["token"]
    assert share(world, dashboard["id"], public=True, listed=True)["token"] == first
    regenerated = world.owner.http.post(f"{url}/regenerate").json()["token"]
    assert regenerated != first
    assert client.get(f"/api/public/dashboards/{first}").status_code == 404
    assert client.get(f"/api/public/dashboards/{regenerated}").status_code == 200
    off = share(world, dashboard["id"], public=False, listed=True)
    assert off == {
        "public": False,
        "listed": False,
        "token": None,
        "url": None,
        "embed_origins": [],
        "embed_url": None,
    }
    gone = client.get(f"/api/public/dashboards/{regenerated}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert world.owner.http.post(f"{url}/regenerate").status_code == 409
    again = share(world, dashboard["id"], public=True)["token"]
    assert again not in (first, regenerated)
    assert world.owner.http.get(url).json()["token"] == again


def test_explorer_lists_public_and_listed_only_newest_first(
    world: World, client: TestClient
) -> None:
    ids = [world.create(name=f"D{n}")["id"] for n in range(5)]
    for dashboard_id in ids[:3]:
        share(world, dashboard_id, public=True, listed=True)
    share(world, ids[3], public=True, listed=False)  # public but unlisted
    first = client.get("/api/public/dashboards", params={"per_page": 2}).json()
    assert (first["total"], first["page"], first["per_page"]) == (3, 1, 2)
    assert [i["name"] for i in first["items"]] == ["D2", "D1"]
    second = client.get("/api/public/dashboards", params={"per_page": 2, "page": 2}).json()
    assert [i["name"] for i in second["items"]] == ["D0"]
    assert second["items"][0]["url"].endswith("/p/" + second["items"][0]["token"])
    names = {item["name"] for page in (first, second) for item in page["items"]}
    assert names == {"D0", "D1", "D2"}  # neither the unlisted D3 nor the private D4
    bad = client.get("/api/public/dashboards", params={"per_page": 0})
    assert bad.status_code == 422 and "per_page" in error_fields(bad)


def test_sharing_denials(
    world: World, client: TestClient, make_account: Callable[..., Account]
) -> None:
    dashboard = world.create()
    url = f"/api/dashboards/{dashboard['id']}/sharing"
    assert client.post(url, json={"public": True}).status_code == 401
    assert make_account(verified=False).http.post(url, json={"public": True}).status_code == 403
    other = make_account()
    assert other.http.post(url, json={"public": True}).status_code == 404
    assert other.http.get(url).status_code == 404
    assert other.http.post(f"{url}/regenerate").status_code == 404
    bad = world.owner.http.post(url, json={"public": "sometimes"})
    assert bad.status_code == 422 and "public" in error_fields(bad)
    assert world.owner.http.get(url).json()["public"] is False
    assert client.get("/api/public/dashboards/not-a-token").status_code == 404


def test_deleting_a_shared_dashboard_kills_its_link(world: World, client: TestClient) -> None:
    dashboard = world.create()
    token = share(world, dashboard["id"], public=True, listed=True)["token"]
    assert world.owner.http.delete(f"/api/dashboards/{dashboard['id']}").status_code == 204
    assert client.get(f"/api/public/dashboards/{token}").status_code == 404
    assert client.get("/api/public/dashboards").json()["total"] == 0


def test_a_hostile_token_is_a_404_not_a_crash(world: World, client: TestClient) -> None:
    """A NUL byte (which PostgreSQL cannot even compare) or an overlong token: plain 404."""
    share(world, world.create()["id"], public=True)
    for token in ("a%00b", "%00", "x" * 5000):
        response = client.get(f"/api/public/dashboards/{token}")
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
