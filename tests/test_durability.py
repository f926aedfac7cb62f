"""A real server is killed with SIGKILL while saving dashboards; nothing acknowledged is lost.

The server runs as its own process (uvicorn with the app factory) on a loopback
port, on SQLite in a temporary data dir, and on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy.orm import Session

from tests.fixtures.ports import free_port
from tests.fixtures.postgres import DatabaseFactory
from visualbox.db.engine import create_db_engine
from visualbox.db.schema import migrate
from visualbox.services import accounts

ACKED_BEFORE_KILL = 40
START_TIMEOUT_S = 60


@contextmanager
def server(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[str]]:
    """A uvicorn process serving create_app(); yields once it accepts requests."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "visualbox.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    ready = threading.Event()
    lines: list[str] = []

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "Application startup complete" in line:
                ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert ready.wait(START_TIMEOUT_S), "server did not start:\n" + "".join(lines)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(timeout=10)


def api_token(database_url: str) -> str:
    engine = create_db_engine(database_url)
    migrate(engine)
    with Session(engine) as db:
        user = accounts.create_user(
            db, name="Ada", email="ada@example.test", password="correct horse battery",
            is_admin=True, verified=True,
        )  # fmt: skip
        _row, token = accounts.create_api_token(db, user, "durability")
    token_text: str = token
    engine.dispose()
    return token_text


def kill_mid_save_and_check(tmp_path: Path, database_url: str) -> None:
    env = {
        "VISUALBOX_DATA_DIR": str(tmp_path / "data"),
        "VISUALBOX_DATABASE__URL": database_url,
    }
    headers = {"Authorization": f"Bearer {api_token(database_url)}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    created: list[str] = []
    acked: list[tuple[int, str]] = []  # (revision, name) of every acknowledged save
    enough = threading.Event()
    with server(env, port) as process:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            main = http.post("/api/dashboards", json={"name": "rev 1"}).json()
        acked.append((1, "rev 1"))

        def write() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                n = 0
                while True:
                    n += 1
                    try:
                        made = http.post("/api/dashboards", json={"name": f"extra {n}"})
                        if made.status_code == 201:
                            created.append(made.json()["id"])
                        revision, _ = acked[-1]
                        name = f"rev {revision + 1}"
                        body = {"name": name, "revision": revision}
                        saved = http.put(f"/api/dashboards/{main['id']}", json=body)
                    except httpx.TransportError:
                        return  # the server is gone
                    assert saved.status_code == 200, saved.text
                    acked.append((saved.json()["revision"], name))
                    if len(acked) >= ACKED_BEFORE_KILL:
                        enough.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert enough.wait(120), "the saves did not get going"
        os.kill(process.pid, signal.SIGKILL)
        writer.join(timeout=60)
        assert not writer.is_alive()

    port = free_port()
    with server(env, port):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
            for dashboard_id in created:
                assert http.get(f"/api/dashboards/{dashboard_id}").status_code == 200
            stored = http.get(f"/api/dashboards/{main['id']}").json()
    last_revision, last_name = acked[-1]
    assert [r for r, _ in acked] == list(range(1, last_revision + 1))
    # The save in flight at the kill may or may not have committed; nothing acked is lost.
    assert stored["revision"] in (last_revision, last_revision + 1)
    if stored["revision"] == last_revision:
        assert stored["name"] == last_name
    assert len(created) >= ACKED_BEFORE_KILL - 2


@pytest.mark.slow
def test_sqlite_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "data" / "visualbox.db"
    kill_mid_save_and_check(tmp_path, f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_survives_kill_9(tmp_path: Path, postgres_databases: DatabaseFactory) -> None:
    url = postgres_databases.create()
    try:
        kill_mid_save_and_check(tmp_path, url)
    finally:
        postgres_databases.drop(url)
