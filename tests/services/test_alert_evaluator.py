"""The alert evaluator (``services/alert_evaluator.py``) on a real database and the
in-memory hub, fed outputs as the live service feeds it: a ``for`` duration that passes
with no new output, data that stops coming, a value that changes, and what the rules'
words mean (``holds``, ``decide``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.api.test_dashboards import World
from tests.conftest import Account
from visualbox.db.tables.accounts import User
from visualbox.db.tables.alerts import AlertEvent
from visualbox.hub import Envelope, MemoryHub
from visualbox.schemas.alerts import AlertRuleCreate
from visualbox.schemas.live import LiveAlert
from visualbox.services import alerts
from visualbox.services.alert_evaluator import Evaluator, decide, holds, same
from visualbox.services.alerts import Watched
from visualbox.services.live_rooms import InstanceSpec, Room

pytestmark = pytest.mark.anyio
DEADLINE = 20.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Bench:
    """An evaluator on the app's database, one dashboard's room running here, and the
    ALERT messages the room got."""

    def __init__(self, app: FastAPI, world: World) -> None:
        self.app = app
        self.owner = world.owner
        self.board = world.create()
        self.room = Room(f"dashboard:{self.board['id']}", self.owner.id, self.board["id"])
        self.instance = self.room.add_instance(InstanceSpec("i1", "I", None, {}))
        settings = app.state.settings
        settings.alerts.interval_s = 0.05
        self.hub = MemoryHub()
        self.evaluator = Evaluator(
            settings, app.state.db, app.state.secret_box, self.hub, self.rooms
        )
        self.told: list[LiveAlert] = []
        self._changed = asyncio.Event()

    def rooms(self) -> dict[str, Room]:
        return {self.board["id"]: self.room}

    def rule(self, **fields: Any) -> str:
        body = AlertRuleCreate.model_validate({"name": "R", "source": "/i1/v", **fields})
        with self.app.state.db.session() as db:
            user = db.get(User, self.owner.id)
            assert user is not None
            settings = self.app.state.settings.alerts
            box = self.app.state.secret_box
            return alerts.create_rule(db, box, settings, user, self.board["id"], body).id

    def deliver(self, envelope: Envelope) -> None:
        if isinstance(envelope.message, LiveAlert):
            self.told.append(envelope.message)
            self._changed.set()

    async def told_state(self, state: str, after: int = 0) -> int:
        """Wait until an ALERT of ``state`` came (from index ``after``); its index."""

        async def scan() -> int:
            while True:
                for n, message in enumerate(self.told[after:], after):
                    if message.state == state:
                        return n
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), DEADLINE)

    async def loaded(self) -> None:
        """Feed an output until the dashboard's rules are loaded."""

        async def wait() -> None:
            while self.board["id"] not in self.evaluator.rules:
                self.evaluator.observe(self.instance, {})
                await asyncio.sleep(0.01)  # yield to the worker: polling with a deadline

        await asyncio.wait_for(wait(), DEADLINE)

    def events(self, rule_id: str) -> list[str]:
        with self.app.state.db.session() as db:
            rows = db.scalars(select(AlertEvent).where(AlertEvent.rule_id == rule_id))
            return [e.kind for e in sorted(rows, key=lambda e: e.id)]


@pytest.fixture
async def bench(app: FastAPI, make_account: Callable[..., Account]) -> AsyncIterator[Bench]:
    bench = Bench(app, World(app, make_account))
    subscription = await bench.hub.subscribe(bench.room.name, bench.deliver)
    task = asyncio.create_task(bench.evaluator.run())
    yield bench
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await subscription.close()


async def test_a_for_duration_fires_with_no_new_output(bench: Bench) -> None:
    rule = bench.rule(condition="above", threshold=5, for_s=0.3)
    await bench.loaded()
    loop = asyncio.get_running_loop()
    began = loop.time()
    bench.evaluator.observe(bench.instance, {"v": 9})
    await bench.told_state("pending")
    assert bench.events(rule) == []  # pending is quiet
    await bench.told_state("firing")  # the clock, not a new output, fired it
    assert loop.time() - began >= 0.3
    assert bench.events(rule) == ["fired"]


async def test_no_data_fires_when_values_stop_and_resolves_when_they_come(bench: Bench) -> None:
    rule = bench.rule(condition="no_data", no_data_s=0.3)
    await bench.loaded()
    bench.evaluator.observe(bench.instance, {"v": 1})
    firing = await bench.told_state("firing")
    bench.evaluator.observe(bench.instance, {"other": 1})  # no value at /v: still no data
    bench.evaluator.observe(bench.instance, {"v": 2})
    await bench.told_state("ok", after=firing)
    assert bench.events(rule) == ["fired", "resolved"]


async def test_changed_fires_on_a_change_and_resolves_on_the_next_value(bench: Bench) -> None:
    rule = bench.rule(condition="changed")
    await bench.loaded()
    for value in (1, 1.0, 1):
        bench.evaluator.observe(bench.instance, {"v": value})
    bench.evaluator.observe(bench.instance, {"v": "on"})
    firing = await bench.told_state("firing")  # told after the memory follows the change
    bench.evaluator.observe(bench.instance, {"v": "on"})
    await bench.told_state("ok", after=firing)
    assert bench.events(rule) == ["fired", "resolved"]


def rule_of(condition: str, threshold: Any = None) -> Watched:
    return Watched("r", "d", "R", "i1", "/v", condition, threshold, 0, None, "ok", 0, 0, None)


def test_what_the_conditions_mean() -> None:
    assert holds(rule_of("above", 5), 6) and not holds(rule_of("above", 5), 5)
    assert not holds(rule_of("above", 5), "6") and not holds(rule_of("above", 5), True)
    assert holds(rule_of("below", 0), -1.5)
    assert holds(rule_of("equals", "on"), "on") and not holds(rule_of("equals", 1), True)
    assert same(1, 1.0) and not same(1, True) and same(None, None)
    assert not holds(rule_of("changed"), 1)  # nothing to compare with yet
    assert holds(rule_of("changed"), 2, previous=1) and not holds(rule_of("changed"), 2, 2.0)
    assert decide("ok", 0, True, 10, 0) == "firing"
    assert decide("ok", 0, True, 10, 5) == "pending"
    assert decide("pending", 0, True, 4, 5) is None
    assert decide("pending", 0, True, 5, 5) == "firing"
    assert decide("pending", 0, False, 1, 5) == "ok"
    assert decide("firing", 0, True, 99, 5) is None
    assert decide("ok", 0, False, 1, 0) is None
