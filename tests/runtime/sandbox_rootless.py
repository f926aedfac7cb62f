"""Run by test_sandbox.py as an unprivileged uid: one sandbox, reported as JSON.

Usage: sandbox_rootless.py PLANTED_FILE. Prints whether this (host) user can
read the file, and what the sandboxed process saw: its uid, the file, its rlimits.
"""

from __future__ import annotations

import asyncio
import json
import sys

from visualbox.runtime.sandbox.base import Limits, SandboxSpec
from visualbox.runtime.sandbox.bwrap import BwrapSandbox

PROBE = """
import json, os, resource, sys
try:
    open(sys.argv[1]).read(); plant = "read"
except OSError as exc:
    plant = exc.errno
names = ("NOFILE", "NPROC", "AS", "FSIZE")
rlimits = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n)) for n in names}
print(json.dumps({"uid": os.getuid(), "plant": plant, "rlimits": rlimits}))
"""


async def main(plant: str) -> dict[str, object]:
    with open(plant) as f:
        host_can_read = bool(f.read())
    sandbox = BwrapSandbox()
    sandbox.check()
    limits = Limits(memory_mb=96, pids=20, nofile=40)
    proc = await sandbox.spawn(
        SandboxSpec(argv=["/usr/bin/python3", "-c", PROBE, plant], limits=limits)
    )
    out, err = await asyncio.gather(proc.stdout.read(), proc.stderr.read())
    info = await proc.wait()
    if not out:
        raise SystemExit(f"sandbox printed nothing: {info} {err.decode()}")
    return {
        "host_can_read": host_can_read,
        "enforced": sorted(proc.enforced),
        "exit": str(info.reason),
        "sandbox": json.loads(out),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
