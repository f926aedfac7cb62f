"""History (``services/history.py``, ``services/history_store.py``) on SQLite and PostgreSQL.

The recorder is driven end to end through :class:`Live` on the scripted runner (real
database, in-memory hub, an owner watching); the rollup maths, level choice,
downsampling and retention through direct calls with explicit timestamps, checked
against a computation here.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.conftest import Account
from tests.live.test_live_service import integration, of, user_of, watching
from visualbox.db.tables.accounts import User
from visualbox.db.tables.history import HistoryPoint, HistoryRollup, HistorySeries
from visualbox.errors import InvalidInput
from visualbox.hub import MemoryHub
from visualbox.runtime.runners.scripted import ScriptedRun, ScriptedRunner
from visualbox.schemas.dashboards import DashboardContent
from visualbox.services import dashboards, modules, registry
from visualbox.services.history import (
    DAY_MS,
    Recorder,
    SeriesQuery,
    choose_level,
    parse_query,
    read_series,
)
from visualbox.services.history_store import HOUR, MINUTE, Point, SqlHistoryStore
from visualbox.services.live import Live
from visualbox.settings import HistorySettings, Settings

T0 = 1_780_000_000_000 - 1_780_000_000_000 % HOUR  # an hour boundary, in 2026


# --- the world ---------------------------------------------------------------------------


def widget_module(app: FastAPI, account: Account) -> str:
    with app.state.db.session() as db:
        user = db.get(User, account.id)
        module = modules.create_module(db, user, name="Shows", kind="widget", runtime=None)
        registry.publish(db, module, "1.0.0")
        module_id: str = module.id
        return module_id


def board(
    app: FastAPI,
    account: Account,
    instances: list[dict[str, Any]],
    sources: list[str],
) -> str:
    """A dashboard of ``account`` with these instances and one widget per source."""
    widget = widget_module(app, account)
    content = DashboardContent.model_validate(
        {
            "name": "Recorded",
            "integrations": instances,
            "widgets": [
                {"id": f"w{n}", "module_id": widget, "version": "1.0.0", "source": source}
                for n, source in enumerate(sources)
            ],
        }
    )
    with app.state.db.session() as db:
        user = db.get(User, account.id)
        made = dashboards.create_dashboard(db, app.state.secret_box, user, content)
        dashboard_id: str = made.id
        return dashboard_id


def series(app: FastAPI, dashboard_id: str) -> dict[tuple[str, str], list[Any]]:
    """``{(instance, pointer): [values, oldest first]}`` as stored."""
    with app.state.db.session() as db:
        rows = db.execute(
            select(HistorySeries.instance_id, HistorySeries.pointer, HistoryPoint.value)
            .join(HistoryPoint, HistoryPoint.series_id == HistorySeries.id)
            .where(HistorySeries.dashboard_id == dashboard_id)
            .order_by(HistoryPoint.t, HistoryPoint.seq)
        )
        found: dict[tuple[str, str], list[Any]] = {}
        for instance_id, pointer, value in rows:
            found.setdefault((instance_id, pointer), []).append(json.loads(value))
        return found


@asynccontextmanager
async def live_service(
    app: FastAPI, settings: Settings, runner: ScriptedRunner, **history: Any
) -> AsyncIterator[Live]:
    """A started :class:`Live` whose recorder flushes only when told and records every
    output of the scripts' bursts (unless changed)."""
    chosen = {"flush_interval_s": 3600.0, "max_rate": 0, **history}
    changed = settings.model_copy(update={"history": HistorySettings(**chosen)})
    service = Live(changed, app.state.db, app.state.secret_box, runner, MemoryHub())
    await service.start()
    try:
        yield service
    finally:
        await service.close()


def emitting(*outputs: Any) -> Callable[[ScriptedRun], Any]:
    async def script(run: ScriptedRun) -> int | None:
        run.init()
        for output in outputs:
            run.output(output)
        return await run.until_stopped()

    return script


pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the recorder, end to end ------------------------------------------------------------


async def test_the_recorder_keeps_the_bound_values_only_and_writes_them_in_one_batch(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    module = integration(app, owner)
    instances = [
        {"id": "i1", "module_id": module, "label": "Bound"},
        {"id": "i2", "module_id": module, "label": "Unbound"},
    ]
    sources = ["/i1/temperature", "/i1/position", "/i1/state", "/i1/missing", "/i1/big"]
    dashboard_id = board(app, owner, instances, sources)
    outputs = [
        {
            "temperature": 20 + n,
            "humidity": 50,
            "position": {"lat": 69.6, "lon": 18.9 + n},
            "state": ["idle", "busy"][n % 2],
            "big": "x" * 5000,  # over HISTORY__VALUE_BYTES: skipped
        }
        for n in range(5)
    ]
    runner = ScriptedRunner(emitting(*outputs))
    async with (
        live_service(app, settings, runner) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, dashboard_id)
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 10)
        # Nothing is written on the relay path: all of it waits for one flush.
        assert len(live.history.pending) == 10
        assert series(app, dashboard_id) == {}
        await live.history.flush()
        assert live.history.pending == []
        recorded = series(app, dashboard_id)
        assert recorded == {
            ("i1", "/temperature"): [20, 21, 22, 23, 24],
            ("i1", "/position"): [{"lat": 69.6, "lon": 18.9 + n} for n in range(5)],
            ("i1", "/state"): ["idle", "busy", "idle", "busy", "idle"],
        }
        # i2 has no widget: once known, its outputs are not even buffered.
        assert (dashboard_id, "i2") in live.history.silent
        assert live.history.recorded == 15


async def test_the_history_setting_of_an_instance_records_its_whole_output_or_nothing(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    module = integration(app, owner)
    instances = [
        {"id": "all", "module_id": module, "label": "All", "history": "output"},
        {"id": "none", "module_id": module, "label": "None", "history": "off"},
    ]
    dashboard_id = board(app, owner, instances, ["/all/n", "/none/n"])
    runner = ScriptedRunner(emitting({"n": 1}, {"n": 2, "pad": "y" * 300}))
    async with (
        live_service(app, settings, runner, value_bytes=100) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, dashboard_id)
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 4)
        await live.history.flush()
        assert series(app, dashboard_id) == {
            ("all", "/n"): [1, 2],
            ("all", ""): [{"n": 1}],  # the second whole output is over the size cap
        }
        assert (dashboard_id, "none") in live.history.silent


async def test_with_history_disabled_nothing_is_recorded(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    instances = [{"id": "i1", "module_id": integration(app, owner), "label": "I"}]
    dashboard_id = board(app, owner, instances, ["/i1/n"])
    runner = ScriptedRunner(emitting({"n": 1}))
    async with (
        live_service(app, settings, runner, enabled=False) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, dashboard_id)
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 1)
        await live.history.flush()
        assert live.history.pending == []
    assert series(app, dashboard_id) == {}


async def test_a_full_buffer_drops_outputs_and_tells_the_owner_once(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    instances = [{"id": "i1", "module_id": integration(app, owner), "label": "I"}]
    dashboard_id = board(app, owner, instances, ["/i1/n"])
    runner = ScriptedRunner(emitting(*({"n": n} for n in range(10))))
    async with (
        live_service(app, settings, runner, buffer=3) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, dashboard_id)
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 10)
        assert live.history.dropped == 7
        await watcher.wait_for(lambda m: bool(of(m, "STATUS", status="T_WARNING")))
        warnings = of(watcher.messages, "STATUS", status="T_WARNING")
        assert len(warnings) == 1  # once a minute at most, not once per output
        assert "so 1 output of this instance was not recorded" in warnings[0]["data"]
        await live.history.flush()
        assert series(app, dashboard_id) == {("i1", "/n"): [0, 1, 2]}  # the relay lost nothing
        assert [m["data"]["n"] for m in of(watcher.messages, "OUTPUT")] == list(range(10))


async def test_a_burst_faster_than_the_recording_rate_keeps_its_last_output(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    instances = [{"id": "i1", "module_id": integration(app, owner), "label": "I"}]
    dashboard_id = board(app, owner, instances, ["/i1/n"])
    go_on = asyncio.Event()

    async def two_bursts(run: ScriptedRun) -> int | None:
        run.init()
        for n in range(10):
            run.output({"n": n})
        await go_on.wait()
        for n in range(10, 13):
            run.output({"n": n})
        return await run.until_stopped()

    runner = ScriptedRunner(two_bursts)
    async with (
        live_service(app, settings, runner, max_rate=0.001) as live,  # windows of 1000 s
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, dashboard_id)
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 10)
        assert live.history.pending == []  # held, not buffered: a later one may replace it
        await live.history.flush()
        assert series(app, dashboard_id) == {("i1", "/n"): [9]}
        go_on.set()
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 13)
        await live.history.flush()
        assert series(app, dashboard_id) == {("i1", "/n"): [9, 12]}
        assert [m["data"]["n"] for m in of(watcher.messages, "OUTPUT")] == list(range(13))
        assert live.history.dropped == 0


async def test_a_changed_binding_is_followed_and_history_survives_a_restart(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    instances = [{"id": "i1", "module_id": integration(app, owner), "label": "I"}]
    dashboard_id = board(app, owner, instances, ["/i1/a"])
    runner = ScriptedRunner(emitting({"a": 1, "b": 10}))
    async with (
        live_service(app, settings, runner) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, dashboard_id)
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 1)
        await live.history.flush()
    assert series(app, dashboard_id) == {("i1", "/a"): [1]}

    with app.state.db.session() as db:  # the owner binds the widget to /i1/b instead
        user = db.get(User, owner.id)
        dashboard = dashboards.get_dashboard(db, user, dashboard_id)
        content = dashboards.content_of(dashboard)
        content["widgets"][0]["source"] = "/i1/b"
        model = DashboardContent.model_validate(content)
        dashboards.save_dashboard(
            db, app.state.secret_box, user, dashboard_id, model, dashboard.revision
        )
    second = ScriptedRunner(emitting({"a": 2, "b": 20}))
    async with (
        live_service(app, settings, second) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, dashboard_id)
        await watcher.wait_for(lambda m: len(of(m, "OUTPUT")) == 1)
    # Closing the service flushed what was buffered; the first run's value is still there.
    assert series(app, dashboard_id) == {("i1", "/a"): [1], ("i1", "/b"): [20]}


# --- rollups, levels, downsampling, retention: explicit timestamps -----------------------


def recorder(app: FastAPI, **changes: Any) -> Recorder:
    return Recorder(HistorySettings(**changes), app.state.db, MemoryHub())


def write(app: FastAPI, dashboard_id: str, values: list[tuple[int, Any]], pointer: str) -> None:
    points = [
        Point(
            (dashboard_id, "i1", pointer),
            t,
            json.dumps(v),
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None,
        )
        for t, v in values
    ]
    with app.state.db.session() as db:
        SqlHistoryStore(db).write(points)


def rollups(app: FastAPI, step: int) -> dict[int, tuple[int, int, Any, Any, Any, Any]]:
    with app.state.db.session() as db:
        rows = db.execute(
            select(
                HistoryRollup.t,
                HistoryRollup.count,
                HistoryRollup.numbers,
                HistoryRollup.sum,
                HistoryRollup.min,
                HistoryRollup.max,
                HistoryRollup.last,
            ).where(HistoryRollup.step == step)
        )
        return {t: (c, n, s, lo, hi, json.loads(last)) for t, c, n, s, lo, hi, last in rows}


def expected_rollups(
    values: list[tuple[int, Any]], step: int
) -> dict[int, tuple[int, int, Any, Any, Any, Any]]:
    buckets: dict[int, list[tuple[int, Any]]] = {}
    for t, v in values:
        buckets.setdefault(t - t % step, []).append((t, v))
    result = {}
    for start, items in buckets.items():
        numbers = [v for _, v in items if isinstance(v, int | float) and not isinstance(v, bool)]
        result[start] = (
            len(items),
            len(numbers),
            pytest.approx(sum(numbers)) if numbers else None,
            min(numbers) if numbers else None,
            max(numbers) if numbers else None,
            max(items, key=lambda item: item[0])[1],
        )
    return result


def test_rollups_match_the_values_however_they_arrive_in_batches(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    dashboard_id = board(app, owner, [], [])
    rng = random.Random(14)
    values: list[tuple[int, Any]] = []
    for t in sorted(rng.sample(range(T0, T0 + 3 * HOUR), 2000)):
        values.append((t, rng.choice([round(rng.uniform(-40, 40), 3), rng.randint(0, 9)])))
    values[5] = (values[5][0], "offline")  # not a number: counted, not in sum/min/max
    values[6] = (values[6][0], True)
    shuffled = values[:]
    rng.shuffle(shuffled)  # batches out of order: "last" is still the latest value
    for chunk in range(0, len(shuffled), 150):
        write(app, dashboard_id, shuffled[chunk : chunk + 150], "/v")

    assert rollups(app, MINUTE) == expected_rollups(values, MINUTE)
    assert rollups(app, HOUR) == expected_rollups(values, HOUR)
    # And the mean of a bucket of numbers is what the API answers for it.
    hour = [v for t, v in values if T0 <= t < T0 + HOUR and isinstance(v, int | float)]
    numbers = [v for v in hour if not isinstance(v, bool)]
    query = SeriesQuery("i1", "/v", T0, T0 + 3 * HOUR, 3)
    with app.state.db.session() as db:
        answer = read_series(db, HistorySettings(hour_days=0), dashboard_id, query, T0 + 3 * HOUR)
    assert answer.level == "hour" and answer.step_ms == HOUR
    assert answer.points[0] == (T0, pytest.approx(statistics.fmean(numbers)))
    assert answer.bands[0] == (T0, min(numbers), max(numbers))
    assert answer.last == (values[-1][0], values[-1][1])


def test_the_level_follows_the_range_and_the_points_are_about_as_many_as_asked(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    dashboard_id = board(app, owner, [], [])
    values = [(T0 + n * 1000, n % 100) for n in range(3 * 3600)]  # 3 h, one a second
    write(app, dashboard_id, values, "/n")
    now = T0 + 3 * HOUR
    settings = HistorySettings()

    def ask(start: int, end: int, points: int) -> Any:
        with app.state.db.session() as db:
            query = SeriesQuery("i1", "/n", start, end, points)
            return read_series(db, settings, dashboard_id, query, now)

    every = ask(T0, T0 + 60_000, 500)  # one minute: all 60 values as they are
    assert (every.level, every.step_ms, every.bands) == ("raw", 0, [])
    assert every.points == [(T0 + n * 1000, n % 100) for n in range(60)]

    hour = ask(T0, T0 + HOUR, 500)  # 3600 values into buckets of 7.2 s
    assert hour.level == "raw" and hour.step_ms == 7200
    assert 490 <= len(hour.points) <= 501
    first = [n % 100 for n in range(8)]  # 0..7.2 s: the values at 0-7 s
    assert hour.points[0] == (T0 - T0 % 7200, pytest.approx(statistics.fmean(first)))
    assert hour.bands[0] == (T0 - T0 % 7200, 0, 7)

    day = ask(now - DAY_MS, now, 500)  # buckets of 172.8 s: from the 1-minute rollups
    assert day.level == "minute" and day.step_ms == MINUTE
    assert len(day.points) == 180  # the 3 recorded hours: fewer minutes than points asked
    week = ask(now - 7 * DAY_MS, now, 100)  # more minutes than points: 3-hour buckets...
    assert (week.level, week.step_ms) == ("hour", HOUR)  # ...so from the hour rollups
    assert len(ask(T0, T0 + 3 * HOUR, 60).points) == 60  # 3-minute buckets of minute rollups
    assert ask(T0, T0 + 3 * HOUR, 60).step_ms == 3 * MINUTE
    month = ask(now - 30 * DAY_MS, now, 500)
    assert (month.level, month.step_ms, len(month.points)) == ("hour", HOUR, 3)
    assert [p[1] for p in month.points] == [pytest.approx(49.5)] * 3
    # A short range older than the raw values are kept: the 1-minute rollups.
    query = SeriesQuery("i1", "/n", T0, T0 + 600_000, 500)
    assert choose_level(settings, query, T0 + 11 * DAY_MS) == ("minute", MINUTE)
    assert choose_level(settings, query, T0 + 91 * DAY_MS) == ("hour", HOUR)
    # Many more raw values than asked for: the minute rollups answer instead.
    crowded = ask(T0, T0 + 600_000, 20)  # 600 values for 20 points
    assert (crowded.level, crowded.step_ms, len(crowded.points)) == ("minute", MINUTE, 10)


def test_retention_removes_what_is_older_than_each_level_keeps_and_nothing_else(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    dashboard_id = board(app, owner, [], [])
    now = T0 + 400 * DAY_MS
    ages_days = [0.5, 9, 11, 80, 100, 365]
    write(app, dashboard_id, [(now - int(d * DAY_MS), d) for d in ages_days], "/age")

    def kept() -> tuple[list[Any], list[Any], list[Any]]:
        with app.state.db.session() as db:
            raw = db.scalars(select(HistoryPoint.value).order_by(HistoryPoint.t.desc()))
            minute, hour = rollups(app, MINUTE), rollups(app, HOUR)
            return (
                [json.loads(v) for v in raw],
                sorted((r[5] for r in minute.values()), key=float),
                sorted((r[5] for r in hour.values()), key=float),
            )

    removed = recorder(app, raw_days=10, minute_days=90, hour_days=0).prune(now)
    assert removed == {"raw": 4, "minute": 2}
    assert kept() == ([0.5, 9], [0.5, 9, 11, 80], ages_days)
    removed = recorder(app, raw_days=0, minute_days=0, hour_days=200).prune(now)
    assert removed == {"hour": 1}
    assert kept() == ([0.5, 9], [0.5, 9, 11, 80], [0.5, 9, 11, 80, 100])


def test_deleting_a_dashboard_deletes_its_history(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    dashboard_id = board(app, owner, [], [])
    write(app, dashboard_id, [(T0, 1)], "/n")
    with app.state.db.session() as db:
        dashboards.delete_dashboard(db, db.get(User, owner.id), dashboard_id)
    with app.state.db.session() as db:
        for table in (HistorySeries, HistoryPoint, HistoryRollup):
            assert db.scalar(select(func.count()).select_from(table)) == 0
    write(app, dashboard_id, [(T0 + 1, 2)], "/n")  # a late batch of it is skipped
    with app.state.db.session() as db:
        assert db.scalar(select(func.count()).select_from(HistorySeries)) == 0


def test_parameters_are_checked_with_a_reason_each() -> None:
    def problems(**params: Any) -> dict[str, str]:
        args = {"instance": "i1", "pointer": None, "start": None, "end": None, "points": None}
        args.update(params)
        with pytest.raises(InvalidInput) as caught:
            parse_query(**args, default_points=500, max_points=10_000, now_ms=T0)
        return {f.field: f.reason for f in caught.value.fields}

    assert "is required" in problems(instance=None)["instance"]
    assert "instance id" in problems(instance="a/b")["instance"]
    assert "JSON Pointer" in problems(pointer="temperature")["pointer"]
    assert "ISO 8601" in problems(start="yesterday")["from"]
    assert "ISO 8601" in problems(end="2026-13-01")["to"]
    assert problems(start="2026-12-02T12:00:00Z", end="2026-12-02T11:00:00Z") == {
        "from": "must be before to"
    }
    assert "from 1 to 10000" in problems(points="0")["points"]
    assert "from 1 to 10000" in problems(points="many")["points"]
    assert set(problems(instance="", pointer="x", points="-1")) == {"instance", "pointer", "points"}
    ok = parse_query(
        "i1", "/t", "2025-12-02T10:00:00Z", "1764673200000", "20",
        default_points=500, max_points=10_000, now_ms=T0,
    )  # fmt: skip
    assert (ok.start, ok.end, ok.points) == (1764669600000, 1764673200000, 20)
    default = parse_query("i1", None, None, None, None, default_points=500, max_points=1, now_ms=T0)
    assert (default.pointer, default.start, default.end) == ("", T0 - HOUR, T0)
