"""The supervisor: starts integrations in the sandbox and turns what they do into messages.

    supervisor = Supervisor(sandbox, settings.sandbox, settings.cache_dir)
    run = await supervisor.start("dash1/_0", module, {"level": 3}, on_message=print)
    await run.restart({"level": 4})   # terminate, start again with new values
    await run.terminate()
    await supervisor.close()          # terminate every run: no orphans

Each run goes through ``STATE preparing`` (only when dependencies must be
built), ``STATE running`` and ``STATE exited``; in between, INIT and OUTPUT come
from the SDK's frames and STATUS from the log streams (see ``messages.py``).
Config values reach the code through a sealed memfd, never the environment or
argv; outputs through a pipe whose reader is rate-limited (``channel.py``).
``on_message`` is called synchronously, in order, with nothing queued behind it.
When the module declares an output schema (``visualbox.json``'s ``output``), an output
that does not match it is followed by a ``T_WARNING`` naming where (checked at most
once a second per run; ``modules/output_contract.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from visualbox.errors import FieldError
from visualbox.modules.manifest import MANIFEST_FILE
from visualbox.modules.output_contract import (
    OutputCheck,
    SchemaUnusable,
    Validator,
    compile_schema,
    output_schema,
)
from visualbox.modules.tree import path_problem
from visualbox.runtime.channel import (
    LogPipes,
    OutputBudget,
    TokenBucket,
    pump_frames,
    pump_lines,
)
from visualbox.runtime.launcher import ChannelSocket, serve_channel
from visualbox.runtime.layout import ModuleSource, run_spec
from visualbox.runtime.messages import (
    Message,
    Output,
    RunState,
    State,
    StatusLevel,
    error,
    warning,
)
from visualbox.runtime.prepare import PrepareFailed, Preparer
from visualbox.runtime.sandbox import default_limits
from visualbox.runtime.sandbox.base import (
    ExitInfo,
    ExitReason,
    Network,
    Sandbox,
    SandboxProcess,
    SandboxSpec,
)
from visualbox.settings import SandboxSettings

log = logging.getLogger(__name__)

OnMessage = Callable[[Message], None]
DRAIN_S = 2.0
"""After the process ended (or was stopped), how long what it wrote may still be read."""
DRAIN_CUT = (
    "visualbox: the run's last messages were not all read within "
    f"{DRAIN_S:g} s of its end (rate limits); some are missing"
)
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def config_memfd(config: Mapping[str, Any]) -> int:
    """A sealed, read-only memfd holding ``config`` as JSON (close it after spawning)."""
    data = json.dumps(dict(config), separators=(",", ":"), ensure_ascii=False).encode()
    fd = os.memfd_create("visualbox-config", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


async def _frame_reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024, loop=loop)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd, "rb", 0)
    )
    return reader, transport


class Run:
    """One integration instance; restartable with new config values."""

    def __init__(
        self,
        supervisor: Supervisor,
        run_id: str,
        module: ModuleSource,
        on_message: OnMessage,
        network: Network,
        output_budget: OutputBudget | None = None,
    ) -> None:
        self.run_id = run_id
        self.output_budget = output_budget
        self.module = module
        self.state = RunState.PREPARING
        self.exit_info: ExitInfo | None = None
        self._supervisor = supervisor
        self._on_message = on_message
        self._network = network
        self._process: SandboxProcess | None = None
        self._task: asyncio.Task[ExitInfo] | None = None
        self._emit_frame: OnMessage = self._emit
        """Where INIT and OUTPUT go: :meth:`Supervisor.frame_emitter` of ``_emit``."""

    # -- public -----------------------------------------------------------------------------
    async def restart(self, config: Mapping[str, Any]) -> None:
        """Terminate the running process (if any) and start again with ``config``."""
        await self.terminate()
        self._begin(config)

    async def terminate(self) -> ExitInfo | None:
        """Stop the process (SIGTERM, then SIGKILL); idempotent. Returns how it ended."""
        task = self._task
        if task is None or task.done():
            return self.exit_info
        if self._process is not None:
            await self._process.terminate()
        else:  # still preparing or spawning
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.state is not RunState.EXITED:
            self._exited(ExitInfo(None, ExitReason.TERMINATED, "terminated before it started"))
        return self.exit_info

    async def wait(self) -> ExitInfo:
        """Wait until the run ended (a restart in between starts a new wait)."""
        while True:
            task = self._task
            assert task is not None
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
            if task is self._task and self.exit_info is not None:
                return self.exit_info

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    # -- internals --------------------------------------------------------------------------
    def _emit(self, message: Message) -> None:
        try:
            self._on_message(message)
        except Exception:
            log.exception("on_message of run %s failed on %r", self.run_id, message)

    def _set_state(self, state: RunState) -> None:
        self.state = state
        self._emit(State(state))

    def _exited(self, info: ExitInfo) -> ExitInfo:
        self.state = RunState.EXITED
        self.exit_info = info
        self._process = None
        self._emit(State.exited(info))
        return info

    def _begin(self, config: Mapping[str, Any]) -> None:
        self.exit_info = None
        self.state = RunState.PREPARING
        self._emit_frame = self._supervisor.frame_emitter(self.module, self._emit)
        self._task = asyncio.create_task(self._attempt(dict(config)), name=f"run {self.run_id}")

    async def _attempt(self, config: dict[str, Any]) -> ExitInfo:
        supervisor = self._supervisor
        if not self.module.needs_prepare:
            return await self._run(config, None)
        with supervisor.preparer.hold(self.module):  # no eviction while it runs
            deps = supervisor.preparer.cached(self.module)
            if deps is None:
                self._set_state(RunState.PREPARING)
                try:
                    deps = await supervisor.preparer.prepare(self.module, self._emit)
                except PrepareFailed as exc:
                    self._emit(error(f"prepare failed: {exc.exit_info.detail}"))
                    return self._exited(exc.exit_info)
                except Exception as exc:
                    log.exception("prepare of run %s failed", self.run_id)
                    self._emit(error(f"prepare failed: {exc}"))
                    return self._exited(ExitInfo(None, ExitReason.CRASHED, str(exc)))
            return await self._run(config, deps)

    async def _run(self, config: dict[str, Any], deps: Path | None) -> ExitInfo:
        if not self._supervisor.sandbox.passes_fds:
            return await self._run_launched(config, deps)
        settings = self._supervisor.settings
        config_fd = config_memfd(config)
        read_fd, write_fd = os.pipe()
        ack_r, ack_w = os.pipe()
        try:
            spec = self._spec(deps, config_fd=config_fd, output_fd=write_fd, ack_fd=ack_r)
            process = await self._supervisor.sandbox.spawn(spec)
        except BaseException as exc:
            os.close(read_fd)
            os.close(ack_w)
            return self._not_started(exc)
        finally:
            os.close(config_fd)
            os.close(write_fd)
            os.close(ack_r)
        os.set_blocking(ack_w, False)
        self._process = process
        self._set_state(RunState.RUNNING)
        reader, transport = await _frame_reader(read_fd)
        bucket = TokenBucket(settings.log_rate, settings.log_burst)
        streams = [(process.stdout, StatusLevel.INFO), (process.stderr, StatusLevel.ERROR)]
        logs = await LogPipes.take(streams, bucket, self._emit)
        frames = pump_frames(
            reader,
            TokenBucket(settings.output_rate, settings.output_burst),
            settings.output_max_bytes,
            self._emit_frame,
            self.output_budget,
            logs=logs,
            ack_fd=ack_w,
        )
        pumps: asyncio.Future[Any]
        if logs is not None:
            pumps = asyncio.gather(frames, logs.pump())
        else:  # streams without a pipe behind them: lines keep no order with outputs
            lines = [pump_lines(stream, level, bucket, self._emit) for stream, level in streams]
            pumps = asyncio.gather(frames, *lines)
        try:
            info = await self._wait_and_drain(process, lambda: asyncio.shield(pumps))
        finally:
            pumps.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await pumps
            transport.close()
            os.close(ack_w)
            if logs is not None:
                logs.close()
        if info is None:
            info = await process.terminate(grace_s=0.5)
        return self._exited(info)

    async def _run_launched(self, config: dict[str, Any], deps: Path | None) -> ExitInfo:
        """``_run`` for a sandbox that passes no descriptors: the launcher runs the
        integration and relays it over a Unix socket (``launcher.py``)."""
        supervisor = self._supervisor
        settings = supervisor.settings
        channel = ChannelSocket(supervisor.sandbox.host_ids)
        try:
            process = await supervisor.sandbox.spawn(self._spec(deps, channel=channel.mount))
        except BaseException as exc:
            channel.close()
            return self._not_started(exc)
        self._process = process
        self._set_state(RunState.RUNNING)
        bucket = TokenBucket(settings.log_rate, settings.log_burst)
        # The launcher's own words (it could not connect, say) and the sandbox's.
        own = [
            asyncio.ensure_future(pump_lines(stream, level, bucket, self._emit))
            for stream, level in (
                (process.stdout, StatusLevel.INFO),
                (process.stderr, StatusLevel.ERROR),
            )
        ]
        connected = asyncio.Event()
        relay = asyncio.ensure_future(self._relay(channel, config, connected))

        async def drain() -> None:
            if not connected.is_set():  # it ended before its launcher connected
                relay.cancel()
            await asyncio.gather(*own, *([relay] if connected.is_set() else []))

        try:
            info = await self._wait_and_drain(process, drain)
        finally:
            for task in (relay, *own):
                task.cancel()
            await asyncio.gather(relay, *own, return_exceptions=True)
            channel.close()
        if info is None:
            info = await process.terminate(grace_s=0.5)
        return self._exited(info)

    def _spec(self, deps: Path | None, **io: Any) -> SandboxSpec:
        """The sandbox spec of this run; ``io`` is how it talks (``layout.run_spec``:
        the descriptors, or the launcher's channel)."""
        supervisor = self._supervisor
        return run_spec(
            self.module,
            deps,
            limits=supervisor.limits,
            network=self._network,
            allow_host_ports=tuple(supervisor.settings.allow_host_ports),
            allow_networks=tuple(supervisor.settings.allow_networks),
            **io,
        )

    def _not_started(self, exc: BaseException) -> ExitInfo:
        """How a run ends whose sandbox could not be spawned (re-raises a cancellation)."""
        if not isinstance(exc, Exception):  # cancelled while starting
            raise exc
        self._emit(error(f"could not start: {exc}"))
        return self._exited(ExitInfo(None, ExitReason.CRASHED, str(exc)))

    async def _wait_and_drain(
        self, process: SandboxProcess, drain: Callable[[], Awaitable[object]]
    ) -> ExitInfo | None:
        """Wait for the end of ``process``, then up to ``DRAIN_S`` for ``drain()``:
        everything written before the end (a stop too) is still to be read. None when
        reading failed (a bug of ours): the caller stops the process, and the run still
        gets its end."""
        info: ExitInfo | None = None
        try:
            info = await process.wait()
            try:
                await asyncio.wait_for(drain(), DRAIN_S)
            except TimeoutError:
                self._emit(warning(DRAIN_CUT))
        except asyncio.CancelledError:
            await process.terminate(grace_s=0.5)
            raise
        except Exception:
            log.exception("reading the messages of run %s failed", self.run_id)
        return info

    async def _relay(
        self, channel: ChannelSocket, config: dict[str, Any], connected: asyncio.Event
    ) -> None:
        reader, writer = await channel.accept()
        connected.set()
        try:
            await serve_channel(
                reader,
                writer.write,
                config,
                self._emit,
                settings=self._supervisor.settings,
                output_budget=self.output_budget,
                emit_frame=self._emit_frame,
            )
        finally:
            writer.close()


class Supervisor:
    """Runs many integrations at once, each in its own sandbox."""

    def __init__(self, sandbox: Sandbox, settings: SandboxSettings, cache_dir: Path) -> None:
        self.sandbox = sandbox
        self.settings = settings
        self.preparer = Preparer(sandbox, settings, cache_dir)
        self.limits = default_limits(settings)
        self._runs: dict[str, Run] = {}
        self._contracts: dict[str, Validator | str | None] = {}

    def frame_emitter(self, module: ModuleSource, emit: OnMessage) -> OnMessage:
        """``emit`` for the messages of one run's frames: when ``module`` declares an
        output schema, an output that breaks it is followed by a ``T_WARNING`` naming
        where; a schema that cannot be used is said once, now. For every runner."""
        contract = self.output_contract(module)
        if isinstance(contract, str):
            emit(warning(f"the declared output schema is not used: {contract}"))
        if not isinstance(contract, Validator):
            return emit
        check = OutputCheck(contract)

        def checked(message: Message) -> None:
            emit(message)
            if isinstance(message, Output):
                line = check.check(message.data)
                if line is not None:
                    emit(warning(line))

        return checked

    def output_contract(self, module: ModuleSource) -> Validator | str | None:
        """The compiled output schema ``module`` declares (once per content), ``None``
        when it declares none, or why it cannot be used."""
        key = module.content_hash
        if key not in self._contracts:
            if len(self._contracts) > 1000:
                self._contracts.clear()
            self._contracts[key] = _load_contract(module.root)
        return self._contracts[key]

    async def start(
        self,
        run_id: str,
        module: ModuleSource,
        config: Mapping[str, Any],
        *,
        on_message: OnMessage,
        network: Network | None = None,
        output_budget: OutputBudget | None = None,
    ) -> Run:
        """Start ``module`` with validated ``config`` values; returns at once.

        Messages (starting with STATE preparing or running) go to ``on_message``.
        A ``run_id`` may be reused once its previous run ended. ``output_budget``
        (shared by the runs of one account) bounds its output bytes per second.
        """
        old = self._runs.get(run_id)
        if old is not None and not old.done:
            raise ValueError(f"run {run_id!r} is still active; restart or terminate it")
        network = network or self.settings.network
        run = Run(self, run_id, module, on_message, network, output_budget)
        self._runs[run_id] = run
        run._begin(config)
        return run

    def runs(self) -> list[Run]:
        return list(self._runs.values())

    async def close(self) -> None:
        """Terminate every run and wait for all of them."""
        runs, self._runs = list(self._runs.values()), {}
        await asyncio.gather(*(run.terminate() for run in runs), return_exceptions=True)


def _load_contract(root: Path) -> Validator | str | None:
    """Read and compile the output schema of the module in ``root`` (see
    :meth:`Supervisor.output_contract`)."""
    try:
        raw = json.loads((root / MANIFEST_FILE).read_text("utf-8-sig"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return f"{MANIFEST_FILE} cannot be read: {exc}"
    declared = raw.get("output") if isinstance(raw, dict) else None
    if declared is None:
        return None
    tree: dict[str, bytes] = {}
    if isinstance(declared, str) and path_problem(declared) is None:
        with contextlib.suppress(OSError):
            tree[declared] = (root / declared).read_bytes()
    problems: list[FieldError] = []
    schema = output_schema(declared, tree, f"{MANIFEST_FILE}.output", problems)
    if problems or schema is None:
        return "; ".join(f"{p.field}: {p.reason}" for p in problems)
    try:
        return compile_schema(schema)
    except SchemaUnusable as exc:
        return str(exc)
