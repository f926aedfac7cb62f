"""Per-run control groups: memory, CPU quota and process limits, v1 and v2.

For each controller (``memory``, ``cpu``, ``cpuacct``, ``pids``) the hierarchy
that carries it is found from ``/proc/self/mountinfo`` and our own place in it
from ``/proc/self/cgroup``; a run gets a fresh directory *below our own
cgroup* there. cgroup v1 and v2 are handled per controller, so hybrid hosts
(v1 memory, v2 elsewhere) work. A controller whose hierarchy is not writable
(an ordinary user, a read-only ``/sys/fs/cgroup``) is simply missing from
:attr:`RunCgroup.enforced`; the caller falls back to rlimits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path

from .base import Limits

__all__ = ["RunCgroup", "sweep_stale"]

_MiB = 1024 * 1024
_CFS_PERIOD_US = 100_000
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")


@dataclass(frozen=True)
class _Hierarchy:
    version: int
    own_dir: Path
    """Our own cgroup directory in this hierarchy."""
    controllers: frozenset[str]


def _mounts() -> list[tuple[str, Path, str, set[str]]]:
    """(root inside the hierarchy, mount point, fstype, super options) of cgroup mounts."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
            found.append((fields[3], Path(fields[4]), rfields[0], set(rfields[2].split(","))))
    return found


def _inside(mount_root: str, mount_point: Path, path: str) -> Path | None:
    rel = os.path.relpath(path, mount_root)
    return None if rel.startswith("..") else (mount_point / rel).resolve()


@functools.cache
def _hierarchies() -> tuple[_Hierarchy, ...]:
    """Where each controller lives for this process (computed once)."""
    mounts = _mounts()
    found: list[_Hierarchy] = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, names, path = line.split(":", 2)
        if hid == "0" and names == "":
            for root, point, fstype, _ in mounts:
                own = _inside(root, point, path) if fstype == "cgroup2" else None
                if own is not None and own.is_dir():
                    ctrl = (own / "cgroup.controllers").read_text().split()
                    found.append(_Hierarchy(2, own, frozenset(ctrl)))
                    break
            continue
        wanted = {n for n in names.split(",") if n}
        for root, point, fstype, opts in mounts:
            own = _inside(root, point, path) if fstype == "cgroup" and wanted <= opts else None
            if own is not None and own.is_dir():
                found.append(_Hierarchy(1, own, frozenset(wanted)))
                break
    return tuple(found)


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@dataclass
class RunCgroup:
    """The cgroups of one sandboxed run; create with :meth:`create`."""

    dirs: dict[str, tuple[int, Path]] = field(default_factory=dict)
    """controller -> (cgroup version, directory)."""

    @property
    def enforced(self) -> frozenset[str]:
        """The controllers whose limits this cgroup enforces."""
        return frozenset(self.dirs)

    @classmethod
    def create(cls, limits: Limits) -> RunCgroup:
        """Make the cgroups and write ``limits``; controllers that fail are left out."""
        _sweep_once()
        run = cls()
        # The supervisor's pid in the name lets a later supervisor remove what a
        # killed one left behind (see sweep_stale) without touching live runs.
        name = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        made: dict[Path, bool] = {}
        for controller in CONTROLLERS:
            for h in _hierarchies():
                if controller not in h.controllers:
                    continue
                directory = h.own_dir / name
                ok = made.get(directory)
                if ok is None:
                    ok = made[directory] = _make(h, directory, controller)
                elif ok and h.version == 2:
                    ok = _enable_v2(h.own_dir, controller)
                if ok and _apply(h.version, directory, controller, limits):
                    run.dirs[controller] = (h.version, directory)
                break
        for directory, ok in made.items():
            if ok and directory not in {d for _, d in run.dirs.values()}:
                with contextlib.suppress(OSError):
                    directory.rmdir()
        return run

    def _unique_dirs(self) -> list[Path]:
        return sorted({d for _, d in self.dirs.values()})

    def attach(self, pid: int) -> None:
        """Move ``pid`` into every cgroup of the run (children started later follow)."""
        for directory in self._unique_dirs():
            _write(directory / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        """Every process currently in the run's cgroups."""
        found: set[int] = set()
        for directory in self._unique_dirs():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return sorted(found)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this run for exceeding its memory."""
        version, directory = self.dirs.get("memory", (0, Path()))
        name = {1: "memory.oom_control", 2: "memory.events"}.get(version)
        if name is None:
            return False
        with contextlib.suppress(OSError):
            for line in (directory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def cpu_seconds(self) -> float | None:
        """CPU time the run has used, or ``None`` when no cgroup accounts it."""
        with contextlib.suppress(OSError, ValueError):
            if "cpuacct" in self.dirs and self.dirs["cpuacct"][0] == 1:
                return int((self.dirs["cpuacct"][1] / "cpuacct.usage").read_text()) / 1e9
            if "cpu" in self.dirs and self.dirs["cpu"][0] == 2:
                for line in (self.dirs["cpu"][1] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
        return None

    def kill(self) -> None:
        """SIGKILL every process in the run's cgroups."""
        for version, directory in self.dirs.values():
            if version == 2 and (directory / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    _write(directory / "cgroup.kill", "1")
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def remove(self, timeout_s: float = 2.0) -> None:
        """Kill what is left and remove the directories (waits for dying processes)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        for directory in self._unique_dirs():
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if loop.time() > deadline:
                        break
                    self.kill()
                    await asyncio.sleep(0.01)  # processes take a moment to leave a cgroup
        self.dirs.clear()


_PREFIX = "visualbox-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> int:
    """Remove the run cgroups of supervisors that died without cleaning up.

    A supervisor killed with SIGKILL cannot remove its runs' cgroups (the
    sandboxes themselves die with it through ``--die-with-parent``). Directories
    named after a pid that no longer exists are emptied and removed; returns how
    many were removed.
    """
    removed = 0
    for h in _hierarchies():
        try:
            children = list(h.own_dir.glob(f"{_PREFIX}*"))
        except OSError:
            continue
        for directory in children:
            owner = directory.name[len(_PREFIX) :].split("-", 1)[0]
            if not owner.isdigit() or _alive(int(owner)):
                continue
            with contextlib.suppress(OSError):
                for pid in (directory / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                directory.rmdir()
                removed += 1
    return removed


@functools.cache
def _sweep_once() -> None:
    sweep_stale()


def _enable_v2(parent: Path, controller: str) -> bool:
    name = "cpu" if controller == "cpuacct" else controller
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        if name not in enabled:
            _write(parent / "cgroup.subtree_control", f"+{name}")
        return True
    except OSError:
        return False


def _make(h: _Hierarchy, directory: Path, controller: str) -> bool:
    if not os.access(h.own_dir, os.W_OK):
        return False
    if h.version == 2 and not _enable_v2(h.own_dir, controller):
        return False
    try:
        directory.mkdir()
    except OSError:
        return False
    return True


def _apply(version: int, directory: Path, controller: str, limits: Limits) -> bool:
    """Write the limit files of one controller; False when the kernel refuses them."""
    memory = str(limits.memory_mb * _MiB)
    quota = max(1000, int(limits.cpu * _CFS_PERIOD_US))
    try:
        if controller == "memory" and version == 1:
            _write(directory / "memory.limit_in_bytes", memory)
            if (directory / "memory.memsw.limit_in_bytes").exists():
                _write(directory / "memory.memsw.limit_in_bytes", memory)
        elif controller == "memory":
            _write(directory / "memory.max", memory)
            if (directory / "memory.swap.max").exists():
                _write(directory / "memory.swap.max", "0")
        elif controller == "cpu" and version == 1:
            _write(directory / "cpu.cfs_period_us", str(_CFS_PERIOD_US))
            _write(directory / "cpu.cfs_quota_us", str(quota))
        elif controller == "cpu":
            _write(directory / "cpu.max", f"{quota} {_CFS_PERIOD_US}")
        elif controller == "pids":
            _write(directory / "pids.max", str(limits.pids))
        # cpuacct only accounts; nothing to write.
    except OSError:
        return False
    return True
