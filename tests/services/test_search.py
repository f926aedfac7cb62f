"""Registry search: relevance, filters, sorting by popularity and recency, pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_modules import error_fields, new_module
from tests.conftest import Account
from visualbox.services import registry
from visualbox.services.builtin import builtin_folders, builtin_id
from visualbox.services.modules import delete_module
from visualbox.services.search import fts5_query, tsquery


def make(http: TestClient, name: str, readme: str = "Nothing here.", **body: Any) -> str:
    module = new_module(http, name=name, **body)
    mid = str(module["id"])
    http.put(f"/api/modules/{mid}/files/README.md", content=f"# {name}\n\n{readme}\n".encode())
    assert http.post(f"/api/modules/{mid}/versions", json={"version": "1.0.0"}).status_code == 201
    return mid


@pytest.fixture(autouse=True)
def without_builtins(app: FastAPI) -> None:
    """The app publishes the built-in modules at start; these tests want an empty registry."""
    with app.state.db.session() as db:
        for folder in builtin_folders():
            delete_module(db, registry.listed_module(db, builtin_id(folder.name)))


def ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/api/registry/search", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_query_syntax_is_always_quoted() -> None:
    assert fts5_query(["weather", "sta"]) == '"weather" "sta"*'
    assert tsquery(["o'hara", "x"]) == "'o''hara' & 'x':*"


def test_relevance_name_beats_readme(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account()
    in_readme = make(ada.http, "Sky", readme="Reports the thermometer reading.")
    in_name = make(ada.http, "Thermometer")
    make(ada.http, "Unrelated")
    assert ids(client, q="thermometer") == [in_name, in_readme]
    assert ids(client, q="thermo") == [in_name, in_readme]  # prefix of the last word
    assert ids(client, q='"thermometer" * ( :') == [in_name, in_readme]  # hostile syntax
    assert ids(client, q="NOT OR AND") == []
    assert ids(client, q="zebra") == []


def test_filters_and_pagination(client: TestClient, make_account: Callable[..., Account]) -> None:
    ada = make_account()
    py = make(ada.http, "Alpha")
    node = make(ada.http, "Beta", runtime="node")
    widget = make(ada.http, "Gamma", kind="widget", runtime=None)
    ada.http.patch(f"/api/modules/{node}", json={"tags": ["weather"]})
    new_module(ada.http, name="Unpublished")
    assert set(ids(client)) == {py, node, widget}
    assert ids(client, kind="widget") == [widget]
    assert ids(client, runtime="node") == [node]
    assert ids(client, tag="weather") == [node]
    assert ids(client, q="weather") == [node]  # tags are searched too
    first = client.get("/api/registry/search", params={"per_page": 2, "sort": "recent"}).json()
    second = client.get(
        "/api/registry/search", params={"per_page": 2, "page": 2, "sort": "recent"}
    ).json()
    assert first["total"] == second["total"] == 3
    assert [i["id"] for i in first["items"]] == [widget, node]
    assert [i["id"] for i in second["items"]] == [py]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "best"}, "sort"),
        ({"page": 0}, "page"),
        ({"per_page": 1000}, "per_page"),
        ({"kind": "gadget"}, "kind"),
        ({"runtime": "ruby"}, "runtime"),
    ],
)
def test_bad_parameters(client: TestClient, params: dict[str, Any], field: str) -> None:
    response = client.get("/api/registry/search", params=params)
    assert response.status_code == 422
    assert error_fields(response) == [field]


def test_popularity_counts_uses_and_forks(
    client: TestClient, make_account: Callable[..., Account], app: FastAPI
) -> None:
    ada, bob = make_account(), make_account()
    used = make(ada.http, "Used")
    forked = make(ada.http, "Forked")
    plain = make(ada.http, "Plain")
    with app.state.db.session() as db:
        registry.set_dashboard_uses(db, "dash1", {used, "no-such-module"})
        registry.set_dashboard_uses(db, "dash2", {used, forked})
        registry.set_dashboard_uses(db, "dash3", {used})
        db.commit()
    assert bob.http.post(f"/api/registry/modules/{forked}/fork").status_code == 201
    assert ids(client, sort="popularity") == [used, forked, plain]
    page = client.get(f"/api/registry/modules/{used}").json()
    assert page["uses"] == 3
    with app.state.db.session() as db:
        registry.set_dashboard_uses(db, "dash3", set())
        registry.clear_dashboard_uses(db, "dash1")
        registry.clear_dashboard_uses(db, "dash2")
        db.commit()
    assert (
        ids(client, sort="popularity") == [forked, used, plain]
        or ids(client, sort="popularity")[0] == forked
    )


def test_yanked_hidden_and_metadata_reindexed(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account()
    mid = make(ada.http, "Barometer")
    assert ids(client, q="barometer") == [mid]
    ada.http.patch(f"/api/modules/{mid}", json={"name": "Pressure"})
    assert ids(client, q="pressure") == [mid]  # the index follows metadata changes
    ada.http.patch(f"/api/modules/{mid}", json={"tags": ["hpa"]})
    assert ids(client, q="hpa") == [mid]
    assert ada.http.post(f"/api/registry/modules/{mid}/versions/1.0.0/yank").status_code == 200
    assert ids(client, q="pressure") == [] and ids(client) == []
    assert client.get(f"/api/registry/modules/{mid}/versions/1.0.0").json()["yanked"] is True
    assert (
        ada.http.post(f"/api/modules/{mid}/versions", json={"version": "1.0.1"}).status_code == 201
    )
    assert ids(client, q="pressure") == [mid]
    assert ada.http.delete(f"/api/modules/{mid}").status_code == 204
    assert ids(client) == []
