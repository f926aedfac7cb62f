"""Messages WebSocket clients send to ``/api/live`` (docs/live.md).

One pydantic model per message type, told apart by ``type``; a bad message is
answered with an ``ERROR`` naming the field and the reason.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

_ID = Field(min_length=1, max_length=64)
_ROOM = Field(min_length=1, max_length=100, pattern=r"^(dashboard|dev):[A-Za-z0-9_-]+$")
_INSTANCE = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Join(_Message):
    type: Literal["JOIN"]
    dashboard: str | None = Field(None, min_length=1, max_length=64)
    share: str | None = Field(None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_target(self) -> Join:
        if (self.dashboard is None) == (self.share is None):
            raise ValueError("give exactly one of dashboard (an id) or share (a link token)")
        return self


class Leave(_Message):
    type: Literal["LEAVE"]
    room: str = _ROOM


class Tick(_Message):
    type: Literal["TICK"]


class Restart(_Message):
    type: Literal["RESTART"]
    room: str = _ROOM
    instance: str = _INSTANCE


class Terminate(_Message):
    type: Literal["TERMINATE"]
    room: str = _ROOM
    instance: str = _INSTANCE


class DevStart(_Message):
    type: Literal["DEV_START"]
    module: str = _ID
    config: dict[str, Any] = Field(default_factory=dict)


class DevRestart(_Message):
    type: Literal["DEV_RESTART"]
    module: str = _ID
    config: dict[str, Any] | None = None


class DevStop(_Message):
    type: Literal["DEV_STOP"]
    module: str = _ID


ClientMessage = Annotated[
    Join | Leave | Tick | Restart | Terminate | DevStart | DevRestart | DevStop,
    Field(discriminator="type"),
]
client_message: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
