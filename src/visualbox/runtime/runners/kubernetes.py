"""The Kubernetes runner: each integration instance is a pod (docs/kubernetes.md).

    runner = KubernetesRunner(settings.runner, settings.sandbox, sources=..., supervisor=...)
    await runner.open()     # deletes what a previous run of this node left, fills warm pools
    handle = await runner.start(run_id, ref, token, config, on_message, generation=3)

A run's pod (``kubernetes_pods.pod_manifest``) starts the launcher in pod mode,
which dials *out* to this node's channel endpoint (``RUNNER__CALLBACK_URL`` +
``/api/runner/channel``, ``api/runner_channel.py``) with a single-use pod token
and receives, over that one connection, its *assignment* (the run token, the
source's URL, the argv and environment of ``layout.run_spec``), the prepared
dependencies, and then the config: config values and sources never appear in
the pod spec. From there the connection carries the launcher's records, which
``runtime.launcher.serve_channel`` turns into the supervisor's messages.

The pod protocol before the launcher's records, server to pod, in the same
record framing (1 byte kind, 4-byte big-endian length, payload): ``P`` the
assignment as JSON, then, when it says ``"deps": true``, ``D`` chunks of a tar
of ``/deps`` and an empty ``d``.

Dependencies are prepared on this node, once per cache key, by the local
:class:`~visualbox.runtime.prepare.Preparer` (the same sandboxed, size-capped,
evicting cache as the local runner) and sent to each pod that needs them.

A run ends as the local sandbox would say (``kubernetes_pods.pod_exit``): the
container's exit code (78 → ``config``), ``OOMKilled`` → ``oom``, an image that
cannot be pulled → ``crashed`` with the image named, a pod deleted by us →
``terminated``. Pods use ``restartPolicy: Never``; the live service restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
import tarfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.watch import Watch

from visualbox.runtime.channel import OutputBudget
from visualbox.runtime.layout import ModuleSource
from visualbox.runtime.runners import kubernetes_pods as pods
from visualbox.runtime.runners.base import RunHandle, Runner, SourceRef
from visualbox.runtime.runners.kubernetes_runs import PodLink, PodRun, PodWatch
from visualbox.runtime.runners.kubernetes_warm import WarmPools
from visualbox.runtime.runners.sources import SourceClient
from visualbox.runtime.source import materialize
from visualbox.runtime.supervisor import OnMessage, Supervisor
from visualbox.settings import RunnerSettings, SandboxSettings

log = logging.getLogger(__name__)

__all__ = ["KubernetesRunner", "PodLink", "Ticket"]


@dataclass(eq=False)
class Ticket:
    """A pod token handed to one pod and not yet used."""

    pod: str
    expires: float
    link: asyncio.Future[PodLink]


class KubernetesRunner(Runner):
    """Runs instances as pods in ``settings.namespace`` and talks to them over a channel
    each pod opens to this node."""

    def __init__(
        self,
        settings: RunnerSettings,
        sandbox: SandboxSettings,
        *,
        sources: SourceClient,
        sources_dir: Path,
        supervisor: Supervisor,
        api: Callable[[], Awaitable[client.ApiClient]] | None = None,
        message_bytes: int = 65536,
    ) -> None:
        if not settings.callback_url:
            raise ValueError(
                "the Kubernetes runner needs VISUALBOX_RUNNER__CALLBACK_URL: the ws:// or "
                "wss:// URL at which pods reach this server node"
            )
        self.settings = settings
        self.sandbox = sandbox
        self.node = settings.node_name or socket.gethostname()
        self.namespace = settings.namespace
        self.supervisor = supervisor
        """This node's supervisor: its prepare cache, and the modules' output contracts."""
        self.preparer = supervisor.preparer
        self.message_bytes = message_bytes
        """The largest WebSocket message the server takes (``LIVE__CLIENT_MESSAGE_BYTES``):
        the pod sends its records in pieces no larger."""
        self.channel_url = settings.callback_url + pods.CHANNEL_PATH
        self._sources = sources
        self._sources_dir = sources_dir
        self._deps_dir = sources_dir.parent / "deps-archives"
        self._api_factory = api or _api_client(settings)
        self._client: client.ApiClient | None = None
        self._core: Any = None
        """A ``CoreV1Api``, used with plain dicts (manifests in, raw JSON out)."""
        self._opening: asyncio.Future[None] | None = None
        self._tickets: dict[str, Ticket] = {}
        self._watches: dict[str, PodWatch] = {}
        self.warm = WarmPools(self)
        self._runs: dict[str, PodRun] = {}
        self._materialized: dict[str, ModuleSource] = {}
        self._archives: dict[str, asyncio.Future[Path]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    # --- the Runner contract ------------------------------------------------------------

    async def open(self) -> None:
        """Connect to the API server, delete the pods of this node that no run owns (a
        previous run of this node left them), watch this node's pods, fill warm pools.

        When the API server cannot be reached this logs why and returns (the server
        still serves everything else); the next start tries again, and fails with an
        ``OSError`` that says why."""
        try:
            await self._opened()
        except OSError as exc:
            log.error("Integrations cannot run on Kubernetes: %s", exc)

    async def _opened(self) -> None:
        if self._opening is None or (self._opening.done() and self._opening.exception()):
            self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opening)
        except Exception as exc:
            raise OSError(f"the Kubernetes API server cannot be used: {exc}") from exc

    async def _open(self) -> None:
        if self._client is None:
            self._client = await self._api_factory()
            self._core = client.CoreV1Api(self._client)
        await self.reconcile()
        self.spawn(self._watch_forever())
        for runtime in self.settings.images:
            self.spawn(self.warm.fill(runtime))

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
    ) -> RunHandle:
        old = self._runs.get(run_id)
        if old is not None and not old.done:
            raise ValueError(f"run {run_id!r} is still active; restart or terminate it")
        if ref.runtime not in self.settings.images:
            raise ValueError(f"no image for the runtime {ref.runtime!r} (RUNNER__IMAGES)")
        await self._opened()
        module = await self._source(ref, token)
        await self.fence(run_id, generation)
        run = PodRun(self, run_id, ref, token, module, on_message, output_budget, generation)
        self._runs[run_id] = run
        run.begin(dict(config))
        return run

    def active(self) -> int:
        return sum(1 for run in self._runs.values() if not run.done)

    async def close(self) -> None:
        """Stop every run (their pods are deleted) and the warm pods; wait for them."""
        self.closed = True
        runs, self._runs = list(self._runs.values()), {}
        await asyncio.gather(*(run.terminate() for run in runs), return_exceptions=True)
        await self.warm.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        await self._sources.close()

    # --- the channel (api/runner_channel.py) ------------------------------------------------

    def attach(self, token: str, link: PodLink) -> bool:
        """Give ``link`` to the pod whose single-use ``token`` it presented; False (and
        nothing happens) for an unknown, used or expired token."""
        ticket = self._tickets.pop(_digest(token), None)
        loop = asyncio.get_running_loop()
        if ticket is None or ticket.expires < loop.time() or ticket.link.done():
            return False
        ticket.link.set_result(link)
        return True

    def ticket(self, pod: str) -> tuple[str, Ticket]:
        """A new single-use pod token for ``pod``, valid for ``pod_start_timeout_s``."""
        token = "vbp_" + secrets.token_urlsafe(32)
        loop = asyncio.get_running_loop()
        now = loop.time()
        for key, known in list(self._tickets.items()):  # expired: never usable again (their
            if known.expires < now:  # waiters time out by themselves)
                del self._tickets[key]
        expires = now + self.settings.pod_start_timeout_s
        ticket = Ticket(pod, expires, loop.create_future())
        self._tickets[_digest(token)] = ticket
        return token, ticket

    def forget_ticket(self, ticket: Ticket) -> None:
        for key, known in list(self._tickets.items()):
            if known is ticket:
                del self._tickets[key]
        if not ticket.link.done():
            ticket.link.cancel()

    # --- pods ---------------------------------------------------------------------------

    @property
    def core(self) -> Any:
        assert self._core is not None, "open() the runner first"
        return self._core

    def watch_pod(self, name: str) -> PodWatch:
        watch = self._watches.get(name)
        if watch is None:
            watch = self._watches[name] = PodWatch(name)
        return watch

    async def create(self, manifest: dict[str, Any]) -> PodWatch:
        """Create the pod of ``manifest``; its :class:`PodWatch` follows it."""
        watch = self.watch_pod(manifest["metadata"]["name"])
        try:
            await self.core.create_namespaced_pod(self.namespace, manifest, _preload_content=False)
        except BaseException:
            self._watches.pop(watch.name, None)
            raise
        return watch

    async def delete(self, name: str) -> None:
        """Delete pod ``name`` (gone already is fine)."""
        try:
            await self.core.delete_namespaced_pod(
                name, self.namespace, grace_period_seconds=2, _preload_content=False
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        finally:
            watch = self._watches.pop(name, None)
            if watch is not None:
                watch.update(None, gone=True)

    def manifest(
        self, runtime: str, token: str, name: str, run_id: str | None, generation: int | None
    ) -> dict[str, Any]:
        return pods.pod_manifest(
            name,
            runtime=runtime,
            node=self.node,
            channel_url=self.channel_url,
            pod_token=token,
            runner=self.settings,
            sandbox=self.sandbox,
            run_id=run_id,
            generation=generation,
        )

    def pod_name(self, runtime: str) -> str:
        return f"vbx-{runtime}-{secrets.token_hex(5)}"

    async def reconcile(self) -> list[str]:
        """Delete every pod of this node that no run or warm pool of this runner owns;
        returns their names."""
        listed = await self.core.list_namespaced_pod(
            self.namespace, label_selector=pods.node_selector(self.node), _preload_content=False
        )
        body = await listed.json()
        owned = set(self._watches)
        stale = [
            item["metadata"]["name"]
            for item in body.get("items") or []
            if item["metadata"]["name"] not in owned
        ]
        await asyncio.gather(*(self.delete(name) for name in stale))
        if stale:
            log.info("deleted %d pods a previous run of node %s left", len(stale), self.node)
        return stale

    async def fence(self, run_id: str, generation: int | None) -> None:
        """Delete the pods of ``run_id`` that run under an older lease generation (a node
        that lost the dashboard's lease and has not stopped them yet)."""
        if generation is None:
            return
        listed = await self.core.list_namespaced_pod(
            self.namespace, label_selector=pods.instance_selector(run_id), _preload_content=False
        )
        body = await listed.json()
        for item in body.get("items") or []:
            labels = item["metadata"].get("labels") or {}
            theirs = labels.get(pods.GENERATION, "")
            if theirs.isdigit() and int(theirs) < generation:
                log.info(
                    "deleting pod %s of %s: stale generation", item["metadata"]["name"], run_id
                )
                await self.delete(item["metadata"]["name"])

    async def _watch_forever(self) -> None:
        """Follow this node's pods; reconnects (with back-off) when the watch breaks."""
        delay = 0.5
        while True:
            watch = Watch()
            try:
                stream = watch.stream(
                    self.core.list_namespaced_pod,
                    self.namespace,
                    label_selector=pods.node_selector(self.node),
                )
                async for event in stream:
                    delay = 0.5
                    pod = event["raw_object"]
                    name = pod.get("metadata", {}).get("name")
                    known = self._watches.get(name)
                    if known is not None:
                        known.update(pod, gone=event["type"] == "DELETED")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("watching the pods of node %s failed (%s); retrying", self.node, exc)
            finally:
                await watch.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    # --- sources and prepared dependencies -------------------------------------------------

    async def _source(self, ref: SourceRef, token: str) -> ModuleSource:
        """The module on this node (fetched once per content), to prepare its deps."""
        known = self._materialized.get(ref.content_hash)
        if known is not None and known.root.is_dir():
            return known
        tree = await self._sources.fetch(ref, token)
        module = await asyncio.to_thread(materialize, tree, ref.runtime, self._sources_dir)
        self._materialized[ref.content_hash] = module
        return module

    async def deps_archive(self, entry: Path) -> Path:
        """A tar of the prepared cache ``entry`` (made once per entry; the tars of entries
        the prepare cache has evicted since are deleted then)."""
        key = f"{entry.parent.name}-{entry.name}"
        pending = self._archives.get(key)
        if pending is None or (pending.done() and not _usable(pending)):
            cache = self.preparer.cache_dir
            pending = asyncio.ensure_future(
                asyncio.to_thread(_tar, entry, self._deps_dir, key, cache)
            )
            self._archives[key] = pending
        return await asyncio.shield(pending)

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``work`` in the background until done or :meth:`close`."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _usable(done: asyncio.Future[Path]) -> bool:
    return not done.cancelled() and done.exception() is None and done.result().is_file()


def _tar(entry: Path, folder: Path, key: str, cache: Path) -> Path:
    """``folder/<key>.tar`` of ``entry``'s files; deletes the tars of evicted entries."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{key}.tar"
    if target.is_file():
        return target
    for old in folder.glob("*.tar"):  # <runtime>-<cache key>.tar
        runtime, _, cached = old.stem.partition("-")
        if not (cache / runtime / cached).is_dir():
            old.unlink(missing_ok=True)  # a run still sending it keeps its open file
    partial = folder / f".{key}-{secrets.token_hex(4)}.tar"
    with tarfile.open(partial, "w") as tar:
        for child in sorted(entry.iterdir()):
            tar.add(child, arcname=child.name)
    os.replace(partial, target)
    return target


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _api_client(settings: RunnerSettings) -> Callable[[], Awaitable[client.ApiClient]]:
    """How to reach the API server: the kubeconfig file given, else the in-cluster
    service account when running in a pod, else $KUBECONFIG or ~/.kube/config."""

    async def make() -> client.ApiClient:
        configuration = client.Configuration()
        if settings.kubeconfig is not None:
            await config.load_kube_config(
                config_file=str(settings.kubeconfig), client_configuration=configuration
            )
        elif "KUBERNETES_SERVICE_HOST" in os.environ:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
            )
        return client.ApiClient(configuration)

    return make
