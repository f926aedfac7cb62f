"""The prepare step: install a module's dependencies once, in the sandbox, and cache them.

A cache entry is ``CACHE_DIR/<runtime>/<key>/``, where the key hashes the module
content, the runtime, the SDK and the interpreter/tool versions. The entry is
built in a temporary sibling directory, mounted writable at ``/deps`` inside a
prepare sandbox (outbound network for Python and Node, the prepare limits),
and renamed into place only when every step succeeded: a failed prepare is
reported and never cached. Concurrent prepares of one key wait for each other
(an asyncio lock in this process, an ``fcntl`` lock across processes).

When the sandbox runs as another host uid than the supervisor (bwrap started by
root, ``Sandbox.host_ids``), the temporary directory belongs to that uid while
the steps write to it; afterwards the whole tree goes back to the supervisor's
uid before its modes are made safe and it is renamed into place, so a cache
entry never stays writable by the sandbox uid.

* Python ``requirements.txt``: ``uv venv /deps/venv`` then ``uv pip install -r``.
* Node ``package.json``: the module is copied to ``/deps/pkg`` and
  ``npm install --omit=dev`` runs there.
* Go: ``go build`` in GOPATH mode (``GO111MODULE=off``, ``/gopath/src/app`` = the
  module, ``/gopath/src/visualbox`` = the SDK, ``vendor/`` honoured) into
  ``/deps/integration``; no network.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from visualbox.runtime.channel import TokenBucket, pump_lines
from visualbox.runtime.layout import (
    APP,
    DEPS,
    GO,
    NODE,
    PYTHON,
    SDK_DIR,
    ModuleSource,
    Runtime,
    base_env,
    binary_fingerprint,
    tree_hash,
)
from visualbox.runtime.messages import Message, StatusLevel, info
from visualbox.runtime.sandbox.base import ExitInfo, ExitReason, Limits, Mount, Network, Sandbox
from visualbox.runtime.sandbox.base import SandboxSpec as Spec
from visualbox.settings import SandboxSettings

UV_TARGET = "/opt/visualbox/uv"
NPM_CLI = "/usr/bin/npm"


class PrepareFailed(Exception):
    def __init__(self, exit_info: ExitInfo) -> None:
        super().__init__(exit_info.detail)
        self.exit_info = exit_info


def uv_binary() -> Path:
    """The ``uv`` executable shipped with the ``uv`` PyPI package."""
    from uv import find_uv_bin

    return Path(find_uv_bin()).resolve()


@cache
def _sdk_hash() -> str:
    return tree_hash(SDK_DIR)


@cache
def _tools_fingerprint(runtime: Runtime) -> str:
    if runtime == "python":
        return binary_fingerprint(PYTHON) + "|" + binary_fingerprint(str(uv_binary()))
    if runtime == "node":
        return binary_fingerprint(NODE) + "|" + binary_fingerprint(NPM_CLI)
    return binary_fingerprint(GO)


def cache_key(module: ModuleSource, sources: str = "") -> str:
    """Hash of everything the prepare step can read: its inputs, the package sources
    the server points it at (``sources``), the runtime, the SDK and the tool versions.

    Two modules share an entry only when those are provably the same: the whole
    module content, or, for a Python ``requirements.txt`` made only of plain
    requirements resolved from the configured index (:func:`index_only`), that
    file's text, so editing ``main.py`` reuses the prepared venv. Node's prepared
    copy and Go's binary contain the code, so they are keyed on the whole module.
    """
    parts = [
        _inputs_hash(module),
        module.runtime,
        _sdk_hash(),
        _tools_fingerprint(module.runtime),
        sources,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_SPEC = r"(?:===|==|!=|~=|<=|>=|<|>)[ \t]*[A-Za-z0-9.*+!_-]+"
_PLAIN_LINE = re.compile(
    rf"""[ \t]*(?:
        {_NAME}
        (?:[ \t]*\[[ \t]*{_NAME}(?:[ \t]*,[ \t]*{_NAME})*[ \t]*\])?
        (?:[ \t]*{_SPEC}(?:[ \t]*,[ \t]*{_SPEC})*)?
        (?:[ \t]*;[A-Za-z0-9_.'"<>=!~(),* \t-]+)?
    )?(?:[ \t]+\#[ -~\t]*|^\#[ -~\t]*)?[ \t]*""",
    re.X,
)
"""One line of a requirements file that names a package (with extras, versions and an
environment marker) or is blank or a comment: nothing that reads a file or an index."""
_OPTION = re.compile(r"(?:^|[ \t])-")
_FORBIDDEN = re.compile(r"[^\t\n\r -~]|\r(?!\n)|[\\@/:${}]")
"""Control characters and lone carriage returns (uv may break lines there), line
continuations, URLs, paths and variable expansions."""


def index_only(requirements: bytes) -> bool:
    """Whether a ``requirements.txt`` only names packages from the configured index.

    An allow-list, not a search for dangerous lines: an option (``-i``, ``-r``,
    ``--find-links``), a path, a URL, a variable, an odd line break or anything else
    unusual makes the answer False, and the whole module is then the cache key.
    """
    try:
        text = requirements.decode("ascii")
    except UnicodeDecodeError:
        return False
    if _FORBIDDEN.search(text):
        return False
    lines = text.replace("\r\n", "\n").split("\n")
    return all(_PLAIN_LINE.fullmatch(line) and not _OPTION.search(line) for line in lines)


def _inputs_hash(module: ModuleSource) -> str:
    if module.runtime == "python":
        requirements = (module.root / "requirements.txt").read_bytes()
        if index_only(requirements):
            return "requirements:" + hashlib.sha256(requirements).hexdigest()
    return module.content_hash


@dataclass(frozen=True)
class _Step:
    argv: list[str]
    env: dict[str, str]
    mounts: list[Mount] = field(default_factory=list)
    network: Network = "outbound"


class Preparer:
    """Builds and caches prepared dependencies under ``cache_dir``."""

    def __init__(self, sandbox: Sandbox, settings: SandboxSettings, cache_dir: Path) -> None:
        self.sandbox = sandbox
        self.settings = settings
        self.cache_dir = cache_dir
        self._locks: dict[str, asyncio.Lock] = {}

    def entry(self, module: ModuleSource) -> Path:
        sources = {"python": self.settings.python_index_url, "node": self.settings.npm_registry}
        key = cache_key(module, sources.get(module.runtime) or "")
        return self.cache_dir / module.runtime / key

    def cached(self, module: ModuleSource) -> Path | None:
        """The ready cache entry of ``module``, or None when it must be prepared."""
        entry = self.entry(module)
        return entry if entry.is_dir() else None

    async def prepare(self, module: ModuleSource, emit: Callable[[Message], None]) -> Path:
        """Return the cache entry, building it (and streaming its log) if missing.

        Raises :class:`PrepareFailed` when a step fails; nothing is cached then.
        """
        entry = self.entry(module)
        async with self._locks.setdefault(entry.name, asyncio.Lock()), _file_lock(entry):
            if entry.is_dir():
                return entry
            entry.parent.mkdir(parents=True, exist_ok=True)
            # Holding the entry's lock, any temporary folder of it is what a killed
            # supervisor left behind: nobody else can be preparing it.
            for stale in entry.parent.glob(f".tmp-{entry.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=entry.parent))
            try:
                tmp.chmod(0o755)
                if module.runtime == "node":
                    shutil.copytree(module.root, tmp / "pkg", symlinks=True)
                writer = self.sandbox.host_ids
                if writer is not None:
                    _chown_tree(tmp, *writer)
                for step in self._steps(module):
                    emit(info("$ " + " ".join(step.argv)))
                    result = await self._run(step, module, tmp, emit)
                    if result.reason is not ExitReason.EXITED:
                        raise PrepareFailed(result)
                if writer is not None:
                    _chown_tree(tmp, os.geteuid(), os.getegid())
                _clear_unsafe_modes(tmp)
                os.rename(tmp, entry)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return entry

    def _steps(self, module: ModuleSource) -> list[_Step]:
        if module.runtime == "python":
            uv = Mount(uv_binary(), UV_TARGET)
            env = base_env(
                {
                    "UV_CACHE_DIR": "/tmp/uv-cache",
                    "UV_NO_CONFIG": "1",
                    "UV_PYTHON_DOWNLOADS": "never",
                    "UV_LINK_MODE": "copy",
                    "UV_NO_PROGRESS": "1",
                    "UV_SYSTEM_CERTS": "1",
                }
            )
            if self.settings.python_index_url:
                env["UV_INDEX_URL"] = self.settings.python_index_url
            venv = f"{DEPS}/venv"
            return [
                _Step([UV_TARGET, "venv", "--python", PYTHON, venv], env, [uv], "none"),
                _Step(
                    [UV_TARGET, "pip", "install", "--python", f"{venv}/bin/python3",
                     "-r", f"{APP}/requirements.txt"],
                    env,
                    [uv],
                ),
            ]  # fmt: skip
        if module.runtime == "node":
            env = base_env({"npm_config_update_notifier": "false"})
            if self.settings.npm_registry:
                env["npm_config_registry"] = self.settings.npm_registry
            npm = [NODE, os.path.realpath(NPM_CLI), "install", "--omit=dev", "--no-audit",
                   "--no-fund", "--prefix", f"{DEPS}/pkg", "--cache", "/tmp/npm-cache"]  # fmt: skip
            return [_Step(npm, env)]
        env = base_env(
            {
                "GOPATH": "/gopath",
                "GO111MODULE": "off",
                "GOCACHE": "/tmp/go-build",
                "GOENV": "off",
                "CGO_ENABLED": "0",
            }
        )
        mounts = [
            Mount(module.root, "/gopath/src/app"),
            Mount(SDK_DIR / "go" / "visualbox", "/gopath/src/visualbox"),
        ]
        argv = [GO, "build", "-trimpath", "-o", f"{DEPS}/integration", "app"]
        return [_Step(argv, env, mounts, "none")]

    async def _run(
        self, step: _Step, module: ModuleSource, tmp: Path, emit: Callable[[Message], None]
    ) -> ExitInfo:
        settings = self.settings
        limits = Limits(
            memory_mb=settings.prepare_memory_mb,
            cpu=max(settings.cpu, 1.0),
            pids=max(settings.pids, 256),
            disk_mb=max(settings.disk_mb, 1024),
            nofile=max(settings.nofile, 4096),
            time_s=settings.prepare_timeout_s,
        )
        spec = Spec(
            argv=step.argv,
            env=step.env,
            mounts=[Mount(module.root, APP), Mount(tmp, DEPS, writable=True), *step.mounts],
            network=step.network,
            allow_host_ports=tuple(settings.allow_host_ports) if step.network != "none" else (),
            allow_networks=tuple(settings.allow_networks) if step.network != "none" else (),
            limits=limits,
        )
        process = await self.sandbox.spawn(spec)
        bucket = TokenBucket(settings.log_rate, settings.log_burst)
        pumps = asyncio.gather(
            pump_lines(process.stdout, StatusLevel.INFO, bucket, emit),
            pump_lines(process.stderr, StatusLevel.WARNING, bucket, emit),
        )
        try:
            result = await process.wait()
            await pumps
        except BaseException:
            pumps.cancel()
            with contextlib.suppress(BaseException):
                await process.terminate(grace_s=0.5)
            raise
        return result


_UNSAFE_MODE = stat.S_ISUID | stat.S_ISGID | stat.S_IWGRP | stat.S_IWOTH


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give ``root`` and everything under it to ``uid``:``gid``; symlinks themselves,
    never what they point to. Top-down, so a directory changes owner before it is
    listed: a writer that loses it cannot slip an entry past the walk."""
    os.chown(root, uid, gid, follow_symlinks=False)
    for _, dirnames, filenames, dirfd in os.fwalk(root):
        for name in (*dirnames, *filenames):
            os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)


def _safe_mode(mode: int) -> int:
    """``mode`` without set-id bits and group/other write, and readable (and, where the
    owner may execute, executable) by everyone."""
    shared = mode & (stat.S_IRUSR | stat.S_IXUSR)
    return (mode & ~_UNSAFE_MODE) | shared >> 3 | shared >> 6


def _clear_unsafe_modes(root: Path) -> None:
    """Clear set-uid/set-gid bits and group/other write permission under ``root``, and
    make it readable by every uid.

    Whatever untrusted build code leaves in ``/deps`` belongs to the supervisor's
    uid once the tree is handed back (``root`` when VisualBox runs as root): a
    set-uid file would be a set-uid-root program for every local user, and a
    world-writable folder would let any local user change what later runs of every
    module with this cache key load. Later runs read the entry as the sandbox's
    host uid, which is "other" to the entry's owner, hence the read bits. Runs only
    after the sandbox has ended and the tree is ours again (nothing else can change
    it meanwhile); symlinks are left alone (their modes mean nothing).
    """
    top = stat.S_IMODE(os.lstat(root).st_mode)
    if _safe_mode(top) != top:
        os.chmod(root, _safe_mode(top))
    for _, dirnames, filenames, dirfd in os.fwalk(root):
        for name in (*dirnames, *filenames):
            mode = os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode
            if not stat.S_ISLNK(mode) and _safe_mode(stat.S_IMODE(mode)) != stat.S_IMODE(mode):
                os.chmod(name, _safe_mode(stat.S_IMODE(mode)), dir_fd=dirfd)


@contextlib.asynccontextmanager
async def _file_lock(entry: Path) -> AsyncIterator[None]:
    """Exclusive lock on ``<cache>/.locks/<key>`` shared with other processes."""
    locks = entry.parent.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{entry.parent.name}-{entry.name}", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
