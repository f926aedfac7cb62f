"""The system-call filter every sandboxed process runs under.

Default *allow*, ``EPERM`` for the calls that attack the kernel or other
processes rather than do an integration's work: debugging other processes,
mounting, new namespaces, kernel modules, BPF, keyrings and the like. The
filter is built once with libseccomp (``pyseccomp``), exported as classic BPF
and cached; bubblewrap loads it with ``--seccomp FD`` right before it runs the
command, so bubblewrap's own set-up is not affected.

``clone3`` answers ``ENOSYS`` (its flags live in memory a filter cannot read),
so the C library falls back to ``clone``, whose flags are checked: creating a
user namespace is refused.
"""

from __future__ import annotations

import errno
import functools
import tempfile

import pyseccomp

__all__ = ["DENIED_SYSCALLS", "filter_bpf"]

DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "mount",
    "umount2",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "pivot_root",
    "chroot",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "lookup_dcookie",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "personality",
)
"""System calls that fail with ``EPERM`` inside the sandbox."""

_CLONE_NEWUSER = 0x10000000
_TIOCSTI = 0x5412


@functools.cache
def filter_bpf() -> bytes:
    """The filter as classic BPF bytes, ready for ``bwrap --seccomp FD``."""
    filt = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    deny = pyseccomp.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            filt.add_rule(deny, name)
        except (OSError, ValueError, RuntimeError):
            continue  # not a system call on this architecture
    filt.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    filt.add_rule(
        deny, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, _CLONE_NEWUSER, _CLONE_NEWUSER)
    )
    # Pushing characters into the terminal's input queue (a classic escape).
    filt.add_rule(deny, "ioctl", pyseccomp.Arg(1, pyseccomp.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    with tempfile.TemporaryFile() as out:
        filt.export_bpf(out)
        out.seek(0)
        return out.read()
