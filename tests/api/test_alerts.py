"""The alert rule routes (``api/alerts.py``): create, list, edit, delete; bad rules named in
words; the webhook secret stored encrypted and never returned; silence; the test
notification reaches a real SMTP server; the per-dashboard limit; strangers get 404; and
the compare-and-set that makes one crossing fire once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.api.test_dashboards import World
from tests.conftest import Account
from tests.fixtures.smtp import SmtpServer
from visualbox.db.tables.alerts import AlertEvent, AlertOutbox, AlertRule
from visualbox.services import alerts
from visualbox.services.alert_delivery import WebhookRefused, address_refused, check_url, resolve
from visualbox.settings import AlertSettings

SECRET = "a-webhook-secret-of-32-characters"


@pytest.fixture
def world(app: FastAPI, make_account: Callable[..., Account]) -> World:
    return World(app, make_account)


@pytest.fixture
def board(world: World) -> dict[str, Any]:
    return world.create()


def rules(board: dict[str, Any]) -> str:
    return f"/api/dashboards/{board['id']}/alerts"


def rule_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Too warm",
        "source": "/i1/temperature",
        "condition": "above",
        "threshold": 30,
        "for_s": 0,
        "emails": ["ops@example.com"],
        "webhook_url": "https://hooks.example.test/visualbox",
        "webhook_secret": SECRET,
    }
    body.update(changes)
    return body


def create(http: TestClient, board: dict[str, Any], **changes: Any) -> dict[str, Any]:
    response = http.post(rules(board), json=rule_body(**changes))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_list_edit_delete_and_the_secret_is_never_returned(
    world: World, board: dict[str, Any], app: FastAPI
) -> None:
    http = world.owner.http
    rule = create(http, board)
    assert rule["source"] == "/i1/temperature" and rule["condition"] == "above"
    assert rule["state"] == "ok" and rule["value"] is None and rule["webhook_secret_set"]
    assert "silenced_until" not in rule
    listed = http.get(rules(board))
    assert [r["id"] for r in listed.json()] == [rule["id"]]
    for text in (listed.text, http.get(f"{rules(board)}/{rule['id']}").text):
        assert SECRET not in text and 'webhook_secret"' not in text
    with app.state.db.session() as db:
        stored = db.get(AlertRule, rule["id"])
        assert stored is not None and stored.webhook_secret and SECRET not in stored.webhook_secret
        assert app.state.secret_box.decrypt(stored.webhook_secret).decode() == SECRET
    # Edits change only what is given; the secret stays unless a new one is sent.
    changed = http.patch(f"{rules(board)}/{rule['id']}", json={"threshold": 25.5, "name": "Warm"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["threshold"], changed.json()["name"]) == (25.5, "Warm")
    assert changed.json()["webhook_secret_set"] and SECRET not in changed.text
    removed = http.patch(f"{rules(board)}/{rule['id']}", json={"webhook_url": ""})
    assert removed.json()["webhook_url"] is None and not removed.json()["webhook_secret_set"]
    assert http.delete(f"{rules(board)}/{rule['id']}").status_code == 204
    assert http.get(rules(board)).json() == []


def test_bad_rules_are_named_in_words(world: World, board: dict[str, Any]) -> None:
    http = world.owner.http
    bad = http.post(
        rules(board),
        json=rule_body(
            source="/i9/temperature",
            threshold="warm",
            webhook_url="ftp://example.test/x",
            webhook_secret=None,
        ),
    )
    assert bad.status_code == 422
    fields = {f["field"]: f["reason"] for f in bad.json()["error"]["fields"]}
    assert "names no integration instance of this dashboard (it has: i1)" in fields["source"]
    assert fields["threshold"] == "must be a number for the condition above"
    assert fields["webhook_url"] == "must be an http:// or https:// URL with a host"
    assert "is required with a webhook" in fields["webhook_secret"]
    no_data = http.post(rules(board), json=rule_body(condition="no_data", threshold=None))
    assert no_data.status_code == 422 and "no_data_s" in no_data.text
    short = http.post(rules(board), json=rule_body(webhook_secret="short", emails=["nope"]))
    assert short.status_code == 422
    reasons = " ".join(f["reason"] for f in short.json()["error"]["fields"])
    assert "16 characters" in reasons and "email address" in reasons
    unknown = http.post(rules(board), json=rule_body(state="firing"))
    assert unknown.status_code == 422


def test_only_the_owner_sees_the_rules(
    world: World, board: dict[str, Any], make_account: Callable[..., Account]
) -> None:
    rule = create(world.owner.http, board)
    stranger = make_account().http
    for method, path in (
        ("GET", rules(board)),
        ("POST", rules(board)),
        ("GET", f"{rules(board)}/{rule['id']}"),
        ("PATCH", f"{rules(board)}/{rule['id']}"),
        ("DELETE", f"{rules(board)}/{rule['id']}"),
        ("GET", f"{rules(board)}/{rule['id']}/history"),
        ("POST", f"{rules(board)}/{rule['id']}/test"),
    ):
        body = rule_body() if method in ("POST", "PATCH") else None
        assert stranger.request(method, path, json=body).status_code == 404, (method, path)
    other = world.create()
    moved = world.owner.http.get(f"{rules(other)}/{rule['id']}")
    assert moved.status_code == 404  # a rule is reached through its own dashboard only


def test_silence_unsilence_and_the_history(world: World, board: dict[str, Any]) -> None:
    http = world.owner.http
    rule = create(http, board)
    path = f"{rules(board)}/{rule['id']}"
    silenced = http.post(f"{path}/silence", json={"minutes": 30})
    assert silenced.status_code == 200
    until = datetime.fromisoformat(silenced.json()["silenced_until"])
    assert 29 * 60 < (until - datetime.now(UTC)).total_seconds() <= 30 * 60
    assert http.post(f"{path}/silence", json={"minutes": 0}).status_code == 422
    assert "silenced_until" not in http.delete(f"{path}/silence").json()
    kinds = [e["kind"] for e in http.get(f"{path}/history").json()]
    assert kinds == ["unsilenced", "silenced"]


def test_the_limit_of_rules_per_dashboard(
    world: World, board: dict[str, Any], settings: Any
) -> None:
    settings.alerts.rules_per_dashboard = 2
    http = world.owner.http
    create(http, board)
    create(http, board, name="Too cold", condition="below", threshold=-5)
    third = http.post(rules(board), json=rule_body(name="Third"))
    assert third.status_code == 403
    assert "2 of 2 alert rules" in third.json()["error"]["message"]


def test_a_test_notification_reaches_a_real_smtp_server(
    app: FastAPI, world: World, board: dict[str, Any], smtp: SmtpServer
) -> None:
    app.state.settings.mail.smtp_host = smtp.host
    app.state.settings.mail.smtp_port = smtp.port
    app.state.settings.mail.smtp_starttls = False
    http = world.owner.http
    rule = create(http, board, webhook_url=None, webhook_secret=None)
    with TestClient(app):  # the lifespan runs the live service and its delivery
        sent = world.owner.http.post(f"{rules(board)}/{rule['id']}/test")
        assert sent.status_code == 200 and sent.json() == {"queued": 1}
        mail = smtp.wait_for(1, timeout=30)[0]
    assert mail["To"] == "ops@example.com" and "Test" in mail["Subject"]
    assert f"/d/{board['id']}" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    silent = create(http, board, emails=[], webhook_url=None, webhook_secret=None)
    nobody = http.post(f"{rules(board)}/{silent['id']}/test")
    assert nobody.status_code == 422 and "tells nobody" in nobody.json()["error"]["message"]


def test_one_crossing_changes_the_state_once(
    app: FastAPI, world: World, board: dict[str, Any]
) -> None:
    """Two evaluators (two nodes, or a retry) that saw the same crossing: the
    compare-and-set lets one write the change and queue its notifications."""
    rule = create(world.owner.http, board)
    settings, url = AlertSettings(), "http://visualbox.test"
    at = datetime.now(UTC)
    with app.state.db.session() as db:
        first = alerts.change_state(db, settings, url, rule["id"], 0, "firing", 31, at)
        second = alerts.change_state(db, settings, url, rule["id"], 0, "firing", 32, at)
        assert (first, second) == (True, False)
        events = db.scalars(select(AlertEvent).where(AlertEvent.rule_id == rule["id"])).all()
        assert [(e.kind, e.value, e.notified) for e in events] == [("fired", "31", True)]
        outbox = db.scalars(select(AlertOutbox).where(AlertOutbox.rule_id == rule["id"])).all()
        assert sorted(o.channel for o in outbox) == ["email", "webhook"]
        assert alerts.change_state(db, settings, url, rule["id"], 1, "ok", 20, at)
    body = world.owner.http.get(f"{rules(board)}/{rule['id']}/history").json()
    assert [(e["kind"], e["value"]) for e in body] == [("resolved", 20), ("fired", 31)]


def test_webhook_addresses_are_checked() -> None:
    assert address_refused("169.254.169.254", allow_private=True) is not None
    assert address_refused("fe80::1", allow_private=True) is not None
    assert address_refused("127.0.0.1", allow_private=False) is not None
    assert address_refused("10.1.2.3", allow_private=False) is not None
    assert address_refused("::ffff:127.0.0.1", allow_private=False) is not None
    assert address_refused("127.0.0.1", allow_private=True) is None
    assert address_refused("93.184.215.14", allow_private=False) is None
    assert check_url("https://user:pw@example.test/") is not None
    assert check_url("https://example.test:99999/") is not None
    assert check_url("https://example.test/hook?x=1") is None
    # At send time the name is resolved and every address checked (localhost: /etc/hosts).
    for url in ("http://localhost:9/hook", "http://127.0.0.1:9/", "http://[::1]:9/"):
        with pytest.raises(WebhookRefused, match="loopback or private"):
            resolve(url, allow_private=False)
    assert resolve("http://127.0.0.1:9/", allow_private=True) == ("127.0.0.1", "127.0.0.1", 9)
