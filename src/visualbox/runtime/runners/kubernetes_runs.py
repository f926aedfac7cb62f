"""One run of the Kubernetes runner: its pod, its channel, how it ended (``kubernetes.py``).

Each attempt (a start, or a restart with new config values) gets a pod of its own:
claimed from the warm pool or created cold, told its assignment once it connects
back, then served by ``runtime.launcher.serve_channel`` until the channel ends,
the pod ends or the run is stopped. Then its pod is deleted, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from kubernetes_asyncio.client.exceptions import ApiException

from visualbox.runtime.channel import OutputBudget
from visualbox.runtime.launcher import record, serve_channel
from visualbox.runtime.layout import APP, DEPS, HOME, ModuleSource, run_spec
from visualbox.runtime.messages import Message, RunState, State, error, warning
from visualbox.runtime.prepare import PrepareFailed
from visualbox.runtime.runners import kubernetes_pods as pods
from visualbox.runtime.runners.base import RunHandle, SourceRef
from visualbox.runtime.runners.sources import ARCHIVE_PATH
from visualbox.runtime.sandbox import default_limits
from visualbox.runtime.sandbox.base import ExitInfo, ExitReason
from visualbox.runtime.supervisor import DRAIN_CUT, DRAIN_S, OnMessage

if TYPE_CHECKING:
    from visualbox.runtime.runners.kubernetes import KubernetesRunner

log = logging.getLogger(__name__)

T = TypeVar("T")
ASSIGNMENT = b"P"
DEPS_CHUNK = b"D"
DEPS_END = b"d"
CHUNK = 256 * 1024
POD_END_S = 30.0
"""After a pod's channel closed, how long Kubernetes may take to say how it ended."""
STOP_GRACE_S = 5.0
"""After deleting a stopped run's pod, how long its last messages may still arrive."""


@dataclass(eq=False)
class PodLink:
    """One pod's connection to this node, as the channel route hands it over."""

    reader: asyncio.StreamReader
    """What the pod sends (ends when it disconnects)."""
    write: Callable[[bytes], None]
    """Queue bytes to the pod."""
    drain: Callable[[], Awaitable[None]]
    """Wait until what was queued is mostly sent (large writes)."""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the runner when it no longer needs the connection: the route closes it."""


@dataclass(eq=False)
class PodWatch:
    """The last known state of one pod (from the runner's watch)."""

    name: str
    pod: dict[str, Any] | None = None
    gone: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, pod: dict[str, Any] | None, *, gone: bool = False) -> None:
        if pod is not None:
            self.pod = pod
        self.gone = self.gone or gone
        self.changed.set()


async def pod_ended(watch: PodWatch) -> None:
    """Return once the pod ended (by :func:`kubernetes_pods.pod_exit`) or is gone."""
    while not (watch.gone or (watch.pod is not None and pods.pod_exit(watch.pod))):
        watch.changed.clear()
        await watch.changed.wait()


class _Ended(Exception):
    def __init__(self, info: ExitInfo) -> None:
        super().__init__(info.detail)
        self.info = info


def _refusal(exc: ApiException) -> str:
    """What the API server said, without the response's headers."""
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except (ValueError, AttributeError):
        message = exc.reason
    return f"Kubernetes refused it ({exc.status}): {message}"


class PodRun(RunHandle):
    """A run on Kubernetes; restartable with new config values (a new pod each time)."""

    def __init__(
        self,
        runner: KubernetesRunner,
        run_id: str,
        ref: SourceRef,
        token: str,
        module: ModuleSource,
        on_message: OnMessage,
        output_budget: OutputBudget | None,
        generation: int | None,
    ) -> None:
        self.run_id = run_id
        self.ref = ref
        self.token = token
        self.module = module
        self.output_budget = output_budget
        self.generation = generation
        self.pod: str | None = None
        """The name of the current attempt's pod, once it has one."""
        self.warm = False
        """Whether the current attempt's pod came from the warm pool."""
        self._runner = runner
        self._on_message = on_message
        self._state = RunState.PREPARING
        self._exit_info: ExitInfo | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- RunHandle ------------------------------------------------------------------------

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def exit_info(self) -> ExitInfo | None:
        return self._exit_info

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def begin(self, config: dict[str, Any]) -> None:
        self._exit_info, self._state, self._stop = None, RunState.PREPARING, asyncio.Event()
        self._task = asyncio.create_task(self._attempt(config), name=f"pod run {self.run_id}")

    async def restart(self, config: Mapping[str, Any]) -> None:
        """Stop the current pod and start a new one with ``config``."""
        await self.terminate()
        self.begin(dict(config))

    async def terminate(self) -> ExitInfo | None:
        """Delete the pod and wait until the run ended; idempotent."""
        task = self._task
        if task is None or task.done():
            return self._exit_info
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
        return self._exit_info

    async def wait(self) -> ExitInfo:
        while True:
            task = self._task
            assert task is not None
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
            if task is self._task and self._exit_info is not None:
                return self._exit_info

    # --- one attempt ---------------------------------------------------------------------

    def _emit(self, message: Message) -> None:
        try:
            self._on_message(message)
        except Exception:
            log.exception("on_message of run %s failed on %r", self.run_id, message)

    async def _attempt(self, config: dict[str, Any]) -> None:
        runner = self._runner
        stop = self._stop
        info = ExitInfo(None, ExitReason.TERMINATED, "terminated before it started")
        link: PodLink | None = None
        ticket = None
        self.pod, self.warm = None, False
        try:
            deps = await self._unless_stopped(self._prepare(), stop)
            runtime = self.ref.runtime
            claimed = await runner.warm.claim(runtime, self.run_id, self.generation)
            if claimed is not None:
                self.pod, ticket, watch, self.warm = (
                    claimed.name,
                    claimed.ticket,
                    claimed.watch,
                    True,
                )
            else:
                self.pod = runner.pod_name(runtime)
                token, ticket = runner.ticket(self.pod)
                manifest = runner.manifest(runtime, token, self.pod, self.run_id, self.generation)
                watch = await runner.create(manifest)
            link = await self._connected(ticket.link, watch, stop)
            self._state = RunState.RUNNING
            self._emit(State(RunState.RUNNING))
            await self._assign(link, deps)
            info = await self._serve(link, watch, config, stop)
        except _Ended as ended:
            info = ended.info
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("the pod run %s failed", self.run_id)
            detail = _refusal(exc) if isinstance(exc, ApiException) else str(exc)
            self._emit(error(f"the pod could not run: {detail}"))
            info = ExitInfo(None, ExitReason.CRASHED, detail)
        finally:
            if ticket is not None:
                runner.forget_ticket(ticket)
            if link is not None:
                link.done.set()
            if self.pod is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(runner.delete(self.pod))
            self._state, self._exit_info = RunState.EXITED, info
            self._emit(State.exited(info))

    async def _unless_stopped(self, work: Awaitable[T], stop: asyncio.Event) -> T:
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise _Ended(ExitInfo(None, ExitReason.TERMINATED, "terminated before it started"))
        return task.result()

    async def _prepare(self) -> Path | None:
        """The tar of the prepared dependencies (built on this node once per cache key),
        or None when the module needs none."""
        module, preparer = self.module, self._runner.preparer
        if not module.needs_prepare:
            return None
        with preparer.hold(module):
            entry = preparer.cached(module)
            if entry is None:
                self._emit(State(RunState.PREPARING))
                try:
                    entry = await preparer.prepare(module, self._emit)
                except PrepareFailed as exc:
                    self._emit(error(f"prepare failed: {exc.exit_info.detail}"))
                    raise _Ended(exc.exit_info) from None
            return await self._runner.deps_archive(entry)

    async def _connected(
        self, link: asyncio.Future[PodLink], watch: PodWatch, stop: asyncio.Event
    ) -> PodLink:
        """Wait until the pod connected back; :class:`_Ended` if it ended first, was
        stopped, or did not connect within ``pod_start_timeout_s``."""
        ended = asyncio.ensure_future(pod_ended(watch))
        stopping = asyncio.ensure_future(stop.wait())
        timeout = self._runner.settings.pod_start_timeout_s
        try:
            waiting: set[asyncio.Future[Any]] = {link, ended, stopping}
            await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            stopping.cancel()
        if link.done() and not link.cancelled():
            return link.result()
        if stop.is_set():
            raise _Ended(ExitInfo(None, ExitReason.TERMINATED, "terminated before it started"))
        if watch.gone or watch.pod is not None and pods.pod_exit(watch.pod) is not None:
            info = self._pod_info(watch)
            self._emit(error(f"the pod {watch.name} ended before it connected: {info.detail}"))
            raise _Ended(info)
        detail = (
            f"the pod did not connect back within {timeout:g} s; check "
            f"RUNNER__CALLBACK_URL ({self._runner.settings.callback_url}) and that the pods "
            "may reach it"
        )
        self._emit(error(detail))
        raise _Ended(ExitInfo(None, ExitReason.CRASHED, detail))

    def _pod_info(self, watch: PodWatch) -> ExitInfo:
        found = pods.pod_exit(watch.pod) if watch.pod is not None else None
        if found is not None:
            return found
        if watch.gone:
            return ExitInfo(None, ExitReason.CRASHED, f"the pod {watch.name} was deleted")
        return ExitInfo(None, ExitReason.CRASHED, "Kubernetes did not say how the pod ended")

    async def _assign(self, link: PodLink, deps: Path | None) -> None:
        """Send the assignment, then the prepared dependencies (if any)."""
        module = ModuleSource(Path(APP), self.module.runtime, self.module.content_hash)
        spec = run_spec(
            module,
            Path(DEPS) if deps is not None else None,
            limits=default_limits(self._runner.sandbox),
            network="none",
            allow_host_ports=(),
        )
        base = self._runner.settings.callback_url or ""
        path = ARCHIVE_PATH.format(
            module_id=quote(self.ref.module_id, safe=""), version=quote(self.ref.version, safe="")
        )
        assignment = {
            "run_id": self.run_id,
            "token": self.token,
            "source": "http" + base.removeprefix("ws") + path,
            "content_hash": self.ref.content_hash,
            "runtime": self.module.runtime,
            "argv": list(spec.argv),
            "env": {k: v for k, v in spec.env.items() if not k.startswith("VISUALBOX_")},
            "cwd": HOME,
            "deps": deps is not None,
            "chunk": self._runner.message_bytes,
        }
        link.write(record(ASSIGNMENT, json.dumps(assignment).encode()))
        if deps is not None:
            with deps.open("rb") as archive:
                while chunk := await asyncio.to_thread(archive.read, CHUNK):
                    link.write(record(DEPS_CHUNK, chunk))
                    await link.drain()
            link.write(record(DEPS_END, b""))
        await link.drain()

    async def _serve(
        self, link: PodLink, watch: PodWatch, config: dict[str, Any], stop: asyncio.Event
    ) -> ExitInfo:
        """Relay the launcher's records until the run ends; how it ended."""
        serving = asyncio.ensure_future(
            serve_channel(
                link.reader,
                link.write,
                config,
                self._runner.supervisor.frame_emitter(self.module, self._emit),
                settings=self._runner.sandbox,
                output_budget=self.output_budget,
            )
        )
        ended = asyncio.ensure_future(pod_ended(watch))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({serving, ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.done() and not serving.done():
                assert self.pod is not None
                await self._runner.delete(self.pod)  # the kubelet stops it; its channel closes
                await self._drain(serving, STOP_GRACE_S + DRAIN_S)
                return ExitInfo(-15, ExitReason.TERMINATED, "terminated")
            if serving.done():
                serving.result()  # a failure of ours is raised
                try:
                    await asyncio.wait_for(asyncio.shield(ended), POD_END_S)
                except TimeoutError:
                    pass
                return self._pod_info(watch)
            await self._drain(serving, DRAIN_S)  # the pod ended: read what it left
            return self._pod_info(watch)
        finally:
            for task in (serving, ended, stopping):
                task.cancel()
            await asyncio.gather(serving, ended, stopping, return_exceptions=True)

    async def _drain(self, serving: asyncio.Future[None], within: float) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(serving), within)
        except TimeoutError:
            self._emit(warning(DRAIN_CUT))
        except Exception:
            log.exception("reading the channel of run %s failed", self.run_id)
