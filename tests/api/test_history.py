"""The history routes (``api/history.py``): who may read which series, the answer, CSV,
and a clear error for each bad parameter. Values are stored with explicit times through
the store; the recording itself is tested in ``tests/services/test_history.py``."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_dashboards import World
from tests.conftest import Account
from visualbox.services.history_store import Point, SqlHistoryStore

NOW = time.time_ns() // 1_000_000
START = NOW - 30 * 60_000
VALUES: list[tuple[int, Any]] = [(START + n * 10_000, 20 + n / 10) for n in range(180)]
OBJECTS: list[tuple[int, Any]] = [(START + n * 60_000, {"on": n % 2 == 0}) for n in range(5)]


@pytest.fixture
def world(app: FastAPI, make_account: Callable[..., Account]) -> World:
    return World(app, make_account)


def record(app: FastAPI, dashboard_id: str, pointer: str, values: list[tuple[int, Any]]) -> None:
    points = [
        Point(
            (dashboard_id, "i1", pointer),
            t,
            json.dumps(v),
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None,
        )
        for t, v in values
    ]
    with app.state.db.session() as db:
        SqlHistoryStore(db).write(points)


@pytest.fixture
def board(world: World, app: FastAPI) -> dict[str, Any]:
    """The owner's dashboard (a widget on /i1/temperature), public, with history."""
    dashboard = world.create()
    response = world.owner.http.post(
        f"/api/dashboards/{dashboard['id']}/sharing", json={"public": True}
    )
    assert response.status_code == 200, response.text
    record(app, dashboard["id"], "/temperature", VALUES)
    record(app, dashboard["id"], "/secret", [(START, "only the owner sees this")])
    return {**dashboard, "token": response.json()["token"]}


def errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {f["field"]: f["reason"] for f in response.json()["error"]["fields"]}


def test_the_owner_reads_a_series_as_recorded(world: World, board: dict[str, Any]) -> None:
    url = f"/api/dashboards/{board['id']}/history"
    answer = world.owner.http.get(
        url, params={"instance": "i1", "pointer": "/temperature", "from": START, "to": NOW + 1}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["level"] == "raw" and body["step_ms"] == 0 and body["bands"] == []
    assert [tuple(p) for p in body["points"]] == [(t, pytest.approx(v)) for t, v in VALUES]
    assert body["last"] == [VALUES[-1][0], pytest.approx(VALUES[-1][1])]
    # Downsampled to about the points asked for, with the min and max of each bucket.
    thirty = {"from": START, "to": START + 30 * 60_000, "points": 10}
    few = world.owner.http.get(
        url, params={"instance": "i1", "pointer": "/temperature", **thirty}
    ).json()
    assert (few["level"], few["step_ms"]) == ("minute", 180_000)
    assert 10 <= len(few["points"]) == len(few["bands"]) <= 11
    pairs = zip(few["points"], few["bands"], strict=True)
    assert all(low <= mean <= high for (_, mean), (_, low, high) in pairs)
    # The defaults: the last hour, the whole output (never recorded here: empty).
    default = world.owner.http.get(url, params={"instance": "i1"}).json()
    assert default["pointer"] == "" and default["points"] == [] and default["last"] is None
    assert default["end"] - default["start"] == 3_600_000
    # Any recorded pointer of the owner's own dashboard.
    secret = world.owner.http.get(url, params={"instance": "i1", "pointer": "/secret"}).json()
    assert secret["points"] == [[START, "only the owner sees this"]]


def test_csv_export_matches_the_stored_values(
    world: World, board: dict[str, Any], app: FastAPI
) -> None:
    record(app, board["id"], "/state", OBJECTS)
    for pointer, values in (("/temperature", VALUES), ("/state", OBJECTS)):
        response = world.owner.http.get(
            f"/api/dashboards/{board['id']}/history.csv",
            params={"instance": "i1", "pointer": pointer, "from": START},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == ["time", "t_ms", "value", "min", "max"]
        assert [(int(r[1]), r[2]) for r in rows[1:]] == [
            (t, str(v) if not isinstance(v, dict) else json.dumps(v, separators=(",", ":")))
            for t, v in values
        ]
        assert rows[1][0].endswith("Z") and rows[1][3:] == ["", ""]


def test_a_public_link_reads_only_the_series_its_widgets_show(
    world: World, board: dict[str, Any], client: TestClient
) -> None:
    url = f"/api/public/dashboards/{board['token']}/history"
    shown = client.get(url, params={"instance": "i1", "pointer": "/temperature", "from": START})
    assert shown.status_code == 200, shown.text
    assert len(shown.json()["points"]) == len(VALUES)
    as_csv = client.get(url + ".csv", params={"instance": "i1", "pointer": "/temperature"})
    assert as_csv.status_code == 200 and len(as_csv.text.splitlines()) > 1
    for pointer in ("/secret", "", "/temperature/x"):
        hidden = client.get(url, params={"instance": "i1", "pointer": pointer, "from": START})
        assert hidden.status_code == 404, (pointer, hidden.text)
        hidden = client.get(url + ".csv", params={"instance": "i1", "pointer": pointer})
        assert hidden.status_code == 404
    # The link disabled: nothing more.
    world.owner.http.post(f"/api/dashboards/{board['id']}/sharing", json={"public": False})
    gone = client.get(url, params={"instance": "i1", "pointer": "/temperature"})
    assert gone.status_code == 404


def test_nobody_else_reads_a_private_series(
    board: dict[str, Any], make_account: Callable[..., Account], client: TestClient
) -> None:
    params = {"instance": "i1", "pointer": "/temperature"}
    for suffix in ("", ".csv"):
        url = f"/api/dashboards/{board['id']}/history{suffix}"
        assert make_account().http.get(url, params=params).status_code == 404
        assert make_account(verified=False).http.get(url, params=params).status_code == 403
        assert client.get(url, params=params).status_code == 401
        # A stranger learns nothing from bad parameters either.
        assert make_account().http.get(url, params={"points": "x"}).status_code == 404
    wrong = f"/api/public/dashboards/{'x' * 43}/history"
    assert client.get(wrong, params=params).status_code == 404


def test_bad_parameters_get_a_reason_each(world: World, board: dict[str, Any]) -> None:
    url = f"/api/dashboards/{board['id']}/history"
    get = world.owner.http.get
    assert "is required" in errors(get(url))["instance"]
    assert "no integration instance 'i9'" in errors(get(url, params={"instance": "i9"}))["instance"]
    assert errors(get(url, params={"instance": "i1", "pointer": "temperature"})).keys() == {
        "pointer"
    }
    found = errors(get(url, params={"instance": "i1", "from": "last week", "to": "now"}))
    assert found.keys() == {"from", "to"} and "ISO 8601" in found["from"]
    later = {"instance": "i1", "from": "2026-12-02T12:00:00Z", "to": "2026-12-02T11:00:00+00:00"}
    assert errors(get(url, params=later)) == {"from": "must be before to"}
    too_many = errors(get(url, params={"instance": "i1", "points": "10001"}))
    assert too_many == {"points": "must be a whole number from 1 to 10000"}
    csv_many = errors(get(url + ".csv", params={"instance": "i1", "points": "100001"}))
    assert csv_many == {"points": "must be a whole number from 1 to 100000"}
    body = get(url).json()["error"]
    assert body["code"] == "invalid" and body["message"] == "The history request is not valid."
