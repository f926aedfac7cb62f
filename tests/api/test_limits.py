"""Limits every request passes: body sizes, NUL characters (api/limits.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.asgi import stream
from tests.conftest import Account
from visualbox.api.limits import MAX_JSON_BYTES


def test_a_nul_in_the_path_is_a_404(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account()
    for url in ("/api/modules/a%00b", "/api/registry/modules/a%00b", "/api/dashboards/a%00b"):
        response = ada.http.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"


def test_control_characters_in_names_are_refused(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    for url, body in [
        ("/api/modules", {"name": "bad\u0000name", "kind": "widget", "template": False}),
        ("/api/dashboards", {"name": "two\nlines"}),
        ("/api/account", {"name": "bell\u0007"}),
    ]:
        method = ada.http.patch if url == "/api/account" else ada.http.post
        response = method(url, json=body)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"]["fields"][0]["field"] == "name"


def test_a_declared_oversized_json_body_is_refused(make_account: Callable[..., Account]) -> None:
    ada = make_account()
    body = json.dumps({"name": "x" * MAX_JSON_BYTES})
    response = ada.http.post(
        "/api/dashboards", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["fields"][0]["field"] == "body"


@pytest.mark.parametrize(
    "media", ["application/x+json", "APPLICATION/vnd.api+json; x=1", None, "application/zip"]
)
def test_every_type_parsed_as_json_has_the_json_limit(
    make_account: Callable[..., Account], media: str | None
) -> None:
    """The attack: the 2 MiB JSON limit was bypassed by another type that FastAPI still
    decodes as JSON (any application/*+json, or no Content-Type at all). Only the
    upload routes take more, whatever the type says."""
    ada = make_account()
    body = json.dumps({"name": "x" * (MAX_JSON_BYTES + 1)})
    headers = {"Content-Type": media} if media else {}
    response = ada.http.post("/api/dashboards", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["fields"][0]["field"] == "body"


def test_an_undeclared_oversized_body_stops_being_read(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    """A chunked body without Content-Length is counted as it arrives and cut off."""
    ada = make_account()
    chunk = b"x" * 65536
    headers = {"content-type": "application/json", "authorization": f"Bearer {ada.token}"}
    endless = (chunk for _ in range(64 * MAX_JSON_BYTES // len(chunk)))
    status, pulled = stream(app, "POST", "/api/dashboards", headers, endless)
    assert status == 413
    assert pulled <= MAX_JSON_BYTES + len(chunk)
