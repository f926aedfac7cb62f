"""Live dashboards: run a dashboard's integrations while someone watches, relay their data.

One :class:`Live` per server (``app.state.live``). The WebSocket handler
(``api/live.py``) turns client messages into calls here; the dashboards and
sharing routes call :meth:`Live.dashboard_changed` after every save.

* **One instance per dashboard integration**, shared by every viewer. Joining a
  room starts what is not running; the room's instances stop ``idle_timeout_s``
  after its last viewer left (or stopped ticking), except those set to keep running.
* **Runs are authorised by run tokens** (``services/run_tokens.py``) naming the
  exact sources they may fetch; the runner fetches through the runner API.
* **Last values** are kept in memory, sent at once to whoever joins, and written
  to the database every ``flush_interval_s``, so a restarted server has them.
* **Logs (STATUS) reach owners only**; public viewers get outputs and states.
* A crashed instance restarts with exponential back-off while it is wanted.

Everything runs on the event loop; database work goes to worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from visualbox.db.engine import Database
from visualbox.db.tables.accounts import User
from visualbox.errors import Forbidden, NotFound, VisualBoxError
from visualbox.hub import Envelope, Hub
from visualbox.runtime.messages import Init, Message, Output, State, Status
from visualbox.runtime.runners import Runner, SourceUnavailable
from visualbox.runtime.sandbox.base import ExitReason
from visualbox.services import live_values, run_tokens
from visualbox.services.live_rooms import (
    DEV_INSTANCE,
    STOPPED,
    DashboardSpec,
    Instance,
    Membership,
    Room,
    Viewer,
    dashboards_to_resume,
    dumps,
    iso,
    load_dashboard,
    load_dev,
    load_shared,
    now_iso,
)
from visualbox.services.secrets import SecretBox
from visualbox.settings import Settings

log = logging.getLogger(__name__)

HEALTHY_AFTER_S = 60.0
"""A run that lasted this long resets the crash back-off."""


class Live:
    def __init__(
        self, settings: Settings, database: Database, box: SecretBox, runner: Runner, hub: Hub
    ) -> None:
        self.settings = settings.live
        self.database = database
        self.box = box
        self.runner = runner
        self.hub = hub
        self.rooms: dict[str, Room] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._dirty: dict[tuple[str, str], tuple[str, str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background loops and the instances set to keep running."""
        self._loop = asyncio.get_running_loop()
        self._spawn(self._reap_forever())
        self._spawn(self._flush_forever())
        for dashboard_id in await self._db(dashboards_to_resume):
            self._spawn(self._reload(dashboard_id))

    async def close(self) -> None:
        """Stop every instance (no process outlives this) and save the last values."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for room in self.rooms.values():
            for instance in room.instances.values():
                if instance.restart_timer is not None:
                    instance.restart_timer.cancel()
            for viewer in list(room.viewers):
                viewer.expire()
        await self.runner.close()
        await self._flush()
        await self.hub.close()

    # --- viewers -------------------------------------------------------------------------

    async def join_dashboard(self, viewer: Viewer, dashboard_id: str) -> None:
        """The dashboard's owner joins its room. :class:`NotFound` for anyone else."""
        user = viewer.user
        if user is None or not user.is_verified:
            raise NotFound("No such dashboard.")
        async with self._lock(f"dashboard:{dashboard_id}"):
            room = await self._reload_locked(dashboard_id)
            if room is None or room.owner_id != user.id:
                raise NotFound("No such dashboard.")
            await self._enter(viewer, room, "owner")

    async def join_shared(self, viewer: Viewer, token: str) -> None:
        """Anyone with the public link joins as a viewer (no logs, no commands)."""
        dashboard_id = await self._db(load_shared, token)
        async with self._lock(f"dashboard:{dashboard_id}"):
            room = await self._reload_locked(dashboard_id)
            if room is None or not room.public or room.share_token != token:
                raise NotFound("No such public dashboard (the link may have been disabled).")
            await self._enter(viewer, room, "viewer", share_token=token)

    async def leave(self, viewer: Viewer, room_name: str) -> None:
        membership = viewer.rooms.pop(room_name, None)
        room = self.rooms.get(room_name)
        if membership is not None:
            await membership.subscription.close()
        if room is not None and viewer in room.viewers:
            room.viewers.discard(viewer)
            if not room.viewers:
                room.idle_since = time.monotonic()

    async def leave_all(self, viewer: Viewer) -> None:
        for name in list(viewer.rooms):
            await self.leave(viewer, name)

    async def _enter(
        self, viewer: Viewer, room: Room, role: str, share_token: str | None = None
    ) -> None:
        if room.name in viewer.rooms:
            await self.leave(viewer, room.name)
        subscription = await self.hub.subscribe(room.name, viewer.deliver_for(room.name, role))
        viewer.rooms[room.name] = Membership(role, subscription, share_token)
        room.viewers.add(viewer)
        room.idle_since = None
        viewer.send(room.name, room.joined_message(role))
        for instance in list(room.instances.values()):
            await self._start(instance, only_if_idle=True)

    # --- owner commands ------------------------------------------------------------------

    def _owned_instance(self, viewer: Viewer, room_name: str, instance_id: str) -> Instance:
        membership = viewer.rooms.get(room_name)
        room = self.rooms.get(room_name)
        if membership is None or room is None:
            raise NotFound("Join the room first.", [])
        if membership.role != "owner":
            raise Forbidden("Only the owner may restart or stop an instance.")
        instance = room.instances.get(instance_id)
        if instance is None:
            raise NotFound(f"No instance {instance_id!r} in this room.", [])
        return instance

    async def restart(self, viewer: Viewer, room_name: str, instance_id: str) -> None:
        instance = self._owned_instance(viewer, room_name, instance_id)
        instance.stopped_by_owner = False
        instance.failures = 0
        await self._start(instance)

    async def terminate(self, viewer: Viewer, room_name: str, instance_id: str) -> None:
        instance = self._owned_instance(viewer, room_name, instance_id)
        instance.stopped_by_owner = True
        await self._stop(instance)

    # --- development console -------------------------------------------------------------

    async def dev_start(self, viewer: Viewer, module_id: str, config: dict[str, Any]) -> None:
        """Run the caller's working copy of ``module_id`` with test values; join its room."""
        user = self._verified(viewer)
        spec = await self._db(load_dev, user, module_id, config)
        name = f"dev:{module_id}"
        async with self._lock(name):
            room = self.rooms.get(name)
            if room is None or room.owner_id != user.id:
                room = Room(name, user.id, log_lines=self.settings.dev_log_lines)
                self.rooms[name] = room
            instance = room.instances.get(DEV_INSTANCE)
            if instance is None:
                instance = room.add_instance(spec)
            else:
                instance.spec = spec
            instance.stopped_by_owner = False
            joined = name in viewer.rooms
            running = instance.handle is not None
            if not joined:
                await self._enter(viewer, room, "owner")  # starts it when it is not running
            if joined or running:
                await self._start(instance)  # (re)start with these values and this code

    async def dev_restart(
        self, viewer: Viewer, module_id: str, config: dict[str, Any] | None
    ) -> None:
        room = self.rooms.get(f"dev:{module_id}")
        instance = room.instances.get(DEV_INSTANCE) if room else None
        if config is None:
            config = instance.spec.config if instance else {}
        await self.dev_start(viewer, module_id, config)

    async def dev_stop(self, viewer: Viewer, module_id: str) -> None:
        self._verified(viewer)
        await self.terminate(viewer, f"dev:{module_id}", DEV_INSTANCE)

    @staticmethod
    def _verified(viewer: Viewer) -> User:
        if viewer.user is None:
            raise Forbidden("Sign in first.")
        if not viewer.user.is_verified:
            raise Forbidden("Verify your email address first.")
        return viewer.user

    # --- changes from the REST API (called from worker threads) --------------------------

    def dashboard_changed(self, dashboard_id: str) -> None:
        """A dashboard was saved, shared, unshared or deleted: apply it to its room.

        Thread-safe and non-blocking; rooms nobody has open are loaded only when
        the change starts an instance that keeps running.
        """
        loop = self._loop
        if loop is None or self._closing:
            return
        loop.call_soon_threadsafe(self._spawn, self._reload(dashboard_id, changed=True))

    def last_values(self, dashboard_id: str) -> dict[str, str] | None:
        """``{instance: last output as JSON text}`` from memory; ``None`` if the room is
        not loaded (then the database has the values). Safe to call from any thread."""
        room = self.rooms.get(f"dashboard:{dashboard_id}")
        if room is None:
            return None
        return {i.id: i.last_data for i in list(room.instances.values()) if i.last_data is not None}

    # --- rooms ---------------------------------------------------------------------------

    async def _reload(self, dashboard_id: str, *, changed: bool = False) -> None:
        async with self._lock(f"dashboard:{dashboard_id}"):
            await self._reload_locked(dashboard_id, changed=changed)

    async def _reload_locked(self, dashboard_id: str, *, changed: bool = False) -> Room | None:
        """Bring the room of ``dashboard_id`` in line with the database; return it.

        After a change (``changed``), a room nobody has open is only loaded when an
        instance keeps running."""
        name = f"dashboard:{dashboard_id}"
        room = self.rooms.get(name)
        try:
            spec = await self._db(load_dashboard, self.box, dashboard_id)
        except NotFound:
            if room is not None:
                await self._close_room(room, "The dashboard was deleted.")
            return None
        if room is not None:
            await self._apply(room, spec)
            return room
        if changed and not any(i.keep_running for i in spec.instances):
            return None
        room = Room(name, spec.owner_id, dashboard_id, log_lines=self.settings.log_lines)
        stored = await self._db(live_values.load, dashboard_id)
        for instance_spec in spec.instances:
            instance = room.add_instance(instance_spec)
            if instance.id in stored:
                data, at = stored[instance.id]
                instance.last_data, instance.last_at = data, iso(at)
        self.rooms[name] = room  # complete, with its last values, before anyone sees it
        await self._apply(room, spec)
        return room

    async def _apply(self, room: Room, spec: DashboardSpec) -> None:
        revision_changed = room.revision != spec.revision
        room.owner_id = spec.owner_id
        room.revision = spec.revision
        room.public, room.share_token = spec.public, spec.share_token
        await self._kick_stale_links(room)
        wanted = {s.id: s for s in spec.instances}
        removed = [i for i in room.instances.values() if i.id not in wanted]
        for gone in removed:
            await self._stop(gone)
            del room.instances[gone.id]
            self.hub.publish(room.name, Envelope(gone.message("REMOVED")))
        if removed and room.dashboard_id:
            await self._db(live_values.forget, room.dashboard_id, [i.id for i in removed])
        for instance_spec in spec.instances:
            instance = room.instances.get(instance_spec.id)
            if instance is None:
                instance = room.add_instance(instance_spec)
                if room.watched or instance_spec.keep_running:
                    await self._start(instance)
                continue
            old, instance.spec = instance.spec, instance_spec
            if old.digest != instance_spec.digest:
                instance.stopped_by_owner = False
                instance.failures = 0
                if room.watched or instance_spec.keep_running or instance.handle is not None:
                    await self._start(instance)
            elif instance_spec.keep_running and instance.state in (STOPPED, "exited"):
                if not instance.stopped_by_owner:
                    await self._start(instance)
        if revision_changed:
            message = {"type": "DASHBOARD", "room": room.name, "revision": room.revision}
            self.hub.publish(room.name, Envelope(dumps(message), key="DASHBOARD"))

    async def _kick_stale_links(self, room: Room) -> None:
        for viewer in list(room.viewers):
            membership = viewer.rooms.get(room.name)
            if membership is None or membership.share_token is None:
                continue
            if not room.public or room.share_token != membership.share_token:
                await self.leave(viewer, room.name)
                viewer.send(room.name, _error("not_found", "This public link was disabled."))

    async def _close_room(self, room: Room, why: str) -> None:
        for viewer in list(room.viewers):
            await self.leave(viewer, room.name)
            viewer.send(room.name, _error("not_found", why))
        for instance in list(room.instances.values()):
            await self._stop(instance)
        self.rooms.pop(room.name, None)

    # --- instances -----------------------------------------------------------------------

    async def _start(self, instance: Instance, *, only_if_idle: bool = False) -> None:
        """(Re)start ``instance`` with its current spec.

        With ``only_if_idle``, only when it is not running and not meant to be stopped:
        never started, stopped while nobody watched, or crashed with no restart pending.
        """
        async with instance.lock:
            if only_if_idle and not _idle(instance):
                return
            await self._start_locked(instance)

    async def _start_locked(self, instance: Instance) -> None:
        if self._closing:
            return
        if instance.restart_timer is not None:
            instance.restart_timer.cancel()
            instance.restart_timer = None
        spec = instance.spec
        if spec.ref is None:
            self._set_state(instance, "exited", reason="unavailable", detail=spec.problem)
            return
        handle = instance.handle
        if handle is not None and instance.handle_hash == spec.ref.content_hash:
            await handle.restart(spec.config)
            return
        if handle is not None:
            await handle.terminate()
            instance.handle = instance.handle_hash = None
        token = run_tokens.issue(self.box, [spec.ref])
        try:
            instance.handle = await self.runner.start(
                instance.run_id,
                spec.ref,
                token,
                spec.config,
                lambda message: self._on_message(instance, message),
            )
        except (SourceUnavailable, VisualBoxError, ValueError, OSError) as exc:
            log.warning("could not start %s: %s", instance.run_id, exc)
            self._set_state(instance, "exited", reason="unavailable", detail=str(exc))
            return
        instance.handle_hash = spec.ref.content_hash

    async def _stop(self, instance: Instance) -> None:
        async with instance.lock:
            if instance.restart_timer is not None:
                instance.restart_timer.cancel()
                instance.restart_timer = None
            handle, instance.handle, instance.handle_hash = instance.handle, None, None
            if handle is not None:
                await handle.terminate()
            self._set_state(instance, STOPPED)

    def _set_state(
        self, instance: Instance, state: str, *, reason: str | None = None, detail: str = ""
    ) -> None:
        instance.state, instance.code, instance.reason, instance.detail = (
            state,
            None,
            reason,
            detail,
        )
        self._publish_state(instance)

    def _publish_state(self, instance: Instance) -> None:
        envelope = Envelope(instance.state_message(), key=f"{instance.id}\0S")
        self.hub.publish(instance.room.name, envelope)

    def _on_message(self, instance: Instance, message: Message) -> None:
        """Every message of every run comes through here, on the event loop: keep it lean."""
        room = instance.room.name
        if isinstance(message, Output):
            data = dumps(message.data)
            at = now_iso()
            instance.last_data, instance.last_at = data, at
            if instance.room.dashboard_id is not None:
                self._dirty[(instance.room.dashboard_id, instance.id)] = (data, at)
            self.hub.publish(room, Envelope(instance.output_message(data, at), f"{instance.id}\0O"))
        elif isinstance(message, Status):
            text = instance.message("STATUS", status=str(message.status), data=message.data)
            instance.logs.append(text)
            self.hub.publish(room, Envelope(text, owner_only=True))
        elif isinstance(message, Init):
            self.hub.publish(room, Envelope(instance.message("INIT")))
        elif isinstance(message, State):
            self._on_state(instance, message)

    def _on_state(self, instance: Instance, message: State) -> None:
        instance.state = str(message.state)
        instance.code, instance.reason, instance.detail = (
            message.code,
            message.reason,
            message.detail,
        )
        if instance.state == "running":
            instance.running_since = time.monotonic()
        self._publish_state(instance)
        if instance.state != "exited" or message.reason == ExitReason.TERMINATED:
            return
        if message.reason == ExitReason.EXITED:
            return  # finished its work (exit code 0): not a crash
        since = instance.running_since
        if since is not None and time.monotonic() - since >= HEALTHY_AFTER_S:
            instance.failures = 0
        wanted = instance.room.watched or instance.spec.keep_running
        if not wanted or instance.stopped_by_owner or self._closing:
            return
        delay = min(self.settings.restart_backoff_max_s, 2.0**instance.failures)
        instance.failures += 1
        notice = instance.message("STATUS", status="T_WARNING", data=f"restarting in {delay:g} s")
        instance.logs.append(notice)
        self.hub.publish(instance.room.name, Envelope(notice, owner_only=True))
        assert self._loop is not None
        instance.restart_timer = self._loop.call_later(
            delay, lambda: self._spawn(self._restart_after_crash(instance))
        )

    async def _restart_after_crash(self, instance: Instance) -> None:
        instance.restart_timer = None
        room = instance.room
        if room.instances.get(instance.id) is instance and not instance.stopped_by_owner:
            if room.watched or instance.spec.keep_running:
                await self._start(instance)

    # --- background loops ----------------------------------------------------------------

    async def _reap_forever(self) -> None:
        interval = min(1.0, self.settings.idle_timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._reap()
            except Exception:
                log.exception("reaping idle rooms failed")

    async def _reap(self) -> None:
        now = time.monotonic()
        timeout = self.settings.idle_timeout_s
        for room in list(self.rooms.values()):
            async with self._lock(room.name):
                await self._reap_room(room, now, timeout)

    async def _reap_room(self, room: Room, now: float, timeout: float) -> None:
        if True:
            for viewer in list(room.viewers):
                if now - viewer.last_seen > timeout:
                    viewer.expire()  # stopped ticking: the connection is closed
                    await self.leave(viewer, room.name)
            if room.viewers or room.idle_since is None or now - room.idle_since < timeout:
                return
            for instance in list(room.instances.values()):
                if not instance.spec.keep_running and instance.state != STOPPED:
                    await self._stop(instance)
            if all(i.state == STOPPED for i in room.instances.values()):
                if self.rooms.get(room.name) is room:
                    del self.rooms[room.name]

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval_s)
            await self._flush()

    async def _flush(self) -> None:
        batch, self._dirty = self._dirty, {}
        if not batch:
            return
        try:
            await self._db(
                live_values.save, {k: (d, _parse_iso(at)) for k, (d, at) in batch.items()}
            )
        except Exception:
            log.exception("saving %d live values failed; retrying later", len(batch))
            self._dirty = {**batch, **self._dirty}

    # --- helpers -------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live task failed", exc_info=task.exception())

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _db(self, function: Any, *args: Any) -> Any:
        def run() -> Any:
            with self.database.session() as db:
                return function(db, *args)

        return await asyncio.to_thread(run)


def _idle(instance: Instance) -> bool:
    if instance.stopped_by_owner or instance.restart_timer is not None:
        return False
    if instance.handle is None:
        return True
    return instance.state == "exited" and instance.reason != ExitReason.EXITED


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _error(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"type": "ERROR", "code": code, "message": message, "fields": fields or []}
