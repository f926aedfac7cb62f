"""Tenant isolation: what one account flooding large outputs costs everyone else
(prints figures; not a test).

    .venv/bin/python bench/tenants.py [--seconds 8] [--flooders 4]

`visualbox serve` runs in its own process on 127.0.0.1 with the embedded defaults
(SQLite, default quotas). Two accounts:

* **calm** (the first account, so an administrator): a sandboxed Python integration
  outputs `{"t": time_ns}` 20 times per second to a viewer of its own dashboard
  (this process); another task here asks `GET /api/health` 20 times per second.
* **flooder**: `--flooders` sandboxed integrations (set to keep running) each call
  `visualbox.output()` with about 1 MB of JSON as fast as they may; a viewer in a
  separate process watches its dashboard and throws what it gets away.

Three phases of `--seconds` each: **idle** (the flooder stopped), **flood at its
quota** (`QUOTAS__OUTPUT_BYTES_PER_S`, 1 MiB/s by default), and **flood, quota
lifted** (the administrator overrides the flooder's quota to 1 TiB/s: no output
quota, as before issue 11). The calm account's health and live latencies
(p50, p99) are printed with their ratio to idle, measured in the same run. The
bar (issue 11): within 2× of idle at the quota.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from measure import free_port, join, percentile

RATE = 20
CALM = """\
import time, visualbox
n = 0
while True:
    visualbox.output({"t": time.time_ns(), "n": n})
    n += 1
    time.sleep(0.05)
"""
FLOOD = """\
import json, os, time, visualbox
rows = [{"i": i, "name": os.urandom(8).hex(), "v": i * 0.5} for i in range(20000)]
size = len(json.dumps(rows))
del rows[int(len(rows) * 1_000_000 / size) - 10 :]  # about 1 MB (the limit is 1 MiB)
while True:
    rows[0]["v"] = time.time_ns()
    visualbox.output({"rows": rows})
"""
DISCARDING_VIEWER = """\
import asyncio, json, os, sys
from websockets.asyncio.client import connect
async def main(url, token, board, counter):
    headers = {"Authorization": "Bearer " + token}
    async with connect(url, additional_headers=headers, compression=None,
                       max_size=None, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "JOIN", "dashboard": board}))
        print("joined", flush=True)
        count = 0
        async for raw in ws:
            count += len(raw)
            with open(counter + ".new", "w") as f:
                f.write(str(count))
            os.replace(counter + ".new", counter)
asyncio.run(main(*sys.argv[1:]))
"""


class Server:
    """`visualbox serve` on a fresh data dir; its log (with the mailed links) in a file."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / "serve.log"
        self.counter = folder / "flood-bytes"
        """Bytes the flooder's viewer received so far (it writes them here)."""
        self.env = {
            **os.environ,
            "VISUALBOX_DATA_DIR": str(folder / "data"),
            "VISUALBOX_SERVER__PORT": str(self.port),
            "VISUALBOX_FRAMES__PORT": str(free_port()),
            "VISUALBOX_LIVE__IDLE_TIMEOUT_S": "600",
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "visualbox", "serve", "--log-level", "info"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        with httpx2.Client(base_url=self.url) as http:
            while True:
                with contextlib.suppress(httpx2.HTTPError):
                    if http.get("/api/health").status_code == 200:
                        return self
                if time.monotonic() > deadline:
                    raise RuntimeError("visualbox serve did not start")
                time.sleep(0.1)

    def account(self, name: str) -> tuple[str, httpx2.Client]:
        """Sign up (verifying the address through the link in the server log)."""
        http = httpx2.Client(base_url=self.url, timeout=120)
        email = f"{name}@example.com"
        body = {"name": name, "email": email, "password": "bench password 1"}
        user = _ok(http.post("/api/auth/signup", json=body)).json()
        if not user["email_verified"]:
            token = self._link_token(email)
            _ok(http.post("/api/auth/verify", json={"token": token}))
        token = _ok(http.post("/api/account/tokens", json={"name": "bench"})).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        http.cookies.clear()
        return token, http

    def _link_token(self, email: str) -> str:
        deadline = time.monotonic() + 30
        pattern = re.compile(re.escape(email) + r".*?token=([A-Za-z0-9_\-]+)")
        while time.monotonic() < deadline:
            found = pattern.search(self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            time.sleep(0.1)
        raise RuntimeError(f"no verification link for {email} in {self.log}")

    def flooded(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            return int(self.counter.read_text())
        return 0

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


def _ok(response: httpx2.Response) -> httpx2.Response:
    if response.is_error:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.text}")
    return response


def module(http: httpx2.Client, code: str) -> str:
    body = {"name": "Bench", "kind": "integration", "runtime": "python", "template": False}
    module_id: str = _ok(http.post("/api/modules", json=body)).json()["id"]
    _ok(http.put(f"/api/modules/{module_id}/files/main.py", content=code.encode()))
    _ok(http.put(f"/api/modules/{module_id}/files/config.json", content=b"[]"))
    _ok(http.put(f"/api/modules/{module_id}/files/README.md", content=b"# Bench\n"))
    _ok(http.post(f"/api/modules/{module_id}/versions", json={"version": "1.0.0"}))
    return module_id


def dashboard(http: httpx2.Client, instances: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = _ok(
        http.post("/api/dashboards", json={"name": "Bench", "integrations": instances})
    ).json()
    return body


class Phase:
    def __init__(self, name: str) -> None:
        self.name = name
        self.health: list[float] = []
        self.live: list[float] = []
        self.cpu = 0.0
        self.flood = 0.0
        """Bytes per second the flooder's viewer received."""
        """CPU seconds per second of the server process (its event loop and threads; the
        sandboxes are other processes)."""

    def line(self, idle: Phase | None) -> str:
        parts = []
        for label, samples, base in (
            ("health", self.health, idle.health if idle else None),
            ("live", self.live, idle.live if idle else None),
        ):
            p50, p99 = statistics.median(samples), percentile(samples, 0.99)
            text = f"{label} p50 {p50:6.2f} ms, p99 {p99:7.2f} ms"
            if base:
                b50, b99 = statistics.median(base), percentile(base, 0.99)
                text += f" ({p50 / b50:.2f}x, {p99 / b99:.2f}x)"
            parts.append(text)
        cpu = f"server CPU {self.cpu * 100:3.0f} %"
        parts.append(f"flooder's viewer got {self.flood / 1e6:5.1f} MB/s")
        if idle:
            cpu += f" ({self.cpu / idle.cpu:.1f}x)"
        return f"  {self.name:<30} " + "; ".join([*parts, cpu])


async def measure(server: Server, token: str, board: str, phase: Phase, seconds: float) -> None:
    """The calm account's health and live latencies for ``seconds``."""
    ws = await join(server.port, token, board)
    started = asyncio.Event()

    async def read() -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                now = time.time_ns()
                frame = json.loads(raw)
                for item in frame if isinstance(frame, list) else [frame]:
                    if item.get("type") == "OUTPUT" and isinstance(item.get("data"), dict):
                        if started.is_set():
                            phase.live.append((now - item["data"]["t"]) / 1e6)

    async def poll(http: httpx2.AsyncClient) -> None:
        while True:
            began = time.perf_counter()
            (await http.get("/api/health")).raise_for_status()
            if started.is_set():
                phase.health.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(max(0.0, 1 / RATE - (time.perf_counter() - began)))

    async with httpx2.AsyncClient(base_url=server.url, timeout=60) as http:
        tasks = [asyncio.create_task(read()), asyncio.create_task(poll(http))]
        await asyncio.sleep(1.0)  # the room fills in (JOINED, last values) before we count
        started.set()
        cpu, flood = server.cpu_seconds(), server.flooded()
        await asyncio.sleep(seconds)
        phase.cpu = (server.cpu_seconds() - cpu) / seconds
        phase.flood = (server.flooded() - flood) / seconds
        tasks[1].cancel()
        await ws.close()
        await asyncio.gather(*tasks, return_exceptions=True)


def relayed_rate(http: httpx2.Client, user_id: str) -> str:
    shown = http.get(f"/api/users/{user_id}/quotas").json()["quotas"]["output_bytes_per_s"]
    return f"{shown['limit']:,} B/s"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--flooders", type=int, default=4)
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores; calm account: {RATE} outputs/s and {RATE} health "
        f"requests/s; flooder: {args.flooders} integrations of ~1 MB outputs; "
        f"{args.seconds:g} s per phase"
    )
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder)).start()
        viewer: subprocess.Popen[bytes] | None = None
        try:
            calm_token, calm = server.account("calm")  # the first account: administrator
            flood_token, flooder = server.account("flooder")
            flooder_id = flooder.get("/api/account").json()["id"]
            board = dashboard(calm, [{"id": "c", "module_id": module(calm, CALM), "label": "C"}])
            flood_module = module(flooder, FLOOD)
            flood_board = dashboard(
                flooder,
                [
                    {"id": f"f{k}", "module_id": flood_module, "label": f"F{k}"}
                    for k in range(args.flooders)
                ],
            )
            idle = Phase("idle")
            await measure(server, calm_token, board["id"], idle, args.seconds)
            print(idle.line(None))

            viewer = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    DISCARDING_VIEWER,
                    f"ws://127.0.0.1:{server.port}/api/live",
                    flood_token,
                    flood_board["id"],
                    str(server.counter),
                ],
                stdout=subprocess.PIPE,
            )
            assert viewer.stdout is not None
            viewer.stdout.readline()  # joined: the flooding integrations start
            deadline = time.monotonic() + 120
            while server.flooded() == 0:  # polling for the first output, with a deadline
                if time.monotonic() > deadline:
                    raise RuntimeError("the flooding integrations sent nothing")
                await asyncio.sleep(0.1)
            at_quota = Phase(f"flood at quota ({relayed_rate(calm, flooder_id)})")
            await measure(server, calm_token, board["id"], at_quota, args.seconds)
            print(at_quota.line(idle))

            lifted = {"output_bytes_per_s": 1 << 40}
            _ok(calm.put(f"/api/users/{flooder_id}/quotas", json=lifted))
            no_quota = Phase("flood, quota lifted")
            await measure(server, calm_token, board["id"], no_quota, args.seconds)
            print(no_quota.line(idle))
            ratio = statistics.median(at_quota.health) / statistics.median(idle.health)
            live = statistics.median(at_quota.live) / statistics.median(idle.live)
            print(f"  at quota: health p50 {ratio:.2f}x, live p50 {live:.2f}x idle (target <= 2)")
        finally:
            if viewer is not None:
                viewer.terminate()
                viewer.wait()
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
