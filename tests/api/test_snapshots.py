"""The snapshot routes (``api/snapshots.py``): taking, listing and deleting snapshots,
reading one by its link after the history is pruned and the dashboard deleted, who may
see what, no secret in a snapshot, the quotas and bad ranges."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.api.test_dashboards import SECRET, WIDGET_SECRET, World
from tests.api.test_history import record
from tests.conftest import Account
from visualbox.db.tables.snapshots import Snapshot
from visualbox.services.history_store import HOUR, MINUTE, SqlHistoryStore

NOW = time.time_ns() // 1_000_000
START = NOW - 30 * 60_000
VALUES: list[tuple[int, Any]] = [(START + n * 10_000, 20 + n / 10) for n in range(180)]
HUMIDITY: list[tuple[int, Any]] = [(START + n * 60_000, 50 + n) for n in range(30)]


@pytest.fixture
def world(app: FastAPI, make_account: Callable[..., Account]) -> World:
    return World(app, make_account)


@pytest.fixture
def board(world: World, app: FastAPI) -> dict[str, Any]:
    """The owner's dashboard: widgets on /i1/temperature and /i1/air/humidity, with
    recorded values, and an unbound series that no snapshot may carry."""
    widgets = world.content()["widgets"]
    second = {**widgets[0], "id": "w2", "y": 4, "source": "/i1/air/humidity"}
    dashboard = world.create(widgets=[widgets[0], second])
    record(app, dashboard["id"], "/temperature", VALUES)
    record(app, dashboard["id"], "/air/humidity", HUMIDITY)
    record(app, dashboard["id"], "/unbound", [(START, "not shown by any widget")])
    return dashboard


def take(http: TestClient, board_id: str, **body: Any) -> Any:
    return http.post(f"/api/dashboards/{board_id}/snapshots", json=body)


def test_take_list_read_and_delete(world: World, board: dict[str, Any], client: TestClient) -> None:
    http = world.owner.http
    created = take(http, board["id"], name="Night shift", **{"from": START, "to": NOW})
    assert created.status_code == 201, created.text
    snapshot = created.json()
    assert snapshot["name"] == "Night shift" and snapshot["dashboard_id"] == board["id"]
    assert (snapshot["start"], snapshot["end"]) == (START, NOW)
    assert snapshot["url"].endswith(f"/s/{snapshot['token']}") and len(snapshot["token"]) >= 43
    assert snapshot["size"] > 0
    # ISO 8601 works too; the name defaults to the dashboard's.
    iso = take(http, board["id"], **{"from": "2026-01-01T00:00:00Z", "to": NOW})
    assert iso.status_code == 201, iso.text
    assert iso.json()["name"] == "Weather" and iso.json()["start"] == 1_767_225_600_000
    listed = http.get(f"/api/dashboards/{board['id']}/snapshots")
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()] == [iso.json()["id"], snapshot["id"]]

    shown = client.get(f"/api/snapshots/{snapshot['token']}")  # no sign-in
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["name"] == "Night shift" and body["dashboard_name"] == "Weather"
    assert (body["start"], body["end"]) == (START, NOW)
    assert [w["id"] for w in body["widgets"]] == ["w1", "w2"]
    assert all(w["frame"] for w in body["widgets"])
    assert body["settings"]["background"] == "#102030"
    assert body["integrations"] == [{"id": "i1", "label": "Tromsø"}]
    # The value at the end of the range, where each widget looks for it.
    assert body["data"] == {
        "i1": {
            "temperature": pytest.approx(VALUES[-1][1]),
            "air": {"humidity": HUMIDITY[-1][1]},
        }
    }
    series = {s["pointer"]: s for s in body["series"]}
    assert set(series) == {"/temperature", "/air/humidity"}
    assert [tuple(p) for p in series["/temperature"]["points"]] == [
        (t, pytest.approx(v)) for t, v in VALUES
    ]
    assert "not shown by any widget" not in shown.text

    deleted = http.delete(f"/api/dashboards/{board['id']}/snapshots/{snapshot['id']}")
    assert deleted.status_code == 204
    assert client.get(f"/api/snapshots/{snapshot['token']}").status_code == 404
    again = http.delete(f"/api/dashboards/{board['id']}/snapshots/{snapshot['id']}")
    assert again.status_code == 404
    left = http.get(f"/api/dashboards/{board['id']}/snapshots").json()
    assert [s["id"] for s in left] == [iso.json()["id"]]


def test_a_snapshot_outlives_the_history_and_the_dashboard(
    world: World, board: dict[str, Any], app: FastAPI, client: TestClient
) -> None:
    http = world.owner.http
    token = take(http, board["id"], **{"from": START, "to": NOW}).json()["token"]
    before = client.get(f"/api/snapshots/{token}").json()
    with app.state.db.session() as db:  # retention removes everything recorded
        store = SqlHistoryStore(db)
        for step in (0, MINUTE, HOUR):
            store.prune(step, NOW + 1)
    history = http.get(
        f"/api/dashboards/{board['id']}/history",
        params={"instance": "i1", "pointer": "/temperature", "from": START},
    )
    assert history.json()["points"] == []
    assert client.get(f"/api/snapshots/{token}").json() == before
    # The dashboard changes, then goes: the snapshot stays as it was.
    changed = http.patch(
        f"/api/dashboards/{board['id']}", json={"revision": board["revision"], "name": "Renamed"}
    )
    assert changed.status_code == 200, changed.text
    assert http.delete(f"/api/dashboards/{board['id']}").status_code == 204
    after = client.get(f"/api/snapshots/{token}")
    assert after.status_code == 200 and after.json() == before
    # Its owner still lists (and may delete) the snapshots of the deleted dashboard.
    listed = http.get(f"/api/dashboards/{board['id']}/snapshots")
    assert listed.status_code == 200 and len(listed.json()) == 1


def test_strangers_get_404(
    world: World, board: dict[str, Any], make_account: Callable[..., Account], client: TestClient
) -> None:
    snapshot = take(world.owner.http, board["id"], **{"from": START, "to": NOW}).json()
    stranger = make_account().http
    base = f"/api/dashboards/{board['id']}/snapshots"
    assert stranger.get(base).status_code == 404
    assert take(stranger, board["id"], **{"from": START, "to": NOW}).status_code == 404
    assert stranger.delete(f"{base}/{snapshot['id']}").status_code == 404
    assert client.get(base).status_code == 401
    for token in ("nope", snapshot["id"], "a%00b"):
        assert client.get(f"/api/snapshots/{token}").status_code == 404
    # The stranger's own dashboard id with the owner's snapshot id: still 404.
    theirs = stranger.post("/api/dashboards", json={"name": "Mine"})
    assert theirs.status_code == 201, theirs.text
    mine = f"/api/dashboards/{theirs.json()['id']}/snapshots"
    assert stranger.delete(f"{mine}/{snapshot['id']}").status_code == 404
    assert stranger.get(mine).json() == []
    assert client.get(f"/api/snapshots/{snapshot['token']}").status_code == 200


def test_no_integration_config_or_secret_in_a_snapshot(
    world: World, board: dict[str, Any], app: FastAPI, client: TestClient
) -> None:
    token = take(world.owner.http, board["id"], **{"from": START, "to": NOW}).json()["token"]
    shown = client.get(f"/api/snapshots/{token}").text
    with app.state.db.session() as db:
        stored = db.scalar(select(Snapshot.content))
    assert stored is not None
    for text in (shown, stored):
        assert SECRET not in text and WIDGET_SECRET not in text
        assert "Tromsø-unique-city" not in text and world.integration not in text
        assert '"config":{"colour":"#ff0000"}' in text.replace(" ", "")


def test_quotas(world: World, board: dict[str, Any], make_account: Callable[..., Account]) -> None:
    admin = make_account(admin=True)
    url = f"/api/users/{world.owner.user.id}/quotas"
    assert admin.http.put(url, json={"snapshots": 1}).status_code == 200
    rng = {"from": START, "to": NOW}
    assert take(world.owner.http, board["id"], **rng).status_code == 201
    refused = take(world.owner.http, board["id"], **rng)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["message"].startswith("You have 1 of 1 dashboard snapshots allowed.")
    assert [f["field"] for f in error["fields"]] == ["quotas.snapshots"]
    # Bytes: the next one would not fit.
    used = admin.http.get(url).json()["quotas"]
    assert used["snapshots"]["used"] == 1 and used["snapshot_bytes"]["used"] > 0
    small = {"snapshots": None, "snapshot_bytes": used["snapshot_bytes"]["used"] + 10}
    assert admin.http.put(url, json=small).status_code == 200
    refused = take(world.owner.http, board["id"], **rng)
    assert refused.status_code == 403, refused.text
    assert [f["field"] for f in refused.json()["error"]["fields"]] == ["quotas.snapshot_bytes"]
    assert "of dashboard snapshots allowed; this needs" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"from": NOW, "to": NOW - 1000}, "from", "must be before to"),
        ({"from": NOW, "to": NOW}, "from", "must be before to"),
        ({"from": -5, "to": NOW}, "from", "must be after 1970-01-01"),
        ({"from": START, "to": NOW + 3_600_000}, "to", "must not be in the future"),
        ({"from": NOW - 400 * 86_400_000, "to": NOW}, "from", "at most 366 days"),
        ({"from": "yesterday", "to": NOW}, "from", ""),
        ({"to": NOW}, "from", ""),
    ],
)
def test_bad_ranges(
    world: World, board: dict[str, Any], body: dict[str, Any], field: str, reason: str
) -> None:
    response = take(world.owner.http, board["id"], **body)
    assert response.status_code == 422, response.text
    fields = {f["field"]: f["reason"] for f in response.json()["error"]["fields"]}
    assert field in fields and reason in fields[field], fields
    assert world.owner.http.get(f"/api/dashboards/{board['id']}/snapshots").json() == []


def test_json_export_matches_the_series(
    world: World, board: dict[str, Any], client: TestClient
) -> None:
    params = {"instance": "i1", "pointer": "/temperature", "from": START, "to": NOW + 1}
    as_json = world.owner.http.get(f"/api/dashboards/{board['id']}/history.json", params=params)
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == "application/json"
    assert 'attachment; filename="history-i1.json"' == as_json.headers["content-disposition"]
    body = json.loads(as_json.text)
    assert [tuple(p) for p in body["points"]] == [(t, pytest.approx(v)) for t, v in VALUES]
    shared = world.owner.http.post(
        f"/api/dashboards/{board['id']}/sharing", json={"public": True}
    ).json()
    public = client.get(f"/api/public/dashboards/{shared['token']}/history.json", params=params)
    assert public.status_code == 200 and json.loads(public.text) == body
    hidden = {**params, "pointer": "/unbound"}
    url = f"/api/public/dashboards/{shared['token']}/history.json"
    assert client.get(url, params=hidden).status_code == 404
