"""The prepare step: install a module's dependencies once, in the sandbox, and cache them.

A cache entry is ``CACHE_DIR/<runtime>/<key>/``, where the key hashes the module
content, the runtime, the SDK and the interpreter/tool versions. All steps run
in one prepare sandbox (outbound network for Python and Node, the prepare
limits) whose ``/deps`` is its working directory, a tmpfs of
``prepare_disk_mb``: no host folder is writable, so a prepare cannot fill the
host disk. When every step succeeded, a small driver streams ``/deps`` as a tar
archive through a pipe; the supervisor unpacks it (a byte budget, only files,
folders and symlinks, inside the entry, owned by us) into a temporary sibling
directory and renames that into place. A failed or oversized prepare is
reported and never cached. Concurrent prepares of one key wait for each other
(an asyncio lock in this process, an ``fcntl`` lock across processes).

The cache is bounded by ``cache_max_mb``: after a new entry, the least recently
used entries (modification time, set by every start that uses one) are evicted,
except those a run holds (:meth:`Preparer.hold`, a shared ``flock``); an entry
is renamed away before it is deleted.

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
import io
import logging
import os
import re
import secrets
import shutil
import stat
import tarfile
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import BinaryIO

from visualbox.runtime.channel import TokenBucket, pump_lines
from visualbox.runtime.launcher import ChannelSocket
from visualbox.runtime.layout import (
    APP,
    CHANNEL_DIR,
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
from visualbox.runtime.messages import Message, StatusLevel
from visualbox.runtime.sandbox.base import (
    ExitInfo,
    ExitReason,
    Limits,
    Mount,
    Network,
    Sandbox,
    SandboxProcess,
)
from visualbox.runtime.sandbox.base import SandboxSpec as Spec
from visualbox.settings import SandboxSettings

log = logging.getLogger(__name__)

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


_DRIVER = """
import os, socket, subprocess, sys, tarfile
out, steps, step = sys.argv[1], [], []
for arg in sys.argv[2:] + [';']:
    if arg == ';':
        steps.append(step)
        step = []
    else:
        step.append(arg)
for argv in steps:
    print('$ ' + ' '.join(argv), flush=True)
    code = subprocess.call(argv)
    if code:
        free = min(os.statvfs(p).f_bavail * os.statvfs(p).f_frsize for p in ('.', '/tmp'))
        code = 128 - code if code < 0 else code
        sys.exit(%(full)d if free < %(slack)d else 1 if code == %(full)d else code)
class Inodes(dict):
    def __contains__(self, key):
        return False
if out.startswith('unix:'):
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    channel.connect(out[5:])
    stream = channel.makefile('wb')
else:
    stream = os.fdopen(int(out), 'wb')
with stream, tarfile.open(fileobj=stream, mode='w|') as tar:
    tar.inodes = Inodes()
    for name in sorted(os.listdir('.')):
        tar.add(name)
"""
"""Runs inside the prepare sandbox, in its size-capped ``/deps``: runs the steps (argv
lists separated by ``;``), exits with :data:`_DISK_FULL` when one failed with ``/deps``
or ``/tmp`` full, else streams ``/deps`` as a tar archive (hard links as plain copies)
to the inherited fd given first, or the Unix socket ``unix:PATH`` (sandboxes that pass
no descriptors: ``launcher.ChannelSocket``)."""
_DISK_FULL = 75
_SLACK = 1 << 20
"""A failed step with less free space than this in /deps or /tmp ran out of it."""
_MiB = 1 << 20
_CHUNK = 1 << 16
_TOOL_ERROR = re.compile(r"(?:npm (?:ERR!|error\b)|error\b|fatal\b|×|\S+\.go:\d+:\d+: )", re.I)
_TOOL_WARNING = re.compile(r"(?:npm warn\b|warn(?:ing)?\b)", re.I)


class ToolLevels:
    """The level of each line a prepare tool prints on one stream: ``T_INFO`` (progress
    such as uv's "Resolved 1 package") unless the line says it is an error (``error:``,
    ``npm ERR!``/``npm error``, uv's ``×``, a Go compiler message ``file.go:1:2: ...``)
    or a warning (``warning:``, ``npm WARN``); the indented lines that follow one (uv's
    ``  cause: ...``) keep its level."""

    def __init__(self) -> None:
        self._last = StatusLevel.INFO

    def __call__(self, line: str) -> StatusLevel:
        text = line.lstrip()
        if _TOOL_ERROR.match(text):
            self._last = StatusLevel.ERROR
        elif _TOOL_WARNING.match(text):
            self._last = StatusLevel.WARNING
        elif not (text and line[:1].isspace()):  # not an indented continuation
            self._last = StatusLevel.INFO
        return self._last


class _TooBig(Exception):
    pass


_UNTRUSTED = re.compile(
    r"SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    r"|UNABLE_TO_GET_ISSUER_CERT|CERT_UNTRUSTED|certificate verify failed|UnknownIssuer"
    r"|invalid peer certificate|certificate signed by unknown authority"
)
"""How npm (Node's OpenSSL codes), uv (rustls) and Go say a server's certificate chain
ends at a certificate authority they do not trust."""
UNTRUSTED_HINT = (
    "a package source's TLS certificate is signed by a certificate authority the sandbox "
    "does not trust; add that authority (say, your proxy's) to the PEM file named by "
    "VISUALBOX_SANDBOX__CA_BUNDLE"
)


class _TrustWatch:
    """Passes the prepare's log messages on and notes whether one said a package
    source's certificate was not trusted."""

    def __init__(self, emit: Callable[[Message], None]) -> None:
        self._emit = emit
        self.untrusted = False

    def __call__(self, message: Message) -> None:
        if not self.untrusted and _UNTRUSTED.search(str(getattr(message, "data", ""))):
            self.untrusted = True
        self._emit(message)


@dataclass(frozen=True)
class _Plan:
    steps: list[list[str]]
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

    @contextlib.contextmanager
    def hold(self, module: ModuleSource) -> Iterator[None]:
        """Keep the cache entry of ``module`` from eviction while a run uses it: a shared
        lock on ``<cache>/.locks/<runtime>-<key>.use``, which eviction must take alone."""
        fd = _lock_fd(self.entry(module), ".use")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # eviction holds it alone only to rename
            yield
        finally:
            os.close(fd)

    def cached(self, module: ModuleSource) -> Path | None:
        """The ready cache entry of ``module`` (marked as just used), or None when it must
        be prepared."""
        entry = self.entry(module)
        if not entry.is_dir():
            return None
        with contextlib.suppress(FileNotFoundError):
            os.utime(entry)
            return entry
        return None

    async def prepare(self, module: ModuleSource, emit: Callable[[Message], None]) -> Path:
        """Return the cache entry, building it (and streaming its log) if missing.

        Raises :class:`PrepareFailed` when a step fails or the build outgrows
        ``prepare_disk_mb``; nothing is cached then. A new entry may evict the least
        recently used ones that no run holds (:meth:`hold`) to keep the cache under
        ``cache_max_mb``.
        """
        entry = self.entry(module)
        async with self._locks.setdefault(entry.name, asyncio.Lock()), _file_lock(entry):
            if self.cached(module) is not None:
                return entry
            entry.parent.mkdir(parents=True, exist_ok=True)
            # Holding the entry's lock, any temporary folder of it is what a killed
            # supervisor left behind: nobody else can be preparing it.
            for stale in entry.parent.glob(f".tmp-{entry.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=entry.parent))
            try:
                tmp.chmod(0o755)
                size = await self._run(self._plan(module), module, tmp, emit)
                _clear_unsafe_modes(tmp)
                os.utime(tmp)
                _size_file(entry).write_text(str(size))
                os.rename(tmp, entry)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        try:
            await asyncio.to_thread(self.evict)
        except OSError:  # the new entry is fine; the next prepare tries again
            log.exception("evicting from the prepare cache %s failed", self.cache_dir)
        return entry

    def evict(self) -> list[Path]:
        """Delete least recently used entries that no run holds until the cache is at
        most ``cache_max_mb``; returns the entries deleted.

        An entry is renamed away (to a dot name nobody looks up) under an exclusive
        hold, then deleted: no run ever sees half of it."""
        bound = self.settings.cache_max_mb * _MiB
        evicting = _lock_fd(self.cache_dir / ".evict" / "all", "")
        try:
            try:
                fcntl.flock(evicting, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []  # another process is at it
            entries = []
            for folder in self.cache_dir.iterdir():
                if folder.name.startswith(".") or not folder.is_dir():
                    continue
                for entry in folder.iterdir():
                    if entry.name.startswith(".evict-"):
                        shutil.rmtree(entry, ignore_errors=True)  # left by a killed evictor
                    elif not entry.name.startswith("."):
                        with contextlib.suppress(FileNotFoundError):
                            entries.append((entry.stat().st_mtime, entry, _entry_size(entry)))
            total = sum(size for _, _, size in entries)
            evicted = []
            for _, entry, size in sorted(entries, key=lambda e: e[0]):
                if total <= bound:
                    break
                doomed = _rename_unheld(entry)
                if doomed is not None:
                    shutil.rmtree(doomed, ignore_errors=True)
                    _size_file(entry).unlink(missing_ok=True)
                    total -= size
                    evicted.append(entry)
            return evicted
        finally:
            os.close(evicting)

    def _plan(self, module: ModuleSource) -> _Plan:
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
            return _Plan(
                [
                    [UV_TARGET, "venv", "--python", PYTHON, venv],
                    [UV_TARGET, "pip", "install", "--python", f"{venv}/bin/python3",
                     "-r", f"{APP}/requirements.txt"],
                ],
                env,
                [uv],
            )  # fmt: skip
        if module.runtime == "node":
            env = base_env({"npm_config_update_notifier": "false"})
            if self.settings.npm_registry:
                env["npm_config_registry"] = self.settings.npm_registry
            copy = ["/usr/bin/cp", "-R", "--preserve=mode,timestamps", f"{APP}/.", f"{DEPS}/pkg"]
            npm = [NODE, os.path.realpath(NPM_CLI), "install", "--omit=dev", "--no-audit",
                   "--no-fund", "--prefix", f"{DEPS}/pkg", "--cache", "/tmp/npm-cache"]  # fmt: skip
            return _Plan([copy, npm], env)
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
        # No -trimpath: it changes the standard library's build IDs, so Go would compile
        # all of it again (6 s instead of 0.5 s) rather than use the installed packages.
        # The paths it would strip are the sandbox's own (/gopath/src/app), not the host's.
        argv = [GO, "build", "-o", f"{DEPS}/integration", "app"]
        return _Plan([argv], env, mounts, "none")

    async def _run(
        self, plan: _Plan, module: ModuleSource, tmp: Path, emit: Callable[[Message], None]
    ) -> int:
        """Run ``plan`` in one sandbox whose ``/deps`` is a tmpfs of ``prepare_disk_mb``
        and unpack what it streams out into ``tmp``; returns the bytes read."""
        settings = self.settings
        cap = settings.prepare_disk_mb
        limits = Limits(
            memory_mb=settings.prepare_memory_mb + cap,  # /deps lives in memory meanwhile
            cpu=max(settings.cpu, 1.0),
            pids=max(settings.pids, 256),
            disk_mb=cap,
            nofile=max(settings.nofile, 4096),
            time_s=settings.prepare_timeout_s,
        )
        budget = cap * _MiB + cap * _MiB // 4  # the archive's headers on top of the files
        mounts = [Mount(module.root, APP), *plan.mounts]
        fds: tuple[int, ...] = ()
        channel: ChannelSocket | None = None
        if self.sandbox.passes_fds:
            read_fd, write_fd = os.pipe()
            target, fds = str(write_fd), (write_fd,)
            unpack = asyncio.ensure_future(asyncio.to_thread(_unpack, read_fd, tmp, budget))
        else:
            channel = ChannelSocket(self.sandbox.host_ids)
            target = f"unix:{CHANNEL_DIR}/channel"
            mounts.append(channel.mount)
            unpack = asyncio.ensure_future(_unpack_channel(channel, tmp, budget))
        argv = [PYTHON, "-I", "-S", "-c", _DRIVER % {"full": _DISK_FULL, "slack": _SLACK}]
        argv.append(target)
        for n, step in enumerate(plan.steps):
            argv += [";", *step] if n else step
        spec = Spec(
            argv=argv,
            env={**plan.env, "HOME": "/tmp"},
            mounts=mounts,
            workdir=DEPS,
            network=plan.network,
            allow_host_ports=tuple(settings.allow_host_ports) if plan.network != "none" else (),
            allow_networks=tuple(settings.allow_networks) if plan.network != "none" else (),
            limits=limits,
            pass_fds=fds,
        )
        try:
            try:
                process = await self.sandbox.spawn(spec)
            finally:
                for fd in fds:
                    os.close(fd)
        except BaseException:
            if channel is not None:
                unpack.cancel()
            await asyncio.gather(unpack, return_exceptions=True)
            if channel is not None:
                channel.close()
            raise
        try:
            return await self._finish(process, unpack, cap, emit)
        finally:
            if channel is not None:
                channel.close()

    async def _finish(
        self,
        process: SandboxProcess,
        unpack: asyncio.Future[int],
        cap: int,
        emit: Callable[[Message], None],
    ) -> int:
        """Wait for the prepare sandbox and its archive; returns the bytes unpacked."""
        settings = self.settings
        bucket = TokenBucket(settings.log_rate, settings.log_burst)
        watch = _TrustWatch(emit)
        pumps = asyncio.gather(
            pump_lines(process.stdout, ToolLevels(), bucket, watch),
            pump_lines(process.stderr, ToolLevels(), bucket, watch),
        )
        waiting = asyncio.ensure_future(process.wait())
        try:
            # Past the budget (or on a bad archive) the unpacker closes its end of the
            # pipe: the writer in the sandbox then fails and the sandbox ends.
            result = await waiting
            await pumps
            if result.reason is not ExitReason.EXITED and not unpack.done():
                unpack.cancel()  # it may never have connected (a channel, not a pipe)
            unpacked = await asyncio.gather(unpack, return_exceptions=True)
        except BaseException:
            pumps.cancel()
            with contextlib.suppress(BaseException):
                await process.terminate(grace_s=0.5)
            await asyncio.gather(unpack, return_exceptions=True)
            raise
        outcome = unpacked[0]
        too_big = ExitInfo(
            result.code,
            ExitReason.CRASHED,
            f"it wrote more than {cap} MiB, the prepare's disk cap "
            "(VISUALBOX_SANDBOX__PREPARE_DISK_MB); nothing was cached",
            result.cpu_s,
        )
        if isinstance(outcome, _TooBig) or result.code == _DISK_FULL:
            raise PrepareFailed(too_big)
        if result.reason is not ExitReason.EXITED:
            if watch.untrusted:
                result = replace(result, detail=f"{result.detail}; {UNTRUSTED_HINT}")
            raise PrepareFailed(result)
        if isinstance(outcome, BaseException):
            detail = f"its result could not be unpacked ({outcome})"
            raise PrepareFailed(ExitInfo(result.code, ExitReason.CRASHED, detail, result.cpu_s))
        return outcome


async def _unpack_channel(channel: ChannelSocket, dest: Path, budget: int) -> int:
    """:func:`_unpack` from the prepare sandbox's connection to ``channel``."""
    connection = await channel.accept_socket()
    return await asyncio.to_thread(_unpack, connection.detach(), dest, budget)


def _unpack(fd: int, dest: Path, budget: int) -> int:
    """Extract the tar stream on ``fd`` into ``dest``: regular files, folders and
    symlinks only, every path inside ``dest``, owned by us, without set-id bits or
    group/other write; raises :class:`_TooBig` past ``budget`` bytes of stream."""
    with os.fdopen(fd, "rb") as raw:
        stream = _Budget(raw, budget)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                tar.extract(member, dest, filter=_member_filter)
        # The writer pads the archive past its end marker: read that too, or closing
        # now breaks its last write and the prepare fails.
        while stream.read(_CHUNK):
            pass
        return stream.used


def _member_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    if not (member.isreg() or member.isdir() or member.issym()):
        return None  # hard links, devices, fifos: nothing a dependency tree needs
    member = tarfile.tar_filter(member, dest)
    return member.replace(uid=None, gid=None, uname=None, gname=None, deep=False)  # type: ignore[arg-type]


class _Budget(io.RawIOBase):
    """A readable stream that raises :class:`_TooBig` once more than ``budget`` bytes
    were read from ``raw``."""

    def __init__(self, raw: BinaryIO, budget: int) -> None:
        self._raw = raw
        self._budget = budget
        self.used = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(self._budget + 1 - self.used if size < 0 else size)
        self.used += len(data)
        if self.used > self._budget:
            raise _TooBig
        return data


def _entry_size(entry: Path) -> int:
    """The size of a cache entry (recorded when it was made; measured if it was not)."""
    record = _size_file(entry)
    with contextlib.suppress(OSError, ValueError):
        return int(record.read_text())
    size = 0
    for _, dirnames, filenames, dirfd in os.fwalk(entry):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(OSError):
                size += os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_blocks * 512
    with contextlib.suppress(OSError):
        record.write_text(str(size))
    return size


def _size_file(entry: Path) -> Path:
    sizes = entry.parent.parent / ".sizes"
    sizes.mkdir(exist_ok=True)
    return sizes / f"{entry.parent.name}-{entry.name}"


def _rename_unheld(entry: Path) -> Path | None:
    """Rename ``entry`` to a dot name when no run holds it; the new path, or None."""
    fd = _lock_fd(entry, ".use")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a run uses it
        doomed = entry.with_name(f".evict-{entry.name}-{secrets.token_hex(4)}")
        try:
            os.rename(entry, doomed)
        except FileNotFoundError:
            return None
        return doomed
    finally:
        os.close(fd)


def _lock_fd(entry: Path, suffix: str) -> int:
    """An open ``<cache>/.locks/<runtime>-<key><suffix>`` to flock."""
    locks = entry.parent.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return os.open(
        locks / f"{entry.parent.name}-{entry.name}{suffix}", os.O_RDWR | os.O_CREAT, 0o600
    )


_UNSAFE_MODE = stat.S_ISUID | stat.S_ISGID | stat.S_IWGRP | stat.S_IWOTH


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
    """Exclusive lock on ``<cache>/.locks/<runtime>-<key>`` shared with other processes."""
    fd = _lock_fd(entry, "")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
