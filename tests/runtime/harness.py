"""Shared helpers of the runtime tests: the sandbox under test, modules, message collection.

The tests run the real bubblewrap sandbox. ``VISUALBOX_TEST_SANDBOX=none`` runs
them unsandboxed instead (development only; the OOM test is then skipped).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from visualbox.runtime.layout import ModuleSource
from visualbox.runtime.messages import Message, Output, RunState, State, Status, StatusLevel
from visualbox.runtime.sandbox.base import Sandbox
from visualbox.settings import SandboxSettings

PROGRAMS = Path(__file__).parent / "programs"
ENTRY = {"python": "main.py", "node": "index.js", "go": "main.go"}
RUNTIMES = ("python", "node", "go")
SANDBOX = os.environ.get("VISUALBOX_TEST_SANDBOX", "bwrap")
HOST_ALIAS = "127.0.0.1" if SANDBOX == "none" else "10.0.2.2"
"""How sandboxed code reaches a host loopback port listed in ``allow_host_ports``."""

RUNSC_MISSING = (
    None
    if shutil.which("runsc") and os.geteuid() == 0
    else "runsc (gVisor) is not installed, or we are not root: its cases cannot run here"
)
"""Why the gVisor cases cannot run on this machine, or None when they can."""

T = TypeVar("T")


def runsc_missing(item: Any, param: str) -> str | None:
    """For a test module's ``deselect_reason`` (read by ``tests/conftest.py``): why
    ``item`` cannot run here when its parameter ``param`` is ``runsc``."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get(param) == "runsc":
        return RUNSC_MISSING
    return None


def make_sandbox(name: str = SANDBOX) -> Sandbox:
    """The sandbox ``name`` names: ``bwrap``, ``none``, ``runsc``, or ``bwrap-launcher``
    (bubblewrap running integrations through the launcher, as ``runsc`` does)."""
    if name == "none":
        from visualbox.runtime.sandbox.none import NoneSandbox

        return NoneSandbox()
    if name == "runsc":
        from visualbox.runtime.sandbox.runsc import RunscSandbox

        runsc = RunscSandbox()
        runsc.check()
        return runsc
    from visualbox.runtime.sandbox.bwrap import BwrapSandbox

    sandbox = BwrapSandbox()
    sandbox.check()
    if name == "bwrap-launcher":
        sandbox.passes_fds = False
    return sandbox


def settings(**changes: Any) -> SandboxSettings:
    values: dict[str, Any] = {"network": "none"}
    values.update(changes)
    return SandboxSettings(**values)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 120))


def program(runtime: str, dest: Path, extra: dict[str, str] | None = None) -> ModuleSource:
    """The test program of ``runtime`` (see ``programs/``) as a module in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROGRAMS / ENTRY[runtime], dest / ENTRY[runtime])
    for name, text in (extra or {}).items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
    return ModuleSource.from_dir(dest, runtime)


def module(runtime: str, dest: Path, files: dict[str, str]) -> ModuleSource:
    dest.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
    return ModuleSource.from_dir(dest, runtime)


class Collector:
    """An ``on_message`` callable that records messages and lets a test wait on them."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()

    @property
    def outputs(self) -> list[Any]:
        return [m.data for m in self.messages if isinstance(m, Output)]

    def statuses(self, level: StatusLevel) -> list[str]:
        return [m.data for m in self.messages if isinstance(m, Status) and m.status is level]

    @property
    def states(self) -> list[State]:
        return [m for m in self.messages if isinstance(m, State)]

    def exits(self) -> list[State]:
        return [s for s in self.states if s.state is RunState.EXITED]

    async def wait_for(self, predicate: Callable[[Collector], bool], timeout: float = 60) -> None:
        async def loop() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)
