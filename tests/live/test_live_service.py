"""The live service (``services/live.py``) on the scripted runner: no sandboxes.

Where the sandbox is not the point (restarts, resuming, idle stops, who sees logs,
quotas) ``Live`` runs on :class:`ScriptedRunner` with a real database (SQLite and
PostgreSQL), the in-memory hub and viewers that read their outboxes directly. The
end-to-end tests with real sandboxes and WebSockets are the other files here.

Messages are read through :func:`decode` and compared through :func:`of` and
:func:`find`, so a change of their encoding is followed in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Account
from visualbox.db.tables.accounts import User
from visualbox.errors import Forbidden
from visualbox.hub import Envelope, MemoryHub
from visualbox.hub.outbox import Outbox
from visualbox.runtime.messages import StatusLevel
from visualbox.runtime.runners.scripted import ScriptedRun, ScriptedRunner
from visualbox.runtime.sandbox.base import ExitReason
from visualbox.schemas.dashboards import DashboardContent
from visualbox.services import dashboards, modules, quotas, registry, sharing
from visualbox.services.live import Live
from visualbox.services.live_rooms import Viewer
from visualbox.settings import LiveSettings, Settings

pytestmark = pytest.mark.anyio
TIMEOUT = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- messages: the one place that knows their encoding ---------------------------------


def decode(envelope: Envelope) -> dict[str, Any]:
    """What a client receives for ``envelope``."""
    message: dict[str, Any] = json.loads(envelope.text)
    return message


def of(messages: list[dict[str, Any]], kind: str, **fields: Any) -> list[dict[str, Any]]:
    """The messages of type ``kind`` whose fields include ``fields``."""
    return [
        m for m in messages if m["type"] == kind and all(m.get(k) == v for k, v in fields.items())
    ]


def find(kind: str, **fields: Any) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda messages: bool(of(messages, kind, **fields))


class Watcher:
    """A viewer of the live service that records every message its outbox gets."""

    def __init__(self, user: User | None) -> None:
        self.outbox = Outbox(1024)
        self.viewer = Viewer(user, self.outbox, self.outbox.close)
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            items, _dropped = await self.outbox.take()
            if not items:
                return  # closed
            self.messages.extend(decode(envelope) for _room, envelope in items)
            self._changed.set()

    async def wait_for(self, condition: Callable[[list[dict[str, Any]]], bool]) -> None:
        async def scan() -> None:
            while not condition(self.messages):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(scan(), TIMEOUT)

    async def close(self) -> None:
        self.outbox.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


# --- the world: accounts, modules, dashboards, a live service ------------------------


def integration(app: FastAPI, account: Account) -> str:
    """A published Python integration of ``account`` (its code never runs here)."""
    with app.state.db.session() as db:
        user = db.get(User, account.id)
        module = modules.create_module(
            db, user, name="Scripted", kind="integration", runtime="python"
        )
        schema = [{"type": "number", "name": "level", "label": "Level", "default": 1}]
        modules.write_file(db, module, "config.json", json.dumps(schema).encode())
        modules.write_file(db, module, "main.py", b"import visualbox\n")
        registry.publish(db, module, "1.0.0")
        module_id: str = module.id
        return module_id


def dashboard(app: FastAPI, account: Account, *instances: dict[str, Any]) -> str:
    """A dashboard of ``account`` with these integration instances; its id."""
    content = DashboardContent.model_validate({"name": "Scripted", "integrations": instances})
    with app.state.db.session() as db:
        user = db.get(User, account.id)
        assert user is not None
        made = dashboards.create_dashboard(db, app.state.secret_box, user, content)
        dashboard_id: str = made.id
        return dashboard_id


def instance(module_id: str, instance_id: str = "i1", **extra: Any) -> dict[str, Any]:
    return {"id": instance_id, "module_id": module_id, "label": instance_id, **extra}


def user_of(app: FastAPI, account: Account) -> User:
    with app.state.db.session() as db:
        user = db.get(User, account.id)
        assert user is not None
        return user


@asynccontextmanager
async def live_service(
    app: FastAPI, settings: Settings, runner: ScriptedRunner, **live: Any
) -> AsyncIterator[Live]:
    """A started :class:`Live` on ``runner``, the app's database and an in-memory hub."""
    changed = settings.model_copy(update={"live": LiveSettings(**live)})
    service = Live(changed, app.state.db, app.state.secret_box, runner, MemoryHub())
    await service.start()
    try:
        yield service
    finally:
        await service.close()


@asynccontextmanager
async def watching(user: User | None) -> AsyncIterator[Watcher]:
    watcher = Watcher(user)
    try:
        yield watcher
    finally:
        await watcher.close()


@asynccontextmanager
async def ticking(viewer: Viewer, every_s: float) -> AsyncIterator[None]:
    """``viewer`` heard from every ``every_s`` seconds, as a TICK from the web app does
    (``api/live.py``), while the block runs."""

    async def tick() -> None:
        while True:
            viewer.last_seen = time.monotonic()
            await asyncio.sleep(every_s)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def crash(run: ScriptedRun) -> int:
    run.init()
    run.log("about to fail", StatusLevel.ERROR)
    return 1


# --- tests -------------------------------------------------------------------------------


async def test_a_crashed_instance_restarts_with_growing_back_off_until_stopped(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    board = dashboard(app, owner, instance(integration(app, owner)))
    room, run_id = f"dashboard:{board}", f"dashboard:{board}/i1"
    runner = ScriptedRunner(crash)
    async with (
        live_service(app, settings, runner, restart_backoff_max_s=2) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, board)
        await runner.wait_for(lambda r: len(r.runs_of(run_id)) == 3 and r.runs[-1].done)
        first, second, third = runner.runs_of(run_id)
        assert all(r.exit_info and r.exit_info.reason is ExitReason.CRASHED for r in runner.runs)
        assert first.ended_at is not None and second.ended_at is not None
        assert second.started_at - first.ended_at >= 1.0  # 2**0 s
        assert third.started_at - second.ended_at >= 2.0  # 2**1 s, the longest allowed here

        notices = [f"restarting in {s} s" for s in (1, 2, 2)]  # the third one capped
        await watcher.wait_for(lambda m: len(of(m, "STATUS", status="T_WARNING")) == 3)
        assert [m["data"] for m in of(watcher.messages, "STATUS", status="T_WARNING")] == notices
        assert len(of(watcher.messages, "STATUS", data="about to fail")) == 3
        crashed = of(watcher.messages, "STATE", state="exited", reason="crashed")
        assert [m["code"] for m in crashed] == [1, 1, 1]

        # The owner stops it: the pending restart is dropped, the state says so.
        await live.terminate(watcher.viewer, room, "i1")
        await watcher.wait_for(find("STATE", state="stopped"))
        assert live.rooms[room].instances["i1"].restart_timer is None
        assert len(runner.runs_of(run_id)) == 3


async def test_the_state_of_a_crash_loop_says_when_and_which_attempt_until_stopped(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    board = dashboard(app, owner, instance(integration(app, owner)))
    room, run_id = f"dashboard:{board}", f"dashboard:{board}/i1"
    runner = ScriptedRunner(crash)
    async with (
        live_service(app, settings, runner, restart_backoff_max_s=30) as live,
        watching(user_of(app, owner)) as watcher,
        watching(user_of(app, owner)) as latecomer,
    ):
        await live.join_dashboard(watcher.viewer, board)
        await watcher.wait_for(lambda m: len(of(m, "STATE", state="exited", attempt=2)) == 1)
        first, second = of(watcher.messages, "STATE", state="exited", reason="crashed")
        assert (first["attempt"], second["attempt"]) == (1, 2)
        assert first["restart_in_s"] == pytest.approx(1.0, abs=0.05)  # 2**0 s
        assert second["restart_in_s"] == pytest.approx(2.0, abs=0.05)  # 2**1 s
        # The run in between says which attempt it is, and no restart is pending then.
        between = of(watcher.messages, "STATE", state="running")[-1]
        assert (between["attempt"], between["restart_in_s"]) == (1, None)

        # Someone joining during the wait sees the same: the time left, the attempt.
        await live.join_dashboard(latecomer.viewer, board)
        await latecomer.wait_for(find("JOINED"))
        joined = of(latecomer.messages, "JOINED")[0]["instances"]["i1"]
        assert joined["attempt"] == 2 and 0 < joined["restart_in_s"] <= 2.0, joined

        # Stop during the wait: the pending restart is dropped and the state says so.
        await live.terminate(watcher.viewer, room, "i1")
        await watcher.wait_for(find("STATE", state="stopped"))
        stopped = of(watcher.messages, "STATE", state="stopped")[-1]
        assert stopped["restart_in_s"] is None
        pending = live.rooms[room].instances["i1"]
        assert pending.restart_timer is None and pending.restart_in_s() is None
        assert len(runner.runs_of(run_id)) == 2
        # A restart by the owner starts counting again.
        await live.restart(watcher.viewer, room, "i1")
        await runner.wait_for(lambda r: len(r.runs_of(run_id)) == 3 and r.runs[-1].done)
        await watcher.wait_for(lambda m: len(of(m, "STATE", state="exited", attempt=1)) == 2)


async def test_an_instance_set_to_keep_running_resumes_with_its_last_value(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    board = dashboard(app, owner, instance(integration(app, owner), keep_running=True))
    run_id = f"dashboard:{board}/i1"

    async def counter(run: ScriptedRun) -> int | None:
        run.init()
        run.output({"n": 7, "text": "42"})
        return await run.until_stopped()

    first = ScriptedRunner(counter)
    async with live_service(app, settings, first, flush_interval_s=0.05) as live:
        # Nobody watches, yet it starts with the service, and its value is kept.
        await first.wait_for(
            lambda r: bool(r.runs) and r.runs[0].outputs == [{"n": 7, "text": "42"}]
        )
        assert first.runs[0].config == {"level": 1}
        assert live.last_values(board) == {"i1": '{"n":7,"text":"42"}'}
    assert first.runs[0].exit_info is not None
    assert first.runs[0].exit_info.reason is ExitReason.TERMINATED  # closing stops it

    second = ScriptedRunner()  # a "restarted server": runs without outputs yet
    async with (
        live_service(app, settings, second) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await second.wait_for(lambda r: len(r.runs_of(run_id)) == 1)
        await live.join_dashboard(watcher.viewer, board)
        await watcher.wait_for(find("JOINED"))
        joined = of(watcher.messages, "JOINED")[0]["instances"]["i1"]
        assert joined["data"] == {"n": 7, "text": "42"}  # from the database
        assert len(second.runs_of(run_id)) == 1  # joining did not start another


async def test_instances_stop_after_the_idle_timeout_unless_they_keep_running(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    module = integration(app, owner)
    board = dashboard(app, owner, instance(module, "i1"), instance(module, "i2", keep_running=True))
    room = f"dashboard:{board}"
    runner = ScriptedRunner()
    idle_s = 0.3
    async with (
        live_service(app, settings, runner, idle_timeout_s=idle_s) as live,
        watching(user_of(app, owner)) as first,
        watching(user_of(app, owner)) as second,
    ):
        await live.join_dashboard(first.viewer, board)
        await live.join_dashboard(second.viewer, board)
        await runner.wait_for(lambda r: r.active() == 2)
        await live.leave(first.viewer, room)
        left = time.monotonic()
        await live.leave(second.viewer, room)  # the last viewer
        i1 = runner.runs_of(f"{room}/i1")[0]
        await runner.wait_for(lambda r: i1.done)
        assert i1.ended_at is not None and i1.ended_at - left >= idle_s
        assert i1.exit_info is not None and i1.exit_info.reason is ExitReason.TERMINATED
        assert runner.active() == 1 and not runner.runs_of(f"{room}/i2")[0].done

        # The next viewer starts it again.
        async with watching(user_of(app, owner)) as again:
            await live.join_dashboard(again.viewer, board)
            await again.wait_for(find("JOINED"))
            assert of(again.messages, "JOINED")[0]["instances"]["i1"]["state"] == "stopped"
            await runner.wait_for(lambda r: len(r.runs_of(f"{room}/i1")) == 2)
            assert len(runner.runs_of(f"{room}/i2")) == 1  # never stopped


async def test_an_instance_that_keeps_running_is_not_dropped_while_its_sandbox_starts(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    """Its room outlives the idle timeout even before the first state arrives.

    (A sandbox that took longer than the idle timeout to start once let the reaper
    forget the room: the process ran on, unseen, and the next viewer got "still active".)
    """
    owner = make_account()
    board = dashboard(app, owner, instance(integration(app, owner), keep_running=True))

    async def counter(run: ScriptedRun) -> int | None:
        run.init()
        run.output({"n": 1})
        return await run.until_stopped()

    runner = ScriptedRunner(counter, spawn_s=1.0)  # ten idle timeouts pass meanwhile
    async with live_service(app, settings, runner, idle_timeout_s=0.1) as live:
        await runner.wait_for(lambda r: bool(r.runs) and r.runs[0].outputs == [{"n": 1}])
        # A viewer comes now, and ticks as the web app does: one that stays silent for
        # an idle timeout is let go, its outbox closed, whatever it had not read yet.
        async with watching(user_of(app, owner)) as watcher, ticking(watcher.viewer, 0.02):
            await live.join_dashboard(watcher.viewer, board)
            await watcher.wait_for(find("JOINED"))
            joined = of(watcher.messages, "JOINED")[0]["instances"]["i1"]
            assert joined["state"] == "running" and joined["data"] == {"n": 1}
            assert len(runner.runs) == 1 and runner.active() == 1


async def test_logs_and_commands_are_for_the_owner_only(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    board = dashboard(app, owner, instance(integration(app, owner)))
    room = f"dashboard:{board}"
    with app.state.db.session() as db:
        token = sharing.update_sharing(
            db, db.get(User, owner.id), board, public=True, listed=False
        ).share_token
    assert token is not None

    async def chatty(run: ScriptedRun) -> int | None:
        run.init()
        run.log("a line with a secret")
        run.output({"n": 1})
        return await run.until_stopped()

    runner = ScriptedRunner(chatty)
    async with (
        live_service(app, settings, runner) as live,
        watching(user_of(app, owner)) as mine,
        watching(None) as public,
    ):
        await live.join_dashboard(mine.viewer, board)
        await mine.wait_for(find("OUTPUT"))
        await live.join_shared(public.viewer, token)
        await public.wait_for(find("JOINED"))
        assert not of(public.messages, "JOINED")[0].get("logs")  # absent or empty

        run = runner.runs[0]
        run.log("another secret", StatusLevel.WARNING)
        run.output({"n": 2})
        await public.wait_for(lambda m: any(o["data"] == {"n": 2} for o in of(m, "OUTPUT")))
        await mine.wait_for(lambda m: any(o["data"] == {"n": 2} for o in of(m, "OUTPUT")))
        assert of(public.messages, "STATUS") == []
        lines = [(m["status"], m["data"]) for m in of(mine.messages, "STATUS")]
        assert lines == [("T_INFO", "a line with a secret"), ("T_WARNING", "another secret")]

        # A second owner's connection gets the kept lines when it joins.
        async with watching(user_of(app, owner)) as later:
            await live.join_dashboard(later.viewer, board)
            await later.wait_for(find("JOINED"))
            kept = of(later.messages, "JOINED")[0]["logs"]
            assert [line["data"] for line in kept] == ["a line with a secret", "another secret"]

        with pytest.raises(Forbidden):
            await live.terminate(public.viewer, room, "i1")
        assert not run.done


async def test_instances_beyond_the_sandbox_quota_do_not_start_and_say_why(
    app: FastAPI, settings: Settings, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    module = integration(app, owner)
    board = dashboard(app, owner, instance(module, "i1"), instance(module, "i2"))
    room = f"dashboard:{board}"
    with app.state.db.session() as db:
        quotas.set_overrides(db, owner.id, {"sandboxes": 1})
        db.commit()
    runner = ScriptedRunner()
    async with (
        live_service(app, settings, runner) as live,
        watching(user_of(app, owner)) as watcher,
    ):
        await live.join_dashboard(watcher.viewer, board)
        await watcher.wait_for(find("STATE", reason="quota"))
        refused = of(watcher.messages, "STATE", reason="quota")
        assert [m["instance"] for m in refused] == ["i2"]
        assert refused[0]["detail"].startswith(
            "You have 1 of 1 integrations running at once allowed."
        )
        warning = of(watcher.messages, "STATUS", status="T_WARNING", instance="i2")
        assert warning and "stop another one" in warning[0]["data"]
        assert [r.run_id for r in runner.runs] == [f"{room}/i1"]
        assert live.sandboxes_of(owner.id) == 1

        # Stopping one makes room for the other.
        await live.terminate(watcher.viewer, room, "i1")
        await live.restart(watcher.viewer, room, "i2")
        await runner.wait_for(lambda r: len(r.runs_of(f"{room}/i2")) == 1)
        assert live.sandboxes_of(owner.id) == 1 and runner.active() == 1
