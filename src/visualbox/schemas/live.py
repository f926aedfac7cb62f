"""The live protocol of ``/api/live``: every message, both ways (docs/live.md).

* **Client → server**: one model per message type, told apart by ``type``
  (:data:`ClientMessage`); a bad message is answered with an ``ERROR`` naming the
  field and the reason.
* **Server → client**: one model per message type (:data:`ServerMessage`), with the
  run states and end reasons as enums. The OpenAPI document declares both unions
  (``LiveClientMessage``, ``LiveServerMessage``), so the web app's TypeScript types
  are generated from these models; ``tests/test_docs.py`` checks docs/live.md
  against them.

A server message is encoded once (:meth:`ServerMessage.encode`) and the text is
what the hub carries to every subscriber. An ``OUTPUT`` built by
:meth:`LiveOutput.relay` splices the integration's JSON text in as it came: the
value is never encoded again between ``output()`` and the widget.
"""

from __future__ import annotations

import enum
import functools
import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    TypeAdapter,
    model_validator,
)

from visualbox.runtime.messages import StatusLevel as StatusLevel

_ID = Field(min_length=1, max_length=64)
_ROOM = Field(min_length=1, max_length=100, pattern=r"^(dashboard|dev):[A-Za-z0-9_-]+$")
_INSTANCE = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LiveJoin(_Message):
    type: Literal["JOIN"]
    dashboard: str | None = Field(None, min_length=1, max_length=64)
    share: str | None = Field(None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_target(self) -> LiveJoin:
        if (self.dashboard is None) == (self.share is None):
            raise ValueError("give exactly one of dashboard (an id) or share (a link token)")
        return self


class LiveLeave(_Message):
    type: Literal["LEAVE"]
    room: str = _ROOM


class LiveTick(_Message):
    type: Literal["TICK"]


class LiveRestart(_Message):
    type: Literal["RESTART"]
    room: str = _ROOM
    instance: str = _INSTANCE


class LiveTerminate(_Message):
    type: Literal["TERMINATE"]
    room: str = _ROOM
    instance: str = _INSTANCE


class LiveDevStart(_Message):
    type: Literal["DEV_START"]
    module: str = _ID
    config: dict[str, Any] = Field(default_factory=dict)


class LiveDevRestart(_Message):
    type: Literal["DEV_RESTART"]
    module: str = _ID
    config: dict[str, Any] | None = None


class LiveDevStop(_Message):
    type: Literal["DEV_STOP"]
    module: str = _ID


ClientMessage = Annotated[
    LiveJoin
    | LiveLeave
    | LiveTick
    | LiveRestart
    | LiveTerminate
    | LiveDevStart
    | LiveDevRestart
    | LiveDevStop,
    Field(discriminator="type"),
]
client_message: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# --- server → client -------------------------------------------------------------------


class InstanceState(enum.StrEnum):
    """Where an instance is in its life (``STATE.state``)."""

    PREPARING = "preparing"
    """Installing its dependencies."""
    RUNNING = "running"
    EXITED = "exited"
    """Ended; ``reason`` says why."""
    STOPPED = "stopped"
    """Not running: never started, stopped by the owner, or stopped while nobody watched."""


class EndReason(enum.StrEnum):
    """Why an instance exited (``STATE.reason``)."""

    EXITED = "exited"
    """Exit status 0: it finished its work (not restarted)."""
    CRASHED = "crashed"
    OOM = "oom"
    CPU_LIMIT = "cpu_limit"
    TIME_LIMIT = "time_limit"
    TERMINATED = "terminated"
    CONFIG = "config"
    """Exit status 78: it cannot work with its config (not restarted)."""
    UNAVAILABLE = "unavailable"
    """Its module cannot be fetched or resolved."""
    QUOTA = "quota"
    """Its owner already runs as many integrations as the sandboxes quota allows."""


class RoomRole(enum.StrEnum):
    OWNER = "owner"
    """Sees logs and state details; may restart and stop instances."""
    VIEWER = "viewer"
    """Came through the public link: outputs and states only."""


class _ServerMessage(BaseModel):
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    coalesces: ClassVar[bool] = False
    """A newer message of the same kind (and instance) replaces a pending one in a slow
    viewer's queue (docs/live.md, "A slow viewer only slows itself")."""

    @property
    def key(self) -> str | None:
        """The coalescing key: messages with the same key supersede each other."""
        if not self.coalesces:
            return None
        instance = getattr(self, "instance", "")
        return f"{instance}\0{getattr(self, 'type', '')}"

    def encode(self) -> str:
        """The JSON text sent to clients (compact)."""
        return self.model_dump_json()


class LiveInstance(BaseModel):
    """One instance in a ``JOINED`` snapshot: its state and last output."""

    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    label: str
    state: InstanceState
    code: int | None = None
    reason: EndReason | None = None
    detail: str = ""
    """The words behind the reason; empty for anyone but the owner."""
    data: JsonValue = None
    """The last output (``null`` with ``at`` ``null``: no output yet)."""
    at: str | None = None
    """When the last output came (ISO 8601, UTC, milliseconds)."""
    problem: str = ""
    """Why the instance cannot run (its module cannot be resolved); owners only."""
    restart_in_s: float | None = None
    """Seconds until it restarts after a crash; ``null`` when no restart is pending."""
    attempt: int = 0
    """Restarts after crashes in a row, the pending one included (0: none yet; a crash
    after a run that lasted a minute, or a restart by the owner, counts from 1 again)."""


class LiveStatus(_ServerMessage):
    """A log line (stdout ``T_INFO``, stderr ``T_ERROR``) or a notice; owners only."""

    type: Literal["STATUS"] = "STATUS"
    room: str
    instance: str
    status: StatusLevel
    data: str


class LiveJoined(_ServerMessage):
    """The answer to a ``JOIN``: the whole current state of the room."""

    type: Literal["JOINED"] = "JOINED"
    room: str
    role: RoomRole
    revision: int
    instances: dict[str, LiveInstance]
    logs: list[LiveStatus] = []
    """The recent log lines (owners only; empty for viewers)."""


class LiveInit(_ServerMessage):
    """The process runs and its SDK is loaded."""

    type: Literal["INIT"] = "INIT"
    room: str
    instance: str


class LiveOutput(_ServerMessage):
    """One ``output()``: ``data`` replaces the instance's whole data model."""

    coalesces: ClassVar[bool] = True
    type: Literal["OUTPUT"] = "OUTPUT"
    room: str
    instance: str
    at: str
    """When it came (ISO 8601, UTC, milliseconds)."""
    data: JsonValue
    _text: str | None = PrivateAttr(None)

    @classmethod
    def relay(cls, room: str, instance: str, at: str, data: Any, text: str | None) -> LiveOutput:
        """The OUTPUT of ``data`` (already validated), relayed as ``text`` when that is
        its JSON text as it came from the integration."""
        message = cls.model_construct(room=room, instance=instance, at=at, data=data)
        message._text = text if text is not None else _JSON.dump_json(data).decode()
        return message

    @property
    def data_text(self) -> str:
        """``data`` as JSON text."""
        return self._text if self._text is not None else _JSON.dump_json(self.data).decode()

    def encode(self) -> str:
        # The same JSON as model_dump_json(), without encoding the data again.
        head = _output_head(self.room, self.instance)
        return f'{head},"at":{_dumps(self.at)},"data":{self.data_text}}}'


class LiveState(_ServerMessage):
    """The instance's state changed; ``detail`` is empty for anyone but the owner."""

    coalesces: ClassVar[bool] = True
    type: Literal["STATE"] = "STATE"
    room: str
    instance: str
    state: InstanceState
    code: int | None = None
    reason: EndReason | None = None
    detail: str = ""
    restart_in_s: float | None = None
    """Seconds until it restarts after a crash; ``null`` when no restart is pending."""
    attempt: int = 0
    """Restarts after crashes in a row, the pending one included (0: none yet; a crash
    after a run that lasted a minute, or a restart by the owner, counts from 1 again)."""


class LiveDashboard(_ServerMessage):
    """The dashboard was saved: reload it if your revision is older."""

    type: Literal["DASHBOARD"] = "DASHBOARD"
    room: str
    revision: int

    @property
    def key(self) -> str:
        return "DASHBOARD"


class LiveRemoved(_ServerMessage):
    """The instance was removed from the dashboard."""

    type: Literal["REMOVED"] = "REMOVED"
    room: str
    instance: str


class LiveDropped(_ServerMessage):
    """This many log lines were skipped because the viewer fell behind."""

    type: Literal["DROPPED"] = "DROPPED"
    room: str
    count: int


class LiveAlert(_ServerMessage):
    """An alert rule of the dashboard changed state (docs/alerts.md): widgets bound to its
    ``source`` show a badge while it is ``firing``."""

    type: Literal["ALERT"] = "ALERT"
    room: str
    rule: str
    name: str
    source: str
    """``/<instance>/<JSON Pointer>``, as a widget's source."""
    state: Literal["ok", "pending", "firing"]

    @property
    def key(self) -> str:
        return f"{self.rule}\0ALERT"


class LiveTickReply(_ServerMessage):
    """The answer to a ``TICK``."""

    type: Literal["TICK"] = "TICK"


class LiveFieldError(BaseModel):
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    field: str
    reason: str


class LiveError(_ServerMessage):
    """A request failed (``request`` names its type), or, with a ``room``, the room was
    closed to this viewer (a disabled public link, a deleted dashboard)."""

    type: Literal["ERROR"] = "ERROR"
    code: str
    """As in the REST API: ``invalid``, ``not_found``, ``forbidden``, ``rate_limited``,
    ``internal``."""
    message: str
    fields: list[LiveFieldError] = []
    request: str | None = None
    room: str | None = None


ServerMessage = Annotated[
    LiveJoined
    | LiveInit
    | LiveOutput
    | LiveStatus
    | LiveState
    | LiveDashboard
    | LiveRemoved
    | LiveDropped
    | LiveAlert
    | LiveTickReply
    | LiveError,
    Field(discriminator="type"),
]
server_message: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


# --- between server nodes (a cluster on a shared hub; never sent to a browser) -----------

NodeAction = Literal["restart", "terminate"]


class NodeChanged(_ServerMessage):
    """A dashboard was saved, shared or deleted: every node reloads its room if it has it."""

    type: Literal["NODE_CHANGED"] = "NODE_CHANGED"
    dashboard: str


class NodeCommand(_ServerMessage):
    """An owner's RESTART or TERMINATE, for the node that runs the instance (the owner
    may be connected to another node; that node checked the owner's right)."""

    type: Literal["NODE_COMMAND"] = "NODE_COMMAND"
    room: str
    instance: str
    action: NodeAction


NodeMessage = Annotated[NodeChanged | NodeCommand, Field(discriminator="type")]
HubMessage = Annotated[
    LiveJoined
    | LiveInit
    | LiveOutput
    | LiveStatus
    | LiveState
    | LiveDashboard
    | LiveRemoved
    | LiveDropped
    | LiveAlert
    | LiveTickReply
    | LiveError
    | NodeChanged
    | NodeCommand,
    Field(discriminator="type"),
]
"""Everything a hub carries: the server messages, and the messages between nodes."""
hub_message: TypeAdapter[HubMessage] = TypeAdapter(HubMessage)
_JSON: TypeAdapter[Any] = TypeAdapter(Any)


@functools.lru_cache(maxsize=4096)
def _output_head(room: str, instance: str) -> str:
    """``{"type":"OUTPUT","room":…,"instance":…`` (open): the same for every output of
    an instance."""
    return _dumps({"type": "OUTPUT", "room": room, "instance": instance})[:-1]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
