"""The default sandbox: bubblewrap namespaces + seccomp + cgroups/rlimits + slirp4netns.

A run is one ``bwrap`` process. It gets new user, pid, ipc, uts, mount, net
(and, when possible, cgroup) namespaces, runs as uid/gid 65534, and sees only:

* a read-only system: ``/usr`` (with the ``/bin``, ``/lib*``, ``/sbin`` links),
  ``/etc/ssl``, ``/etc/ca-certificates``, ``/etc/alternatives``, and generated
  ``/etc/passwd``, ``group``, ``hosts``, ``nsswitch.conf`` (``resolv.conf``
  pointing at slirp's resolver when networked);
* its own ``/proc`` (its processes only) and a minimal ``/dev``;
* a private writable ``workdir`` and ``/tmp``, each a tmpfs of ``disk_mb``;
* the ``spec.mounts``, read-only unless marked writable.

When the supervisor runs as root, the sandbox bwrap itself runs as an
unprivileged host uid/gid (``host_uid``/``host_gid``, 65534 by default), so the
sandbox's uid 65534 *is* that uid on the host: what it writes through a
writable mount belongs to it, never to root, and a namespace escape would land
unprivileged. That uid may not be allowed to walk to a mount source (a checkout
or data directory under a 0700 ``/root``), and bubblewrap 0.8 resolves every
source by path, ``--bind-fd`` included (it calls ``realpath`` on
``/proc/self/fd/N``). So a first, root bwrap only makes a private mount
namespace (the host root plus every source bound at ``/tmp/N`` on a fresh tmpfs)
and a pid namespace; ``setpriv`` then drops to the host uid (no groups, no
capabilities), ``prlimit`` sets the rlimits, and the sandbox bwrap binds
``/tmp/N``. The pid namespace is what ties the chain together: the staging
bwrap gives up its capabilities, so it could not deliver a parent-death signal
to a process of another uid, but when it dies its pid namespace's init dies
and the kernel kills everything below. The files themselves must still be
readable (writable mounts writable) by that uid. Everything that needs root
stays in the supervisor: cgroups, rlimits, slirp4netns and the egress rules.

Start-up is two-phase: bwrap is started with ``--block-fd`` and reports its
sandbox process on ``--info-fd``; while that process waits, the supervisor
moves it into the run's cgroups, sets its rlimits (as root: ``prlimit`` already
did) and wires the network, then unblocks it. So the command never runs a single
instruction unlimited.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from .base import (
    ExitInfo,
    ExitReason,
    Limits,
    Sandbox,
    SandboxProcess,
    SandboxSpec,
    SandboxUnavailable,
    exit_of_status,
)
from .certificates import TrustStore
from .cgroups import RunCgroup
from .network import (
    INSTALL_ADVICE,
    SLIRP_DNS,
    SlirpNetwork,
    check_tools,
    find_tool,
    wait_readable,
)
from .rlimits import apply_rlimits, prlimit_args, rlimits_for
from .seccomp import filter_bpf

__all__ = ["BwrapProcess", "BwrapSandbox"]

SANDBOX_UID = 65534
_MiB = 1024 * 1024
_SETUP_TIMEOUT_S = 10.0
_STAGE = "/tmp"
"""Where the root staging bwrap binds the mount sources (a tmpfs in its namespace only)."""
_SYSTEM_LINKS = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
_SYSTEM_ETC = (
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/localtime",
)


@functools.cache
def _namespaces_work(bwrap: str, host_ids: tuple[int, int] | None) -> str | None:
    """``None`` when bwrap (run as ``host_ids``, if given) can create its namespaces
    here, else bwrap's complaint."""
    try:
        done = subprocess.run(
            [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--", "/bin/true"],
            capture_output=True,
            timeout=10,
            check=False,
            cwd="/",
            user=None if host_ids is None else host_ids[0],
            group=None if host_ids is None else host_ids[1],
            extra_groups=None if host_ids is None else [],
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.decode(errors="replace").strip()


def _data_fd(data: bytes) -> int:
    """A readable fd holding ``data`` (small: it must fit the pipe buffer)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
    finally:
        os.close(write_end)
    return read_end


def _etc_files(spec: SandboxSpec) -> dict[str, bytes]:
    uid = SANDBOX_UID
    files = {
        "/etc/passwd": f"sandbox:x:{uid}:{uid}:sandbox:{spec.workdir}:/usr/sbin/nologin\n",
        "/etc/group": f"sandbox:x:{uid}:\n",
        "/etc/hosts": "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n",
        "/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    }
    if spec.network == "outbound":
        files["/etc/resolv.conf"] = f"nameserver {SLIRP_DNS}\n"
    return {path: text.encode() for path, text in files.items()}


def _system_args() -> Iterator[str]:
    yield from ("--ro-bind", "/usr", "/usr")
    for name in _SYSTEM_LINKS:
        path = Path("/", name)
        if path.is_symlink():
            yield from ("--symlink", os.readlink(path), str(path))
        elif path.is_dir():
            yield from ("--ro-bind", str(path), str(path))
    for etc in _SYSTEM_ETC:
        yield from ("--ro-bind-try", etc, etc)


class BwrapSandbox(Sandbox):
    """Runs commands under bubblewrap. ``outbound`` says whether ``check()`` also
    requires the outbound-networking tools (slirp4netns, nsenter, iptables).

    Started by root, bwrap runs as ``host_uid``/``host_gid`` (no supplementary
    groups; :attr:`host_ids`); started by anyone else, as the caller. Every run sees
    the host's CA bundle, with the operator's ``ca_bundle`` added (``certificates.py``)."""

    name = "bwrap"

    def __init__(
        self,
        *,
        outbound: bool = True,
        use_cgroups: bool = True,
        host_uid: int = SANDBOX_UID,
        host_gid: int = SANDBOX_UID,
        ca_bundle: Path | None = None,
    ) -> None:
        if host_uid <= 0 or host_gid <= 0:
            raise ValueError("the sandbox's host uid and gid must not be root")
        self._outbound = outbound
        self.trust = TrustStore(ca_bundle)
        self._use_cgroups = use_cgroups
        self.host_ids = (host_uid, host_gid) if os.geteuid() == 0 else None

    @property
    def bwrap(self) -> str:
        path = shutil.which("bwrap")
        if path is None:
            raise SandboxUnavailable(f"bubblewrap is not installed: {INSTALL_ADVICE}")
        return path

    def _stage(
        self, spec: SandboxSpec, rlimits: dict[int, tuple[int, int]]
    ) -> tuple[list[str], list[str]]:
        """(command prefix, source paths) of the mounts of ``spec``: as root, the prefix
        is the staging bwrap, ``setpriv`` and ``prlimit`` (``rlimits``), and the sources
        are the staging bwrap's ``/tmp/N``."""
        sources = [str(Path(m.source).resolve(strict=True)) for m in spec.mounts]
        if self.host_ids is None:
            return [], sources
        uid, gid = self.host_ids
        prefix = [self.bwrap, "--dev-bind", "/", "/", "--tmpfs", _STAGE, "--unshare-pid"]
        for n, (mount, source) in enumerate(zip(spec.mounts, sources, strict=True)):
            prefix += ["--bind" if mount.writable else "--ro-bind", source, f"{_STAGE}/{n}"]
        prefix += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--die-with-parent"]
        prefix += ["--", find_tool("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        prefix += ["--inh-caps=-all", "--", *prlimit_args(find_tool("prlimit"), rlimits)]
        return prefix, [f"{_STAGE}/{n}" for n in range(len(sources))]

    def check(self) -> None:
        problem = _namespaces_work(self.bwrap, self.host_ids)
        if problem is not None:
            raise SandboxUnavailable(
                f"bubblewrap cannot create namespaces here ({problem}). "
                "Allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
                f"or an AppArmor profile for bwrap) and {INSTALL_ADVICE}"
            )
        if self._outbound:
            check_tools()
        if self.host_ids is not None:
            find_tool("setpriv")
            find_tool("prlimit")

    def command(
        self, spec: SandboxSpec, fds: dict[str, int], rlimits: dict[int, tuple[int, int]]
    ) -> list[str]:
        """The bwrap command line of ``spec`` (``fds``: seccomp, info, block, /etc files),
        behind the staging bwrap, ``setpriv`` and ``prlimit`` when the supervisor is root
        (otherwise the caller applies ``rlimits`` to the blocked sandbox process)."""
        prefix, sources = self._stage(spec, rlimits)
        disk = str(spec.limits.disk_mb * _MiB)
        args = [*prefix, self.bwrap, *_system_args()]
        for path in _etc_files(spec):
            args += ["--ro-bind-data", str(fds[path]), path]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--size", disk, "--tmpfs", "/tmp", "--size", disk, "--tmpfs", spec.workdir]
        for mount, source in zip(spec.mounts, sources, strict=True):
            args += ["--bind" if mount.writable else "--ro-bind", source, mount.target]
        args += ["--remount-ro", "/", "--chdir", spec.workdir]
        args += ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        args += ["--unshare-net", "--unshare-cgroup-try", "--disable-userns"]
        args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
        args += ["--die-with-parent", "--new-session", "--clearenv"]
        for key, value in spec.env.items():
            args += ["--setenv", key, value]
        args += ["--seccomp", str(fds["seccomp"])]
        args += ["--info-fd", str(fds["info"]), "--block-fd", str(fds["block"])]
        return [*args, "--", *spec.argv]

    async def spawn(self, spec: SandboxSpec) -> BwrapProcess:
        if not spec.argv:
            raise ValueError("empty argv")
        if spec.network == "outbound":
            check_tools()
        spec = self.trust.apply(spec)
        child_fds = {path: _data_fd(data) for path, data in _etc_files(spec).items()}
        child_fds["seccomp"] = _data_fd(filter_bpf())
        info_r, child_fds["info"] = os.pipe()
        child_fds["block"], block_w = os.pipe()
        parent_fds = [info_r, block_w]
        # bwrap's init process counts against the pids limit too.
        limits = replace(spec.limits, pids=spec.limits.pids + 1)
        cgroup = RunCgroup.create(limits) if self._use_cgroups else RunCgroup()
        proc: asyncio.subprocess.Process | None = None
        pidfd = -1
        network: SlirpNetwork | None = None
        # All sandboxes of a root supervisor share the host uid: RLIMIT_NPROC would be
        # one limit for all of them.
        rlimits = rlimits_for(limits, spec.argv, cgroup.enforced, nproc=self.host_ids is None)
        try:
            argv = self.command(spec, child_fds, rlimits)
            # Never cancelled midway: asyncio's own clean-up would wait for the pipes,
            # which the sandbox (blocked on the fd we hold) never closes. A stop that
            # comes meanwhile lets it finish, then the clean-up below ends it.
            creating = asyncio.ensure_future(
                asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    pass_fds=(*child_fds.values(), *spec.pass_fds),
                    cwd="/",
                )
            )
            try:
                proc = await asyncio.shield(creating)
            except asyncio.CancelledError:
                proc = await creating
                raise
            for fd in child_fds.values():
                os.close(fd)
            child_fds.clear()
            child = await _read_child_pid(info_r, proc)
            if self.host_ids is not None:  # a pid in the staging bwrap's pid namespace
                child = _host_pid(proc.pid, child)
            pidfd = os.pidfd_open(child)
            cgroup.attach(child)
            if self.host_ids is None:
                apply_rlimits(child, rlimits)
            if spec.network == "outbound":
                network = await SlirpNetwork.attach(
                    child, spec.allow_host_ports, spec.allow_networks
                )
            os.write(block_w, b"1")
        except BaseException:
            if pidfd >= 0:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.close(pidfd)
            if proc is not None and proc.returncode is None:
                # Stopped before the sandbox process was known (a stop right after a
                # start): it still waits on the block fd, holding bwrap's pipes open, so
                # it must end too, before bwrap is waited for; never let it go on.
                for pid in reversed(_descendants(proc.pid)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            if network is not None:
                await network.close()
            await cgroup.remove()
            raise
        finally:
            for fd in [*child_fds.values(), *parent_fds]:
                os.close(fd)
        return BwrapProcess(proc, pidfd, child, cgroup, network, spec.limits)


async def _read_child_pid(info_r: int, proc: asyncio.subprocess.Process) -> int:
    """The host pid of bwrap's sandbox process, from its ``--info-fd`` JSON."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(info_r), "rb", 0)
    )
    try:
        data = await asyncio.wait_for(reader.readuntil(b"}\n"), _SETUP_TIMEOUT_S)
        return int(json.loads(data)["child-pid"])
    except (asyncio.IncompleteReadError, TimeoutError, ValueError, KeyError) as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode(errors="replace").strip()
        raise SandboxUnavailable(f"bubblewrap failed to start: {err or exc!r}") from exc
    finally:
        transport.close()


def _host_pid(ancestor: int, ns_pid: int) -> int:
    """The host pid of the descendant of ``ancestor`` that is ``ns_pid`` in the pid
    namespace of ``ancestor``'s children (the second ``NSpid`` of /proc/PID/status)."""
    for pid in _descendants(ancestor):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    ids = line.split()[1:]
                    if len(ids) > 1 and int(ids[1]) == ns_pid:
                        return pid
                    break
    raise SandboxUnavailable(f"bubblewrap's sandbox process {ns_pid} is not running")


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (via /proc/PID/task/TID/children)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                found += kids
                todo += kids
    return found


class BwrapProcess(SandboxProcess):
    """A running bwrap sandbox. ``pid`` is bubblewrap's own process."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        pidfd: int,
        init_pid: int,
        cgroup: RunCgroup,
        network: SlirpNetwork | None,
        limits: Limits,
    ) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.pid = proc.pid
        self.init_pid = init_pid
        """Host pid of the sandbox's pid 1 (bubblewrap's init)."""
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self._proc = proc
        self._pidfd = pidfd
        self._cgroup = cgroup
        self._network = network
        self._limits = limits
        self.enforced = cgroup.enforced
        """Cgroup controllers limiting this run (the others fell back to rlimits)."""
        self._timed_out = False
        self._terminated = False
        self._watcher = asyncio.ensure_future(self._watch())

    def _kill(self) -> None:
        """SIGKILL the sandbox's pid 1: the kernel then kills everything in its pid ns."""
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        self._cgroup.kill()

    async def _watch(self) -> ExitInfo:
        try:
            if self._limits.time_s is None:
                await self._proc.wait()
            else:
                await asyncio.wait_for(asyncio.shield(self._proc.wait()), self._limits.time_s)
        except TimeoutError:
            if not self._terminated:
                self._timed_out = True
            self._kill()
            await self._proc.wait()
        finally:
            self._kill()  # whatever the command left behind
            await self._init_gone()
            cpu_s = self._cgroup.cpu_seconds()
            oom = self._cgroup.oom_killed()
            await self._cgroup.remove()
            if self._network is not None:
                await self._network.close()
        return self._exit_info(self._proc.returncode, oom, cpu_s)

    async def _init_gone(self) -> None:
        """Wait until the sandbox's pid 1 has exited: the kernel reaps every other process
        of its pid namespace before that, so nothing of the run is left."""
        # Nothing left but an unkillable (D state) process when this times out; the
        # cgroup removal below then retries and gives up.
        await wait_readable(self._pidfd, _SETUP_TIMEOUT_S)
        os.close(self._pidfd)
        self._pidfd = -1

    def _exit_info(self, rc: int | None, oom: bool, cpu_s: float | None) -> ExitInfo:
        code = rc
        if rc is not None and 128 < rc <= 128 + 64:
            code = -(rc - 128)  # bwrap reports a command killed by signal N as 128+N
        if self._terminated:
            reason, detail = ExitReason.TERMINATED, "stopped"
        elif self._timed_out:
            reason, detail = ExitReason.TIME_LIMIT, f"ran longer than {self._limits.time_s} s"
        elif oom:
            reason, detail = ExitReason.OOM, f"exceeded {self._limits.memory_mb} MiB"
        elif code == -signal.SIGXCPU or (
            code == -signal.SIGKILL
            and self._limits.cpu_time_s is not None
            and (cpu_s is None or cpu_s >= self._limits.cpu_time_s)
        ):
            reason, detail = ExitReason.CPU_LIMIT, f"used {self._limits.cpu_time_s} CPU seconds"
        else:
            return exit_of_status(code, cpu_s)
        return ExitInfo(code=code, reason=reason, detail=detail, cpu_s=cpu_s)

    async def wait(self) -> ExitInfo:
        return await asyncio.shield(self._watcher)

    async def terminate(self, grace_s: float = 2.0) -> ExitInfo:
        if not self._watcher.done():
            self._terminated = True
            pids = self._cgroup.pids() if self._cgroup.enforced else []
            for pid in pids or _descendants(self.init_pid):
                if pid != self.init_pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._watcher), grace_s)
            except TimeoutError:
                self._kill()
        return await asyncio.shield(self._watcher)
