"""Liveness and readiness (``api/server.py``): the health routes a load balancer and
Kubernetes probe, against a real PostgreSQL and a real ``redis-server`` that go away."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.fixtures.postgres import DatabaseFactory
from tests.fixtures.redis import RedisServer
from visualbox import __version__
from visualbox.app import create_app
from visualbox.services.server import READY_TIMEOUT_S
from visualbox.settings import DatabaseSettings, HubSettings, Settings


def test_ready_when_the_database_answers(client: TestClient, database_url: str) -> None:
    response = client.get("/api/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "version": __version__,
        "database": database_url.split(":")[0].split("+")[0],
        "hub": "memory",
    }


@pytest.fixture
def redis_client(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database=DatabaseSettings(url=database_url),
        hub=HubSettings(url=redis_server.url),
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield client
    app.state.db.dispose()


def test_not_ready_while_redis_is_away_and_ready_again_when_it_is_back(
    redis_client: TestClient, redis_server: RedisServer
) -> None:
    assert redis_client.get("/api/health/ready").json()["hub"] == "redis"
    redis_server.stop()
    try:
        response = redis_client.get("/api/health/ready")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "unavailable"
        assert error["message"] == (
            "This server cannot serve now: Redis (the live hub) does not answer."
        )
        assert [(f["field"], f["label"]) for f in error["fields"]] == [("hub", "Redis (live hub)")]
        assert str(redis_server.port) not in response.text  # no address for anyone
        assert redis_client.get("/api/health").status_code == 200  # alive all the same
    finally:
        redis_server.start()
    # No restart needed: ready again once the hub has reconnected (it retries with a
    # short back-off, so the first answer may still come from before).
    deadline = time.monotonic() + 15
    while (status := redis_client.get("/api/health/ready").status_code) != 200:
        assert time.monotonic() < deadline, f"still {status} 15 s after Redis came back"
        time.sleep(0.1)


@pytest.fixture
def on_postgres(
    tmp_path: Path, postgres_databases: DatabaseFactory
) -> Iterator[tuple[TestClient, str]]:
    """A server on its own PostgreSQL database, and that database's name."""
    url = postgres_databases.create()
    app = create_app(Settings(data_dir=tmp_path / "data", database=DatabaseSettings(url=url)))
    with TestClient(app) as client:
        yield client, url.rsplit("/", 1)[1]
    app.state.db.dispose()
    postgres_databases.drop(url)


def test_not_ready_while_the_database_is_gone(
    on_postgres: tuple[TestClient, str], postgres_databases: DatabaseFactory
) -> None:
    client, name = on_postgres
    assert client.get("/api/health/ready").status_code == 200
    with postgres_databases.admin.connect() as admin:  # ends the server's connections too
        admin.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    response = client.get("/api/health/ready")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["message"] == "This server cannot serve now: the database does not answer."
    assert [f["field"] for f in error["fields"]] == ["database"]
    assert name not in response.text and "visualbox@" not in response.text
    assert client.get("/api/health").status_code == 200  # liveness touches no database
    with postgres_databases.admin.connect() as admin:  # back (empty, but it answers)
        admin.execute(text(f"CREATE DATABASE {name}"))
    assert client.get("/api/health/ready").status_code == 200


def test_readiness_answers_in_time_when_the_database_hangs(
    on_postgres: tuple[TestClient, str], postgres_databases: DatabaseFactory
) -> None:
    """Every server process of this database frozen (SIGSTOP): the check gives up after
    its timeout instead of holding the probe, and recovers once they run again."""
    client, name = on_postgres
    assert client.get("/api/health/ready").status_code == 200
    with postgres_databases.admin.connect() as admin:
        pids = (
            admin.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            .scalars()
            .all()
        )
    assert pids, "the server holds a pooled connection to its database"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = client.get("/api/health/ready")
        took = time.monotonic() - started
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == (
        f"This server cannot serve now: the database did not answer within {READY_TIMEOUT_S:g} s."
    )
    assert READY_TIMEOUT_S <= took < READY_TIMEOUT_S + 2
    deadline = time.monotonic() + 10  # the frozen check's thread finishes, then all is well
    while client.get("/api/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "not ready again after the database resumed"
