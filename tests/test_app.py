from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from visualbox.app import create_app
from visualbox.errors import Unavailable
from visualbox.settings import SandboxSettings, ServerSettings, Settings


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
    )
    with pytest.raises(Unavailable) as info:
        create_app(settings)
    fields = {f.field for f in info.value.fields}
    assert fields == {"VISUALBOX_SANDBOX__BACKEND", "VISUALBOX_SERVER__PUBLIC_URL"}
