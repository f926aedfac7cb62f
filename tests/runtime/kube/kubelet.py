"""A test "kubelet": runs the emulator's pods on this machine, in the real sandbox.

It watches the API (``emulator.py``) for pods, as a kubelet does, and runs each pod's
container with the bubblewrap backend: the image stands for a runtime, so it is
mapped to this host's interpreters (read-only ``/usr``) plus what the image ships,
the SDK and the launcher; ``emptyDir`` volumes other than the sandbox's own
``/work`` and ``/tmp`` are fresh writable folders; the memory, CPU and disk limits
come from the container's ``resources.limits``; the network is ``outbound``, with
the server's port allowed, so that the pod reaches the server at ``10.0.2.2:PORT``
(the pods' callback URL). It reports what happens through ``pods/status``: Running,
then terminated with the exit code and ``OOMKilled`` when the memory limit killed
it; an image it does not know fails with ``ErrImagePull``. A deleted pod's processes
are stopped (SIGTERM, then SIGKILL). What a pod writes on stdout/stderr is kept in
:attr:`Kubelet.logs` (``kubectl logs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from visualbox.runtime.layout import LAUNCHER_DIR, LAUNCHER_MOUNT, SDK, SDK_DIR, base_env
from visualbox.runtime.sandbox.base import Limits, Mount, Sandbox, SandboxProcess, SandboxSpec

SANDBOX_OWN = ("/work", "/tmp")
"""emptyDir mounts the sandbox provides itself (private tmpfs)."""


def quantity_mb(value: str) -> int:
    """``256Mi`` → 256 (MiB); ``1Gi`` → 1024; plain bytes too."""
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1 / 1048.576, "M": 1 / 1.048576}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return max(1, int(float(value[: -len(suffix)]) * factor))
    return max(1, int(value) // (1 << 20))


def quantity_cpu(value: str) -> float:
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Kubelet:
    def __init__(
        self,
        api: str,
        namespace: str,
        sandbox: Sandbox,
        images: dict[str, str],
        server_ports: list[int],
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.sandbox = sandbox
        self.images = images
        """Image → runtime (``python``, ``node``, ``go``)."""
        self.server_ports = server_ports
        self.logs: dict[str, bytearray] = {}
        self.started: list[str] = []
        """Names of the pods whose container it started, in order."""
        self._running: dict[str, asyncio.Task[None]] = {}
        self._all: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def _pods_url(self, name: str = "") -> str:
        return f"{self.api}/api/v1/namespaces/{self.namespace}/pods" + (f"/{name}" if name else "")

    async def run(self) -> None:
        """Watch the namespace's pods forever (reconnecting), running new ones."""
        self._session = aiohttp.ClientSession()
        try:
            while True:
                try:
                    await self._watch()
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)  # the emulator restarts its stream
        finally:
            for task in self._all:
                task.cancel()
            await asyncio.gather(*self._all, return_exceptions=True)
            await self._session.close()

    async def _watch(self) -> None:
        assert self._session is not None
        async with self._session.get(self._pods_url(), params={"watch": "true"}) as response:
            async for line in response.content:
                event = json.loads(line)
                pod, kind = event["object"], event["type"]
                name = pod["metadata"]["name"]
                if kind == "DELETED":
                    task = self._running.pop(name, None)
                    if task is not None:
                        task.cancel()
                elif name not in self._running and not pod.get("status", {}).get(
                    "containerStatuses"
                ):
                    task = self._running[name] = asyncio.ensure_future(self._run_pod(pod))
                    self._all.add(task)

    async def _status(self, name: str, status: dict[str, Any]) -> None:
        assert self._session is not None
        async with self._session.patch(
            self._pods_url(name) + "/status",
            data=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response:
            await response.read()

    async def _run_pod(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        image = container["image"]
        runtime = self.images.get(image)
        if runtime is None:
            waiting = {"reason": "ErrImagePull", "message": f"pull access denied for {image}"}
            await self._status(name, _status("Pending", image, {"waiting": waiting}))
            return
        folders: list[Path] = []
        process: SandboxProcess | None = None
        try:
            spec = self._spec(pod, container, runtime, folders)
            process = await self.sandbox.spawn(spec)
            self.started.append(name)
            running = {"running": {"startedAt": now()}}
            await self._status(name, _status("Running", image, running, ready=True))
            logs = self.logs.setdefault(name, bytearray())
            collect = [
                asyncio.ensure_future(_collect(process.stdout, logs)),
                asyncio.ensure_future(_collect(process.stderr, logs)),
            ]
            info = await process.wait()
            await asyncio.gather(*collect, return_exceptions=True)
            code = info.code if info.code is not None else 1
            if code < 0:
                code = 128 - code
            reason = "OOMKilled" if info.reason == "oom" else "Completed" if code == 0 else "Error"
            ended = {"terminated": {"exitCode": code, "reason": reason, "finishedAt": now()}}
            phase = "Succeeded" if code == 0 else "Failed"
            await self._status(name, _status(phase, image, ended))
        except asyncio.CancelledError:  # the pod was deleted
            if process is not None:
                await process.terminate(grace_s=2.0)
            raise
        finally:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)

    def _spec(
        self, pod: dict[str, Any], container: dict[str, Any], runtime: str, folders: list[Path]
    ) -> SandboxSpec:
        """The sandbox that stands for the pod: its image's files, its volumes, its limits."""
        mounts = [Mount(LAUNCHER_DIR, LAUNCHER_MOUNT)]
        if runtime in ("python", "node"):
            mounts.append(Mount(SDK_DIR / runtime, f"{SDK}/{runtime}"))
        empty = {v["name"] for v in pod["spec"].get("volumes", []) if "emptyDir" in v}
        for volume in container.get("volumeMounts", []):
            if volume["name"] in empty and volume["mountPath"] not in SANDBOX_OWN:
                folder = Path(tempfile.mkdtemp(prefix="kubelet-volume-"))
                if self.sandbox.host_ids is not None:
                    os.chown(folder, *self.sandbox.host_ids)
                folders.append(folder)
                mounts.append(Mount(folder, volume["mountPath"], writable=True))
        limits = container.get("resources", {}).get("limits", {})
        env = base_env({item["name"]: item.get("value", "") for item in container.get("env", [])})
        return SandboxSpec(
            argv=[*container["command"], *container.get("args", [])],
            env=env,
            mounts=mounts,
            workdir=container.get("workingDir", "/work"),
            network="outbound",
            allow_host_ports=tuple(self.server_ports),
            limits=Limits(
                memory_mb=quantity_mb(limits.get("memory", "256Mi")),
                cpu=quantity_cpu(limits.get("cpu", "500m")),
                pids=256,
                disk_mb=64,
                nofile=1024,
            ),
        )


def _status(
    phase: str, image: str, state: dict[str, Any], *, ready: bool = False
) -> dict[str, Any]:
    container = {"name": "integration", "image": image, "imageID": f"emulated://{image}",
                 "state": state, "ready": ready, "restartCount": 0}  # fmt: skip
    return {"phase": phase, "containerStatuses": [container]}


async def _collect(stream: asyncio.StreamReader, into: bytearray) -> None:
    with contextlib.suppress(Exception):
        while chunk := await stream.read(65536):
            into.extend(chunk)
