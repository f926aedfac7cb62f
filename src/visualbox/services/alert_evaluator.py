"""Evaluating alert rules where a dashboard's instances run (docs/alerts.md).

One :class:`Evaluator` per live service (``Live.alerts``). The live service hands it
every output of an instance that runs on this node (:meth:`Evaluator.observe`, next to
the history recorder, on the relay path: no await, no database); so a rule is evaluated
once per instance, not per viewer, and in a cluster only on the node that holds the
dashboard's lease. Every ``alerts.interval_s`` :meth:`Evaluator.tick` looks at what
time alone changes (a ``for`` duration that has passed, data that stopped coming) and
reloads the rules of the dashboards that run here.

A change of state is decided in memory and written by one worker task, in order, through
:func:`visualbox.services.alerts.change_state` (a compare-and-set on the state's version,
and the notifications in the same transaction); only when it wins does the memory follow
and the room hear of it (``ALERT``). A lost compare-and-set (another evaluator, an edit
of the rule) reloads the dashboard's rules. The state is the database's: a restarted
server loads it with the rules, so a firing rule does not fire again, and the outbox
(``services/alert_delivery.py``) still holds what was not delivered.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from visualbox.db.engine import Database
from visualbox.hub import Envelope, Hub
from visualbox.schemas.live import LiveAlert
from visualbox.services import alerts
from visualbox.services.alert_delivery import Delivery
from visualbox.services.alerts import Watched
from visualbox.services.history import MISSING, resolve
from visualbox.services.live_rooms import Instance, Room
from visualbox.services.mail import mailer_for
from visualbox.services.secrets import SecretBox
from visualbox.settings import Settings

log = logging.getLogger(__name__)

_NO_VALUE = object()


def holds(rule: Watched, value: Any, previous: Any = _NO_VALUE) -> bool:
    """Whether ``value`` meets the rule's condition (``no_data`` is the tick's business)."""
    condition = rule.condition
    if condition in ("above", "below"):
        number = _number(value)
        threshold = _number(rule.threshold)
        if number is None or threshold is None:
            return False
        return number > threshold if condition == "above" else number < threshold
    if condition == "equals":
        return same(value, rule.threshold)
    if condition == "changed":
        return previous is not _NO_VALUE and not same(value, previous)
    return False


def decide(state: str, since: float, holding: bool, now: float, for_s: float) -> str | None:
    """The next state of a rule, or ``None`` when it stays."""
    if holding:
        if state == "ok":
            return "firing" if for_s <= 0 else "pending"
        if state == "pending" and now - since >= for_s:
            return "firing"
        return None
    return "ok" if state != "ok" else None


def same(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0, true is not 1."""
    x, y = _number(a), _number(b)
    if x is not None or y is not None:
        return x == y
    return type(a) is type(b) and bool(a == b)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class Evaluator:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        box: SecretBox,
        hub: Hub,
        rooms: Callable[[], dict[str, Room]],
    ) -> None:
        self.settings = settings.alerts
        self.public_url = settings.public_url
        self.database = database
        self.hub = hub
        self.rooms = rooms
        """The rooms whose instances run on this node, by dashboard id."""
        self.delivery = Delivery(settings.alerts, database, box, mailer_for(settings))
        self.rules: dict[str, list[Watched]] = {}
        """The enabled rules of each dashboard that runs here (loaded on its first output)."""
        self.changes = 0
        """Changes of state this evaluator wrote (the tests read it)."""
        self._seen: dict[str, float] = {}
        self._previous: dict[str, Any] = {}
        self._busy: set[str] = set()
        self._loading: set[str] = set()
        self._jobs: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- on the relay path ---------------------------------------------------------------

    def observe(self, instance: Instance, data: Any) -> None:
        """An output of ``instance`` (on the event loop: keep it lean)."""
        dashboard_id = instance.room.dashboard_id
        if dashboard_id is None:
            return
        rules = self.rules.get(dashboard_id)
        if rules is None:
            if dashboard_id not in self._loading:
                self._loading.add(dashboard_id)
                self._jobs.put_nowait(("load", [dashboard_id]))
            return
        now = time.time()
        for rule in rules:
            if rule.instance_id != instance.id:
                continue
            value = resolve(data, rule.pointer)
            if value is MISSING:
                continue
            self._seen[rule.id] = now
            previous = self._previous.get(rule.id, _NO_VALUE)
            self._previous[rule.id] = value
            if rule.condition == "no_data":
                self._step(rule, False, value, now)
            else:
                self._step(rule, holds(rule, value, previous), value, now)

    def _step(self, rule: Watched, holding: bool, value: Any, now: float) -> None:
        if rule.id in self._busy:
            return  # a change is being written; the next value decides again
        new = decide(rule.state, rule.since, holding, now, rule.for_s)
        if new is not None:
            self._busy.add(rule.id)
            self._jobs.put_nowait(("change", rule, new, value, now))

    # --- background ----------------------------------------------------------------------

    async def run(self) -> None:
        """The worker, the clock and the delivery of notifications (until cancelled)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.gather(
            self._work_forever(), self._tick_forever(), self.delivery.run_forever()
        )

    def rules_changed(self, dashboard_id: str) -> None:
        """The rules of a dashboard were edited: reload them if it runs here. Thread-safe."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._jobs.put_nowait, ("load", [dashboard_id]))

    def wake_delivery(self) -> None:
        """Notifications were queued elsewhere (a test): deliver now. Thread-safe."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.delivery.wake)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval_s)
            try:
                self.tick()
            except Exception:
                log.exception("checking alert rules failed")

    def tick(self) -> None:
        """Forget dashboards that stopped running here, reload the others' rules, and step
        what time alone changes."""
        running = self.rooms()
        for dashboard_id in [d for d in self.rules if d not in running]:
            for rule in self.rules.pop(dashboard_id):
                self._seen.pop(rule.id, None)
                self._previous.pop(rule.id, None)
        loaded = [d for d in running if d in self.rules]
        if loaded:
            self._jobs.put_nowait(("load", loaded))
        now = time.time()
        for dashboard_id in loaded:
            for rule in self.rules[dashboard_id]:
                if rule.condition == "no_data":
                    quiet = now - self._seen.get(rule.id, now) >= (rule.no_data_s or math.inf)
                    self._step(rule, quiet, None, now)
                elif rule.state == "pending" and rule.id in self._previous:
                    value = self._previous[rule.id]
                    if holds(rule, value) and rule.condition != "changed":
                        self._step(rule, True, value, now)

    async def _work_forever(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                if job[0] == "load":
                    await self._load(job[1])
                else:
                    await self._change(*job[1:])
            except Exception:
                log.exception("an alert job failed")
                if job[0] == "change":
                    self._busy.discard(job[1].id)

    async def _load(self, dashboard_ids: list[str]) -> None:
        try:
            found = await self.database.call(alerts.watched_rules, dashboard_ids)
        finally:
            self._loading.difference_update(dashboard_ids)
        running = self.rooms()
        now = time.time()
        by_dashboard: dict[str, list[Watched]] = {d: [] for d in dashboard_ids if d in running}
        for rule in found:
            if rule.dashboard_id in by_dashboard:
                by_dashboard[rule.dashboard_id].append(rule)
                self._seen.setdefault(rule.id, now)
        for dashboard_id, rules in by_dashboard.items():
            before = {r.id: r.state for r in self.rules.get(dashboard_id, [])}
            self.rules[dashboard_id] = rules
            for rule in rules:
                if before.get(rule.id, "ok") != rule.state:
                    self._tell(running[dashboard_id], rule)

    async def _change(self, rule: Watched, new: str, value: Any, now: float) -> None:
        at = datetime.fromtimestamp(now, UTC)
        try:
            won = await self.database.call(
                alerts.change_state,
                self.settings,
                self.public_url,
                rule.id,
                rule.version,
                new,
                value,
                at,
            )
        finally:
            self._busy.discard(rule.id)
        if not won:
            log.info("alert %s changed elsewhere; reloading its dashboard's rules", rule.id)
            await self._load([rule.dashboard_id])
            return
        self.changes += 1
        version = rule.version  # a reload may have put a copy of the rule in the cache
        for held in [rule, *self.rules.get(rule.dashboard_id, [])]:
            if held.id == rule.id and held.version == version:
                held.state, held.since, held.version, held.value = new, now, version + 1, value
        room = self.rooms().get(rule.dashboard_id)
        if room is not None:
            self._tell(room, rule)
        if new != "pending":
            self.delivery.wake()

    def _tell(self, room: Room, rule: Watched) -> None:
        source = "/" + rule.instance_id.replace("~", "~0").replace("/", "~1") + rule.pointer
        state: Any = rule.state
        message = LiveAlert(
            room=room.name, rule=rule.id, name=rule.name, source=source, state=state
        )
        generation = room.generation or 0
        self.hub.publish(room.name, Envelope(message, owner_only=True, generation=generation))
