"""Leases decide which node runs a dashboard: one holder at a time, taken over only once
expired or released, and every change of hands raises the fencing generation. On
SQLite and PostgreSQL (the clock is passed in, so no test waits)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from tests.conftest import Account
from visualbox.services import leases

TTL = 10.0
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_dashboard(make_account: Callable[..., Account]) -> str:
    account = make_account()
    created = account.http.post("/api/dashboards", json={"name": "Station"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_one_holder_until_it_expires_then_the_next_generation(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    dashboard = new_dashboard(make_account)
    with app.state.db.session() as db:
        first = leases.acquire(db, dashboard, "node-a", TTL, T0)
        assert (first.node_id, first.generation) == ("node-a", 1)
        # Another node is told who holds it, and gets nothing.
        other = leases.acquire(db, dashboard, "node-b", TTL, later(5))
        assert (other.node_id, other.generation) == ("node-a", 1)
        assert not other.held_by("node-b")
        # The holder asking again extends it with the same generation.
        assert leases.acquire(db, dashboard, "node-a", TTL, later(9)).generation == 1
        assert leases.acquire(db, dashboard, "node-b", TTL, later(18)).node_id == "node-a"
        # Expired (not renewed for the TTL): the next node takes it, one generation up.
        taken = leases.acquire(db, dashboard, "node-b", TTL, later(19.5))
        assert (taken.node_id, taken.generation) == ("node-b", 2)
        # The old holder's renewal says it lost the lease.
        assert leases.renew(db, "node-a", {dashboard: 1}, TTL, later(20)) == set()
        assert leases.renew(db, "node-b", {dashboard: 2}, TTL, later(20)) == {dashboard}


def test_renewal_keeps_a_lease_nobody_took_even_late(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    dashboard = new_dashboard(make_account)
    with app.state.db.session() as db:
        assert leases.acquire(db, dashboard, "node-a", TTL, T0).generation == 1
        # Paused past the expiry, but nobody else asked: still ours, still generation 1.
        assert leases.renew(db, "node-a", {dashboard: 1}, TTL, later(25)) == {dashboard}
        assert leases.acquire(db, dashboard, "node-b", TTL, later(30)).node_id == "node-a"
        # Taking it back after it expired (not renewing) counts as a change of hands.
        again = leases.acquire(db, dashboard, "node-a", TTL, later(50))
        assert (again.node_id, again.generation) == ("node-a", 2)


def test_a_released_lease_is_taken_at_once_with_a_higher_generation(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    dashboard = new_dashboard(make_account)
    with app.state.db.session() as db:
        assert leases.acquire(db, dashboard, "node-a", TTL, T0).generation == 1
        leases.release(db, "node-a", [dashboard], later(1))
        taken = leases.acquire(db, dashboard, "node-b", TTL, later(1))
        assert (taken.node_id, taken.generation) == ("node-b", 2)
        # A node leaving the cluster gives up all its leases the same way.
        leases.leave(db, "node-b", later(2))
        assert leases.acquire(db, dashboard, "node-a", TTL, later(2)).generation == 3


def test_a_deleted_dashboard_has_no_lease(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    created = account.http.post("/api/dashboards", json={"name": "Gone soon"})
    dashboard = str(created.json()["id"])
    with app.state.db.session() as db:
        assert leases.acquire(db, dashboard, "node-a", TTL, T0).held_by("node-a")
    assert account.http.delete(f"/api/dashboards/{dashboard}").status_code == 204
    with app.state.db.session() as db:
        assert leases.renew(db, "node-a", {dashboard: 1}, TTL, later(1)) == set()
        assert leases.acquire(db, dashboard, "node-a", TTL, later(1)).node_id == ""


def test_racing_nodes_get_exactly_one_holder(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    dashboards = [new_dashboard(make_account) for _ in range(5)]
    nodes = [f"node-{n}" for n in range(4)]
    start = threading.Barrier(len(nodes))
    results: dict[str, list[leases.Grant]] = {}
    errors: list[BaseException] = []

    def node(name: str) -> None:
        try:
            start.wait()
            with app.state.db.session() as db:
                results[name] = [leases.acquire(db, d, name, TTL, T0) for d in dashboards]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=node, args=(name,)) for name in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for index, dashboard in enumerate(dashboards):
        told = {results[name][index].node_id for name in nodes}
        assert len(told) == 1, (dashboard, told)  # every node names the same holder
        winners = [name for name in nodes if results[name][index].held_by(name)]
        assert len(winners) == 1
        assert {results[name][index].generation for name in nodes} == {1}


def test_nodes_up_counts_the_recent_ones(app: FastAPI) -> None:
    with app.state.db.session() as db:
        leases.renew(db, "node-a", {}, TTL, T0)
        leases.renew(db, "node-b", {}, TTL, later(8))
        assert leases.nodes_up(db, TTL, later(9)) == 2
        assert leases.nodes_up(db, TTL, later(15)) == 1  # node-a has not been seen for 15 s
        leases.leave(db, "node-b", later(16))
        assert leases.nodes_up(db, TTL, later(16)) == 0
