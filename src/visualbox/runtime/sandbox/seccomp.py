"""The system-call filter every sandboxed process runs under.

Default *deny*: a call that is not in :data:`ALLOWED_SYSCALLS` fails with
``EPERM`` (never a kill), so a runtime that probes for a feature falls back
instead of dying. The list holds what Python 3, Node.js 20, Go programs and
the prepare tools (uv, npm, ``go build``, sh, cp) were seen to use under
``strace`` inside the sandbox, plus the siblings of those calls that glibc,
Go or libuv pick on other kernels or architectures (``stat``/``statx``,
``epoll_wait``/``epoll_pwait2``, ``dup2``/``dup3``, ...); docs/sandbox.md
tells how the list was measured. Everything that attacks the kernel or other
processes rather than does an integration's work stays out: debugging
(``ptrace``), mounting, new namespaces, kernel modules, BPF, keyrings,
``userfaultfd``, ``perf_event_open`` and ``io_uring`` (:data:`DENIED_SYSCALLS`
names the notable ones; a test checks they are refused).

Two calls are allowed only with some arguments, checked by the filter:

* ``clone`` without any namespace flag. ``clone3`` answers ``ENOSYS`` (its
  flags live in memory a filter cannot read), so the C library and Go fall back
  to ``clone``;
* ``ioctl`` with any request but ``TIOCSTI`` (pushing characters into the
  terminal's input queue), compared on the low 32 bits the kernel reads.

The filter is built once with libseccomp (``pyseccomp``) for the machine's own
architecture (names the architecture lacks, such as ``open`` on aarch64, are
skipped; calls of another ABI, such as i386 on x86_64, kill the process),
exported as classic BPF and cached; bubblewrap loads it with ``--seccomp FD``
right before it runs the command, so bubblewrap's own set-up is not affected.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import tempfile

import pyseccomp

__all__ = ["ALLOWED_SYSCALLS", "DENIED_SYSCALLS", "filter_bpf"]

ALLOWED_SYSCALLS: tuple[str, ...] = (
    # files and directories
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "open", "openat", "creat", "close", "close_range", "lseek",
    "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
    "access", "faccessat", "faccessat2", "readlink", "readlinkat",
    "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "rename", "renameat",
    "renameat2", "unlink", "unlinkat", "link", "linkat", "symlink", "symlinkat",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "truncate", "ftruncate", "fallocate", "fadvise64", "readahead",
    "fsync", "fdatasync", "sync_file_range", "utime", "utimes", "utimensat", "futimesat",
    "umask", "chdir", "fchdir", "getcwd", "dup", "dup2", "dup3", "fcntl", "flock",
    "pipe", "pipe2", "sendfile", "copy_file_range", "splice", "tee", "mknod", "mknodat",
    "memfd_create", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
    "flistxattr", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
    "fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "membarrier", "pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack",
    # processes and threads (``clone`` and ``ioctl`` are added with their conditions)
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
    "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid", "setpgid",
    "getpgrp", "getsid", "setsid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
    "getresuid", "getresgid", "capget", "prctl", "arch_prctl", "set_tid_address",
    "set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv", "restart_syscall",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min", "getcpu",
    "getpriority", "setpriority", "getrlimit", "setrlimit", "prlimit64", "getrusage",
    "times", "sysinfo", "uname", "pidfd_open", "pidfd_send_signal",
    # signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
    "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause",
    "alarm", "signalfd", "signalfd4",
    # time
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
    "timer_getoverrun", "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    # waiting on many files
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    # sockets (the network namespace decides what they reach)
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect",
    "getsockname", "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
    "recvmmsg", "shutdown", "setsockopt", "getsockopt",
    # randomness
    "getrandom",
)  # fmt: skip
"""System calls a sandboxed process may make; every other one fails with ``EPERM``."""

DENIED_SYSCALLS: tuple[str, ...] = (
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount2", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    "mount_setattr", "unshare", "setns", "pivot_root", "chroot",
    "bpf", "keyctl", "add_key", "request_key", "perf_event_open",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "userfaultfd", "open_by_handle_at", "name_to_handle_at", "reboot", "swapon", "swapoff",
    "acct", "quotactl", "syslog", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "iopl", "ioperm", "personality", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "capset", "sethostname", "setdomainname",
    "fanotify_init", "landlock_create_ruleset", "memfd_secret", "sync", "syncfs",
)  # fmt: skip
"""Notable calls that stay out of :data:`ALLOWED_SYSCALLS` (and so fail with ``EPERM``):
``io_uring`` (a large attack surface that also bypasses this filter for the I/O it
queues; libuv falls back to its thread pool), and the calls that debug other
processes, mount, enter namespaces, load kernel code or change the machine."""

_CLONE_NAMESPACES = 0x7E020080
"""Every ``CLONE_NEW*`` flag: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET,
and NEWTIME (0x80)."""
_TIOCSTI = 0x5412


@functools.cache
def filter_bpf() -> bytes:
    """The filter as classic BPF bytes, ready for ``bwrap --seccomp FD``."""
    overlap = set(ALLOWED_SYSCALLS) & set(DENIED_SYSCALLS)
    assert not overlap, f"both allowed and denied: {sorted(overlap)}"
    filt = pyseccomp.SyscallFilter(pyseccomp.ERRNO(errno.EPERM))
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # libseccomp < 2.5
        filt.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, 2)  # a binary tree, not a list of ~200
    for name in ALLOWED_SYSCALLS:
        _add(filt, pyseccomp.ALLOW, name)
    _add(filt, pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    _add(
        filt, pyseccomp.ALLOW, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, _CLONE_NAMESPACES, 0)
    )
    # ioctl(fd, request) unless the low 32 bits of request are TIOCSTI: allowed when any
    # one of those bits differs from TIOCSTI's (a filter has no "masked not equal").
    for bit in range(32):
        differs = (~_TIOCSTI) & (1 << bit)
        _add(
            filt, pyseccomp.ALLOW, "ioctl", pyseccomp.Arg(1, pyseccomp.MASKED_EQ, 1 << bit, differs)
        )
    with tempfile.TemporaryFile() as out:
        filt.export_bpf(out)
        out.seek(0)
        return out.read()


def _add(filt: pyseccomp.SyscallFilter, action: int, name: str, *args: pyseccomp.Arg) -> None:
    try:
        filt.add_rule(action, name, *args)
    except (OSError, ValueError, RuntimeError):
        pass  # not a system call on this architecture
