"""The bubblewrap backend's isolation and limits, checked with real sandboxed processes.

What every backend must do (run, config, ordered output, exit reasons, time and
memory limits, stopping, no process left behind) is ``test_sandbox_contract.py``;
this module holds what bubblewrap (and, at the end, gVisor) isolate beyond it. The
probes every backend must pass (identity, hidden host files, network rules) run on
bubblewrap and on gVisor (`probed`), gVisor deselected with its reason where it cannot run.

Every probe is a small script run by Debian's /usr/bin/python3 *inside* the
sandbox (the host venv lives under /root, which must be invisible). Network
probes only target loopback servers started here, reached through the
sandbox's own namespace.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyseccomp
import pytest
from pydantic import ValidationError

import visualbox
from tests.runtime.harness import runsc_missing
from visualbox.runtime.sandbox import cgroups, get_sandbox, seccomp
from visualbox.runtime.sandbox.base import (
    ExitInfo,
    ExitReason,
    Limits,
    Mount,
    Sandbox,
    SandboxSpec,
    SandboxUnavailable,
)
from visualbox.runtime.sandbox.bwrap import BwrapProcess, BwrapSandbox
from visualbox.runtime.sandbox.network import egress_rules, host_subnets, parse_allowed_network
from visualbox.runtime.sandbox.rlimits import prlimit_args, rlimits_for
from visualbox.settings import SandboxSettings

pytestmark = pytest.mark.anyio
PY = "/usr/bin/python3"
ROOT = os.geteuid() == 0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    sb = BwrapSandbox()
    sb.check()
    return sb


@pytest.fixture(scope="module", params=["bwrap", "runsc"])
def probed(request: pytest.FixtureRequest) -> Sandbox:
    """The probes every backend must pass: bubblewrap, and gVisor where it can run."""
    sb = get_sandbox(SandboxSettings(backend=request.param))
    sb.check()
    return sb


def deselect_reason(item: pytest.Item) -> str | None:
    """Read by ``tests/conftest.py``: runsc's probes where runsc cannot run."""
    return runsc_missing(item, "probed")


async def run(sb: Sandbox, script: str, *args: str, **spec: object) -> tuple[ExitInfo, str, str]:
    """Run ``script`` with the sandbox's python; (exit info, stdout, stderr)."""
    proc = await sb.spawn(
        SandboxSpec(argv=[PY, "-c", textwrap.dedent(script), *args], **spec)  # type: ignore[arg-type]
    )
    out, err = await asyncio.gather(proc.stdout.read(), proc.stderr.read())
    return await proc.wait(), out.decode(), err.decode()


def procs_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline and int(entry) != os.getpid():
                found.append(int(entry))
    return found


async def line(proc: BwrapProcess, timeout_s: float = 10.0) -> str:
    return (await asyncio.wait_for(proc.stdout.readline(), timeout_s)).decode().strip()


# --- identity, files, environment ------------------------------------------------------


async def test_runs_as_nobody_in_its_workdir(probed: Sandbox) -> None:
    # The environment being exactly the given one is a contract case
    # (test_sandbox_contract.py); the identity is bubblewrap's.
    info, out, err = await run(
        probed,
        "import os, json; print(json.dumps([os.getuid(), os.getgid(), os.getcwd()]))",
    )
    assert info.reason is ExitReason.EXITED, err
    assert json.loads(out) == [65534, 65534, "/work"]


async def test_host_files_are_invisible(probed: Sandbox, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "visualbox.db").write_text("secret")
    root_plant = Path("/root") / f".visualbox-plant-{secrets.token_hex(4)}"
    root_plant.write_text("secret")
    try:
        info, out, err = await run(
            probed,
            """
            import os, sys, json
            seen = {}
            for path in sys.argv[1:]:
                try:
                    open(path).read(); seen[path] = "read"
                except OSError as exc:
                    seen[path] = exc.errno
            print(json.dumps([seen, sorted(os.listdir("/"))]))
            """,
            str(root_plant),
            str(data_dir / "visualbox.db"),
            str(Path(__file__).resolve().parents[2] / "pyproject.toml"),  # the checkout
            "/etc/shadow",
            "/sys/kernel/notes",
        )
    finally:
        root_plant.unlink()
    assert info.reason is ExitReason.EXITED, err
    seen, top = json.loads(out)
    assert set(seen.values()) == {errno.ENOENT}, seen
    # gVisor shows its own, synthetic /sys (no host kernel file in it: see above).
    hidden = {"root", "home", "var", "srv", "opt", "mnt"} | (
        {"sys"} - {probed.name == "runsc" and "sys"}
    )
    assert not hidden & set(top)


async def test_writes_only_to_its_own_dirs(sandbox: BwrapSandbox, tmp_path: Path) -> None:
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    owner = sandbox.host_ids or (os.geteuid(), os.getegid())
    os.chown(rw, *owner)  # a writable mount must belong to the uid the sandbox runs as
    info, out, err = await run(
        sandbox,
        """
        import json, sys
        result = {}
        for d in sys.argv[1:]:
            try:
                with open(d + "/probe", "w") as f:
                    f.write("x")
                result[d] = "ok"
            except OSError as exc:
                result[d] = exc.errno
        print(json.dumps(result))
        """,
        "/usr",
        "/etc",
        "/",
        "/mnt/ro",
        "/mnt/rw",
        "/work",
        "/tmp",
        mounts=[Mount(ro, "/mnt/ro"), Mount(rw, "/mnt/rw", writable=True)],
    )
    assert info.reason is ExitReason.EXITED, err
    result = json.loads(out)
    assert result.pop("/mnt/rw") == result.pop("/work") == result.pop("/tmp") == "ok"
    assert all(code in (errno.EROFS, errno.EACCES, errno.EPERM) for code in result.values()), result
    assert (rw / "probe").read_text() == "x"
    probe = (rw / "probe").stat()
    assert (probe.st_uid, probe.st_gid) == owner  # on the host: never root when we are root
    assert list(ro.iterdir()) == []


SET_ID_ATTEMPTS = """
import json, os, shutil, sys
target = sys.argv[1] + "/id"
shutil.copy("/usr/bin/id", target)
os.chmod(target, 0o6755)
tried = {}
for who in (0, 65534):
    try:
        os.chown(target, who, who); tried[who] = "ok"
    except OSError as exc:
        tried[who] = exc.errno
os.chmod(target, 0o6755)
print(json.dumps(tried))
"""


@pytest.mark.skipif(not ROOT, reason="the host uid only differs from ours when we are root")
async def test_a_root_supervisor_runs_the_sandbox_as_an_unprivileged_host_uid(
    sandbox: BwrapSandbox, tmp_path: Path
) -> None:
    assert sandbox.host_ids == (65534, 65534)
    rw = tmp_path / "rw"
    rw.mkdir()
    os.chown(rw, 65534, 65534)
    info, out, err = await run(
        sandbox, SET_ID_ATTEMPTS, "/mnt/rw", mounts=[Mount(rw, "/mnt/rw", True)]
    )
    assert info.reason is ExitReason.EXITED, err
    tried = json.loads(out)
    assert tried["0"] != "ok"  # host root does not even exist in the sandbox
    made = (rw / "id").stat()
    assert (made.st_uid, made.st_gid) == (65534, 65534)
    assert made.st_mode & 0o6000 == 0o6000  # set-id, but only ever to nobody
    # Its own process on the host, while it runs, is not root either.
    proc = await sandbox.spawn(
        SandboxSpec(argv=[PY, "-c", "import sys; print('up', flush=True); sys.stdin.read()"])
    )
    try:
        assert await line(proc) == "up"
        assert isinstance(proc, BwrapProcess)
        status = Path(f"/proc/{proc.init_pid}/status").read_text()
        uids = next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1:]
        assert uids == ["65534"] * 4
    finally:
        await proc.terminate(grace_s=0.5)


async def test_a_source_under_a_closed_folder_is_mounted(
    sandbox: BwrapSandbox, tmp_path: Path
) -> None:
    closed = tmp_path / "closed"
    (closed / "module").mkdir(parents=True)
    (closed / "module" / "data.txt").write_text("reachable")
    (closed / "module").chmod(0o755)
    (closed / "module" / "data.txt").chmod(0o644)
    closed.chmod(0o700)  # like /root: the sandbox's host uid may not walk through it
    info, out, err = await run(
        sandbox,
        "print(open('/mnt/m/data.txt').read())",
        mounts=[Mount(closed / "module", "/mnt/m")],
    )
    assert info.reason is ExitReason.EXITED, err
    assert out.strip() == "reachable"


# --- processes -----------------------------------------------------------------------


async def test_sees_neither_host_nor_sibling_processes(sandbox: BwrapSandbox) -> None:
    marker = f"sibling-{secrets.token_hex(4)}"
    sibling = await sandbox.spawn(
        SandboxSpec(argv=[PY, "-c", "import time; print('up', flush=True); time.sleep(60)", marker])
    )
    try:
        assert await line(sibling) == "up"
        info, out, err = await run(
            sandbox,
            """
            import os, json
            pids = [p for p in os.listdir("/proc") if p.isdigit()]
            cmds = [open(f"/proc/{p}/cmdline", "rb").read().decode() for p in pids]
            print(json.dumps([sorted(map(int, pids)), cmds]))
            """,
        )
        assert info.reason is ExitReason.EXITED, err
        pids, cmds = json.loads(out)
        assert pids == [1, 2]  # bubblewrap's init and this python
        assert not any(marker in c for c in cmds)
        assert procs_with(marker)  # while the sibling is really alive on the host
    finally:
        assert (await sibling.terminate(grace_s=1)).reason is ExitReason.TERMINATED
    assert procs_with(marker) == []


async def test_seccomp_denies_ptrace_mount_and_new_namespaces(sandbox: BwrapSandbox) -> None:
    info, out, err = await run(
        sandbox,
        """
        import ctypes, json, os
        libc = ctypes.CDLL(None, use_errno=True)
        def call(fn, *args):
            return fn(*args) == 0 or ctypes.get_errno()
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        print(json.dumps({
            "ptrace": call(libc.ptrace, 0, 0, None, None),
            "unshare_user": call(libc.unshare, 0x10000000),
            "mount": call(libc.mount, b"none", b"/tmp", b"tmpfs", 0, None),
            "fork_still_works": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]),
        }))
        """,
    )
    assert info.reason is ExitReason.EXITED, err
    result = json.loads(out.splitlines()[-1])
    assert result["ptrace"] == result["unshare_user"] == result["mount"] == errno.EPERM
    assert result["fork_still_works"] == 7


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 system call numbers")
async def test_seccomp_allows_only_what_runtimes_need(sandbox: BwrapSandbox) -> None:
    """Deny by default: io_uring and calls no integration needs fail with EPERM (the
    process lives on), clone3 with ENOSYS so the C library falls back to clone."""
    numbers = {
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "kexec_load": 246, "ptrace": 101, "keyctl": 250, "bpf": 321, "userfaultfd": 323,
        "perf_event_open": 298, "mount": 165, "unshare": 272, "setns": 308,
        "open_by_handle_at": 304, "add_key": 248, "init_module": 175, "pidfd_getfd": 438,
        "process_vm_readv": 310, "clone3": 435,
        "a call no kernel has yet": 1000,
    }  # fmt: skip
    info, out, err = await run(
        sandbox,
        """
        import ctypes, json, sys
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        buf = ctypes.create_string_buffer(256)
        def call(number):
            # Harmless arguments: were a call let through, it would fail with EINVAL or
            # EFAULT, not EPERM (io_uring_setup(1, buf) would really set up a ring).
            ctypes.set_errno(0)
            done = libc.syscall(ctypes.c_long(number), ctypes.c_long(1), buf, 0, 0, 0)
            return done if done >= 0 else ctypes.get_errno()
        numbers = json.loads(sys.argv[1])
        result = {name: call(number) for name, number in numbers.items()}
        # TIOCSTI, also with the upper 32 bits of the request set (the kernel ignores them)
        tiocsti = [0x5412, 0x100005412]
        result["TIOCSTI"] = [
            libc.ioctl(1, ctypes.c_ulong(r), ctypes.c_char_p(b"x")) == 0 or ctypes.get_errno()
            for r in tiocsti
        ]
        print(json.dumps(result))
        """,
        json.dumps(numbers),
    )
    assert info.reason is ExitReason.EXITED, err
    result = json.loads(out.splitlines()[-1])
    assert result.pop("clone3") == errno.ENOSYS
    assert result.pop("TIOCSTI") == [errno.EPERM, errno.EPERM]
    assert result == dict.fromkeys(numbers.keys() - {"clone3"}, errno.EPERM)


def test_seccomp_allow_list_keeps_dangerous_calls_out() -> None:
    assert set(seccomp.ALLOWED_SYSCALLS).isdisjoint(seccomp.DENIED_SYSCALLS)
    assert {"io_uring_setup", "io_uring_enter", "io_uring_register"} <= set(seccomp.DENIED_SYSCALLS)
    assert "clone" not in seccomp.ALLOWED_SYSCALLS  # only with its namespace flags checked
    assert "ioctl" not in seccomp.ALLOWED_SYSCALLS  # only without TIOCSTI


async def test_fork_bomb_stops_at_the_process_limit(sandbox: BwrapSandbox) -> None:
    marker = f"bomb-{secrets.token_hex(4)}"
    info, out, err = await run(
        sandbox,
        """
        import os, time
        children = 0
        try:
            while children < 500:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                children += 1
        except OSError as exc:
            print(children, exc.errno)
        """,
        marker,
        limits=Limits(pids=16),
    )
    assert info.reason is ExitReason.EXITED, err
    children, code = map(int, out.split())
    assert code == errno.EAGAIN
    assert 5 <= children <= 16
    assert procs_with(marker) == []  # the sleeping children went with the sandbox


async def test_cpu_hog_is_throttled_to_its_quota(sandbox: BwrapSandbox) -> None:
    info, out, err = await run(
        sandbox,
        """
        import os, time, json
        start = time.monotonic()
        kids = []
        for _ in range(2):  # two busy processes: could use both host cores unthrottled
            pid = os.fork()
            if pid == 0:
                while time.monotonic() - start < 1.5:
                    pass
                os._exit(0)
            kids.append(pid)
        for pid in kids:
            os.waitpid(pid, 0)
        wall = time.monotonic() - start
        t = os.times()
        print(json.dumps([wall, t.children_user + t.children_system]))
        """,
        limits=Limits(cpu=0.5),
    )
    assert info.reason is ExitReason.EXITED, err
    wall, cpu = json.loads(out)
    assert 0.3 * 0.5 * wall <= cpu <= 0.5 * wall * 1.3
    assert info.cpu_s is not None and info.cpu_s <= 0.5 * wall * 1.3 + 0.1


async def test_disk_fill_stops_at_disk_mb(sandbox: BwrapSandbox) -> None:
    info, out, err = await run(
        sandbox,
        """
        import json
        written = {}
        for name in ("/work/a", "/work/b", "/tmp/a"):
            n = 0
            try:
                with open(name, "wb") as f:
                    while n < 6 << 20:
                        f.write(b"x" * 65536)
                        f.flush()
                        n += 65536
            except OSError as exc:
                written[name] = [n, exc.errno]
                continue
            written[name] = [n, 0]
        print(json.dumps(written))
        """,
        limits=Limits(disk_mb=8),
    )
    assert info.reason is ExitReason.EXITED, err
    written = json.loads(out)
    assert written["/work/a"] == [6 << 20, 0]
    size_b, code_b = written["/work/b"]
    assert code_b == errno.ENOSPC
    assert (6 << 20) + size_b <= 8 << 20
    assert written["/tmp/a"] == [6 << 20, 0]  # /tmp is its own tmpfs of disk_mb


@pytest.mark.skipif(not ROOT, reason="only a root supervisor shares one host uid")
async def test_processes_are_limited_per_run_not_per_shared_host_uid(
    sandbox: BwrapSandbox,
) -> None:
    # Every sandbox of a root supervisor is the same host uid, where RLIMIT_NPROC would
    # be one budget for all of them: the pids cgroup limits each run instead (the fork
    # bomb test shows it does).
    info, out, err = await run(
        sandbox,
        "import resource; print(*resource.getrlimit(resource.RLIMIT_NPROC))",
        limits=Limits(pids=16),
    )
    assert info.reason is ExitReason.EXITED, err
    assert int(out.split()[0]) != 17  # not the run's limit (+1 for bubblewrap's init)


def test_rlimits_leave_nproc_to_the_caller() -> None:
    limits = Limits(pids=9, nofile=33)
    with_nproc = rlimits_for(limits, [PY], frozenset())
    assert with_nproc[resource.RLIMIT_NPROC] == (9, 9)
    assert resource.RLIMIT_NPROC not in rlimits_for(limits, [PY], frozenset(), nproc=False)
    assert resource.RLIMIT_NPROC not in rlimits_for(limits, [PY], frozenset({"pids"}))
    args = prlimit_args("/usr/bin/prlimit", {resource.RLIMIT_NOFILE: (33, 33)})
    assert args == ["/usr/bin/prlimit", "--nofile=33:33", "--"]


async def test_open_files_stop_at_nofile(sandbox: BwrapSandbox) -> None:
    info, out, err = await run(
        sandbox,
        """
        import os
        fds = []
        try:
            while len(fds) < 1000:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            print(len(fds), exc.errno)
        """,
        limits=Limits(nofile=32),
    )
    assert info.reason is ExitReason.EXITED, err
    count, code = map(int, out.split())
    assert code == errno.EMFILE and 20 <= count < 32


GRANDCHILD = """
import signal, subprocess, sys
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('grandchild', flush=True); time.sleep(60)", sys.argv[1]])
print("started", flush=True)
child.wait()
"""


async def test_killing_bwrap_takes_the_sandbox_with_it(sandbox: BwrapSandbox) -> None:
    marker = f"orphan-{secrets.token_hex(4)}"
    proc = await sandbox.spawn(SandboxSpec(argv=[PY, "-c", GRANDCHILD, marker]))
    assert {await line(proc), await line(proc)} == {"started", "grandchild"}
    os.kill(proc.pid, 9)
    info = await proc.wait()
    assert info.reason is ExitReason.CRASHED and info.code == -9
    assert procs_with(marker) == []


SUPERVISOR = """
import asyncio, sys
from visualbox.runtime.sandbox.base import SandboxSpec
from visualbox.runtime.sandbox.bwrap import BwrapSandbox

async def main():
    proc = await BwrapSandbox().spawn(SandboxSpec(argv=sys.argv[1:]))
    for _ in range(2):
        print((await proc.stdout.readline()).decode().strip(), flush=True)
    await proc.wait()

asyncio.run(main())
"""


def test_the_sandbox_dies_with_its_supervisor() -> None:
    marker = f"supervised-{secrets.token_hex(4)}"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, PY, "-c", GRANDCHILD, marker],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    assert {supervisor.stdout.readline().strip() for _ in range(2)} == {"started", "grandchild"}
    pidfds = [os.pidfd_open(pid) for pid in procs_with(marker)]
    assert len(pidfds) >= 2
    supervisor.kill()
    supervisor.wait()
    try:
        for fd in pidfds:  # a pidfd turns readable when its process has exited
            assert select.select([fd], [], [], 10)[0] == [fd], "outlived its supervisor"
    finally:
        for fd in pidfds:
            os.close(fd)
    assert procs_with(marker) == []

    # A SIGKILLed supervisor cannot remove its runs' cgroups; the next one sweeps them.
    def left_behind() -> list[Path]:
        return [
            d
            for h in cgroups._hierarchies()
            for d in h.own_dir.glob(f"visualbox-{supervisor.pid}-*")
        ]

    stale = left_behind()
    if ROOT:  # cgroups are only used where they are writable
        assert stale, "the killed supervisor's run cgroups should be there"
    assert cgroups.sweep_stale() >= len(stale)
    assert left_behind() == []


# --- network -------------------------------------------------------------------------


@pytest.fixture
def loopback_servers() -> Iterator[list[tuple[int, list[str]]]]:
    """Two TCP servers on host 127.0.0.1 that greet and record who connected."""
    servers: list[tuple[int, list[str]]] = []
    socks = []
    for _ in range(2):
        sock = socket.create_server(("127.0.0.1", 0))
        hits: list[str] = []

        def serve(s: socket.socket = sock, hits: list[str] = hits) -> None:
            while True:
                try:
                    conn, addr = s.accept()
                except OSError:
                    return
                hits.append(addr[0])
                with conn:
                    conn.sendall(b"hello")

        threading.Thread(target=serve, daemon=True).start()
        servers.append((sock.getsockname()[1], hits))
        socks.append(sock)
    yield servers
    for sock in socks:
        sock.close()


CONNECT = """
import json, socket, sys
result = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=3) as s:
            result[target] = s.recv(5).decode()
    except OSError as exc:
        result[target] = type(exc).__name__
print(json.dumps([result, [n for _, n in socket.if_nameindex()]]))
"""


async def test_network_none_reaches_nothing(
    probed: Sandbox, loopback_servers: list[tuple[int, list[str]]]
) -> None:
    (port, hits), _ = loopback_servers
    info, out, err = await run(
        probed, CONNECT, f"127.0.0.1:{port}", f"10.0.2.2:{port}", network="none"
    )
    assert info.reason is ExitReason.EXITED, err
    result, interfaces = json.loads(out)
    assert interfaces == ["lo"]
    assert "hello" not in result.values(), result
    assert hits == []


async def test_outbound_reaches_allowed_host_ports_only(
    probed: Sandbox, loopback_servers: list[tuple[int, list[str]]]
) -> None:
    (allowed, allowed_hits), (other, other_hits) = loopback_servers
    host_rules = _host_rules()
    info, out, err = await run(
        probed,
        CONNECT,
        f"10.0.2.2:{allowed}",
        f"10.0.2.2:{other}",
        f"127.0.0.1:{allowed}",
        network="outbound",
        allow_host_ports=[allowed],
    )
    assert info.reason is ExitReason.EXITED, err
    result, interfaces = json.loads(out)
    assert result[f"10.0.2.2:{allowed}"] == "hello"
    assert result[f"10.0.2.2:{other}"] == "ConnectionRefusedError"
    assert result[f"127.0.0.1:{allowed}"] == "ConnectionRefusedError"  # its own loopback
    assert "tap0" in interfaces
    assert len(allowed_hits) == 1 and other_hits == []
    assert _host_rules() == host_rules  # the rules went to the sandbox's namespace only


def _host_rules() -> str:
    """This host's own firewall rules (``iptables -S``), or "" when we may not read them."""
    if not ROOT:
        return ""
    iptables = shutil.which("iptables", path="/usr/sbin:/sbin:/usr/bin")
    assert iptables is not None
    return subprocess.run([iptables, "-S"], capture_output=True, text=True, check=True).stdout


async def test_outbound_without_allowed_ports_cannot_reach_the_host(
    probed: Sandbox, loopback_servers: list[tuple[int, list[str]]]
) -> None:
    (port, hits), _ = loopback_servers
    info, out, err = await run(probed, CONNECT, f"10.0.2.2:{port}", network="outbound")
    assert info.reason is ExitReason.EXITED, err
    result, _ = json.loads(out)
    assert result[f"10.0.2.2:{port}"] != "hello"
    assert hits == []


async def test_sandbox_cannot_change_its_egress_rules(probed: Sandbox) -> None:
    info, out, err = await run(
        probed,
        "import subprocess; print(subprocess.run(['/usr/sbin/iptables', '-F']).returncode)",
        network="outbound",
    )
    assert info.reason is ExitReason.EXITED, err
    assert int(out) != 0


@pytest.fixture
def lan_host() -> Iterator[tuple[str, int, list[str]]]:
    """A TCP server on a "LAN" host: a network namespace made here, joined to this host
    by a veth pair (10.213.77.1 here, 10.213.77.2 there). Yields its address, its port
    and the addresses that connected. Nothing but this test's own namespace is reached."""
    if not ROOT:
        pytest.fail("a LAN test host needs root (network namespaces)")
    tag = secrets.token_hex(3)
    ns, here, there = f"vbt{tag}", f"vbh{tag}", f"vbn{tag}"
    address, port = "10.213.77.2", 8471
    server = textwrap.dedent(
        f"""
        import socket, sys
        s = socket.create_server(("{address}", {port}))
        print("ready", flush=True)
        while True:
            conn, peer = s.accept()
            print(peer[0], flush=True)
            with conn:
                conn.sendall(b"hello")
        """
    )

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    ip("netns", "add", ns)
    process = None
    try:
        ip("link", "add", here, "type", "veth", "peer", "name", there)
        ip("link", "set", there, "netns", ns)
        ip("addr", "add", "10.213.77.1/30", "dev", here)
        ip("link", "set", here, "up")
        ip("-n", ns, "addr", "add", f"{address}/30", "dev", there)
        ip("-n", ns, "link", "set", there, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", server],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        hits: list[str] = []

        def record(stream: Any = process.stdout) -> None:
            for line in stream:
                hits.append(line.strip())

        threading.Thread(target=record, daemon=True).start()
        yield address, port, hits
    finally:
        if process is not None:
            process.kill()
            process.wait()
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", here], check=False, capture_output=True)


async def test_lan_hosts_are_reached_only_when_the_operator_allows_them(
    sandbox: BwrapSandbox, lan_host: tuple[str, int, list[str]]
) -> None:
    address, port, hits = lan_host
    target = f"{address}:{port}"
    info, out, err = await run(sandbox, CONNECT, target, network="outbound")
    assert info.reason is ExitReason.EXITED, err
    assert json.loads(out)[0][target] == "ConnectionRefusedError"  # a private range
    assert hits == []

    info, out, err = await run(
        sandbox, CONNECT, target, network="outbound", allow_networks=[f"{address}/32"]
    )
    assert info.reason is ExitReason.EXITED, err
    assert json.loads(out)[0][target] == "hello"

    info, out, err = await run(
        sandbox, CONNECT, target, network="outbound", allow_networks=["10.213.78.0/24"]
    )
    assert json.loads(out)[0][target] == "ConnectionRefusedError"  # another LAN only
    assert len(hits) == 1


def rules_on_a_host_with(address: str, folder: Path, allow_networks: list[str]) -> str:
    """The IPv4 egress rules as made on a host that has ``address`` (a /32 on no subnet
    route): a network namespace made here, with that address, stands in for the host."""
    script = folder / "rules.py"
    script.write_text(
        "import sys\n"
        "from visualbox.runtime.sandbox.network import egress_rules\n"
        "print(egress_rules([], sys.argv[1:])[0])\n"
    )
    shell = f'ip link set lo up && ip addr add {address}/32 dev lo && exec "$0" "$@"'
    argv = [sys.executable, str(script), *allow_networks]
    done = subprocess.run(
        ["unshare", "--net", "/bin/sh", "-c", shell, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_allowed_networks_keep_the_host_itself_out(tmp_path: Path) -> None:
    # This host's own address inside an allowed LAN stays refused, before the LAN's ACCEPT.
    rules = rules_on_a_host_with("192.168.77.5", tmp_path, ["192.168.77.0/24"])
    accept = rules.index("-A OUTPUT -d 192.168.77.0/24 -j ACCEPT")
    assert rules.index("-A OUTPUT -d 192.168.77.5/32 -p tcp -j REJECT") < accept
    assert accept < rules.index("-A OUTPUT -d 192.168.0.0/16 -p tcp -j REJECT")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("10.0.2.2", "overlaps 10.0.2.0/24"),
        ("10.0.0.0/8", "overlaps 10.0.2.0/24"),
        ("127.0.0.1", "overlaps 127.0.0.0/8"),
        ("169.254.169.254", "overlaps 169.254.0.0/16"),
        ("0.0.0.0/0", "overlaps 0.0.0.0/8"),
        ("fe80::1", "not an IPv4 address"),
        ("lan", "not an IPv4 address"),
    ],
)
def test_allowed_networks_never_include_loopback_metadata_or_slirp(entry: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_allowed_network(entry)
    with pytest.raises(ValidationError, match=reason):
        SandboxSettings(allow_networks=[entry])
    assert SandboxSettings(allow_networks=["192.168.1.7"]).allow_networks == ["192.168.1.7/32"]


def test_egress_rules_reject_private_ranges_and_host_subnets() -> None:
    v4, v6 = egress_rules([8080])
    assert "-A OUTPUT -d 10.0.2.2/32 -p tcp --dport 8080 -j ACCEPT" in v4
    for net in ("10.0.0.0/8", "127.0.0.0/8", "192.168.0.0/16", *map(str, host_subnets())):
        assert f"-A OUTPUT -d {net} -j REJECT" in v4
    assert v4.index("--dport 8080 -j ACCEPT") < v4.index("-d 10.0.0.0/8")
    assert "-A OUTPUT -j REJECT" in v6
    with pytest.raises(ValueError):
        egress_rules([70000])


@pytest.mark.skipif(not ROOT, reason="making a network namespace with an address needs root")
def test_egress_rules_reject_host_addresses_without_a_subnet_route(tmp_path: Path) -> None:
    # A host whose public address is a /32 (no subnet route, as on many cloud hosts).
    address = "198.51.100.7"
    rules = rules_on_a_host_with(address, tmp_path, [])
    assert f"-A OUTPUT -d {address}/32 -j REJECT" in rules


# --- choosing a backend ----------------------------------------------------------------


def test_get_sandbox_refuses_unsandboxed_without_opt_in() -> None:
    with pytest.raises(SandboxUnavailable, match="ALLOW_UNSANDBOXED=true"):
        get_sandbox(SandboxSettings(backend="none"))
    assert isinstance(get_sandbox(SandboxSettings(backend="bwrap")), BwrapSandbox)


# --- an ordinary user: rlimits instead of cgroups ----------------------------------------


@pytest.mark.skipif(not ROOT, reason="switching to an unprivileged uid needs root")
def test_unprivileged_supervisor_falls_back_to_rlimits() -> None:
    shared = Path(tempfile.mkdtemp(prefix="visualbox-rootless-"))  # pytest's tmp is 0700
    shared.chmod(0o755)
    plant = shared / "plant.txt"
    plant.write_text("readable by nobody on the host")
    plant.chmod(0o644)
    # The unprivileged user may not be able to enter the checkout or the venv (under
    # /root, or a 0700 folder): give it copies of what the script imports.
    lib = shared / "lib"
    shutil.copytree(Path(visualbox.__file__).parent, lib / "visualbox")
    seccomp_lib = Path(pyseccomp.__file__)
    if seccomp_lib.name == "__init__.py":
        shutil.copytree(seccomp_lib.parent, lib / "pyseccomp")
    else:
        shutil.copy(seccomp_lib, lib)
    script = shutil.copy(Path(__file__).with_name("sandbox_rootless.py"), shared)
    for path in shared.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    done = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        + [PY, str(script), str(plant)],
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin:/usr/sbin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    shutil.rmtree(shared)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["host_can_read"] is True
    assert report["sandbox"]["plant"] == errno.ENOENT
    assert report["sandbox"]["uid"] == 65534
    assert report["enforced"] == []
    limits = report["sandbox"]["rlimits"]
    assert limits["NOFILE"] == [40, 40]
    assert limits["NPROC"] == [21, 21]  # pids + bubblewrap's init
    assert limits["AS"] == [96 << 20, 96 << 20]
    assert report["exit"] == "exited"


# --- hardened backend: only collected where runsc is installed (never a skipped "pass") --

if shutil.which("runsc") and ROOT:
    from visualbox.runtime.sandbox.runsc import RunscSandbox

    async def test_runsc_isolates(tmp_path: Path) -> None:
        # Its limits and exit reasons are contract cases (test_sandbox_contract.py).
        runsc = get_sandbox(SandboxSettings(backend="runsc"))
        assert isinstance(runsc, RunscSandbox)
        runsc.check()
        proc = await runsc.spawn(
            SandboxSpec(
                argv=[PY, "-c", "import os; print(os.getuid(), os.path.exists('/root/.pyenv'))"],
                env={"ONLY": "this"},
            )
        )
        out = await proc.stdout.read()
        assert (await proc.wait()).reason is ExitReason.EXITED
        assert out.decode().split() == ["65534", "False"]
