"""A registry you can trust, on a live dashboard (issue 18): a real server on loopback,
real WebSockets, real sandboxed integrations, on SQLite and on PostgreSQL.

* a file tampered with in storage after publication never runs: the instance says
  which file does not match what was published;
* a version an administrator blocks stops where it runs, says why, does not start
  again, and its author is told (by mail, and on the module's page).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.api.test_registry_trust import _tamper
from tests.fixtures.smtp import SmtpServer
from tests.live.conftest import (
    LEVEL_SCHEMA,
    PYTHON_COUNTER,
    Account,
    Server,
    live_settings,
    output_of,
    viewer,
)
from tests.live.test_live import wait_until
from visualbox.db.tables.accounts import User

pytestmark = pytest.mark.anyio

REASON = "It sends your readings to a third party."
EVIL = 'import visualbox\nvisualbox.output({"n": 0, "evil": True})\n'


@pytest.fixture
def trust_server(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Server]:
    settings = live_settings(tmp_path, database_url, idle_timeout_s=1.0, flush_interval_s=0.1)
    settings.mail.smtp_host, settings.mail.smtp_port = smtp.host, smtp.port
    settings.mail.smtp_starttls = False  # the loopback test server speaks plain SMTP
    running = Server(settings).start()
    yield running
    running.stop()


def _block(account: Account, url: str) -> httpx2.Response:
    with account.http() as http:
        return http.post(f"{url}/block", json={"reason": REASON})


def _publish(account: Account) -> tuple[str, str]:
    """Ada's counter integration, published through the API (signed), and its name."""
    with account.http() as http:
        created = http.post(
            "/api/modules", json={"name": "Counter", "kind": "integration", "runtime": "python"}
        )
        assert created.status_code == 201, created.text
        module: str = created.json()["id"]
        files = {"main.py": PYTHON_COUNTER, "config.json": json.dumps(LEVEL_SCHEMA)}
        for path, content in files.items():
            put = http.put(f"/api/modules/{module}/files/{path}", content=content.encode())
            assert put.status_code in (200, 201), put.text
        published = http.post(f"/api/modules/{module}/versions", json={"version": "1.0.0"})
        assert published.status_code == 201, published.text
    return module, "Counter"


def _exited(detail: str) -> Any:
    return lambda m: (
        m["type"] == "STATE"
        and m["instance"] == "i1"
        and m["state"] == "exited"
        and m["reason"] == "unavailable"
        and detail in m.get("detail", "")
    )


async def test_a_file_tampered_in_storage_is_refused_at_start(trust_server: Server) -> None:
    server = trust_server
    ada = server.account("Ada")
    module, name = _publish(ada)
    _tamper(server.app, module, "1.0.0", "main.py", EVIL.encode())
    board = ada.dashboard([{"id": "i1", "module_id": module, "label": "C", "version": "1.0.0"}])
    client = await viewer(server, ada)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        why = f"files of {name} 1.0.0 do not match what was published: main.py"
        told = await client.wait_for(_exited(why))
        assert told["state"] == "exited"
        assert server.app.state.live.runner.active() == 0
        assert not client.of("OUTPUT")  # the tampered code never ran
    finally:
        await client.close()


async def test_a_blocked_version_stops_on_a_live_dashboard_and_says_why(
    trust_server: Server, smtp: SmtpServer
) -> None:
    server = trust_server
    ada, bob, root = server.account("Ada"), server.account("Bob"), server.account("Root")
    with server.app.state.db.session() as db:
        admin = db.get(User, root.id)
        assert admin is not None
        admin.is_admin = True
        db.commit()
    module, _name = _publish(ada)
    board = bob.dashboard([{"id": "i1", "module_id": module, "label": "C", "version": "1.0.0"}])
    live = server.app.state.live
    client = await viewer(server, bob)
    url = f"/api/registry/modules/{module}/versions/1.0.0"
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        await client.wait_for(output_of("i1"))
        assert live.runner.active() == 1
        # (In a thread: the viewer keeps ticking while the server mails the author.)
        refused = await asyncio.to_thread(_block, bob, url)  # not an administrator
        assert refused.status_code == 403
        blocked = await asyncio.to_thread(_block, root, url)
        assert blocked.status_code == 200, blocked.text
        why = f"Blocked by an administrator: {REASON}"
        await client.wait_for(_exited(why))
        await wait_until(lambda: live.runner.active() == 0)
        # A new viewer does not start it again, and the state says why.
        again = await viewer(server, bob)
        try:
            await again.send({"type": "JOIN", "dashboard": board["id"]})
            joined = await again.wait_for(lambda m: m["type"] == "JOINED")
            state = joined["instances"]["i1"]
            assert state["state"] == "exited" and why in state["detail"]
        finally:
            await again.close()
        assert live.runner.active() == 0
        # The author is told: by mail, and on the module's page.
        mail = smtp.wait_for(1)[0]
        with server.app.state.db.session() as db:
            author = db.get(User, ada.id)
            assert author is not None
            assert mail["To"] == author.email
        assert "blocked by an administrator" in str(mail["Subject"])
        assert REASON in mail.get_content()
        with ada.http() as http:
            page = http.get(f"/api/registry/modules/{module}").json()
        version = next(v for v in page["versions"] if v["version"] == "1.0.0")
        assert version["blocked"] and version["blocked_reason"] == REASON
    finally:
        await client.close()
