"""Alerts end to end (SQLite and PostgreSQL): a real sandboxed integration crosses a
threshold; the mail arrives at a real SMTP server and the webhook at a loopback HTTP server
that checks its signature; one crossing fires once, however many outputs and viewers; it
resolves when the value comes back; and a notification pending while the server restarts
(its webhook was down) is delivered after the restart, without the rule firing again."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.ports import free_port
from tests.fixtures.smtp import SmtpServer
from tests.live.conftest import LEVEL_SCHEMA, PYTHON_COUNTER, Account, Server, viewer
from visualbox.db.base import as_utc, utcnow
from visualbox.db.tables.alerts import AlertEvent, AlertOutbox
from visualbox.settings import AlertSettings, DatabaseSettings, LiveSettings, MailSettings, Settings

pytestmark = pytest.mark.anyio

SECRET = "loopback-webhook-secret-0123456789"
DEADLINE = 60.0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    factory = request.getfixturevalue("postgres_databases")
    url = factory.create()
    yield url
    factory.drop(url)


class Webhook:
    """A loopback HTTP server that keeps the JSON bodies whose signature is right."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-VisualBox-Timestamp"]
                mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
                good = self.headers["X-VisualBox-Signature"] == f"sha256={mac.hexdigest()}"
                fresh = abs(time.time() - int(stamp)) < 300
                with hook._changed:
                    if good and fresh:
                        hook.received.append(json.loads(body))
                    else:
                        hook.bad_signatures += 1
                    hook._changed.notify_all()
                self.send_response(204 if good else 401)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = DEADLINE) -> list[dict[str, Any]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"expected {count} webhook(s), got {self.received}")
            return list(self.received)


def settings_for(tmp_path: Path, database_url: str | None, smtp: SmtpServer) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database=DatabaseSettings(url=database_url),
        live=LiveSettings(idle_timeout_s=5, flush_interval_s=0.1),
        mail=MailSettings(smtp_host=smtp.host, smtp_port=smtp.port, smtp_starttls=False),
        alerts=AlertSettings(interval_s=0.1, retry_s=0.1, webhook_allow_private=True),
    )


def poll(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` (a database read) until it is true, up to the deadline."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # polling a condition with a deadline, not a synchronisation sleep
    raise AssertionError(f"timed out waiting for {what}")


def events(server: Server, rule_id: str) -> list[str]:
    with server.app.state.db.session() as db:
        rows = db.scalars(select(AlertEvent).where(AlertEvent.rule_id == rule_id))
        return [e.kind for e in sorted(rows, key=lambda e: e.id)]


def outbox(server: Server) -> list[AlertOutbox]:
    with server.app.state.db.session() as db:
        return list(db.scalars(select(AlertOutbox)))


def set_level(owner: Account, board_id: str, level: int) -> None:
    with owner.http() as http:
        revision = http.get(f"/api/dashboards/{board_id}").json()["revision"]
        body = {"revision": revision, "config": {"level": level, "every": 0.05}}
        changed = http.patch(f"/api/dashboards/{board_id}/integrations/i1", json=body)
        assert changed.status_code == 200, changed.text


def level_output(level: int, n: int = 0) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "OUTPUT" and m["data"]["level"] == level and m["data"]["n"] >= n


async def test_an_alert_fires_once_resolves_and_survives_a_restart(
    tmp_path: Path, database_url: str | None, smtp: SmtpServer
) -> None:
    hook = Webhook()
    hook.start()
    server = Server(settings_for(tmp_path, database_url, smtp)).start()
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON_COUNTER}, schema=LEVEL_SCHEMA)
    board = owner.dashboard(
        [{"id": "i1", "module_id": module, "label": "C", "config": {"level": 1, "every": 0.05}}]
    )
    rule_body = {
        "name": "Level high",
        "source": "/i1/level",
        "condition": "above",
        "threshold": 5,
        "emails": ["ops@example.com"],
        "webhook_url": f"http://127.0.0.1:{hook.port}/hook",
        "webhook_secret": SECRET,
    }
    with owner.http() as http:
        created = http.post(f"/api/dashboards/{board['id']}/alerts", json=rule_body)
        assert created.status_code == 201, created.text
    rule = created.json()["id"]
    first, second = await viewer(server, owner), await viewer(server, owner)
    for client in (first, second):
        await client.send({"type": "JOIN", "dashboard": board["id"]})
    await first.wait_for(level_output(1, 3))

    # One crossing, many outputs above the threshold, two viewers: it fires once.
    await asyncio.to_thread(set_level, owner, board["id"], 10)
    fired = await first.wait_for(lambda m: m["type"] == "ALERT" and m["state"] == "firing")
    assert (fired["rule"], fired["source"], fired["name"]) == (rule, "/i1/level", "Level high")
    mail = (await asyncio.to_thread(smtp.wait_for, 1, timeout=DEADLINE))[0]
    assert "Firing: Level high" in mail["Subject"] and mail["To"] == "ops@example.com"
    body = (await asyncio.to_thread(hook.wait_for, 1))[0]
    assert (body["event"], body["value"], body["rule"]["id"]) == ("fired", 10, rule)
    assert body["dashboard"]["url"].endswith(f"/d/{board['id']}")
    seen = len(first.messages)
    await first.wait_for(level_output(10, 20), after=seen)  # many more outputs above
    await asyncio.to_thread(poll, lambda: not outbox(server), "the outbox to empty")
    assert events(server, rule) == ["fired"]
    assert (len(smtp.messages), len(hook.received), hook.bad_signatures) == (1, 1, 0)

    # Back under the threshold: resolved, told once.
    await asyncio.to_thread(set_level, owner, board["id"], 1)
    await first.wait_for(lambda m: m["type"] == "ALERT" and m["state"] == "ok")
    resolved = await asyncio.to_thread(smtp.wait_for, 2, timeout=DEADLINE)
    assert "Resolved: Level high" in resolved[1]["Subject"]
    assert (await asyncio.to_thread(hook.wait_for, 2))[1]["event"] == "resolved"

    # The webhook is down when it fires again: the mail goes, the webhook waits...
    hook.stop()
    await asyncio.to_thread(set_level, owner, board["id"], 10)
    await asyncio.to_thread(smtp.wait_for, 3, timeout=DEADLINE)

    def failed_once() -> bool:
        rows = outbox(server)
        return len(rows) == 1 and rows[0].attempts >= 1 and rows[0].last_error is not None

    await asyncio.to_thread(poll, failed_once, "a failed webhook delivery")
    for client in (first, second):
        await client.close()
    server.stop()
    # It was tried again meanwhile, each wait twice the last: the next try is when the
    # stored schedule says (on a busy machine, long after a minute of being down).
    (waiting,) = outbox(server)
    due_in = max(0.0, (as_utc(waiting.next_attempt_at) - utcnow()).total_seconds())

    # ... across a restart of the server, and is delivered after it; nothing fires again.
    hook.start()
    again = Server(settings_for(tmp_path, database_url, smtp)).start()
    try:
        client = await viewer(again, owner)
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        delivered = (await asyncio.to_thread(hook.wait_for, 3, due_in + DEADLINE))[2]
        assert (delivered["event"], delivered["value"]) == ("fired", 10)
        await client.wait_for(level_output(10, 20))
        await asyncio.to_thread(poll, lambda: not outbox(again), "the outbox to empty")
        assert events(again, rule) == ["fired", "resolved", "fired"]
        assert again.app.state.live.alerts.changes == 0  # the stored state held: firing
        assert (len(smtp.messages), len(hook.received), hook.bad_signatures) == (3, 3, 0)
        await client.close()
    finally:
        again.stop()
        hook.stop()
