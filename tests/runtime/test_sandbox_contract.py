"""The sandbox contract (``runtime/sandbox/base.py``), run against every backend.

Each test runs for every backend that works on this machine: bubblewrap (the
default), gVisor (``runsc``, hardened) and ``none`` (the unsandboxed development
backend, which runs integrations too). A backend that cannot run here, or a case a
backend does not provide (``none`` enforces no memory limit; ``runsc`` passes no file
descriptors yet), is *deselected* at collection with its reason printed
(``tests/conftest.py``), never skipped: it cannot count as a pass.

What every backend must do: run a program with exactly the given environment and
mounts, pass it its config (a sealed memfd) and output pipe (or, where it passes no
descriptors, let it open the launcher's channel), deliver what it writes
completely and in order, report how it ended (exited, crashed, config, stopped, over
its time or memory limit), stop promptly, and leave no process behind.

Backend-specific isolation (identities, seccomp, network, cgroups, the sandbox dying
with its supervisor) is tested in ``test_sandbox.py``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import select
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from visualbox.runtime.launcher import ChannelSocket, serve_channel
from visualbox.runtime.layout import ModuleSource, run_spec
from visualbox.runtime.messages import Message
from visualbox.runtime.sandbox.base import (
    ExitInfo,
    ExitReason,
    Limits,
    Mount,
    Sandbox,
    SandboxProcess,
    SandboxSpec,
)
from visualbox.runtime.supervisor import config_memfd
from visualbox.settings import SandboxSettings

pytestmark = pytest.mark.anyio
PY = "/usr/bin/python3"
ROOT = os.geteuid() == 0
PASS_FDS = "pass_fds"
MEMORY = "memory_limit"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the backends ------------------------------------------------------------------------


def _bwrap() -> Sandbox:
    from visualbox.runtime.sandbox.bwrap import BwrapSandbox

    return BwrapSandbox()


def _runsc() -> Sandbox:
    from visualbox.runtime.sandbox.runsc import RunscSandbox

    return RunscSandbox()


def _none() -> Sandbox:
    from visualbox.runtime.sandbox.none import NoneSandbox

    return NoneSandbox()


@dataclass(frozen=True)
class Backend:
    name: str
    make: Callable[[], Sandbox]
    lacks: dict[str, str] = field(default_factory=dict)
    """Contract cases this backend does not provide here, and why."""


BACKENDS = {
    "bwrap": Backend(
        "bwrap",
        _bwrap,
        {} if ROOT else {MEMORY: "bwrap enforces memory limits with cgroups, which need root"},
    ),
    "runsc": Backend(
        "runsc",
        _runsc,
        {
            PASS_FDS: "the runsc backend passes no file descriptors; integrations run "
            "through the launcher instead (test_the_launcher_channel_carries_a_whole_run)"
        },
    ),
    "none": Backend(
        "none", _none, {MEMORY: "the unsandboxed development backend enforces no memory limit"}
    ),
}


@functools.cache
def unavailable(name: str) -> str | None:
    """Why backend ``name`` cannot run here (it is checked, then really run), or None."""

    async def probe() -> ExitInfo:
        sandbox = BACKENDS[name].make()
        sandbox.check()
        process = await sandbox.spawn(SandboxSpec(argv=[PY, "-c", "pass"]))
        await asyncio.gather(process.stdout.read(), process.stderr.read())
        return await process.wait()

    try:
        info = asyncio.run(asyncio.wait_for(probe(), 60))
    except Exception as exc:
        return f"the {name} backend cannot run here: {exc}"
    if info.reason is not ExitReason.EXITED:
        return f"the {name} backend cannot run here: a probe ended {info}"
    return None


def deselect_reason(item: pytest.Item) -> str | None:
    """Read by ``tests/conftest.py``: why ``item`` cannot run here."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "backend" not in callspec.params:
        return None
    name: str = callspec.params["backend"]
    missing = unavailable(name)
    if missing is not None:
        return missing
    needs: tuple[str, ...] = getattr(getattr(item, "function", None), "needs", ())
    for feature in needs:
        if feature in BACKENDS[name].lacks:
            return BACKENDS[name].lacks[feature]
    return None


def needs(*features: str) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Mark a contract case as needing ``features`` a backend may lack."""

    def mark(test: Callable[..., object]) -> Callable[..., object]:
        test.needs = features  # type: ignore[attr-defined]
        return test

    return mark


@pytest.fixture(params=list(BACKENDS), scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def sandbox(backend: str) -> Sandbox:
    made = BACKENDS[backend].make()
    made.check()
    return made


# --- helpers -------------------------------------------------------------------------------


def spec(script: str, *args: str, **fields: object) -> SandboxSpec:
    """``script`` run by the system's python inside the sandbox."""
    return SandboxSpec(argv=[PY, "-c", textwrap.dedent(script), *args], **fields)  # type: ignore[arg-type]


async def run(
    sandbox: Sandbox, script: str, *args: str, **fields: object
) -> tuple[ExitInfo, str, str]:
    """Run ``script`` to its end: (how it ended, stdout, stderr)."""
    process = await sandbox.spawn(spec(script, *args, **fields))
    out, err = await asyncio.wait_for(
        asyncio.gather(process.stdout.read(), process.stderr.read()), 60
    )
    return await asyncio.wait_for(process.wait(), 60), out.decode(), err.decode()


async def line(process: SandboxProcess) -> str:
    return (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()


def descendants(pid: int) -> list[int]:
    """``pid`` and every host process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def procs_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


@asynccontextmanager
async def watched(process: SandboxProcess) -> AsyncIterator[list[int]]:
    """Track every host process of ``process`` (as pidfds, so a reused pid cannot fool
    us) while it runs; on leaving, each of them must have ended."""
    pidfds: list[int] = []
    for pid in descendants(process.pid):
        try:
            pidfds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            continue
    try:
        yield pidfds
        # A pidfd turns readable once its process has exited: all of them, at once.
        late = [fd for fd in pidfds if not select.select([fd], [], [], 10)[0]]
        assert late == [], f"{len(late)} process(es) of the sandbox outlived it"
    finally:
        for fd in pidfds:
            os.close(fd)


# --- running a program -----------------------------------------------------------------


async def test_the_environment_is_exactly_the_given_one(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISUALBOX_CANARY", "host-secret")
    info, out, err = await run(
        sandbox, "import os, json; print(json.dumps(dict(os.environ)))", env={"ONLY": "this"}
    )
    assert (info.code, info.reason) == (0, ExitReason.EXITED), err
    env = json.loads(out)
    assert env["ONLY"] == "this"
    assert "VISUALBOX_CANARY" not in env and "host-secret" not in out
    # What a backend or python itself may add: PWD (bwrap's --chdir), HOME (gVisor, from
    # the sandbox's passwd), LC_CTYPE (PEP 538); none of them the host's.
    assert set(env) <= {"ONLY", "PWD", "HOME", "LC_CTYPE"}
    assert env.get("HOME") != os.environ.get("HOME")


async def test_mounts_are_seen_at_their_target_and_the_workdir_is_writable(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "data.txt").write_text("mounted")
    (shared / "data.txt").chmod(0o644)  # the sandbox's uid may be another than ours
    info, out, err = await run(
        sandbox,
        """
        import json, os, sys
        with open(sys.argv[1]) as f:
            data = f.read()
        with open("made.txt", "w") as f:
            f.write("mine")
        cwd = os.getcwd()
        home = os.path.realpath(os.environ["HOME"])
        print(json.dumps([data, open(os.environ["DATA"]).read(), cwd == home]))
        """,
        "/data/data.txt",
        env={"HOME": "/work", "DATA": "/data/data.txt"},
        mounts=[Mount(shared, "/data")],
        workdir="/work",
    )
    assert info.reason is ExitReason.EXITED, err
    assert json.loads(out) == ["mounted", "mounted", True]


@needs(PASS_FDS)
async def test_its_config_comes_in_a_memfd_and_only_the_given_fds_are_inherited(
    sandbox: Sandbox,
) -> None:
    config = {"level": 3, "name": "Zoë", "nested": {"list": [1, 2]}}
    config_fd = config_memfd(config)
    read_end, write_end = os.pipe()
    given = sorted([0, 1, 2, config_fd, write_end])
    try:
        info, out, err = await run(
            sandbox,
            """
            import json, os, sys
            config_fd, output_fd = int(sys.argv[1]), int(sys.argv[2])
            config = json.loads(os.read(config_fd, 1 << 16))
            os.write(output_fd, json.dumps(config).encode())
            alive = []
            for n in range(1024):
                try:
                    os.fstat(n); alive.append(n)
                except OSError:
                    pass
            print(json.dumps(alive))
            """,
            str(config_fd),
            str(write_end),
            pass_fds=[config_fd, write_end],
        )
    finally:
        os.close(config_fd)
        os.close(write_end)
    try:
        assert info.reason is ExitReason.EXITED, err
        assert json.loads(out) == given
        assert json.loads(os.read(read_end, 1 << 16)) == config
    finally:
        os.close(read_end)


async def test_everything_it_writes_arrives_complete_and_in_order(sandbox: Sandbox) -> None:
    # Block-buffered pipes, both streams at once, and the last lines written just
    # before it exits: nothing lost, nothing reordered within a stream.
    info, out, err = await run(
        sandbox,
        """
        import sys
        for i in range(3000):
            print(f"out {i}")
            if i % 3 == 0:
                print(f"err {i}", file=sys.stderr)
        sys.stdout.write("x" * 100000 + "\\n")
        print("last words")
        """,
    )
    assert info.reason is ExitReason.EXITED, err
    lines = out.splitlines()
    assert lines[:3000] == [f"out {i}" for i in range(3000)]
    assert lines[3000:] == ["x" * 100000, "last words"]
    assert err.splitlines() == [f"err {i}" for i in range(0, 3000, 3)]


@needs(PASS_FDS)
async def test_frames_on_its_output_pipe_arrive_in_order(sandbox: Sandbox) -> None:
    read_end, write_end = os.pipe()
    try:
        process = await sandbox.spawn(
            spec(
                """
                import os, sys
                fd = int(sys.argv[1])
                for i in range(2000):
                    os.write(fd, f"{i}\\n".encode())
                """,
                str(write_end),
                pass_fds=[write_end],
            )
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        received = await asyncio.to_thread(pipe.read)  # to its end: the program closed it
    info = await asyncio.wait_for(process.wait(), 60)
    assert info.reason is ExitReason.EXITED
    assert received.decode().splitlines() == [str(i) for i in range(2000)]


async def test_the_launcher_channel_carries_a_whole_run(sandbox: Sandbox, tmp_path: Path) -> None:
    """What a backend without inherited descriptors runs (``runtime/launcher.py``): the
    SDK's config, frames and log lines, in order, over the one socket it opens itself."""
    (tmp_path / "main.py").write_text(
        textwrap.dedent(
            """
            import sys, visualbox
            print("before")
            visualbox.output({"config": visualbox.MODEL})
            print("between", file=sys.stderr)
            visualbox.output("second")
            print("after")
            """
        )
    )
    tmp_path.chmod(0o755)  # the sandboxed code reads it as another user
    module = ModuleSource.from_dir(tmp_path, "python")
    channel = ChannelSocket(sandbox.host_ids)
    got: list[Message] = []
    try:
        process = await sandbox.spawn(
            run_spec(
                module,
                None,
                limits=Limits(),
                network="none",
                allow_host_ports=(),
                channel=channel.mount,
            )  # fmt: skip
        )
        reader, writer = await asyncio.wait_for(channel.accept(), 60)
        config = {"level": 3, "secret": "Zoë"}
        relay = serve_channel(reader, writer.write, config, got.append, settings=SandboxSettings())
        await asyncio.wait_for(relay, 60)
        writer.close()
        info = await asyncio.wait_for(process.wait(), 60)
    finally:
        channel.close()
    assert info.reason is ExitReason.EXITED, got
    assert [type(m).__name__ for m in got] == [
        "Init",
        "Status",
        "Output",
        "Status",
        "Output",
        "Status",
    ]
    assert [getattr(m, "data", None) for m in got[1:]] == [
        "before",
        {"config": config},
        "between",
        "second",
        "after",
    ]


# --- how it ended ------------------------------------------------------------------------


async def test_an_exit_a_crash_a_signal_and_a_config_error_are_told_apart(
    sandbox: Sandbox,
) -> None:
    ok, _, _ = await run(sandbox, "print('fine')")
    crash, _, _ = await run(sandbox, "raise SystemExit(3)")
    killed, _, _ = await run(sandbox, "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    config, _, _ = await run(sandbox, "raise SystemExit(78)")
    assert (ok.reason, ok.code) == (ExitReason.EXITED, 0)
    assert (crash.reason, crash.code) == (ExitReason.CRASHED, 3)
    assert (killed.reason, killed.code) == (ExitReason.CRASHED, -11)
    assert (config.reason, config.code) == (ExitReason.CONFIG, 78)
    assert "78" in config.detail


async def test_the_time_limit_kills_it_and_says_so(sandbox: Sandbox) -> None:
    marker = f"timed-{secrets.token_hex(4)}"
    started = time.monotonic()
    process = await sandbox.spawn(
        spec(
            """
            import subprocess, sys
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", sys.argv[1]])
            print("up", flush=True)
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]).wait()
            """,
            marker,
            limits=Limits(time_s=3.0),  # room for gVisor and Python to boot on a busy machine
        )
    )
    assert await line(process) == "up"
    async with watched(process):
        info = await asyncio.wait_for(process.wait(), 30)
    assert info.reason is ExitReason.TIME_LIMIT
    assert time.monotonic() - started < 15
    assert procs_with(marker) == []


@needs(MEMORY)
async def test_the_memory_limit_kills_it_and_says_so(sandbox: Sandbox) -> None:
    info, out, err = await run(
        sandbox,
        """
        chunks = []
        for i in range(64):
            chunks.append(b"x" * (8 << 20))
            print(len(chunks) * 8, flush=True)
        """,
        limits=Limits(memory_mb=64),
    )
    assert info.reason is ExitReason.OOM, (info, err)
    assert info.code == -9
    assert not out or int(out.split()[-1]) < 72  # never got far past the limit


# --- stopping ------------------------------------------------------------------------------

GRANDCHILD = """
import signal, subprocess, sys
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('grandchild', flush=True); time.sleep(120)", sys.argv[1]])
print("started", flush=True)
child.wait()
"""


async def test_terminate_stops_the_whole_tree_promptly_and_says_so(sandbox: Sandbox) -> None:
    marker = f"tree-{secrets.token_hex(4)}"
    process = await sandbox.spawn(spec(GRANDCHILD, marker))
    assert {await line(process), await line(process)} == {"started", "grandchild"}
    async with watched(process) as tracked:
        assert len(tracked) >= 2
        started = time.monotonic()
        info = await asyncio.wait_for(process.terminate(grace_s=0.3), 30)  # SIGTERM ignored
        took = time.monotonic() - started
    assert info.reason is ExitReason.TERMINATED
    assert took < 5, f"terminate took {took:.1f} s"
    assert procs_with(marker) == []
    assert await process.terminate() == info  # idempotent
    assert await process.wait() == info


async def test_what_it_started_ends_with_it(sandbox: Sandbox) -> None:
    marker = f"left-{secrets.token_hex(4)}"
    process = await sandbox.spawn(
        spec(
            """
            import subprocess, sys
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", sys.argv[1]])
            print("up", flush=True)
            input()  # stdin is closed: returns at once with EOFError, ending the program
            """,
            marker,
        )
    )
    assert await line(process) == "up"
    async with watched(process):
        info = await asyncio.wait_for(process.wait(), 30)
    assert info.reason is ExitReason.CRASHED  # the EOFError
    assert procs_with(marker) == []
