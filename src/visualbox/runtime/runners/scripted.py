"""The scripted runner: an in-memory :class:`Runner` that plays scripts instead of sandboxes.

In the spirit of httpx's ``MockTransport``: tests of what *uses* a runner (the live
service, its rooms, quotas and restarts) swap the real runner for this one where the
sandbox is not the point. Each start or restart "runs" a *script*, an async function
given the :class:`ScriptedRun`, which says what the integration does::

    async def counter(run: ScriptedRun) -> int | None:
        run.init()
        run.output({"n": 1})
        run.log("hello")
        return await run.until_stopped()   # run until terminated (or told to exit)

    runner = ScriptedRunner(counter)

A script's return value is the exit status (``None`` or ``0``: it exited, ``78``: its
config cannot work, anything else: it crashed); an exception crashes it. A test can
also end a run from outside with :meth:`ScriptedRun.exit`. Messages go to
``on_message`` exactly as the supervisor sends them: ``STATE running`` first, then
what the script emits, then ``STATE exited`` with how it ended, all from the event
loop after :meth:`ScriptedRunner.start` returned.

The runner records every attempt (a start or a restart) in :attr:`ScriptedRunner.runs`
with its config and how it ended; :meth:`ScriptedRunner.wait_for` waits on a
condition over them. It never fetches a source (the run token is only recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from visualbox.runtime.channel import OutputBudget
from visualbox.runtime.messages import Init, Message, Output, RunState, State, Status, StatusLevel
from visualbox.runtime.runners.base import RunHandle, Runner, SourceRef
from visualbox.runtime.sandbox.base import ExitInfo, ExitReason, exit_of_status
from visualbox.runtime.supervisor import OnMessage

__all__ = ["Script", "ScriptedHandle", "ScriptedRun", "ScriptedRunner", "run_until_stopped"]

log = logging.getLogger(__name__)

Script = Callable[["ScriptedRun"], Awaitable[int | None]]
"""What one attempt of an integration does; returns its exit status."""


async def run_until_stopped(run: ScriptedRun) -> int | None:
    """The default script: INIT, then run until terminated or told to exit."""
    run.init()
    return await run.until_stopped()


@dataclass(eq=False)
class ScriptedRun:
    """One attempt of one run: a start, or a restart with new config values."""

    run_id: str
    ref: SourceRef
    token: str
    config: dict[str, Any]
    output_budget: OutputBudget | None
    started_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` when it started."""
    exit_info: ExitInfo | None = None
    """How it ended; ``None`` while it runs."""
    ended_at: float | None = None
    messages: list[Message] = field(default_factory=list)
    """Everything it sent to ``on_message``, in order."""
    _on_message: OnMessage | None = field(default=None, repr=False)
    _notify: Callable[[], None] | None = field(default=None, repr=False)
    _exit: asyncio.Future[int | None] | None = field(default=None, repr=False)

    # --- what a script does -------------------------------------------------------------

    def emit(self, message: Message) -> None:
        """Send ``message`` as the integration's run would."""
        self.messages.append(message)
        if self._on_message is not None:
            try:
                self._on_message(message)
            except Exception:  # as the supervisor does: a failing receiver never ends a run
                log.exception("on_message of run %s failed on %r", self.run_id, message)
        if self._notify is not None:
            self._notify()

    def init(self) -> None:
        self.emit(Init())

    def output(self, data: Any) -> None:
        self.emit(Output(data))

    def log(self, line: str, level: StatusLevel = StatusLevel.INFO) -> None:
        self.emit(Status(level, line))

    async def until_stopped(self) -> int | None:
        """Wait until the run is terminated (this task is then cancelled) or a test calls
        :meth:`exit`; returns the exit status the test gave."""
        assert self._exit is not None
        return await asyncio.shield(self._exit)

    # --- what a test does ---------------------------------------------------------------

    def exit(self, code: int | None = 0) -> None:
        """End the run from outside with exit status ``code`` (a crash when not 0)."""
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)

    @property
    def done(self) -> bool:
        return self.exit_info is not None

    @property
    def outputs(self) -> list[Any]:
        return [m.data for m in self.messages if isinstance(m, Output)]


class ScriptedHandle(RunHandle):
    """The :class:`RunHandle` of one run; its current attempt is :attr:`run`."""

    def __init__(self, runner: ScriptedRunner, run: ScriptedRun, on_message: OnMessage) -> None:
        self._runner = runner
        self._on_message = on_message
        self.run = run
        self._state = RunState.RUNNING
        self._task: asyncio.Task[None] = runner._begin(self, run)

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def exit_info(self) -> ExitInfo | None:
        return self.run.exit_info

    @property
    def done(self) -> bool:
        return self._task.done()

    async def restart(self, config: Mapping[str, Any]) -> None:
        await self.terminate()
        old = self.run
        self.run = ScriptedRun(old.run_id, old.ref, old.token, dict(config), old.output_budget)
        self._state = RunState.RUNNING
        self._task = self._runner._begin(self, self.run)

    async def terminate(self) -> ExitInfo | None:
        task = self._task
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return self.run.exit_info

    async def wait(self) -> ExitInfo:
        """Wait until the current attempt ended."""
        while True:
            task = self._task
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
            if task is self._task and self.run.exit_info is not None:
                return self.run.exit_info

    async def _play(self, run: ScriptedRun, script: Script) -> None:
        info = ExitInfo(None, ExitReason.CRASHED, "the scripted runner failed")
        run._on_message, run._notify = self._on_message, self._runner._changed
        run._exit = asyncio.get_running_loop().create_future()
        playing: asyncio.Future[int | None] | None = None
        told: asyncio.Future[int | None] | None = None
        try:
            if self._runner.spawn_s:  # a sandbox still starting: no state message yet
                await asyncio.sleep(self._runner.spawn_s)
            run.emit(State(RunState.RUNNING))
            playing = asyncio.ensure_future(script(run))
            told = asyncio.ensure_future(asyncio.shield(run._exit))
            await asyncio.wait({playing, told}, return_when=asyncio.FIRST_COMPLETED)
            if playing.done():
                error = playing.exception()
                if error is not None:
                    info = ExitInfo(1, ExitReason.CRASHED, f"the script raised {error!r}")
                else:
                    info = exit_of_status(playing.result() or 0)
            else:
                info = exit_of_status(told.result() or 0)
        except asyncio.CancelledError:
            info = ExitInfo(-15, ExitReason.TERMINATED, "terminated")
            raise
        finally:
            tasks = [task for task in (playing, told) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            run.exit_info, run.ended_at = info, time.monotonic()
            self._state = RunState.EXITED
            run.emit(State.exited(info))


class ScriptedRunner(Runner):
    """Runs every start with ``script`` (by default INIT, then until stopped); a script
    that should differ per instance looks at ``run.run_id`` or ``run.config``."""

    def __init__(self, script: Script = run_until_stopped, *, spawn_s: float = 0.0) -> None:
        self.script = script
        self.spawn_s = spawn_s
        """How long each attempt takes to "spawn" before its ``STATE running``, as a
        sandbox does (the supervisor sends no state before it, unless it prepares)."""
        self.runs: list[ScriptedRun] = []
        """Every attempt (start or restart), in the order they began."""
        self.handles: dict[str, ScriptedHandle] = {}
        """The latest handle of each run id."""
        self.closed = False
        """Whether :meth:`close` was called."""
        self._changes = asyncio.Event()

    async def start(
        self,
        run_id: str,
        ref: SourceRef,
        token: str,
        config: Mapping[str, Any],
        on_message: OnMessage,
        *,
        output_budget: OutputBudget | None = None,
        generation: int | None = None,
    ) -> ScriptedHandle:
        old = self.handles.get(run_id)
        if old is not None and not old.done:
            raise ValueError(f"run {run_id!r} is still active; restart or terminate it")
        run = ScriptedRun(run_id, ref, token, dict(config), output_budget)
        handle = ScriptedHandle(self, run, on_message)
        self.handles[run_id] = handle
        return handle

    def _begin(self, handle: ScriptedHandle, run: ScriptedRun) -> asyncio.Task[None]:
        self.runs.append(run)
        return asyncio.get_running_loop().create_task(
            handle._play(run, self.script), name=f"scripted run {run.run_id}"
        )

    def active(self) -> int:
        return sum(1 for handle in self.handles.values() if not handle.done)

    async def close(self) -> None:
        self.closed = True
        await asyncio.gather(*(h.terminate() for h in list(self.handles.values())))

    # --- for tests --------------------------------------------------------------------------

    def runs_of(self, run_id: str) -> list[ScriptedRun]:
        """Every attempt of ``run_id``, oldest first."""
        return [run for run in self.runs if run.run_id == run_id]

    async def wait_for(
        self, condition: Callable[[ScriptedRunner], bool], timeout: float = 30.0
    ) -> None:
        """Wait until ``condition(self)`` holds; checked after every message of every run."""

        async def loop() -> None:
            while not condition(self):
                self._changes.clear()
                await self._changes.wait()

        await asyncio.wait_for(loop(), timeout)

    def _changed(self) -> None:
        self._changes.set()
