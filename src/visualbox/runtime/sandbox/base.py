"""The sandbox contract: run one untrusted command, isolated and limited.

A :class:`Sandbox` turns a :class:`SandboxSpec` (what to run, what it may see,
its limits) into a running :class:`SandboxProcess`. Implementations live next
to this file (``bwrap.py`` the default, ``runsc.py`` hardened, ``none.py`` the
explicit unsandboxed development mode); ``tests/runtime/test_sandbox_contract.py``
is the contract test every implementation must pass.

Rules every implementation keeps:

* the command never sees the host environment: ``env`` is the whole environment;
* only ``mounts`` are visible besides a read-only system (``/usr``, ``/etc/ssl``, ...),
  the trusted certificate authorities at ``certificates.CA_FILE`` (the host's store
  and the operator's bundle), a private writable ``workdir`` and ``/tmp``, both
  capped at ``limits.disk_mb``;
  the code reads (and writes) them as :attr:`Sandbox.host_ids` when that is set;
* the file descriptors in ``pass_fds`` are inherited with the same numbers,
  everything else is closed;
* the process and all its children die when the supervisor dies;
* :meth:`SandboxProcess.wait` reports *why* the process ended.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Network = Literal["outbound", "none"]


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 256
    cpu: float = 0.5
    pids: int = 64
    disk_mb: int = 64
    nofile: int = 256
    time_s: float | None = None
    """Wall-clock limit; ``None`` runs until stopped (integrations are long-lived)."""
    cpu_time_s: float | None = None
    """CPU-seconds ceiling per process (RLIMIT_CPU); ``None`` for no ceiling."""


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    mounts: Sequence[Mount] = ()
    workdir: str = "/work"
    network: Network = "none"
    allow_host_ports: Sequence[int] = ()
    allow_networks: Sequence[str] = ()
    """LAN hosts or subnets (IPv4) an ``outbound`` sandbox may reach besides the internet."""
    limits: Limits = field(default_factory=Limits)
    pass_fds: Sequence[int] = ()


class ExitReason(enum.StrEnum):
    EXITED = "exited"  # exit code 0
    CRASHED = "crashed"  # non-zero exit or killed by a signal we did not send
    OOM = "oom"  # killed for exceeding limits.memory_mb
    CPU_LIMIT = "cpu_limit"
    TIME_LIMIT = "time_limit"  # limits.time_s ran out
    TERMINATED = "terminated"  # stopped through terminate()
    CONFIG = "config"  # exit code 78 (EX_CONFIG): the config cannot work; not restarted


EX_CONFIG = 78
"""The exit status that says "my config cannot work" (sysexits.h), so do not restart."""
CONFIG_DETAIL = "the config cannot work (exit status 78); see the log"


@dataclass(frozen=True)
class ExitInfo:
    code: int | None
    """Exit status, or ``-signal`` when killed by a signal."""
    reason: ExitReason
    detail: str = ""
    cpu_s: float | None = None
    """CPU seconds the run used, when the backend can measure it (cgroup accounting)."""


def exit_of_status(code: int | None, cpu_s: float | None = None) -> ExitInfo:
    """How a run ended by its own exit status (no limit hit, not stopped by us): 0 is
    ``exited``, 78 ``config``, anything else (a signal too) ``crashed``. Every backend
    ends with this once it has ruled out its own reasons."""
    if code == 0:
        return ExitInfo(code, ExitReason.EXITED, "", cpu_s)
    if code == EX_CONFIG:
        return ExitInfo(code, ExitReason.CONFIG, CONFIG_DETAIL, cpu_s)
    return ExitInfo(code, ExitReason.CRASHED, f"exit status {code}", cpu_s)


class SandboxProcess(abc.ABC):
    """A running sandboxed command. ``stdout``/``stderr`` are asyncio streams."""

    pid: int
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader

    @abc.abstractmethod
    async def wait(self) -> ExitInfo:
        """Wait for the end of the process and everything it started."""

    @abc.abstractmethod
    async def terminate(self, grace_s: float = 2.0) -> ExitInfo:
        """SIGTERM, then SIGKILL after ``grace_s``; idempotent. Reason: TERMINATED."""


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here; the message says how to install it."""


class Sandbox(abc.ABC):
    name: str
    passes_fds: bool = True
    """Whether ``SandboxSpec.pass_fds`` works. Where it does not, the supervisor runs
    integrations through the launcher (``runtime/launcher.py``), whose channel is a
    Unix socket in a mounted directory."""
    host_ids: tuple[int, int] | None = None
    """Host ``(uid, gid)`` the sandboxed code runs as when it is not the supervisor's
    own (bwrap started by root drops to an unprivileged uid): a writable mount must
    belong to it while the code writes there. ``None``: the supervisor's own uid."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise :class:`SandboxUnavailable` with install advice when unusable."""

    @abc.abstractmethod
    async def spawn(self, spec: SandboxSpec) -> SandboxProcess:
        """Start ``spec.argv`` inside the sandbox."""
