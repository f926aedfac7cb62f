"""The hardened sandbox: gVisor (``runsc``) running an OCI bundle.

The command's system calls are served by gVisor's user-space kernel instead of
the host's. The bundle mirrors what bubblewrap shows (read-only ``/usr`` and
system ``/etc`` files, generated passwd/group/hosts, tmpfs workdir and
``/tmp``, uid 65534, no capabilities) and carries the memory, CPU and pids
limits, which runsc applies with its own cgroups.

It passes no file descriptors: the supervisor runs integrations through the launcher
(``runtime/launcher.py``), whose Unix socket the sandbox may open (``--host-uds=open``).
``network="outbound"`` runs runsc with ``--network=host`` inside a network namespace of
its own that slirp4netns connects and the egress rules of ``network.py`` filter, as for
bubblewrap (Debian 12's runsc refuses its own ``--network=sandbox`` on recent kernels).

Costs about 0.3 s per start with ``--platform=ptrace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from .base import (
    ExitInfo,
    ExitReason,
    Sandbox,
    SandboxProcess,
    SandboxSpec,
    SandboxUnavailable,
    exit_of_status,
)
from .certificates import TrustStore
from .network import SLIRP_DNS, SlirpNetwork, find_tool

__all__ = ["RunscProcess", "RunscSandbox"]

_MiB = 1024 * 1024
_ETC = ("/etc/ssl", "/etc/ca-certificates", "/etc/alternatives", "/etc/ld.so.cache")
_NETNS_TIMEOUT_S = 10.0
_MIN_PIDS = 512  # runsc's own threads count; below ~64 it cannot start at all


def _bind(source: str, target: str, writable: bool = False) -> dict[str, Any]:
    return {
        "destination": target,
        "type": "bind",
        "source": source,
        "options": ["rbind", "rw" if writable else "ro"],
    }


def bundle_config(spec: SandboxSpec, etc_dir: Path, cgroup: str) -> dict[str, Any]:
    """The OCI ``config.json`` of ``spec`` (``etc_dir`` holds generated /etc files)."""
    disk = f"size={spec.limits.disk_mb * _MiB}"
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": [disk]},
        {"destination": spec.workdir, "type": "tmpfs", "source": "tmpfs", "options": [disk]},
        _bind("/usr", "/usr"),
    ]
    mounts += [_bind(p, p) for p in _ETC if os.path.exists(p)]
    mounts += [_bind(str(f), f"/etc/{f.name}") for f in sorted(etc_dir.iterdir())]
    for mount in spec.mounts:
        source = str(Path(mount.source).resolve(strict=True))
        mounts.append(_bind(source, mount.target, mount.writable))
    limits = spec.limits
    nofile = {"type": "RLIMIT_NOFILE", "hard": limits.nofile, "soft": limits.nofile}
    return {
        "ociVersion": "1.0.2",
        "hostname": "sandbox",
        "root": {"path": "rootfs", "readonly": True},
        "process": {
            "terminal": False,
            "user": {"uid": 65534, "gid": 65534},
            "args": list(spec.argv),
            "env": [f"{k}={v}" for k, v in spec.env.items()],
            "cwd": spec.workdir,
            "noNewPrivileges": True,
            "capabilities": {"bounding": [], "effective": [], "permitted": []},
            "rlimits": [nofile],
        },
        "mounts": mounts,
        "linux": {
            # Outbound: the network namespace is the one runsc was started in (_Netns).
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
            + ([] if spec.network == "outbound" else [{"type": "network"}]),
            "cgroupsPath": cgroup,
            "resources": {
                "memory": {"limit": limits.memory_mb * _MiB},
                "cpu": {"quota": int(limits.cpu * 100_000), "period": 100_000},
                "pids": {"limit": max(limits.pids, _MIN_PIDS)},
            },
        },
    }


def _make_bundle(spec: SandboxSpec, bundle: Path, cgroup: str) -> None:
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    for name in ("bin", "lib", "lib64", "sbin"):
        if Path("/", name).is_symlink():
            (rootfs / name).symlink_to(os.readlink(Path("/", name)))
    etc = bundle / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(f"sandbox:x:65534:65534::{spec.workdir}:/usr/sbin/nologin\n")
    (etc / "group").write_text("sandbox:x:65534:\n")
    (etc / "hosts").write_text("127.0.0.1\tlocalhost sandbox\n")
    if spec.network == "outbound":
        (etc / "resolv.conf").write_text(f"nameserver {SLIRP_DNS}\n")
    (bundle / "config.json").write_text(json.dumps(bundle_config(spec, etc, cgroup)))


class RunscSandbox(Sandbox):
    """gVisor with ``--network=none``; ``platform`` as in ``runsc --platform``; the
    host's CA bundle and the operator's ``ca_bundle`` are trusted (``certificates.py``)."""

    name = "runsc"
    passes_fds = False  # runsc cannot hand the command a memfd or pipes: the launcher's channel

    def __init__(self, *, platform: str = "ptrace", ca_bundle: Path | None = None) -> None:
        self._platform = platform
        self.trust = TrustStore(ca_bundle)
        # As root, gVisor's gofer serves host files to the command (uid 65534) with their
        # host owners: what it writes to, or connects to, must belong to 65534.
        self.host_ids = (65534, 65534) if os.geteuid() == 0 else None

    @property
    def runsc(self) -> str:
        path = shutil.which("runsc") or shutil.which("runsc", path="/usr/sbin:/usr/bin")
        if path is None:
            raise SandboxUnavailable(
                "gVisor is not installed: apt-get install runsc (Debian/Ubuntu), or see "
                "https://gvisor.dev/docs/user_guide/install/; or use the bwrap backend"
            )
        return path

    def check(self) -> None:
        self.runsc  # noqa: B018 - raises with install advice when missing
        if os.geteuid() != 0:
            raise SandboxUnavailable("the runsc backend needs root here; use bwrap instead")

    async def spawn(self, spec: SandboxSpec) -> RunscProcess:
        if spec.pass_fds:
            raise SandboxUnavailable("the runsc backend does not pass file descriptors")
        spec = self.trust.apply(spec)
        work = Path(tempfile.mkdtemp(prefix="visualbox-runsc-"))
        cid = f"visualbox-{secrets.token_hex(6)}"
        netns: _Netns | None = None
        try:
            _make_bundle(spec, work / "bundle", f"/{cid}")
            base = [self.runsc, f"--root={work / 'state'}", f"--platform={self._platform}"]
            base.append("--host-uds=open")  # the launcher's channel
            enter: list[str] = []
            if spec.network == "outbound":
                netns = await _Netns.open(spec)
                enter = [find_tool("nsenter"), f"--net=/proc/{netns.pid}/ns/net"]
                base.append("--network=host")  # gVisor's sockets are the netns's own
            else:
                base.append("--network=none")
            proc = await asyncio.create_subprocess_exec(
                *enter,
                *base,
                "run",
                "--bundle",
                str(work / "bundle"),
                cid,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,  # a pipe: runsc rewrites regular files
                stderr=asyncio.subprocess.PIPE,
            )
        except BaseException:
            if netns is not None:
                await netns.close()
            shutil.rmtree(work, ignore_errors=True)
            raise
        return RunscProcess(proc, base, cid, work, spec, netns)


class _Netns:
    """A network namespace for one sandbox, held by a process of ours, connected by
    slirp4netns and filtered by the same egress rules as bubblewrap's (``network.py``).
    runsc runs inside it with ``--network=host``: the integration's sockets are the
    namespace's, so the rules apply to them."""

    def __init__(self, holder: asyncio.subprocess.Process) -> None:
        self._holder = holder
        self.pid = holder.pid
        self._slirp: SlirpNetwork | None = None

    @classmethod
    async def open(cls, spec: SandboxSpec) -> _Netns:
        holder = await asyncio.create_subprocess_exec(
            find_tool("unshare"),
            "--net",
            "--",
            "/bin/sh",
            "-c",
            # Says when the namespace exists, then waits: ends when our end of its
            # stdin closes, with us at the latest.
            "echo ready; exec cat",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        netns = cls(holder)
        try:
            assert holder.stdout is not None
            ready = await asyncio.wait_for(holder.stdout.readline(), _NETNS_TIMEOUT_S)
            # Never wire (or filter) a namespace that is not a new one: ours is the host's.
            own = os.stat("/proc/self/ns/net").st_ino
            if ready != b"ready\n" or os.stat(f"/proc/{holder.pid}/ns/net").st_ino == own:
                raise SandboxUnavailable("could not make a network namespace (unshare --net)")
            netns._slirp = await SlirpNetwork.attach(
                holder.pid, spec.allow_host_ports, spec.allow_networks
            )
        except BaseException:
            await netns.close()
            raise
        return netns

    async def close(self) -> None:
        if self._slirp is not None:
            await self._slirp.close()
        if self._holder.stdin is not None:
            self._holder.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            self._holder.kill()
        await self._holder.wait()


class RunscProcess(SandboxProcess):
    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        base: list[str],
        cid: str,
        work: Path,
        spec: SandboxSpec,
        netns: _Netns | None = None,
    ) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.pid = proc.pid
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self._proc = proc
        self._base = base
        self._cid = cid
        self._work = work
        self._limits = spec.limits
        self._netns = netns
        self._terminated = False
        self._timed_out = False
        self._watcher = asyncio.ensure_future(self._watch())

    async def _runsc(self, *args: str) -> None:
        done = await asyncio.create_subprocess_exec(
            *self._base,
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await done.wait()

    async def _watch(self) -> ExitInfo:
        try:
            await asyncio.wait_for(asyncio.shield(self._proc.wait()), self._limits.time_s)
        except TimeoutError:
            self._timed_out = not self._terminated
            await self._runsc("kill", "--all", self._cid, "KILL")
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()
        finally:
            await self._runsc("delete", "--force", self._cid)
            shutil.rmtree(self._work, ignore_errors=True)
            if self._netns is not None:
                await self._netns.close()
        rc = self._proc.returncode
        code = -(rc - 128) if rc is not None and 128 < rc <= 192 else rc
        if self._terminated:
            return ExitInfo(code, ExitReason.TERMINATED, "stopped")
        if self._timed_out:
            return ExitInfo(code, ExitReason.TIME_LIMIT, f"ran longer than {self._limits.time_s} s")
        if code == -signal.SIGKILL:
            # gVisor's sentry and the command share the memory cgroup; a SIGKILL we did
            # not send is the OOM killer.
            return ExitInfo(code, ExitReason.OOM, f"exceeded {self._limits.memory_mb} MiB")
        return exit_of_status(code)

    async def wait(self) -> ExitInfo:
        return await asyncio.shield(self._watcher)

    async def terminate(self, grace_s: float = 2.0) -> ExitInfo:
        if not self._watcher.done():
            self._terminated = True
            await self._runsc("kill", "--all", self._cid, "TERM")
            try:
                await asyncio.wait_for(asyncio.shield(self._watcher), grace_s)
            except TimeoutError:
                await self._runsc("kill", "--all", self._cid, "KILL")
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
        return await asyncio.shield(self._watcher)
