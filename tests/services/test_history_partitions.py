"""History storage on both databases: day partitions of the raw values on PostgreSQL
(created ahead and on demand, dropped whole by retention, made by the migration from
existing rows), the bytes each series counts and the ``history_bytes`` quota.

SQLite keeps one plain table: the same tests check there that nothing else changes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.conftest import Account
from tests.live.test_live_service import integration, of, user_of, watching
from tests.services.test_history import (
    board,
    emitting,
    expected_rollups,
    live_service,
    recorder,
    rollups,
    write,
)
from visualbox.db.schema import alembic_config, migrate
from visualbox.db.tables.history import HistoryPoint, HistorySeries
from visualbox.runtime.runners.scripted import ScriptedRunner
from visualbox.services import quotas
from visualbox.services.history_store import (
    DAY_MS,
    HOUR,
    MINUTE,
    SqlHistoryStore,
    partition_name,
    stored_bytes,
)
from visualbox.settings import Settings

pytestmark = pytest.mark.anyio

D0 = 1_780_000_000_000 - 1_780_000_000_000 % DAY_MS  # a midnight (UTC), in 2026
DAY = D0 // DAY_MS


def postgres(app: FastAPI) -> bool:
    return bool(app.state.db.engine.dialect.name == "postgresql")


def partitions(app: FastAPI) -> dict[str, int]:
    """``{partition: rows}`` of ``history_points`` (PostgreSQL)."""
    with app.state.db.session() as db:
        names = db.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'history_points'::regclass ORDER BY c.relname"
            )
        ).all()
        return {n: int(db.scalar(text(f"SELECT count(*) FROM {n}")) or 0) for n in names}


def is_partitioned(db: Session) -> bool:
    query = (
        "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = 'history_points' AND p.partstrat = 'r'"
    )
    return db.scalar(text(query)) == 1


def stored(app: FastAPI) -> list[tuple[int, Any]]:
    with app.state.db.session() as db:
        rows = db.execute(select(HistoryPoint.t, HistoryPoint.value).order_by(HistoryPoint.t))
        return [(t, json.loads(v)) for t, v in rows]


def counted_bytes(app: FastAPI) -> dict[str, int]:
    """``{pointer: bytes}`` as the series count them."""
    with app.state.db.session() as db:
        return dict(db.execute(select(HistorySeries.pointer, HistorySeries.bytes)).all())


def cost(values: list[tuple[int, Any]]) -> int:
    return sum(stored_bytes(json.dumps(v)) for _t, v in values)


# --- partitions --------------------------------------------------------------------------


def test_values_across_a_day_boundary_land_in_two_partitions_and_roll_up_as_before(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    dashboard_id = board(app, owner, [], [])
    rng = random.Random(17)
    times = sorted(rng.sample(range(D0 - HOUR, D0 + HOUR), 1500))
    values = [(t, round(rng.uniform(-5, 5), 2)) for t in times]
    values[3] = (values[3][0], "offline")
    write(app, dashboard_id, values, "/v")

    assert stored(app) == values
    assert rollups(app, MINUTE) == expected_rollups(values, MINUTE)
    assert rollups(app, HOUR) == expected_rollups(values, HOUR)
    assert counted_bytes(app) == {"/v": cost(values)}
    with app.state.db.session() as db:
        if not postgres(app):  # SQLite: one plain table, as it was
            tables = db.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
            assert [n for n in tables if n.startswith("history_points")] == ["history_points"]
            return
        assert is_partitioned(db)
    before = sum(1 for t, _v in values if t < D0)
    assert partitions(app) == {
        partition_name(DAY - 1): before,
        partition_name(DAY): len(values) - before,
    }
    day = datetime.fromtimestamp(D0 / 1000, UTC).strftime("%Y%m%d")
    assert partition_name(DAY) == f"history_points_p{day}"


def test_the_recorder_makes_partitions_ahead_and_a_write_any_it_needs(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    history = recorder(app)
    history.make_partitions(D0 + 5 * HOUR)
    if not postgres(app):  # nothing to make: writes go to the one table
        with app.state.db.session() as db:
            assert SqlHistoryStore(db).partitions() == {}
        return
    ahead = {partition_name(d): 0 for d in (DAY, DAY + 1, DAY + 2)}
    assert partitions(app) == ahead
    history.make_partitions(D0 + 6 * HOUR)  # again: nothing new, no error
    assert partitions(app) == ahead
    owner = make_account()
    dashboard_id = board(app, owner, [], [])
    write(app, dashboard_id, [(D0 + 40 * DAY_MS, 1), (D0 + HOUR, 2)], "/n")  # 40 days on
    assert partitions(app) == {**ahead, partition_name(DAY): 1, partition_name(DAY + 40): 1}


def test_retention_drops_whole_days_and_keeps_every_value_newer_than_the_cut_off(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    dashboard_id = board(app, owner, [], [])
    rng = random.Random(3)
    now = D0 + 5 * DAY_MS + 7 * HOUR  # 07:00 on day 5
    values = [(t, rng.randint(0, 9)) for t in sorted(rng.sample(range(D0, now), 3000))]
    other = [(t, "x" * rng.randint(1, 30)) for t in sorted(rng.sample(range(D0, now), 500))]
    write(app, dashboard_id, values, "/n")
    write(app, dashboard_id, other, "/s")
    cut = now - 2 * DAY_MS  # raw_days=2: 07:00 on day 3

    removed = recorder(app, raw_days=2, minute_days=0, hour_days=0).prune(now)

    older = [v for v in values + other if v[0] < cut]
    assert removed == {"raw": len(older)}
    newer = sorted(v for v in values + other if v[0] >= cut)
    assert sorted(stored(app)) == newer  # every value newer than the cut-off, no other
    assert counted_bytes(app) == {
        "/n": cost([v for v in values if v[0] >= cut]),
        "/s": cost([v for v in other if v[0] >= cut]),
    }
    # The rollups are kept (forever here) and still those of every value written.
    with app.state.db.session() as db:
        store, ids = SqlHistoryStore(db), {}
        for pointer in ("/n", "/s"):
            ids[pointer] = store.series_id((dashboard_id, "i1", pointer))
        kept_rollups = {
            pointer: {b.t: b.count for b in store.rollups(i or 0, HOUR, 0, now)}
            for pointer, i in ids.items()
        }
    assert kept_rollups == {
        "/n": {t: c[0] for t, c in expected_rollups(values, HOUR).items()},
        "/s": {t: c[0] for t, c in expected_rollups(other, HOUR).items()},
    }
    if postgres(app):  # days 0-2 were dropped whole; day 3 lost its morning row by row
        kept = partitions(app)
        assert sorted(kept) == [partition_name(DAY + d) for d in (3, 4, 5)]
        assert kept[partition_name(DAY + 3)] == sum(1 for t, _v in newer if t < D0 + 4 * DAY_MS)


def test_the_migration_turns_existing_values_into_partitions_and_back(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    dashboard_id = board(app, owner, [], [])
    values = [(D0 - DAY_MS + n * HOUR, n) for n in range(30)]  # over two days
    write(app, dashboard_id, values, "/n")
    engine = app.state.db.engine
    engine.dispose()  # no pooled connection keeps a plan of the old tables
    command.downgrade(alembic_config(engine), "0016")
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM history_points"))
        columns = conn.scalars(text("SELECT * FROM history_series")).all()
        assert count == 30 and columns  # the values, no longer partitioned
        if postgres(app):
            assert not is_partitioned(Session(conn))
    engine.dispose()
    migrate(engine)
    engine.dispose()
    assert stored(app) == values
    assert counted_bytes(app) == {"/n": cost(values)}  # counted from the stored values
    if postgres(app):
        with app.state.db.session() as db:
            assert is_partitioned(db)
        assert partitions(app) == {
            partition_name(DAY - 1): 24,
            partition_name(DAY): 6,
        }
    write(app, dashboard_id, [(D0 + 3 * DAY_MS, 99)], "/n")  # and it takes new ones
    assert stored(app)[-1] == (D0 + 3 * DAY_MS, 99)


# --- the history quota -------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_an_account_at_its_history_quota_stops_being_recorded_and_is_told_once(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    instances = [{"id": "i1", "module_id": integration(app, owner), "label": "I"}]
    dashboard_id = board(app, owner, instances, ["/i1/n"])
    limit = 1000
    with app.state.db.session() as db:
        quotas.set_overrides(db, owner.id, {"history_bytes": limit})
    outputs = [{"n": n * 1000} for n in range(60)]  # 28-29 bytes each: about 35 fit
    fits, total = 0, 0
    for output in outputs:
        if total + stored_bytes(json.dumps(output["n"])) > limit:
            break
        total += stored_bytes(json.dumps(output["n"]))
        fits += 1
    runner = ScriptedRunner(emitting(*outputs))
    async with (
        live_service(app, settings, runner) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, dashboard_id)
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 60)
        await live.history.flush()
        assert [v for _t, v in stored(app)] == [o["n"] for o in outputs[:fits]]
        assert counted_bytes(app) == {"/n": total}
        await watcher.wait_for(lambda m: bool(of(m, "STATUS", status="T_WARNING")))
        warning = of(watcher.messages, "STATUS", status="T_WARNING")[0]["data"]
        assert f"has {total} bytes of 1000 bytes of recorded history allowed" in warning
        assert (dashboard_id, "i1") in live.history.silent  # not even buffered now

        run = runner.runs[0]
        run.output({"n": 1})
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 61)  # still relayed
        assert live.history.pending == []
        await live.history.flush()
        await live.history.flush()
        assert len(stored(app)) == fits
        assert len(of(watcher.messages, "STATUS", status="T_WARNING")) == 1  # once

        with app.state.db.session() as db:  # the quota list shows the use
            shown = quotas.account_quotas(db, owner.id)["history_bytes"]
            assert (shown.used, shown.limit, shown.default) == (total, limit, 1 << 30)
            quotas.set_overrides(db, owner.id, {"history_bytes": None})  # room again
        await live.history.flush()  # sees the room: recording resumes
        assert (dashboard_id, "i1") not in live.history.silent
        run.output({"n": 2})
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 62)
        await live.history.flush()
        assert [v for _t, v in stored(app)][-1] == 2
        assert len(of(watcher.messages, "STATUS", status="T_WARNING")) == 1


def test_retention_gives_the_quota_its_room_back(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    owner, other = make_account(), make_account()
    mine = board(app, owner, [], [])
    theirs = board(app, other, [], [])
    now = D0 + 20 * DAY_MS
    values = [(now - d * DAY_MS, "v" * d) for d in range(1, 15)]
    write(app, mine, values, "/v")
    write(app, theirs, values[:2], "/v")
    with app.state.db.session() as db:
        assert quotas.history_bytes(db, [owner.id, other.id]) == {
            owner.id: cost(values),
            other.id: cost(values[:2]),
        }
    recorder(app, raw_days=10).prune(now)
    with app.state.db.session() as db:
        kept = [v for v in values if v[0] >= now - 10 * DAY_MS]
        assert quotas.history_bytes(db, [owner.id])[owner.id] == cost(kept)
