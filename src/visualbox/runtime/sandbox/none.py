"""The explicit *unsandboxed* development backend: no isolation at all.

The command runs as an ordinary host process in its own session, with
``spec.env`` as its whole environment and a fresh temporary directory standing
in for ``spec.workdir``. Mounts cannot be emulated without namespaces, so they become
symlinks in a temporary root directory, and every absolute path in argv and the
environment whose first component is a mount target's (or the workdir's) is
rewritten into that root; a value that is :data:`CA_FILE` becomes the trusted CA
bundle's host path. Limits other than ``time_s`` are not enforced and
``network`` is ignored. Never use it for code you do not trust.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path

from visualbox.runtime.sandbox.base import (
    ExitInfo,
    ExitReason,
    Sandbox,
    SandboxProcess,
    SandboxSpec,
    exit_of_status,
)
from visualbox.runtime.sandbox.certificates import CA_FILE, TrustStore


def _rewrite(value: str, root: str, tops: frozenset[str]) -> str:
    """Prefix ``root`` to every absolute path (or PATH-like part) under a mounted top dir."""
    parts = value.split(":")
    for index, part in enumerate(parts):
        if part.startswith("/") and part.split("/")[1] in tops:
            parts[index] = root + part
    return ":".join(parts)


def exit_info(returncode: int, reason: ExitReason | None = None) -> ExitInfo:
    """ExitInfo for a returncode (negative = killed by that signal)."""
    if reason is None:
        chosen = exit_of_status(returncode)
        if chosen.reason is ExitReason.CONFIG:
            return chosen
        reason = chosen.reason
    if returncode < 0:
        detail = f"killed by signal {signal.Signals(-returncode).name}"
    else:
        detail = f"exit code {returncode}"
    if reason is ExitReason.TIME_LIMIT:
        detail = "wall-clock time limit reached; " + detail
    elif reason is ExitReason.TERMINATED:
        detail = "terminated; " + detail
    return ExitInfo(returncode, reason, detail)


class NoneProcess(SandboxProcess):
    def __init__(self, proc: asyncio.subprocess.Process, root: str, time_s: float | None) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        self.pid = proc.pid
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self._root = root
        self._reason: ExitReason | None = None
        self._info: ExitInfo | None = None
        self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(time_s, self._time_up) if time_s else None
        # ``Process.wait()`` also waits until its pipes close, which a child it left
        # behind may keep open for ever: a pidfd tells when the command itself ended.
        self._ended = loop.create_future()
        try:
            self._pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:  # already ended and reaped
            self._pidfd = -1
            self._ended.set_result(None)
        else:
            loop.add_reader(self._pidfd, self._on_ended, loop)

    def _on_ended(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        if not self._ended.done():
            self._ended.set_result(None)

    def _killpg(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def _time_up(self) -> None:
        if self._proc.returncode is None and self._reason is None:
            self._reason = ExitReason.TIME_LIMIT
            self._killpg(signal.SIGKILL)

    async def wait(self) -> ExitInfo:
        async with self._lock:
            if self._info is None:
                await asyncio.shield(self._ended)
                self._killpg(signal.SIGKILL)  # whatever it started dies with it ...
                await _group_ended(self.pid)  # ... before this returns
                code = await self._proc.wait()
                if self._timer is not None:
                    self._timer.cancel()
                shutil.rmtree(self._root, ignore_errors=True)
                self._info = exit_info(code, self._reason)
            return self._info

    async def terminate(self, grace_s: float = 2.0) -> ExitInfo:
        if self._info is None and self._proc.returncode is None:
            if self._reason is None:
                self._reason = ExitReason.TERMINATED
            self._killpg(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._ended), grace_s)
            except TimeoutError:
                self._killpg(signal.SIGKILL)
        return await self.wait()


async def _group_ended(group: int, timeout_s: float = 10.0) -> None:
    """Wait until no live process is left in process group ``group`` (a SIGKILL is
    delivered when the process next runs, later on a busy machine)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while _group_alive(group) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)  # polling a condition, with a deadline


def _group_alive(group: int) -> bool:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if int(fields[2]) == group and fields[0] not in (b"Z", b"X"):
            return True
    return False


class NoneSandbox(Sandbox):
    """Runs commands directly on the host (development only)."""

    name = "none"

    def __init__(self, *, ca_bundle: Path | None = None) -> None:
        self.trust = TrustStore(ca_bundle)

    def check(self) -> None:
        return None

    async def spawn(self, spec: SandboxSpec) -> SandboxProcess:
        bundle = self.trust.bundle()
        root = tempfile.mkdtemp(prefix="visualbox-none-")
        workdir = root + spec.workdir
        os.makedirs(workdir)
        for mount in spec.mounts:
            link = Path(root + mount.target)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(mount.source)
        tops = frozenset(p.split("/")[1] for p in [spec.workdir, *(m.target for m in spec.mounts)])
        argv = [_rewrite(arg, root, tops) for arg in spec.argv]
        env = {
            key: str(bundle) if value == CA_FILE and bundle else _rewrite(value, root, tops)
            for key, value in spec.env.items()
        }
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=workdir,
            pass_fds=tuple(spec.pass_fds),
            start_new_session=True,
        )
        return NoneProcess(proc, root, spec.limits.time_s)
