"""Sample dashboards and the first account's welcome."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from visualbox.db.tables.dashboards import Dashboard
from visualbox.services import accounts, registry
from visualbox.services.samples import FIRST_RUN, load_sample, sample_names

PASSWORD = "correct horse battery"


def sign_up(client: TestClient, email: str) -> None:
    answer = client.post(
        "/api/auth/signup", json={"name": "Ada", "email": email, "password": PASSWORD}
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("name", sample_names())
def test_every_sample_uses_only_published_builtins(app: FastAPI, name: str) -> None:
    sample = load_sample(name)
    with app.state.db.session() as db:
        for item in [*sample.integrations, *sample.widgets]:
            assert item.module_id.startswith("builtin-"), item.id
            assert registry.resolve(db, item.module_id, item.version, user=None)


def test_the_first_account_gets_the_live_sample(app: FastAPI, client: TestClient) -> None:
    sign_up(client, "first@example.com")
    (mine,) = client.get("/api/dashboards").json()
    dashboard = client.get(f"/api/dashboards/{mine['id']}").json()
    sample = load_sample(FIRST_RUN)
    assert dashboard["name"] == sample.name
    assert [i["module_id"] for i in dashboard["integrations"]] == ["builtin-simulator"]
    kinds = {w["module_id"] for w in dashboard["widgets"]}
    assert kinds == {
        "builtin-value",
        "builtin-gauge",
        "builtin-line-chart",
        "builtin-map",
        "builtin-status-light",
    }
    assert all(w["source"].startswith("/device/") for w in dashboard["widgets"])

    client.cookies.clear()  # another visitor
    sign_up(client, "second@example.com")
    with app.state.db.session() as db:
        second = accounts.user_by_email(db, "second@example.com")
        assert second is not None
        assert db.scalars(select(Dashboard).where(Dashboard.owner_id == second.id)).all() == []


def test_the_sample_can_be_turned_off(app: FastAPI, client: TestClient) -> None:
    app.state.settings.accounts.sample_dashboard = False
    sign_up(client, "first@example.com")
    assert client.get("/api/dashboards").json() == []


def test_anyone_signed_in_can_start_from_a_sample(app: FastAPI, client: TestClient) -> None:
    app.state.settings.accounts.sample_dashboard = False
    assert client.get("/api/dashboards/samples").status_code == 401
    sign_up(client, "first@example.com")
    listed = client.get("/api/dashboards/samples").json()
    assert {"name": FIRST_RUN, "title": load_sample(FIRST_RUN).name} in listed
    made = client.post(f"/api/dashboards/samples/{FIRST_RUN}")
    assert made.status_code == 201, made.text
    assert made.json()["name"] == load_sample(FIRST_RUN).name
    assert [d["id"] for d in client.get("/api/dashboards").json()] == [made.json()["id"]]
    for name in ("nope", "live-device.json", ".live-device"):
        missing = client.post(f"/api/dashboards/samples/{name}")
        assert missing.status_code == 404, name
        assert missing.json()["error"]["fields"] == [
            {"field": "name", "label": "Name", "reason": "no such sample"}
        ]
    assert client.post("/api/dashboards/samples/..%2Flive-device").status_code == 404
