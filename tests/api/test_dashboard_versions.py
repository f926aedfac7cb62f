"""Dashboard versions over the API (docs/dashboards.md#versions), on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.api.test_dashboards import SECRET, WIDGET_SECRET, World
from tests.conftest import Account
from visualbox.db.tables.dashboard_versions import DashboardVersion
from visualbox.settings import Settings

KEPT = 4
NEW_SECRET = "pw-2b77-new-do-not-leak"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.dashboards.versions_kept = KEPT
    return settings


@pytest.fixture
def world(app: FastAPI, make_account: Callable[..., Account]) -> World:
    return World(app, make_account)


def _versions(world: World, dashboard_id: str, **params: Any) -> dict[str, Any]:
    response = world.owner.http.get(f"/api/dashboards/{dashboard_id}/versions", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _moved(world: World, revision: int, **changes: Any) -> dict[str, Any]:
    """The world's content with its widget moved and resized, as a save at ``revision``."""
    content = world.content(revision=revision, **changes)
    content["widgets"][0].update(x=6, y=2, w=10)
    return content


def test_every_save_is_kept_with_who_when_and_what_bounded_by_the_setting(world: World) -> None:
    http = world.owner.http
    created = world.create()
    url = f"/api/dashboards/{created['id']}"
    body = _moved(world, 1)
    body["integrations"][0]["config"].update(city="Bergen", api_key=NEW_SECRET)
    assert http.put(url, json=body).status_code == 200
    assert http.patch(url, json={"revision": 2, "name": "Lab"}).status_code == 200
    second = {"id": "i2", "module_id": world.integration, "label": "Oslo", "config": {"level": 2}}
    added = http.post(f"{url}/integrations", json={"revision": 3, "instance": second})
    assert added.status_code == 201
    removed = http.delete(f"{url}/integrations/i2", params={"revision": 4})
    assert removed.status_code == 200

    page = _versions(world, created["id"])
    assert (page["total"], page["offset"], page["limit"]) == (KEPT, 0, 50)
    assert [v["number"] for v in page["items"]] == [5, 4, 3, 2]  # version 1 pruned
    assert {v["saved_by"]["name"] for v in page["items"]} == {world.owner.user.name}
    for version in page["items"]:
        saved_at = datetime.fromisoformat(version["saved_at"])
        assert datetime.now(UTC) - saved_at < timedelta(minutes=1)
    summaries = {v["number"]: v["summary"] for v in page["items"]}
    assert summaries[2] == (
        "Changed the settings of integration “Tromsø” (city); "
        "Changed a password of “Tromsø”; Moved “Test widget”; Resized “Test widget”"
    )
    assert summaries[3] == "Renamed the dashboard to “Lab”"
    assert summaries[4] == "Added integration “Oslo” (Test integration)"
    assert summaries[5] == "Removed integration “Oslo”"
    second_page = _versions(world, created["id"], offset=1, limit=2)
    assert [v["number"] for v in second_page["items"]] == [4, 3]
    assert second_page["total"] == KEPT
    pruned = http.get(f"{url}/versions/1")
    assert pruned.status_code == 404
    assert "pruned" in pruned.json()["error"]["message"]

    version = http.get(f"{url}/versions/2").json()
    assert (version["name"], version["number"]) == ("Weather", 2)
    assert version["widgets"][0]["x"] == 6
    assert version["integrations"][0]["config"]["api_key"] == {"secret": True, "set": True}

    copy = http.post(f"{url}/duplicate").json()
    assert [v["summary"] for v in _versions(world, copy["id"])["items"]] == [
        "Duplicated from “Lab”"
    ]
    export = http.get(f"{url}/export").json()
    imported = http.post("/api/dashboards/import", json=export).json()
    assert [v["summary"] for v in _versions(world, imported["id"])["items"]] == [
        "Imported the dashboard"
    ]
    fresh = world.create()
    assert [v["summary"] for v in _versions(world, fresh["id"])["items"]] == [
        "Created the dashboard"
    ]


def test_compare_restore_and_secrets_never_shown(world: World) -> None:
    http = world.owner.http
    created = world.create()
    url = f"/api/dashboards/{created['id']}"
    body = _moved(world, 1)
    body["integrations"][0]["config"].update(city="Bergen", api_key=NEW_SECRET)
    body["widgets"].append({**body["widgets"][0], "id": "w2", "title": "Map", "x": 0, "w": 6})
    assert http.put(url, json=body).status_code == 200
    answers: list[str] = []

    compared = http.get(f"{url}/versions/compare", params={"before": 1, "after": 2})
    assert compared.status_code == 200, compared.text
    answers.append(compared.text)
    diff = compared.json()
    assert (diff["before"]["number"], diff["after"]["number"], diff["columns"]) == (1, 2, 24)
    assert [(c["id"], c["x"], c["w"], c["status"]) for c in diff["before_cells"]] == [
        ("w1", 0, 12, "changed")
    ]
    assert [(c["id"], c["x"], c["w"], c["status"]) for c in diff["after_cells"]] == [
        ("w1", 6, 10, "changed"),
        ("w2", 0, 6, "added"),
    ]
    items = {(i["kind"], i["id"]): i for i in diff["items"]}
    integration = items[("integration", "i1")]
    assert integration["status"] == "changed"
    assert integration["fields"] == [
        {"name": "city", "before": "Tromsø-unique-city", "after": "Bergen"}
    ]
    added = items[("widget", "w2")]
    assert added["label"] == "Map"
    assert {"name": "token", "before": None, "after": "•••• (set)"} in added["fields"]
    assert "Added widget “Map” (Test widget)" in diff["changes"]

    # restoring version 1: a new save, today's passwords kept where their item still is
    restored = http.post(f"{url}/versions/1/restore", json={"revision": 2})
    assert restored.status_code == 200, restored.text
    answers.append(restored.text)
    result = restored.json()
    assert result["dashboard"]["revision"] == 3
    assert [(w["id"], w["x"], w["w"]) for w in result["dashboard"]["widgets"]] == [("w1", 0, 12)]
    assert result["dashboard"]["integrations"][0]["config"]["city"] == "Tromsø-unique-city"
    assert result["lost_secrets"] == []
    assert result["version"]["number"] == 3
    assert result["version"]["summary"].startswith("Restored version 1: ")
    assert "Removed widget “Map”" in result["version"]["summary"]
    assert world.instance_config(created["id"])["api_key"] == NEW_SECRET  # today's, kept

    # a stale restore is a conflict and changes nothing
    stale = http.post(f"{url}/versions/2/restore", json={"revision": 2})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict"
    assert http.get(url).json()["revision"] == 3
    assert _versions(world, created["id"])["total"] == 3

    # a password whose item went away cannot be kept: the answer names it
    gone = world.content(revision=3, integrations=[], widgets=[])
    assert http.put(url, json=gone).status_code == 200
    back = http.post(f"{url}/versions/3/restore", json={"revision": 4})
    assert back.status_code == 200, back.text
    answers.append(back.text)
    assert back.json()["lost_secrets"] == [
        "api_key of integration “Tromsø”",
        "token of widget “Test widget”",
    ]
    config = back.json()["dashboard"]["integrations"][0]["config"]
    assert config["api_key"] == {"secret": True, "set": False}
    assert world.instance_config(created["id"])["api_key"] is None

    answers.append(http.get(f"{url}/versions", params={"limit": 200}).text)
    for number in range(1, 6):
        answers.append(http.get(f"{url}/versions/{number}").text)
        answers.append(
            http.get(f"{url}/versions/compare", params={"before": number, "after": 1}).text
        )
    for text in answers:
        for secret in (SECRET, NEW_SECRET, WIDGET_SECRET):
            assert secret not in text


def test_only_the_owner_reaches_versions(
    world: World, make_account: Callable[..., Account]
) -> None:
    created = world.create()
    url = f"/api/dashboards/{created['id']}/versions"
    for other in (make_account(), make_account(admin=True)):
        assert other.http.get(url).status_code == 404
        assert other.http.get(f"{url}/1").status_code == 404
        compare = other.http.get(f"{url}/compare", params={"before": 1, "after": 1})
        assert compare.status_code == 404
        restore = other.http.post(f"{url}/1/restore", json={"revision": 1})
        assert restore.status_code == 404
    missing = world.owner.http.get(f"{url}/compare", params={"before": 1, "after": 9})
    assert missing.status_code == 404
    assert missing.json()["error"]["fields"][0]["field"] == "after"
    assert world.owner.http.get(f"{url}/1").status_code == 200
    assert world.owner.http.get(url.replace(created["id"], "nope")).status_code == 404
    assert world.owner.http.delete(f"/api/dashboards/{created['id']}").status_code == 204
    with world.app.state.db.session() as db:  # its versions went with it
        left = select(func.count()).select_from(DashboardVersion)
        assert db.scalar(left.where(DashboardVersion.dashboard_id == created["id"])) == 0
