"""What an integration sees inside the sandbox, and how it is started.

=========================  ===========================================  =========
path                       what                                         access
=========================  ===========================================  =========
``/app``                   the module source                            read-only
``/deps``                  the prepared dependencies (cache entry)      read-only
``/opt/visualbox/sdk/...`` the SDK of the runtime                       read-only
``/work``                  ``HOME`` and the working directory           private
``/tmp``                   scratch                                      private
``CA_FILE``                the trusted certificate authorities (PEM)    read-only
``/opt/visualbox/launcher`` the launcher (sandboxes without inherited    read-only
                           descriptors only, ``launcher.py``)
``/run/visualbox``         the launcher's channel socket (same)         private
=========================  ===========================================  =========

Entry points: Python ``/app/main.py`` (with a venv at ``/deps/venv`` when the
module has a ``requirements.txt``), Node ``/app/index.js`` (run from its prepared
copy ``/deps/pkg/index.js`` next to ``node_modules`` when it has a
``package.json``), Go: the binary ``/deps/integration`` built from ``/app``.
``CA_FILE`` is ``sandbox.certificates.CA_FILE`` (``/etc/visualbox/ca-certificates.crt``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from visualbox.runtime.sandbox.base import Limits, Mount, Network, SandboxSpec
from visualbox.runtime.sandbox.certificates import CA_ENV

Runtime = Literal["python", "node", "go"]

APP = "/app"
DEPS = "/deps"
SDK = "/opt/visualbox/sdk"
HOME = "/work"
PYTHON = "/usr/bin/python3"
NODE = "/usr/bin/node"
GO = "/usr/bin/go"
SDK_DIR = Path(__file__).resolve().parent.parent / "sdk"
"""The SDKs on the host: ``python/visualbox``, ``node/visualbox``, ``go/visualbox``."""
LAUNCHER_DIR = SDK_DIR / "launcher"
LAUNCHER_MOUNT = "/opt/visualbox/launcher"
LAUNCHER = "visualbox_launcher.py"
CHANNEL_DIR = "/run/visualbox"

ENTRY: dict[Runtime, str] = {"python": "main.py", "node": "index.js", "go": "main.go"}
DEPENDENCY_FILE: dict[Runtime, str | None] = {
    "python": "requirements.txt",
    "node": "package.json",
    "go": None,  # always built
}
_ALIASES: dict[str, Runtime] = {
    "python": "python",
    "python3": "python",
    "node": "node",
    "nodejs": "node",
    "javascript": "node",
    "go": "go",
    "golang": "go",
}


def runtime_of(name: str) -> Runtime:
    """The canonical runtime for a manifest's runtime name (``python3`` → ``python``)."""
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown runtime {name!r}; use python, node or go") from None


def tree_hash(root: Path) -> str:
    """SHA-256 over the relative paths and contents of every file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModuleSource:
    """An integration on disk: its folder, runtime and content hash."""

    root: Path
    runtime: Runtime
    content_hash: str

    @classmethod
    def from_dir(cls, root: Path, runtime: str) -> ModuleSource:
        root = root.resolve()
        return cls(root, runtime_of(runtime), tree_hash(root))

    @property
    def needs_prepare(self) -> bool:
        dependency = DEPENDENCY_FILE[self.runtime]
        return dependency is None or (self.root / dependency).is_file()


def base_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment every run and prepare starts from: TLS clients trust the
    sandbox's CA bundle (the host's store and the operator's, ``sandbox/certificates.py``)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": HOME, "LANG": "C.UTF-8", **CA_ENV}
    env.update(extra)
    return env


def run_spec(
    module: ModuleSource,
    deps: Path | None,
    *,
    limits: Limits,
    network: Network,
    allow_host_ports: tuple[int, ...],
    allow_networks: tuple[str, ...] = (),
    config_fd: int | None = None,
    output_fd: int | None = None,
    ack_fd: int | None = None,
    channel: Mount | None = None,
) -> SandboxSpec:
    """The sandbox spec that runs ``module`` (with its prepared ``deps``, if any).

    The SDK reads the config from ``config_fd``, writes frames to ``output_fd`` and,
    when ``ack_fd`` is given, waits on it for the supervisor's acknowledgement of each
    frame (``channel.py``). With ``channel`` instead (the mount of a
    ``launcher.ChannelSocket``) no descriptor is passed: the launcher runs the
    integration and gives it those descriptors itself. Python runs unbuffered, so its
    lines are written at once."""
    mounts = [Mount(module.root, APP)]
    if deps is not None:
        mounts.append(Mount(deps, DEPS))
    env = base_env()
    fds: list[int] = []
    for name, fd in (
        ("VISUALBOX_CONFIG_FD", config_fd),
        ("VISUALBOX_OUTPUT_FD", output_fd),
        ("VISUALBOX_ACK_FD", ack_fd),
    ):
        if fd is not None:
            env[name] = str(fd)
            fds.append(fd)
    if module.runtime == "python":
        mounts.append(Mount(SDK_DIR / "python", f"{SDK}/python"))
        env.update(PYTHONPATH=f"{SDK}/python", PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        if deps is None:  # -S: no site, no Debian dist-packages; the SDK comes from PYTHONPATH
            argv = [PYTHON, "-s", "-S", f"{APP}/main.py"]
        else:
            env["PATH"] = f"{DEPS}/venv/bin:" + env["PATH"]
            env["VIRTUAL_ENV"] = f"{DEPS}/venv"
            argv = [f"{DEPS}/venv/bin/python3", "-s", f"{APP}/main.py"]
    elif module.runtime == "node":
        mounts.append(Mount(SDK_DIR / "node", f"{SDK}/node"))
        env["NODE_PATH"] = f"{SDK}/node"
        entry = f"{APP}/index.js" if deps is None else f"{DEPS}/pkg/index.js"
        argv = [NODE, entry]
    else:
        assert deps is not None, "a Go integration always has a prepared binary"
        argv = [f"{DEPS}/integration"]
    if channel is not None:
        mounts += [channel, Mount(LAUNCHER_DIR, LAUNCHER_MOUNT)]
        launcher = [PYTHON, "-s", "-S", f"{LAUNCHER_MOUNT}/{LAUNCHER}"]
        argv = [*launcher, "--channel", f"unix:{channel.target}/channel", "--", *argv]
    return SandboxSpec(
        argv=argv,
        env=env,
        mounts=mounts,
        workdir=HOME,
        network=network,
        allow_host_ports=allow_host_ports,
        allow_networks=allow_networks,
        limits=limits,
        pass_fds=tuple(fds),
    )


def binary_fingerprint(path: str) -> str:
    """Identify an installed tool cheaply (real path, size, mtime): changes on upgrade."""
    real = os.path.realpath(path)
    stat = os.stat(real)
    return f"{real}:{stat.st_size}:{stat.st_mtime_ns}"
