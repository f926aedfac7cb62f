"""The protocol messages a run emits, in order, to its ``on_message`` callable.

Every message is a small JSON-able dict (``to_json()``); ``docs/sdk.md`` documents
each one:

* ``{"type": "INIT"}``: the process runs and the SDK is loaded;
* ``{"type": "OUTPUT", "data": value}``: one ``output()`` call (a string stays a
  string, unless it is the JSON text of an object or an array, which arrives parsed);
* ``{"type": "STATUS", "status": "T_INFO"|"T_WARNING"|"T_ERROR", "data": "line"}``:
  a log line or a supervisor notice;
* ``{"type": "STATE", "state": "preparing"|"running"|"exited", ...}``: lifecycle;
  ``exited`` adds ``code``, ``reason`` and ``detail``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

from visualbox.runtime.sandbox.base import ExitInfo


class StatusLevel(enum.StrEnum):
    INFO = "T_INFO"
    WARNING = "T_WARNING"
    ERROR = "T_ERROR"


class RunState(enum.StrEnum):
    PREPARING = "preparing"
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True)
class Init:
    type: Literal["INIT"] = "INIT"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


@dataclass(frozen=True)
class Output:
    data: Any
    type: Literal["OUTPUT"] = "OUTPUT"
    text: str | None = field(default=None, compare=False, repr=False)
    """The payload as it came, when it is the JSON text of ``data`` (relayed as is);
    None when it is not (a text output: ``data`` is the string itself)."""

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


@dataclass(frozen=True)
class Status:
    status: StatusLevel
    data: str
    type: Literal["STATUS"] = "STATUS"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "status": str(self.status), "data": self.data}


@dataclass(frozen=True)
class State:
    state: RunState
    code: int | None = None
    reason: str | None = None
    detail: str = ""
    type: Literal["STATE"] = "STATE"

    @classmethod
    def exited(cls, info: ExitInfo) -> State:
        return cls(RunState.EXITED, info.code, str(info.reason), info.detail)

    def to_json(self) -> dict[str, Any]:
        message: dict[str, Any] = {"type": self.type, "state": str(self.state)}
        if self.state is RunState.EXITED:
            message.update(code=self.code, reason=self.reason, detail=self.detail)
        return message


Message = Init | Output | Status | State


def info(line: str) -> Status:
    return Status(StatusLevel.INFO, line)


def warning(line: str) -> Status:
    return Status(StatusLevel.WARNING, line)


def error(line: str) -> Status:
    return Status(StatusLevel.ERROR, line)
