"""The emulated cluster of the Kubernetes runner's tests: API emulator + test kubelet.

Both run in one background thread with their own event loop (as ``tests/live``
runs its server), so tests on any loop or thread can use them:

    cluster = Cluster(server_ports=[port]).start()
    cluster.kubeconfig          # a kubeconfig file pointing the real client at it
    await cluster.wait_for(lambda pods: ..., timeout=30)
    cluster.stop()

Waiting is on the emulator's condition variable, notified at every change: no
polling with sleeps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from tests.fixtures.ports import free_port
from tests.runtime.kube.emulator import Emulator, Pod
from tests.runtime.kube.kubelet import Kubelet
from visualbox.runtime.sandbox import get_sandbox
from visualbox.settings import SandboxSettings

NAMESPACE = "visualbox-integrations"
IMAGES = {
    "visualbox/runtime-python:1": "python",
    "visualbox/runtime-node:1": "node",
    "visualbox/runtime-go:1": "go",
}


class Cluster:
    def __init__(self, folder: Path, server_ports: list[int]) -> None:
        self.emulator = Emulator()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        sandbox = get_sandbox(SandboxSettings(network="outbound"))
        sandbox.check()
        self.kubelet = Kubelet(self.url, NAMESPACE, sandbox, IMAGES, server_ports)
        self.kubeconfig = folder / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(_kubeconfig(self.url)))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="kube-cluster")
        self._stopping: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    def start(self) -> Cluster:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"the emulated cluster did not start: {self._error!r}")
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())  # which also ends what the kubelet's sandboxes left
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        runner = web.AppRunner(self.emulator.app(), handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        kubelet = asyncio.ensure_future(self.kubelet.run())
        self._loop = asyncio.get_running_loop()
        self._stopping = self._loop.create_future()
        self._ready.set()
        try:
            await self._stopping
        finally:
            kubelet.cancel()
            await asyncio.gather(kubelet, return_exceptions=True)
            self.emulator.close_watches()
            await runner.cleanup()

    def stop(self) -> None:
        stopping = self._stopping
        if stopping is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(stopping.set_result, None)
        self._thread.join(30)

    # --- for tests -------------------------------------------------------------------

    def pods(self) -> list[Pod]:
        return self.emulator.snapshot()

    def wait_for_sync(self, condition: Callable[[list[Pod]], Any], timeout: float) -> Any:
        """Block until ``condition(pods)`` is truthy (returns it); AssertionError after
        ``timeout`` seconds, naming the pods."""
        deadline = time.monotonic() + timeout
        changed = self.emulator.changed
        with changed:
            while True:
                result = condition(self.pods())
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [(p["metadata"]["name"], p.get("status")) for p in self.pods()]
                    raise AssertionError(f"the cluster never got there; pods: {names}")
                changed.wait(left)

    async def wait_for(self, condition: Callable[[list[Pod]], Any], timeout: float = 60) -> Any:
        return await asyncio.to_thread(self.wait_for_sync, condition, timeout)

    def create(self, manifest: Pod) -> None:
        """Create a pod through the API (as another client would)."""
        self._call("POST", "", manifest, 201)

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/{name}", None, 200)

    def _call(self, method: str, path: str, body: Pod | None, expect: int) -> None:
        async def call() -> None:
            url = f"{self.url}/api/v1/namespaces/{NAMESPACE}/pods{path}"
            async with aiohttp.ClientSession() as session:
                async with session.request(method, url, json=body) as response:
                    assert response.status == expect, await response.text()

        assert self._loop is not None, "start() the cluster first"
        asyncio.run_coroutine_threadsafe(call(), self._loop).result(30)


def _kubeconfig(url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "tests", "user": {"token": "emulator-accepts-anything"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tests"}}],
        "current-context": "emulator",
    }
