"""Resource limits (setrlimit) for the parts cgroups cannot enforce here.

Applied with ``prlimit`` to bubblewrap's sandbox process while it is still
blocked, so the command and everything it starts inherit them. Always set:
``RLIMIT_NOFILE`` (open files) and ``RLIMIT_FSIZE`` (largest file,
``disk_mb``), plus ``RLIMIT_CPU`` when ``limits.cpu_time_s`` is given.
Fallbacks when the matching cgroup controller is missing:

* ``pids`` -> ``RLIMIT_NPROC``. It counts every process of the *host* uid,
  and the kernel ignores it for root, so it only bites for an ordinary user.
* ``memory`` -> ``RLIMIT_AS``, for Python only: address space is not memory,
  and Node reserves ~768 MB of it at start-up, so an AS cap would break Node.
"""

from __future__ import annotations

import math
import os
import resource
from collections.abc import Sequence

from .base import Limits

__all__ = ["apply_rlimits", "rlimits_for"]

_MiB = 1024 * 1024


def _is_python(argv: Sequence[str]) -> bool:
    return bool(argv) and os.path.basename(argv[0]).startswith("python")


def rlimits_for(
    limits: Limits, argv: Sequence[str], enforced: frozenset[str]
) -> dict[int, tuple[int, int]]:
    """The rlimits (resource -> (soft, hard)) a run gets, given the cgroup controllers
    that already enforce their limit."""
    disk = limits.disk_mb * _MiB
    wanted = {
        resource.RLIMIT_NOFILE: (limits.nofile, limits.nofile),
        resource.RLIMIT_FSIZE: (disk, disk),
    }
    if limits.cpu_time_s is not None:
        soft = max(1, math.ceil(limits.cpu_time_s))
        wanted[resource.RLIMIT_CPU] = (soft, soft + 1)  # SIGXCPU first, SIGKILL a second later
    if "pids" not in enforced:
        wanted[resource.RLIMIT_NPROC] = (limits.pids, limits.pids)
    if "memory" not in enforced and _is_python(argv):
        memory = limits.memory_mb * _MiB
        wanted[resource.RLIMIT_AS] = (memory, memory)
    return wanted


def apply_rlimits(pid: int, wanted: dict[int, tuple[int, int]]) -> None:
    """Lower the limits of process ``pid`` (never raises one above its current hard limit)."""
    for res, (soft, hard) in wanted.items():
        _, cur_hard = resource.prlimit(pid, res)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.prlimit(pid, res, (soft, hard))
