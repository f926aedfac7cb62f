from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from visualbox.app import create_app
from visualbox.errors import Unavailable
from visualbox.settings import DatabaseSettings, SandboxSettings, ServerSettings, Settings


def test_health_reports_the_database(client: TestClient, database_url: str) -> None:
    body = client.get("/api/health").json()
    assert body["ok"] is True
    assert body["database"] == database_url.split(":")[0].split("+")[0]


def test_unknown_route_has_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/api/openapi.json").json()["info"]["title"] == "VisualBox"


def test_production_refuses_insecure_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        server=ServerSettings(environment="production", public_url="http://example.test"),
        sandbox=SandboxSettings(backend="none", allow_unsandboxed=True),
        database=DatabaseSettings(echo=True),
    )
    with pytest.raises(Unavailable) as info:
        create_app(settings)
    fields = {f.field for f in info.value.fields}
    assert fields == {
        "VISUALBOX_SANDBOX__BACKEND",
        "VISUALBOX_SERVER__PUBLIC_URL",
        "VISUALBOX_DATABASE__ECHO",
    }


def test_an_unexpected_error_has_the_error_shape_and_leaks_nothing(app: FastAPI) -> None:
    """A bug answers 500 in the usual error shape, without the exception's text."""

    @app.get("/api/test-boom")
    def boom() -> None:
        raise RuntimeError("SELECT secret FROM internals -- pw-do-not-leak")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/test-boom")
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "internal",
        "message": "Something went wrong on the server; it was logged.",
        "fields": [],
    }
    assert "pw-do-not-leak" not in response.text and "SELECT" not in response.text


def test_nodes_starting_together_on_an_empty_postgresql_take_turns(
    tmp_path: Path, postgres_databases: Any
) -> None:
    """Four servers start at once on a new database: one migrates it and publishes the
    built-in modules, the others wait and find it done (without the lock they collide
    on creating the same tables)."""
    url = postgres_databases.create(empty=True)
    start = threading.Barrier(4)
    apps: list[FastAPI] = []
    errors: list[BaseException] = []

    def node(n: int) -> None:
        settings = Settings(data_dir=tmp_path / f"node{n}", database=DatabaseSettings(url=url))
        start.wait()
        try:
            apps.append(create_app(settings))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=node, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert not any(t.is_alive() for t in threads), "nodes starting together deadlocked"
        assert errors == [] and len(apps) == 4
        with TestClient(apps[0]) as client:
            builtins = client.get("/api/registry/search", params={"q": "gauge"}).json()
            assert [item["name"] for item in builtins["items"]].count("Gauge") == 1
    finally:
        for app in apps:
            app.state.db.dispose()
        postgres_databases.drop(url)
