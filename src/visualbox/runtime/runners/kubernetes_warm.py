"""Warm pools of the Kubernetes runner: idle pods that wait for work (``kubernetes.py``).

Each runtime has up to ``RUNNER__WARM_POOL`` idle pods of this node. A warm pod
starts like a run's pod, connects back and waits for its assignment; :meth:`claim`
takes one (a connected one first) by a JSON patch that applies only while the pod
is still labelled ``warm``, and starts a replacement. A warm pod that does not
connect in time, ends or hangs up is deleted and replaced after a back-off, so an
image that cannot be pulled is not retried in a loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubernetes_asyncio.client.exceptions import ApiException

from visualbox.runtime.runners import kubernetes_pods as pods
from visualbox.runtime.runners.kubernetes_runs import PodWatch, pod_ended

if TYPE_CHECKING:
    from visualbox.runtime.runners.kubernetes import KubernetesRunner, Ticket

log = logging.getLogger(__name__)

REFILL_BACKOFF_MAX_S = 300.0


@dataclass(eq=False)
class Warm:
    """An idle pod of a warm pool, waiting (connected or still starting) for work."""

    name: str
    ticket: Ticket
    watch: PodWatch
    minder: asyncio.Future[None] | None = None


class WarmPools:
    """The warm pods of one runner, per runtime."""

    def __init__(self, runner: KubernetesRunner) -> None:
        self._runner = runner
        self._pools: dict[str, list[Warm]] = {runtime: [] for runtime in runner.settings.images}
        self._failures: dict[str, int] = {}

    def ready(self, runtime: str) -> int:
        """How many idle warm pods of ``runtime`` are connected and waiting for work."""
        return sum(1 for entry in self._pools.get(runtime, []) if entry.ticket.link.done())

    async def claim(self, runtime: str, run_id: str, generation: int | None) -> Warm | None:
        """A warm pod of ``runtime``, now labelled as ``run_id``'s (a JSON patch that
        holds only while the pod is still ``warm``), or None when the pool is empty."""
        pool = self._pools.get(runtime, [])
        while pool:
            entry = next((w for w in pool if w.ticket.link.done()), pool[0])  # connected first
            pool.remove(entry)
            if entry.minder is not None:
                entry.minder.cancel()
            self._runner.spawn(self.fill(runtime))
            try:
                await self._runner.core.patch_namespaced_pod(
                    entry.name,
                    self._runner.namespace,
                    pods.claim_patch(run_id, generation),
                    _preload_content=False,
                )
            except ApiException as exc:  # gone, or not warm any more: take the next one
                log.info("could not claim warm pod %s (%s)", entry.name, exc.status)
                self._drop(entry)
                await self._runner.delete(entry.name)
                continue
            return entry
        return None

    async def fill(self, runtime: str) -> None:
        """Create warm pods until the pool holds ``warm_pool``."""
        pool = self._pools[runtime]
        while not self._runner.closed and len(pool) < self._runner.settings.warm_pool:
            name = self._runner.pod_name(runtime)
            token, ticket = self._runner.ticket(name)
            entry = Warm(name, ticket, self._runner.watch_pod(name))
            pool.append(entry)
            try:
                await self._runner.create(self._runner.manifest(runtime, token, name, None, None))
            except Exception as exc:
                pool.remove(entry)
                self._runner.forget_ticket(ticket)
                log.warning("could not create a warm %s pod: %s", runtime, exc)
                return
            entry.minder = self._runner.spawn(self._mind(runtime, entry))

    async def _mind(self, runtime: str, entry: Warm) -> None:
        """While ``entry`` is idle: drop it if it does not connect in time, ends or hangs
        up, and replace it after a back-off (so that an image that cannot be pulled is
        not retried hot). Cancelled when the pod is claimed."""
        why = "did not connect in time"
        try:
            link = await asyncio.wait_for(
                asyncio.shield(entry.ticket.link), self._runner.settings.pod_start_timeout_s
            )
            self._failures[runtime] = 0
            ended = asyncio.ensure_future(pod_ended(entry.watch))
            hung_up = asyncio.ensure_future(link.reader.read(1))  # a warm pod sends nothing
            try:
                await asyncio.wait({ended, hung_up}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ended.cancel()
                hung_up.cancel()
            why = "ended" if ended.done() and not ended.cancelled() else "hung up"
        except (TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and entry not in self._pools[runtime]:
                raise  # claimed
        pool = self._pools[runtime]
        if entry not in pool:
            return
        pool.remove(entry)
        level = logging.INFO if why == "hung up" else logging.WARNING
        log.log(level, "warm pod %s %s; replacing it", entry.name, why)
        self._drop(entry)
        await self._runner.delete(entry.name)
        failures = self._failures.get(runtime, 0) + 1
        self._failures[runtime] = failures
        await asyncio.sleep(min(REFILL_BACKOFF_MAX_S, 2.0**failures))
        await self.fill(runtime)

    def _drop(self, entry: Warm) -> None:
        self._runner.forget_ticket(entry.ticket)
        link = entry.ticket.link
        if link.done() and not link.cancelled():
            link.result().done.set()

    async def close(self) -> None:
        """Forget and delete every warm pod."""
        warm = [entry for entries in self._pools.values() for entry in entries]
        for entries in self._pools.values():
            entries.clear()
        for entry in warm:
            if entry.minder is not None:
                entry.minder.cancel()
            self._drop(entry)
        await asyncio.gather(*(self._runner.delete(w.name) for w in warm), return_exceptions=True)
