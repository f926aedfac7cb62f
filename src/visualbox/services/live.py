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
* **History**: every output of a dashboard's instance is handed to the history
  recorder (``services/history.py``), which buffers it and writes in batches.
* **Alerts**: and to the alert evaluator (``services/alert_evaluator.py``), here, where
  the instance runs.
* **Logs (STATUS) reach owners only**; public viewers get outputs and states.
* A crashed instance restarts with exponential back-off while it is wanted.

Everything runs on the event loop; database work goes to worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from visualbox.db.engine import Database
from visualbox.db.tables.accounts import User
from visualbox.errors import Forbidden, NotFound, Unavailable
from visualbox.hub import Envelope, Hub, Subscription
from visualbox.runtime.runners import Runner
from visualbox.schemas.live import (
    InstanceState,
    LiveDashboard,
    LiveRemoved,
    NodeAction,
    NodeChanged,
    NodeCommand,
    RoomRole,
)
from visualbox.services import live_values, policy
from visualbox.services.alert_evaluator import Evaluator
from visualbox.services.history import Recorder
from visualbox.services.live_cluster import NODES_ROOM, Cluster
from visualbox.services.live_instances import Instances, alive
from visualbox.services.live_rooms import (
    DEV_INSTANCE,
    DashboardSpec,
    Instance,
    Membership,
    Room,
    Viewer,
    dashboards_to_resume,
    error_message,
    iso,
    load_dashboard,
    load_dev,
    load_limits,
    load_shared,
)
from visualbox.services.secrets import SecretBox
from visualbox.settings import Settings

log = logging.getLogger(__name__)
_NOT_RUNNING = (InstanceState.STOPPED, InstanceState.EXITED)


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
        self.instances = Instances(self.settings, box, runner, hub, self._spawn)
        self.history = Recorder(settings.history, database, hub)
        self.alerts = Evaluator(settings, database, box, hub, self._running_here)
        self.instances.on_output = self._on_output
        self.cluster = Cluster(database, shared=hub.shared, ttl_s=self.settings.lease_ttl_s)
        self.instances.retain = hub.shared
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nodes: Subscription | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background loops and the instances set to keep running."""
        self._loop = asyncio.get_running_loop()
        await self.runner.open()
        self._spawn(self._reap_forever())
        self._spawn(self._flush_forever())
        self._spawn(self.alerts.run())
        if self.history.settings.enabled:
            self._spawn(self.history.flush_forever())
            self._spawn(self.history.prune_forever())
        if self.cluster.shared:  # the lease loop starts what keeps running, spread out
            self._nodes = await self.hub.subscribe(NODES_ROOM, self._on_node_message)
            self._spawn(self._lease_forever())
            return
        for dashboard_id in await self._db(dashboards_to_resume):
            self._spawn(self._reload(dashboard_id))

    async def close(self) -> None:
        """Stop every instance (no process outlives this) and save the last values."""
        self.instances.closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for room in self.rooms.values():
            for instance in room.instances.values():
                instance.cancel_restart()
            for viewer in list(room.viewers):
                viewer.expire()
        await self.runner.close()
        await self._flush()
        await self.history.flush()
        try:
            await self.cluster.leave()  # other nodes take this node's dashboards at once
        except Exception:
            log.exception("giving up this node's leases failed; they expire by themselves")
        await self.hub.close()

    # --- viewers -------------------------------------------------------------------------

    async def join_dashboard(self, viewer: Viewer, dashboard_id: str) -> None:
        """The dashboard's owner or a member of its team joins its room: a team viewer as a
        viewer (no logs, no commands), an editor or admin as the owner does.
        :class:`NotFound` for anyone else."""
        user = viewer.user
        if user is None or not user.is_verified:
            raise NotFound("No such dashboard.")
        role = await self._db(policy.dashboard_role_by_id, user, dashboard_id)
        if role is None:
            raise NotFound("No such dashboard.")
        async with self._lock(f"dashboard:{dashboard_id}"):
            room = await self._reload_locked(dashboard_id)
            if room is None:
                raise NotFound("No such dashboard.")
            as_role = RoomRole.OWNER if policy.allows(role, "edit") else RoomRole.VIEWER
            await self._enter(viewer, room, as_role)

    async def join_shared(self, viewer: Viewer, token: str) -> None:
        """Anyone with the public link joins as a viewer (no logs, no commands)."""
        dashboard_id = await self._db(load_shared, token)
        async with self._lock(f"dashboard:{dashboard_id}"):
            room = await self._reload_locked(dashboard_id)
            if room is None or not room.public or room.share_token != token:
                raise NotFound("No such public dashboard (the link may have been disabled).")
            await self._enter(viewer, room, RoomRole.VIEWER, share_token=token)

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
        self, viewer: Viewer, room: Room, role: RoomRole, share_token: str | None = None
    ) -> None:
        if room.name in viewer.rooms:
            await self.leave(viewer, room.name)
        deliver = viewer.deliver_for(room.name, role, room.fence)
        subscription = await self.hub.subscribe(room.name, deliver)
        viewer.rooms[room.name] = Membership(role, subscription, share_token)
        room.viewers.add(viewer)
        room.idle_since = None
        viewer.send(room.name, room.joined_message(role))
        if room.generation is None:
            await self._lead(room)  # run it here unless another node does
        if room.generation is None:
            return
        for instance in list(room.instances.values()):
            await self.instances.start(instance, only_if_idle=True)

    # --- owner commands ------------------------------------------------------------------

    def _owned_instance(self, viewer: Viewer, room_name: str, instance_id: str) -> Instance:
        membership = viewer.rooms.get(room_name)
        room = self.rooms.get(room_name)
        if membership is None or room is None:
            raise NotFound("Join the room first.", [])
        if membership.role is not RoomRole.OWNER:
            raise Forbidden("Only the owner may restart or stop an instance.")
        instance = room.instances.get(instance_id)
        if instance is None:
            raise NotFound(f"No instance {instance_id!r} in this room.", [])
        return instance

    async def restart(self, viewer: Viewer, room_name: str, instance_id: str) -> None:
        instance = self._owned_instance(viewer, room_name, instance_id)
        await self._command(instance, "restart")

    async def terminate(self, viewer: Viewer, room_name: str, instance_id: str) -> None:
        instance = self._owned_instance(viewer, room_name, instance_id)
        await self._command(instance, "terminate")

    async def _command(self, instance: Instance, action: NodeAction) -> None:
        """An owner's command, carried out here or by the node that runs the instance."""
        if instance.room.generation is None:
            command = NodeCommand(room=instance.room.name, instance=instance.id, action=action)
            self.hub.publish(NODES_ROOM, Envelope(command))
        elif action == "restart":
            instance.stopped_by_owner = False
            instance.failures = 0
            await self.instances.start(instance)
        else:
            instance.stopped_by_owner = True
            await self.instances.stop(instance)

    # --- development console -------------------------------------------------------------

    async def dev_start(self, viewer: Viewer, module_id: str, config: dict[str, Any]) -> None:
        """Run the caller's working copy of ``module_id`` with test values; join its room."""
        user = self._verified(viewer)
        spec = await self._db(load_dev, user, module_id, config)
        self.instances.set_limits(user.id, await self._db(load_limits, user.id))
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
                await self._enter(viewer, room, RoomRole.OWNER)  # starts it when it is not running
            if joined or running:
                await self.instances.start(instance)  # (re)start with these values and this code

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
        if loop is None or self.instances.closing:
            return
        if self.cluster.shared:  # every node (this one too) reloads the room if it has it
            changed = Envelope(NodeChanged(dashboard=dashboard_id))
            loop.call_soon_threadsafe(self.hub.publish, NODES_ROOM, changed)
            return
        loop.call_soon_threadsafe(self._spawn, self._reload(dashboard_id, changed=True))

    def quotas_changed(self, user_id: str) -> None:
        """An administrator changed ``user_id``'s quotas: apply them to what runs next
        and to the output budget now. Thread-safe and non-blocking."""
        loop = self._loop
        if loop is None or self.instances.closing:
            return
        loop.call_soon_threadsafe(self._spawn, self._refresh_limits(user_id))

    async def _refresh_limits(self, user_id: str) -> None:
        self.instances.set_limits(user_id, await self._db(load_limits, user_id))

    def sandboxes_of(self, user_id: str) -> int:
        """How many of ``user_id``'s integrations run now. Safe to call from any thread."""
        return self.instances.sandboxes_of(user_id)

    def last_values(self, dashboard_id: str) -> dict[str, str] | None:
        """``{instance: last output as JSON text}`` from memory; ``None`` if the room is
        not loaded (then the database has the values). Safe to call from any thread."""
        room = self.rooms.get(f"dashboard:{dashboard_id}")
        if room is None:
            return None
        return {i.id: i.last_data for i in list(room.instances.values()) if i.last_data is not None}

    # --- outputs: history and alerts (once per instance, on the node that runs it) -------

    def _on_output(self, instance: Instance, data: Any, text: str) -> None:
        if self.history.settings.enabled:
            self.history.record(instance, data, text)
        self.alerts.observe(instance, data)

    def _running_here(self) -> dict[str, Room]:
        """The dashboards whose instances run on this node, and their rooms."""
        return {
            r.dashboard_id: r
            for r in list(self.rooms.values())
            if r.dashboard_id is not None and r.generation is not None
        }

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
        self.instances.set_limits(spec.owner_id, spec.limits)
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
        if self.cluster.shared:
            room.generation = None  # relay only, until this node holds the lease
            await self._follow(room)
        self.rooms[name] = room  # complete, with its last values, before anyone sees it
        await self._apply(room, spec)
        if room.generation is None and any(i.keep_running for i in spec.instances):
            kept = len(await self._db(dashboards_to_resume))
            await self._lead(room, kept_running_of=kept)
        return room

    async def _apply(self, room: Room, spec: DashboardSpec) -> None:
        revision_changed = room.revision != spec.revision
        room.owner_id = spec.owner_id
        room.revision = spec.revision
        room.public, room.share_token = spec.public, spec.share_token
        await self._kick_stale_links(room)
        wanted = {s.id: s for s in spec.instances}
        removed = [i for i in room.instances.values() if i.id not in wanted]
        runs_here = room.generation is not None  # (or another node does, and tells)
        generation = room.generation or 0
        for gone in removed:
            await self.instances.stop(gone)
            del room.instances[gone.id]
            if runs_here:
                notice = LiveRemoved(room=room.name, instance=gone.id)
                self.hub.publish(room.name, Envelope(notice, generation=generation))
        if removed and room.dashboard_id and runs_here:
            await self._db(live_values.forget, room.dashboard_id, [i.id for i in removed])
            if self.cluster.shared:
                kinds = ("OUTPUT", "STATE")
                self.hub.forget(room.name, [f"{i.id}\0{kind}" for i in removed for kind in kinds])
        for instance_spec in spec.instances:
            instance = room.instances.get(instance_spec.id)
            if instance is None:
                instance = room.add_instance(instance_spec)
                if runs_here and (room.watched or instance_spec.keep_running):
                    await self.instances.start(instance)
                continue
            old, instance.spec = instance.spec, instance_spec
            if not runs_here:
                continue
            if old.digest != instance_spec.digest:
                instance.stopped_by_owner = False
                instance.failures = 0
                if room.watched or instance_spec.keep_running or instance.handle is not None:
                    await self.instances.start(instance)
            elif instance_spec.keep_running and instance.state in _NOT_RUNNING:
                if not instance.stopped_by_owner:
                    await self.instances.start(instance)
        if revision_changed and runs_here:
            message = LiveDashboard(room=room.name, revision=room.revision)
            self.hub.publish(room.name, Envelope(message, generation=generation))

    async def _kick_stale_links(self, room: Room) -> None:
        for viewer in list(room.viewers):
            membership = viewer.rooms.get(room.name)
            if membership is None or membership.share_token is None:
                continue
            if not room.public or room.share_token != membership.share_token:
                await self.leave(viewer, room.name)
                disabled = "This public link was disabled."
                viewer.send(room.name, error_message("not_found", disabled, room=room.name))

    async def _close_room(self, room: Room, why: str) -> None:
        for viewer in list(room.viewers):
            await self.leave(viewer, room.name)
            viewer.send(room.name, error_message("not_found", why, room=room.name))
        for instance in list(room.instances.values()):
            await self.instances.stop(instance)
        if room.mirror is not None:
            await room.mirror.close()
        self.rooms.pop(room.name, None)
        if self.cluster.shared:
            self.hub.forget(room.name)

    # --- a cluster of nodes (services/live_cluster.py) -----------------------------------

    async def _lead(self, room: Room, *, kept_running_of: int | None = None) -> None:
        """Run ``room``'s instances on this node if its lease can be had. A room only kept
        running (``kept_running_of``: how many dashboards keep running) is taken only
        within this node's fair share."""
        if room.dashboard_id is None or room.generation is not None:
            return
        unwatched = kept_running_of is not None and not room.watched
        if unwatched and room.dashboard_id not in self.cluster.held:
            if not await self.cluster.fair_share(kept_running_of or 0):
                return
        generation = await self.cluster.claim(room.dashboard_id)
        if generation is None:
            return
        if room.mirror is not None:
            await room.mirror.close()
            room.mirror = None
        room.generation = generation
        room.fence.admits(generation)
        log.info("this node runs %s now (lease generation %d)", room.name, generation)
        for instance in list(room.instances.values()):
            instance.cancel_restart()
            if room.watched or instance.spec.keep_running:
                await self.instances.start(instance, only_if_idle=True)

    async def _yield(self, room: Room) -> None:
        """This node lost ``room``'s lease: stop its instances here and relay instead."""
        log.warning("this node lost the lease of %s: another node runs it now", room.name)
        room.generation = None
        for instance in list(room.instances.values()):
            instance.cancel_restart()
            await self.instances.stop(instance)
        await self._follow(room)

    async def _follow(self, room: Room) -> None:
        """Keep the room's last values and states as another node publishes them."""
        if room.mirror is None:
            room.mirror = await self.hub.subscribe(room.name, room.follow)
        try:
            retained = await self.hub.retained(room.name)
        except Unavailable:
            log.warning("the hub's last values of %s cannot be read now", room.name)
            return
        for envelope in sorted(retained, key=lambda e: e.generation):
            room.follow(envelope)

    async def _drop_mirror(self, room: Room) -> None:
        if room.viewers or room.generation is not None:
            return
        if room.mirror is not None:
            await room.mirror.close()
            room.mirror = None
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]

    def _on_node_message(self, envelope: Envelope) -> None:
        message = envelope.message
        if isinstance(message, NodeChanged):
            self._spawn(self._reload(message.dashboard, changed=True))
        elif isinstance(message, NodeCommand):
            room = self.rooms.get(message.room)
            instance = room.instances.get(message.instance) if room else None
            if instance is not None and instance.room.generation is not None:
                self._spawn(self._command(instance, message.action))

    async def _lease_forever(self) -> None:
        """Renew this node's leases; rooms watched here whose node died are taken over."""
        interval = self.settings.lease_ttl_s / 3
        while True:
            try:
                await self._tend_leases()
            except Exception:
                log.exception("renewing leases failed; trying again")
            await asyncio.sleep(interval)

    async def _tend_leases(self) -> None:
        for dashboard_id in await self.cluster.renew():
            room = self.rooms.get(f"dashboard:{dashboard_id}")
            if room is not None and room.generation is not None:
                async with self._lock(room.name):
                    await self._yield(room)
        resume = await self._db(dashboards_to_resume)
        for room in list(self.rooms.values()):
            if room.generation is None and room.dashboard_id is not None:
                keep = any(i.spec.keep_running for i in room.instances.values())
                if room.watched or keep:
                    async with self._lock(room.name):
                        await self._lead(room, kept_running_of=len(resume))
        for dashboard_id in resume:
            if f"dashboard:{dashboard_id}" in self.rooms:
                continue
            if not await self.cluster.fair_share(len(resume)):
                break
            if await self.cluster.claim(dashboard_id) is not None:
                await self._reload(dashboard_id)

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
        for viewer in list(room.viewers):
            if now - viewer.last_seen > timeout:
                viewer.expire()  # stopped ticking: the connection is closed
                await self.leave(viewer, room.name)
        if room.viewers or room.idle_since is None or now - room.idle_since < timeout:
            return
        if room.generation is None:  # another node runs it: forget it here
            await self._drop_mirror(room)
            return
        for instance in list(room.instances.values()):
            if not instance.spec.keep_running and instance.state is not InstanceState.STOPPED:
                await self.instances.stop(instance)
        # (A run whose sandbox is still starting has sent no state yet: it is alive.)
        if all(i.state is InstanceState.STOPPED and not alive(i) for i in room.instances.values()):
            if self.rooms.get(room.name) is room:
                del self.rooms[room.name]
                if room.dashboard_id is not None:
                    await self.cluster.release(room.dashboard_id)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval_s)
            await self._flush()

    async def _flush(self) -> None:
        instances = self.instances
        batch, instances.dirty = instances.dirty, {}
        if not batch:
            return
        try:
            await self._db(
                live_values.save, {k: (d, _parse_iso(at)) for k, (d, at) in batch.items()}
            )
        except Exception:
            log.exception("saving %d live values failed; retrying later", len(batch))
            instances.dirty = {**batch, **instances.dirty}

    # --- helpers -------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
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
        return await self.database.call(function, *args)


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
