"""The unsandboxed development backend keeps the ExitInfo rules of the contract."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from visualbox.runtime.sandbox.base import ExitInfo, ExitReason, Limits, Mount, SandboxSpec
from visualbox.runtime.sandbox.none import NoneSandbox

SH = "/bin/sh"


async def _run(spec: SandboxSpec, stop: bool = False) -> tuple[ExitInfo, bytes]:
    process = await NoneSandbox().spawn(spec)
    if stop:
        await process.stdout.readline()  # it runs
        info = await process.terminate(grace_s=1)
    else:
        info = await process.wait()
    return info, await process.stdout.read()


def test_exit_codes_env_mounts_and_workdir(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("mounted")
    spec = SandboxSpec(
        argv=[SH, "-c", 'echo "$(cat "$DATA") $HOME $FOO"; env | wc -l; exit 3'],
        env={"HOME": "/work", "FOO": "bar", "PATH": "/usr/bin:/bin", "DATA": "/data/data.txt"},
        mounts=[Mount(tmp_path, "/data")],
    )
    info, out = asyncio.run(_run(spec))
    first, count = out.decode().splitlines()[:2]
    assert first.startswith("mounted /") and first.endswith("/work bar")
    assert int(count) <= 7  # spec.env only (plus what sh itself sets: PWD, ...)
    assert (info.code, info.reason) == (3, ExitReason.CRASHED)


def test_time_limit_and_terminate_kill_the_whole_group(tmp_path: Path) -> None:
    marker = tmp_path / "child-pid"
    spec = SandboxSpec(
        argv=[SH, "-c", f"sleep 300 & echo $! > {marker}; echo up; wait"],
        env={"PATH": "/usr/bin:/bin"},
        limits=Limits(time_s=0.5),
    )
    info, _ = asyncio.run(_run(spec))
    assert info.reason is ExitReason.TIME_LIMIT and info.code == -9
    child = int(marker.read_text())
    assert not _alive(child)

    spec = SandboxSpec(argv=[SH, "-c", "echo up; exec sleep 300"], env={"PATH": "/usr/bin"})
    info, _ = asyncio.run(_run(spec, stop=True))
    assert info.reason is ExitReason.TERMINATED and info.code == -15


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"
