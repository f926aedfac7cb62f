"""Starting, stopping and watching integration instances for the live service.

:class:`Instances` starts an :class:`~visualbox.services.live_rooms.Instance` through
the runner with a run token for exactly its source, turns every message of its run
into the room's messages (encoded once), keeps its last value (and marks it for
the next database flush), and restarts it with exponential back-off after a crash
while someone still wants it. ``services/live.py`` decides *when*; this module *how*.

It also keeps each account within its quotas (``services/quotas.py``): an instance
that would run more sandboxes at once than the owner's ``sandboxes`` quota does not
start and says why, and every run of one account shares one :class:`OutputBudget`
of ``output_bytes_per_s``, taken before an output is even read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from visualbox.errors import VisualBoxError
from visualbox.hub import Envelope, Hub
from visualbox.runtime.channel import OutputBudget
from visualbox.runtime.messages import Init, Message, Output, RunState, State, Status
from visualbox.runtime.runners import Runner, SourceUnavailable
from visualbox.schemas.live import (
    EndReason,
    InstanceState,
    LiveInit,
    LiveOutput,
    ServerMessage,
    StatusLevel,
)
from visualbox.services import quotas, run_tokens
from visualbox.services.live_rooms import Instance, now_iso
from visualbox.services.quotas import Limits
from visualbox.services.secrets import SecretBox
from visualbox.settings import LiveSettings

log = logging.getLogger(__name__)

HEALTHY_AFTER_S = 60.0
"""A run that lasted this long resets the crash back-off."""
NOT_RESTARTED = frozenset({EndReason.EXITED, EndReason.CONFIG})
"""Ends that are no crash: finished its work (exit 0), or cannot work with this config (78)."""


class Instances:
    def __init__(
        self,
        settings: LiveSettings,
        box: SecretBox,
        runner: Runner,
        hub: Hub,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.settings = settings
        self.box = box
        self.runner = runner
        self.hub = hub
        self.dirty: dict[tuple[str, str], tuple[str, str]] = {}
        """Last values not yet written: ``{(dashboard, instance): (data JSON, at)}``."""
        self.closing = False
        self.on_output: Callable[[Instance, Any, str], None] | None = None
        """Told of every output of an instance, with its JSON text (the history
        recorder): must not block."""
        self._spawn = spawn
        self.limits: dict[str, Limits] = {}
        """Each account's quotas, as last read from the database (by owner id)."""
        self._budgets: dict[str, OutputBudget] = {}
        self._owners: dict[Instance, str] = {}
        """Instances with a run handle, and the account whose sandbox quota it uses."""
        self.retain = False
        """Keep each instance's last output and state in the hub (a cluster: a viewer
        on another node gets them when it joins)."""

    def publish(
        self,
        instance: Instance,
        message: ServerMessage,
        *,
        owner_only: bool = False,
        viewers_only: bool = False,
    ) -> None:
        """Tell the instance's room, stamped with the room's lease generation."""
        room = instance.room
        envelope = Envelope(
            message,
            owner_only=owner_only,
            viewers_only=viewers_only,
            generation=room.generation or 0,
        )
        self.hub.publish(room.name, envelope, retain=self.retain and envelope.key is not None)

    # --- quotas --------------------------------------------------------------------------

    def set_limits(self, owner_id: str, limits: Limits) -> None:
        """Apply ``owner_id``'s quotas (read when a room is loaded or they change)."""
        self.limits[owner_id] = limits
        budget = self._budgets.get(owner_id)
        if budget is not None:
            budget.change(*_budget_terms(limits.output_bytes_per_s))

    def sandboxes_of(self, owner_id: str) -> int:
        """How many of ``owner_id``'s instances have a sandbox now (any thread)."""
        return sum(
            1
            for instance, owner in list(self._owners.items())
            if owner == owner_id and alive(instance)
        )

    def _budget(self, owner_id: str) -> OutputBudget | None:
        rate = self.limits.get(owner_id, Limits.unlimited()).output_bytes_per_s
        if rate is None:
            return None
        budget = self._budgets.get(owner_id)
        if budget is None:
            budget = self._budgets[owner_id] = OutputBudget(*_budget_terms(rate))
        return budget

    def _over_sandbox_quota(self, instance: Instance) -> bool:
        """Starting ``instance`` (which has no sandbox now) would run more sandboxes than
        its owner may: say so."""
        owner = instance.room.owner_id
        limit = self.limits.get(owner, Limits.unlimited()).sandboxes
        if limit is None:
            return False
        used = self.sandboxes_of(owner)
        if used < limit:
            return False
        text = quotas.message("sandboxes", used, limit) + (
            " This one did not start: stop another one or ask an administrator for a "
            "higher quota, then restart it."
        )
        notice = instance.status(StatusLevel.WARNING, text)
        self.publish(instance, notice, owner_only=True)
        self.set_state(instance, InstanceState.EXITED, reason=EndReason.QUOTA, detail=text)
        return True

    def _forget_handle(self, instance: Instance) -> None:
        instance.handle = instance.handle_hash = None
        self._owners.pop(instance, None)

    # --- runs ----------------------------------------------------------------------------

    async def start(self, instance: Instance, *, only_if_idle: bool = False) -> None:
        """(Re)start ``instance`` with its current spec.

        With ``only_if_idle``, only when it is not running and not meant to be stopped:
        never started, stopped while nobody watched, or crashed with no restart pending.
        """
        async with instance.lock:
            if only_if_idle and not idle(instance):
                return
            await self._start_locked(instance)

    async def _start_locked(self, instance: Instance) -> None:
        if self.closing:
            return
        instance.cancel_restart()
        spec = instance.spec
        if spec.ref is None:
            handle = instance.handle
            if handle is not None:  # e.g. its module was withdrawn while it ran
                self._forget_handle(instance)
                await handle.terminate()
            self.set_state(
                instance, InstanceState.EXITED, reason=EndReason.UNAVAILABLE, detail=spec.problem
            )
            return
        handle = instance.handle
        if not alive(instance) and self._over_sandbox_quota(instance):
            return
        if handle is not None and instance.handle_hash == spec.ref.content_hash:
            await handle.restart(spec.config)
            return
        if handle is not None:
            await handle.terminate()
            self._forget_handle(instance)
        token = run_tokens.issue(self.box, [spec.ref])
        owner = instance.room.owner_id
        try:
            instance.handle = await self.runner.start(
                instance.run_id,
                spec.ref,
                token,
                spec.config,
                lambda message: self._on_message(instance, message),
                output_budget=self._budget(owner),
                generation=instance.room.generation,
            )
        except (SourceUnavailable, VisualBoxError, ValueError, OSError) as exc:
            log.warning("could not start %s: %s", instance.run_id, exc)
            self.set_state(
                instance, InstanceState.EXITED, reason=EndReason.UNAVAILABLE, detail=str(exc)
            )
            return
        instance.handle_hash = spec.ref.content_hash
        self._owners[instance] = owner

    async def stop(self, instance: Instance) -> None:
        async with instance.lock:
            instance.cancel_restart()
            handle = instance.handle
            self._forget_handle(instance)
            if handle is not None:
                await handle.terminate()
            self.set_state(instance, InstanceState.STOPPED)

    def set_state(
        self,
        instance: Instance,
        state: InstanceState,
        *,
        code: int | None = None,
        reason: EndReason | None = None,
        detail: str = "",
    ) -> None:
        """Record the instance's state and tell its room."""
        instance.state, instance.code = state, code
        instance.reason, instance.detail = reason, detail
        if not detail:
            self.publish(instance, instance.state_message())
            return
        # Public and other viewers get the state without its detail; the owner with it.
        self.publish(instance, instance.state_message(owner=False), viewers_only=True)
        self.publish(instance, instance.state_message(), owner_only=True)

    def _on_message(self, instance: Instance, message: Message) -> None:
        """Every message of every run comes through here, on the event loop: keep it lean."""
        room = instance.room.name
        if isinstance(message, Output):
            at = now_iso()
            output = LiveOutput.relay(room, instance.id, at, message.data, message.text)
            data = output.data_text
            instance.last_data, instance.last_at = data, at
            if instance.room.dashboard_id is not None:
                self.dirty[(instance.room.dashboard_id, instance.id)] = (data, at)
            self.publish(instance, output)
            if self.on_output is not None:
                self.on_output(instance, message.data, data)
        elif isinstance(message, Status):
            notice = instance.status(message.status, message.data)
            self.publish(instance, notice, owner_only=True)
        elif isinstance(message, Init):
            self.publish(instance, LiveInit(room=room, instance=instance.id))
        elif isinstance(message, State):
            self._on_state(instance, message)

    def _on_state(self, instance: Instance, message: State) -> None:
        if message.state is RunState.RUNNING:
            instance.running_since = time.monotonic()
        state = InstanceState(message.state)
        reason = EndReason(message.reason) if message.reason else None
        delay = self._restart_delay(instance, state, reason)
        if delay is not None:
            # Scheduled before the STATE goes out, so that it says when and which attempt.
            instance.cancel_restart()
            instance.failures += 1
            instance.restart_due = time.monotonic() + delay
            instance.restart_timer = asyncio.get_running_loop().call_later(
                delay, lambda: self._spawn(self._restart_after_crash(instance))
            )
        self.set_state(instance, state, code=message.code, reason=reason, detail=message.detail)
        if delay is not None:
            text = f"restarting in {delay:g} s"
            notice = instance.status(StatusLevel.WARNING, text)
            self.publish(instance, notice, owner_only=True)

    def _restart_delay(
        self, instance: Instance, state: InstanceState, reason: EndReason | None
    ) -> float | None:
        """The back-off before restarting an instance that just ended this way; ``None``
        when it is not restarted (it finished, was stopped, or nobody wants it)."""
        if state is not InstanceState.EXITED or reason is EndReason.TERMINATED:
            return None
        if reason in NOT_RESTARTED:
            return None
        since = instance.running_since
        if since is not None and time.monotonic() - since >= HEALTHY_AFTER_S:
            instance.failures = 0
        wanted = instance.room.watched or instance.spec.keep_running
        if not wanted or instance.stopped_by_owner or self.closing:
            return None
        return float(min(self.settings.restart_backoff_max_s, 2.0**instance.failures))

    async def _restart_after_crash(self, instance: Instance) -> None:
        instance.restart_timer = instance.restart_due = None
        room = instance.room
        if room.instances.get(instance.id) is instance and not instance.stopped_by_owner:
            if room.watched or instance.spec.keep_running:
                await self.start(instance)


def alive(instance: Instance) -> bool:
    """Has a sandbox (preparing or running), so it counts against the sandbox quota."""
    handle = instance.handle
    return handle is not None and handle.state is not RunState.EXITED


def _budget_terms(rate: int | None) -> tuple[float, int, str]:
    """Rate, burst and console notice of an output budget of ``rate`` bytes per second."""
    per_s = rate or 0
    notice = (
        f"visualbox: the outputs of your integrations exceed your quota of "
        f"{quotas.amount('output_bytes_per_s', per_s)} per second; they are slowed down "
        "to it (ask an administrator for a higher quota)"
    )
    return float(per_s), per_s, notice


def idle(instance: Instance) -> bool:
    """Not running and not meant to be stopped: never started, stopped while nobody
    watched, or crashed with no restart pending."""
    if instance.stopped_by_owner or instance.restart_timer is not None:
        return False
    if instance.handle is None:
        return True
    return instance.state is InstanceState.EXITED and instance.reason not in NOT_RESTARTED
