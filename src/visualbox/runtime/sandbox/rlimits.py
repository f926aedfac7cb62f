"""Resource limits (setrlimit) for the parts cgroups cannot enforce here.

Applied with ``prlimit(2)`` to bubblewrap's sandbox process while it is still
blocked, so the command and everything it starts inherit them. A root
supervisor starts bubblewrap as another uid and may lack ``CAP_SYS_RESOURCE``
(containers drop it), which ``prlimit(2)`` on another uid's process needs;
there util-linux's ``prlimit`` command sets them in the launch chain instead
(:func:`prlimit_args`), on bubblewrap itself, before the command exists. Always set:
``RLIMIT_NOFILE`` (open files) and ``RLIMIT_FSIZE`` (largest file,
``disk_mb``), plus ``RLIMIT_CPU`` when ``limits.cpu_time_s`` is given.
Fallbacks when the matching cgroup controller is missing:

* ``pids`` -> ``RLIMIT_NPROC``, for an ordinary user only (``nproc``). It counts
  every process of the *host* uid. A root supervisor starts every sandbox as the
  same unprivileged host uid, so there it would be one limit shared by all
  sandboxes (one integration's fork bomb would stop the others from starting
  processes): as root the pids cgroup is the only process limit.
* ``memory`` -> ``RLIMIT_AS``, for Python only: address space is not memory,
  and Node reserves ~768 MB of it at start-up, so an AS cap would break Node.
"""

from __future__ import annotations

import math
import os
import resource
from collections.abc import Sequence

from .base import Limits

__all__ = ["apply_rlimits", "prlimit_args", "rlimits_for"]

_MiB = 1024 * 1024
_NAMES = {
    resource.RLIMIT_NOFILE: "nofile",
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_CPU: "cpu",
    resource.RLIMIT_NPROC: "nproc",
    resource.RLIMIT_AS: "as",
}


def _is_python(argv: Sequence[str]) -> bool:
    return bool(argv) and os.path.basename(argv[0]).startswith("python")


def rlimits_for(
    limits: Limits, argv: Sequence[str], enforced: frozenset[str], *, nproc: bool = True
) -> dict[int, tuple[int, int]]:
    """The rlimits (resource -> (soft, hard)) a run gets, given the cgroup controllers
    that already enforce their limit; ``nproc=False`` never uses ``RLIMIT_NPROC``."""
    disk = limits.disk_mb * _MiB
    wanted = {
        resource.RLIMIT_NOFILE: (limits.nofile, limits.nofile),
        resource.RLIMIT_FSIZE: (disk, disk),
    }
    if limits.cpu_time_s is not None:
        soft = max(1, math.ceil(limits.cpu_time_s))
        wanted[resource.RLIMIT_CPU] = (soft, soft + 1)  # SIGXCPU first, SIGKILL a second later
    if nproc and "pids" not in enforced:
        wanted[resource.RLIMIT_NPROC] = (limits.pids, limits.pids)
    if "memory" not in enforced and _is_python(argv):
        memory = limits.memory_mb * _MiB
        wanted[resource.RLIMIT_AS] = (memory, memory)
    return wanted


def apply_rlimits(pid: int, wanted: dict[int, tuple[int, int]]) -> None:
    """Lower the limits of process ``pid`` (never raises one above its current hard limit)."""
    for res, (soft, hard) in wanted.items():
        limit = _lowered(soft, hard, resource.prlimit(pid, res)[1])
        resource.prlimit(pid, res, limit)


def _lowered(soft: int, hard: int, cur_hard: int) -> tuple[int, int]:
    """``(soft, hard)`` kept at or below ``cur_hard`` (raising a hard limit needs privilege)."""
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
        soft = min(soft, hard)
    return soft, hard


def prlimit_args(prlimit: str, wanted: dict[int, tuple[int, int]]) -> list[str]:
    """A ``prlimit`` command prefix that sets ``wanted`` (never above this process's own
    hard limits, which the command inherits) and then runs the rest of the argv."""
    args = [prlimit]
    for res, (soft, hard) in wanted.items():
        soft, hard = _lowered(soft, hard, resource.getrlimit(res)[1])
        args.append(f"--{_NAMES[res]}={soft}:{hard}")
    return [*args, "--"]
