"""The state behind live dashboards: viewers, rooms, instances, and their messages.

* a :class:`Viewer` is one WebSocket connection (its outbox and rooms);
* a :class:`Room` is a dashboard (``dashboard:<id>``) or a development run
  (``dev:<module id>``): its viewers and its :class:`Instance` objects;
* an :class:`Instance` is one integration instance: what to run (a
  :class:`~visualbox.runtime.runners.SourceRef` and config values), its run
  handle, its state and its last value.

Reading what to run from the database is here too (:func:`load_dashboard`,
:func:`load_dev`); :mod:`visualbox.services.live` does the rest. Every message is
a declared model of ``schemas/live.py``, encoded once (``docs/live.md``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.errors import NotFound, VisualBoxError
from visualbox.hub import Envelope, Subscription
from visualbox.hub.outbox import Outbox
from visualbox.runtime.runners import RunHandle, SourceRef
from visualbox.schemas.live import (
    EndReason,
    InstanceState,
    LiveError,
    LiveFieldError,
    LiveInstance,
    LiveJoined,
    LiveOutput,
    LiveState,
    LiveStatus,
    RoomRole,
    ServerMessage,
    StatusLevel,
)
from visualbox.services import dashboard_secrets, policy, quotas, registry, sharing
from visualbox.services.live_cluster import Fence
from visualbox.services.quotas import Limits
from visualbox.services.secrets import SecretBox


def dumps(value: Any) -> str:
    """Compact JSON (config digests, stored values)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def error_message(
    code: str,
    message: str,
    fields: list[dict[str, str]] | None = None,
    request: Any = None,
    room: str | None = None,
) -> LiveError:
    """An ``ERROR`` for one client; ``request`` (the client's message) names its type."""
    kind = request.get("type") if isinstance(request, dict) else None
    return LiveError(
        code=code,
        message=message,
        fields=[LiveFieldError(field=f["field"], reason=f["reason"]) for f in fields or ()],
        request=kind[:32] if isinstance(kind, str) else None,
        room=room,
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


# --- what to run ---------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceSpec:
    id: str
    label: str
    ref: SourceRef | None
    """``None`` when the module cannot be resolved (``problem`` says why)."""
    config: dict[str, Any]
    keep_running: bool = False
    problem: str = ""

    @property
    def digest(self) -> str:
        """Changes whenever what would run changes (module content or config values)."""
        ref = self.ref.content_hash if self.ref else "-"
        return hashlib.sha256((ref + dumps(self.config)).encode()).hexdigest()


@dataclass(frozen=True)
class DashboardSpec:
    dashboard_id: str
    owner_id: str
    revision: int
    public: bool
    share_token: str | None
    instances: list[InstanceSpec]
    limits: Limits
    """The owner's quotas (running sandboxes, output bytes per second)."""


def load_dashboard(db: Session, box: SecretBox, dashboard_id: str) -> DashboardSpec:
    """What a dashboard runs, configs decrypted (server-internal). :class:`NotFound`."""
    dashboard = db.get(Dashboard, dashboard_id) if "\x00" not in dashboard_id else None
    if dashboard is None:
        raise NotFound("No such dashboard.")
    owner = db.get(User, dashboard.owner_id)
    assert owner is not None  # dashboards.owner_id cascades
    configs = dashboard_secrets.instance_configs(box, dashboard)
    specs = []
    for item in dashboard.document["integrations"]:
        config = configs[item["id"]]
        try:
            resolved = registry.resolve(db, item["module_id"], item["version"], user=owner)
        except VisualBoxError as exc:
            specs.append(InstanceSpec(item["id"], item["label"], None, config, problem=str(exc)))
            continue
        if resolved.kind != "integration" or resolved.runtime is None:
            specs.append(
                InstanceSpec(item["id"], item["label"], None, config, problem="not runnable")
            )
            continue
        ref = SourceRef(
            resolved.module_id,
            resolved.version or registry.WORKING,
            resolved.content_hash,
            resolved.runtime,
        )
        keep = bool(item.get("keep_running", False))
        specs.append(InstanceSpec(item["id"], item["label"], ref, config, keep))
    return DashboardSpec(
        dashboard.id,
        dashboard.owner_id,
        dashboard.revision,
        dashboard.public,
        dashboard.share_token,
        specs,
        quotas.limits(db, owner),
    )


def load_limits(db: Session, user_id: str) -> Limits:
    """The quotas of account ``user_id`` (unlimited if it no longer exists)."""
    user = db.get(User, user_id)
    return quotas.limits(db, user) if user is not None else Limits.unlimited()


def load_shared(db: Session, token: str) -> str:
    """The id of the public dashboard behind a share token; :class:`NotFound` otherwise."""
    return sharing.shared_dashboard(db, token).id


def load_dev(db: Session, user: User, module_id: str, config: dict[str, Any]) -> InstanceSpec:
    """The owner's working copy of an integration, with validated test ``config`` values
    (its owner's, or a team editor's)."""
    policy.require_module(db, user, module_id, "edit")
    resolved = registry.resolve(db, module_id, registry.WORKING, user=user)
    if resolved.kind != "integration" or resolved.runtime is None:
        raise NotFound("Only integrations run in the console.", [])
    values = resolved.schema.validate_values(config)
    ref = SourceRef(resolved.module_id, registry.WORKING, resolved.content_hash, resolved.runtime)
    return InstanceSpec(DEV_INSTANCE, resolved.name, ref, values)


DEV_INSTANCE = "dev"


def dashboards_to_resume(db: Session) -> list[str]:
    """Dashboards with an instance set to keep running (started with the server)."""
    rows = db.execute(select(Dashboard.id, Dashboard.document))
    return [
        dashboard_id
        for dashboard_id, document in rows
        if any(i.get("keep_running") for i in document.get("integrations", []))
    ]


# --- viewers -------------------------------------------------------------------------


@dataclass
class Membership:
    role: RoomRole
    subscription: Subscription
    share_token: str | None = None
    """The link a public viewer came through (re-checked whenever the dashboard changes)."""


class Viewer:
    """One connection: its outbox, its rooms, and when it was last heard from."""

    def __init__(self, user: User | None, outbox: Outbox, on_expire: Callable[[], None]) -> None:
        self.user = user
        self.outbox = outbox
        self.rooms: dict[str, Membership] = {}
        self.last_seen = time.monotonic()
        self._on_expire = on_expire

    def deliver_for(
        self, room: str, role: RoomRole, fence: Fence | None = None
    ) -> Callable[[Envelope], None]:
        put = self.outbox.put
        owner = role is RoomRole.OWNER
        admits = fence.admits if fence is not None else None

        def deliver(envelope: Envelope) -> None:
            hidden = envelope.viewers_only if owner else envelope.owner_only
            if hidden or (admits is not None and not admits(envelope.generation)):
                return
            put(room, envelope)

        return deliver

    def send(self, room: str, message: ServerMessage) -> None:
        """A message for this viewer only (JOINED, ERROR)."""
        self.outbox.put(room, Envelope(message))

    def expire(self) -> None:
        self._on_expire()


# --- rooms and instances ---------------------------------------------------------------


@dataclass(eq=False)
class Instance:
    room: Room
    spec: InstanceSpec
    handle: RunHandle | None = None
    state: InstanceState = InstanceState.STOPPED
    code: int | None = None
    reason: EndReason | None = None
    detail: str = ""
    last_data: str | None = None
    """The last output as JSON text."""
    last_at: str | None = None
    logs: deque[LiveStatus] = field(default_factory=deque)
    handle_hash: str | None = None
    """Content hash of the source ``handle`` runs."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stopped_by_owner: bool = False
    failures: int = 0
    running_since: float | None = None
    restart_timer: Any = None
    restart_due: float | None = None
    """When the pending restart after a crash starts (``time.monotonic()``)."""

    @property
    def id(self) -> str:
        return self.spec.id

    def cancel_restart(self) -> None:
        """Drop a pending restart after a crash (if any)."""
        self.restart_due = None
        if self.restart_timer is not None:
            self.restart_timer.cancel()
            self.restart_timer = None

    def restart_in_s(self) -> float | None:
        """Seconds until the pending restart after a crash; ``None`` when none is."""
        if self.restart_due is None:
            return None
        return round(max(0.0, self.restart_due - time.monotonic()), 1)

    @property
    def run_id(self) -> str:
        return f"{self.room.name}/{self.spec.id}"

    def summary(self, *, owner: bool) -> LiveInstance:
        return LiveInstance(
            label=self.spec.label,
            state=self.state,
            code=self.code,
            reason=self.reason,
            detail=self.detail if owner else "",
            data=json.loads(self.last_data) if self.last_data is not None else None,
            at=self.last_at if self.last_data is not None else None,
            problem=self.spec.problem if owner and not self.spec.ref else "",
            restart_in_s=self.restart_in_s(),
            attempt=self.failures,
        )

    def status(self, level: StatusLevel, line: str) -> LiveStatus:
        """A log line of this instance, kept for owners who join later."""
        message = LiveStatus(room=self.room.name, instance=self.spec.id, status=level, data=line)
        self.logs.append(message)
        return message

    def state_message(self, *, owner: bool = True) -> LiveState:
        """The STATE message; only the owner's carries the detail (error text from the
        sandbox or the server: host paths, tool messages)."""
        return LiveState(
            room=self.room.name,
            instance=self.spec.id,
            state=self.state,
            code=self.code,
            reason=self.reason,
            detail=self.detail if owner else "",
            restart_in_s=self.restart_in_s(),
            attempt=self.failures,
        )


@dataclass(eq=False)
class Room:
    name: str
    owner_id: str
    dashboard_id: str | None = None
    """``None`` for a development room."""
    revision: int = 0
    public: bool = False
    share_token: str | None = None
    log_lines: int = 200
    viewers: set[Viewer] = field(default_factory=set)
    instances: dict[str, Instance] = field(default_factory=dict)
    idle_since: float | None = field(default_factory=time.monotonic)
    generation: int | None = 0
    """This node runs the room's instances under this lease generation (0: no lease
    needed, one process); ``None``: another node runs them and this one relays
    (``services/live_cluster.py``)."""
    fence: Fence = field(default_factory=Fence)
    mirror: Subscription | None = None
    """While another node runs the room: this node's subscription that keeps the
    instances' last values, states and logs for viewers who join here."""

    @property
    def watched(self) -> bool:
        return bool(self.viewers)

    def add_instance(self, spec: InstanceSpec) -> Instance:
        instance = Instance(self, spec, logs=deque(maxlen=self.log_lines))
        self.instances[spec.id] = instance
        return instance

    def follow(self, envelope: Envelope) -> None:
        """Keep what the instances running on another node say (while this node relays)."""
        if self.generation is not None or not self.fence.admits(envelope.generation):
            return
        message = envelope.message
        instance = self.instances.get(getattr(message, "instance", ""))
        if instance is None:
            return
        if isinstance(message, LiveOutput):
            instance.last_data, instance.last_at = message.data_text, message.at
        elif isinstance(message, LiveState) and not envelope.viewers_only:
            instance.state, instance.code = message.state, message.code
            instance.reason, instance.detail = message.reason, message.detail
            instance.failures = message.attempt
            instance.restart_due = (
                None if message.restart_in_s is None else time.monotonic() + message.restart_in_s
            )
        elif isinstance(message, LiveStatus):
            instance.logs.append(message)

    def joined_message(self, role: RoomRole) -> LiveJoined:
        owner = role is RoomRole.OWNER
        return LiveJoined(
            room=self.name,
            role=role,
            revision=self.revision,
            instances={i.id: i.summary(owner=owner) for i in self.instances.values()},
            logs=[line for i in self.instances.values() for line in i.logs] if owner else [],
        )
