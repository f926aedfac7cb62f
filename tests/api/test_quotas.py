"""Quotas per account (issue 11): counts and stored bytes refused over the limit with a
message naming the quota, the use and the limit; an administrator's overrides; the
system account exempt. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Account
from visualbox.services import quotas
from visualbox.services.builtin import system_user
from visualbox.services.history_store import Point, SqlHistoryStore, stored_bytes
from visualbox.settings import QuotaSettings, Settings

SIMULATOR = "builtin-simulator"
MakeAccount = Callable[..., Account]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    small = QuotaSettings(
        dashboards=2,
        modules=2,
        instances_per_dashboard=2,
        keep_running=1,
        module_bytes=64 * 1024,
    )
    return settings.model_copy(update={"quotas": small})


def instance(item_id: str, *, keep_running: bool = False) -> dict[str, Any]:
    return {
        "id": item_id,
        "module_id": SIMULATOR,
        "version": "latest",
        "label": f"Device {item_id}",
        "keep_running": keep_running,
    }


def dashboard(name: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "integrations": list(items)}


def refused(response: Any, quota: str, text: str) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert text in error["message"], error["message"]
    assert "ask an administrator" in error["message"]
    assert [f["field"] for f in error["fields"]] == [f"quotas.{quota}"]


def test_dashboards_beyond_the_quota_are_refused_by_every_way_of_making_one(
    make_account: MakeAccount,
) -> None:
    owner = make_account()
    http = owner.http
    first = http.post("/api/dashboards", json=dashboard("One"))
    assert first.status_code == 201
    assert http.post("/api/dashboards", json=dashboard("Two")).status_code == 201

    message = "You have 2 of 2 dashboards allowed."
    refused(http.post("/api/dashboards", json=dashboard("Three")), "dashboards", message)
    refused(http.post(f"/api/dashboards/{first.json()['id']}/duplicate"), "dashboards", message)
    exported = http.get(f"/api/dashboards/{first.json()['id']}/export").json()
    refused(http.post("/api/dashboards/import", json=exported), "dashboards", message)
    samples = http.get("/api/dashboards/samples").json()
    refused(http.post(f"/api/dashboards/samples/{samples[0]['name']}"), "dashboards", message)
    assert len(http.get("/api/dashboards").json()) == 2

    # Another account has its own count; deleting one makes room again.
    assert make_account().http.post("/api/dashboards", json=dashboard("Mine")).status_code == 201
    assert http.delete(f"/api/dashboards/{first.json()['id']}").status_code == 204
    assert http.post("/api/dashboards", json=dashboard("Three")).status_code == 201


def test_instances_per_dashboard_beyond_the_quota_are_refused(
    make_account: MakeAccount,
) -> None:
    http = make_account().http
    three = dashboard("Big", instance("a"), instance("b"), instance("c"))
    refused(
        http.post("/api/dashboards", json=three),
        "instances_per_dashboard",
        "This dashboard has 0 of 2 integration instances on one dashboard allowed; "
        "this needs 3 more.",
    )
    created = http.post("/api/dashboards", json=dashboard("Two", instance("a"), instance("b")))
    assert created.status_code == 201
    body = created.json()
    added = http.post(
        f"/api/dashboards/{body['id']}/integrations",
        json={"revision": body["revision"], "instance": instance("c")},
    )
    refused(
        added,
        "instances_per_dashboard",
        "This dashboard has 2 of 2 integration instances on one dashboard allowed.",
    )
    saved = http.put(f"/api/dashboards/{body['id']}", json={**three, "revision": body["revision"]})
    refused(saved, "instances_per_dashboard", "This dashboard has 2 of 2")
    # Saves that do not add instances still work.
    renamed = http.patch(
        f"/api/dashboards/{body['id']}", json={"name": "Renamed", "revision": body["revision"]}
    )
    assert renamed.status_code == 200, renamed.text


def test_keep_running_instances_beyond_the_quota_are_refused_across_dashboards(
    make_account: MakeAccount,
) -> None:
    http = make_account().http
    first = http.post("/api/dashboards", json=dashboard("A", instance("a", keep_running=True)))
    assert first.status_code == 201
    second = http.post("/api/dashboards", json=dashboard("B", instance("b")))
    assert second.status_code == 201
    body = second.json()
    changed = http.patch(
        f"/api/dashboards/{body['id']}/integrations/b",
        json={"revision": body["revision"], "keep_running": True},
    )
    refused(
        changed,
        "keep_running",
        "You have 1 of 1 integration instances set to keep running allowed.",
    )
    # Unsetting the first one frees the place.
    a = first.json()
    unset = http.patch(
        f"/api/dashboards/{a['id']}/integrations/a",
        json={"revision": a["revision"], "keep_running": False},
    )
    assert unset.status_code == 200, unset.text
    changed = http.patch(
        f"/api/dashboards/{body['id']}/integrations/b",
        json={"revision": body["revision"], "keep_running": True},
    )
    assert changed.status_code == 200, changed.text


def test_modules_beyond_the_quota_are_refused(make_account: MakeAccount) -> None:
    http = make_account().http
    for name in ("One", "Two"):
        made = http.post("/api/modules", json={"name": name, "kind": "widget", "template": False})
        assert made.status_code == 201, made.text
    third = http.post("/api/modules", json={"name": "Three", "kind": "widget"})
    refused(third, "modules", "You have 2 of 2 modules allowed.")


def test_module_bytes_beyond_the_quota_are_refused(make_account: MakeAccount) -> None:
    http = make_account().http
    made = http.post("/api/modules", json={"name": "Big", "kind": "widget", "template": False})
    module = made.json()["id"]
    chunk = b"x" * (40 * 1024)
    assert http.put(f"/api/modules/{module}/files/a.txt", content=chunk).status_code == 200
    # Replacing a file with one of the same size adds nothing.
    assert http.put(f"/api/modules/{module}/files/a.txt", content=chunk).status_code == 200
    refused(
        http.put(f"/api/modules/{module}/files/b.txt", content=chunk),
        "module_bytes",
        "You have 40 KiB of 64 KiB of module storage (files and published versions) "
        "allowed; this needs 40 KiB more.",
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.txt", chunk)
        zipped.writestr("b.txt", chunk)
    uploaded = http.put(
        f"/api/modules/{module}/archive",
        content=archive.getvalue(),
        headers={"Content-Type": "application/zip"},
    )
    refused(uploaded, "module_bytes", "of 64 KiB of module storage")
    names = [f["path"] for f in http.get(f"/api/modules/{module}/files").json()]
    assert names == ["a.txt"]
    # Deleting makes room.
    assert http.delete(f"/api/modules/{module}/files/a.txt").status_code == 204
    assert http.put(f"/api/modules/{module}/files/b.txt", content=chunk).status_code == 200


def test_publishing_beyond_the_module_bytes_quota_is_refused(make_account: MakeAccount) -> None:
    """A published archive is stored too: publishing counts against the quota."""
    http = make_account().http
    made = http.post("/api/modules", json={"name": "Heavy", "kind": "widget", "template": True})
    module = made.json()["id"]
    noise = os.urandom(36 * 1024)  # does not compress: the archive is as large
    assert http.put(f"/api/modules/{module}/files/noise.bin", content=noise).status_code == 200
    refused(
        http.post(f"/api/modules/{module}/versions", json={"version": "1.0.0"}),
        "module_bytes",
        "of 64 KiB of module storage",
    )
    assert http.get(f"/api/registry/modules/{module}").status_code == 404  # not published
    assert http.delete(f"/api/modules/{module}/files/noise.bin").status_code == 204
    published = http.post(f"/api/modules/{module}/versions", json={"version": "1.0.0"})
    assert published.status_code == 201, published.text


def test_an_administrator_overrides_one_account_and_clears_it_again(
    make_account: MakeAccount,
) -> None:
    admin = make_account(admin=True)
    owner = make_account()
    for name in ("One", "Two"):
        assert owner.http.post("/api/dashboards", json=dashboard(name)).status_code == 201

    shown = admin.http.get(f"/api/users/{owner.id}/quotas")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["user_id"] == owner.id and body["exempt"] is False
    assert set(body["quotas"]) == set(quotas.NAMES)
    assert body["quotas"]["dashboards"] == {"limit": 2, "default": 2, "override": None, "used": 2}
    assert body["quotas"]["output_bytes_per_s"]["used"] is None
    assert body["quotas"]["sandboxes"]["used"] == 0

    raised = admin.http.put(f"/api/users/{owner.id}/quotas", json={"dashboards": 3})
    assert raised.status_code == 200, raised.text
    assert raised.json()["quotas"]["dashboards"]["limit"] == 3
    assert raised.json()["quotas"]["dashboards"]["override"] == 3
    assert raised.json()["quotas"]["modules"]["override"] is None  # partial: others kept
    assert owner.http.post("/api/dashboards", json=dashboard("Three")).status_code == 201
    refused(
        owner.http.post("/api/dashboards", json=dashboard("Four")),
        "dashboards",
        "You have 3 of 3 dashboards allowed.",
    )
    # Another account keeps the default.
    other = make_account()
    for name in ("One", "Two"):
        assert other.http.post("/api/dashboards", json=dashboard(name)).status_code == 201
    refused(other.http.post("/api/dashboards", json=dashboard("3")), "dashboards", "2 of 2")

    lowered = admin.http.put(f"/api/users/{owner.id}/quotas", json={"modules": 0})
    assert lowered.json()["quotas"]["dashboards"]["override"] == 3
    refused(
        owner.http.post("/api/modules", json={"name": "M", "kind": "widget"}),
        "modules",
        "You have 0 of 0 modules allowed.",
    )
    cleared = admin.http.put(
        f"/api/users/{owner.id}/quotas", json={"dashboards": None, "modules": None}
    )
    assert cleared.json()["quotas"]["dashboards"] == {
        "limit": 2,
        "default": 2,
        "override": None,
        "used": 3,
    }
    assert owner.http.post("/api/modules", json={"name": "M", "kind": "widget"}).status_code == 201


def test_quotas_routes_are_for_administrators_and_check_their_input(
    make_account: MakeAccount,
) -> None:
    admin = make_account(admin=True)
    owner = make_account()
    denied = owner.http.get(f"/api/users/{owner.id}/quotas")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    denied = owner.http.put(f"/api/users/{owner.id}/quotas", json={"dashboards": 1000})
    assert denied.status_code == 403
    unknown = admin.http.get("/api/users/no-such-user/quotas")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    unknown = admin.http.put("/api/users/no-such-user/quotas", json={"dashboards": 1})
    assert unknown.status_code == 404
    for bad, field in (
        ({"dashboards": -1}, "dashboards"),
        ({"instances_per_dashboard": 101}, "instances_per_dashboard"),
        ({"output_bytes_per_s": 10}, "output_bytes_per_s"),
        ({"history_bytes": -1}, "history_bytes"),
        ({"history_days": 5}, "history_days"),  # no such quota
    ):
        response = admin.http.put(f"/api/users/{owner.id}/quotas", json=bad)
        assert response.status_code == 422, response.text
        assert [f["field"] for f in response.json()["error"]["fields"]] == [field]


def test_the_system_account_is_exempt(app: FastAPI, make_account: MakeAccount) -> None:
    # The app started with a quota of 2 modules and 64 KiB, and published every
    # built-in module (more than 2, larger than 64 KiB) as the system account.
    admin = make_account(admin=True)
    with app.state.db.session() as db:
        system = system_user(db)
        assert quotas.module_count(db, system) > 2
        assert quotas.module_bytes(db, system) > 64 * 1024
        assert quotas.limits(db, system) == quotas.Limits.unlimited()
        system_id = system.id
    shown = admin.http.get(f"/api/users/{system_id}/quotas").json()
    assert shown["exempt"] is True
    assert shown["quotas"]["modules"]["limit"] is None


def test_the_quota_list_shows_the_recorded_history_of_an_account(
    app: FastAPI, make_account: MakeAccount
) -> None:
    """History bytes count what the account's series hold (docs/quotas.md)."""
    admin, owner = make_account(admin=True), make_account()
    made = owner.http.post("/api/dashboards", json=dashboard("Recorded"))
    assert made.status_code == 201, made.text
    values = ["21.5", '"offline"', '{"lat":69.6}']
    with app.state.db.session() as db:
        key = (made.json()["id"], "i1", "/t")
        SqlHistoryStore(db).write([Point(key, 1000 + n, v, None) for n, v in enumerate(values)])

    shown = admin.http.get(f"/api/users/{owner.id}/quotas").json()["quotas"]["history_bytes"]
    assert shown == {
        "limit": 1 << 30,
        "default": 1 << 30,
        "override": None,
        "used": sum(stored_bytes(v) for v in values),
    }
    lowered = admin.http.put(f"/api/users/{owner.id}/quotas", json={"history_bytes": 100})
    assert lowered.json()["quotas"]["history_bytes"]["limit"] == 100
