"""Live relay: latency and throughput of integration → server → viewers, and how many
integrations this machine keeps running (prints figures; not a test).

    .venv/bin/python bench/relay.py [--viewers 1,20,200] [--integrations 200]
        [--fanout 1000] [--workers 1,2]

Two servers run as their own processes on 127.0.0.1, each measured by this
process acting as every viewer:

* **baseline**: a raw `websockets` server; a publisher process sends
  `{"t": time_ns}` frames, the server `broadcast()`s each to every viewer;
* **VisualBox**: `visualbox serve` on a fresh data dir; a sandboxed Python
  integration calls `visualbox.output({"t": time_ns})`, viewers join the
  dashboard's room over `/api/live`.

Latency is the producer's clock at `output()`/`send()` to the viewer's receipt
(same host, same clock), at 50 messages per second, for 1, 20 and 200 viewers.
Throughput is messages per second received by each viewer while the producer
sends as fast as it can (the integration's output rate limit is lifted for this
run), counting what arrived within the flood's seconds (+ GRACE_S) from its first
message: the raw server buffers a flood without bound and its viewers are still
reading it many seconds later, which is not throughput (the figure counting them
is printed beside it). Targets (docs/live.md, performance.md): p50 ≤ 2× and p99 ≤ 3×
the baseline; ≥ 10,000 messages/s ingested; ≥ 200 integrations running at once.

Scale-out (docs/scaling.md):

* **fan-out**: 1,000 viewers of one dashboard at 10 messages per second, each
  viewer's p50 and p99 latency and the messages it never got (dropped); target
  p99 ≤ 100 ms with nothing dropped. The raw baseline with as many viewers is
  printed beside it (it shows what this one measuring process adds);
* **workers**: the 200-viewer flood with ``visualbox serve --workers 1`` (the
  embedded defaults) and ``--workers 2`` (a throwaway ``redis-server`` as the hub,
  SQLite), each right after the raw baseline; targets: deliveries ≥ 0.7× the
  baseline with one worker, ≥ 1.0× with two.

The load average is printed with the figures: on a shared machine they move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
from measure import free_port, join, percentile
from websockets.asyncio.client import ClientConnection, connect

RATE = 50
LATENCY_S = 4.0
FLOOD_S = 3.0
GRACE_S = 0.5
FANOUT_RATE = 10
FANOUT_S = 5.0
REDIS_SERVER = "/usr/bin/redis-server"

BASELINE_SERVER = """
import asyncio, sys
from websockets.asyncio.server import broadcast, serve
viewers = set()
async def handler(ws):
    if ws.request.path == "/pub":
        async for message in ws:
            broadcast(viewers, message)
    else:
        viewers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            viewers.discard(ws)
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None, max_queue=None):
        print("ready", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""
PUBLISHER = """
import asyncio, json, sys, time
from websockets.asyncio.client import connect
async def main(port, rate, seconds):
    async with connect(f"ws://127.0.0.1:{port}/pub", compression=None) as ws:
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            await ws.send(json.dumps({"t": time.time_ns(), "n": n}))
            n += 1
            if rate:
                await asyncio.sleep(1 / rate)
            elif n % 64 == 0:
                await asyncio.sleep(0)
asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])))
"""
INTEGRATION = """\
import time, visualbox
rate = float(visualbox.MODEL["rate"])
time.sleep(float(visualbox.MODEL["delay"]))
end = time.monotonic() + float(visualbox.MODEL["seconds"])
n = 0
while time.monotonic() < end:
    visualbox.output({"t": time.time_ns(), "n": n})
    n += 1
    if rate:
        time.sleep(1 / rate)
while True:
    time.sleep(3600)
"""
SCHEMA = [
    {"type": "number", "name": "rate", "label": "Rate", "default": 50},
    {"type": "number", "name": "seconds", "label": "Seconds", "default": 4},
    {"type": "number", "name": "delay", "label": "Delay", "default": 1},
]
TRIVIAL = """\
import time, visualbox
n = 0
while True:
    visualbox.output(n)
    n += 1
    time.sleep(1)
"""


class Figures:
    def __init__(self, viewers: int = 0) -> None:
        self.latencies: list[float] = []
        self.firsts: list[int] = [-1] * viewers
        """The first message number each viewer got (-1: none)."""
        self.last_n = -1
        self.arrivals: list[list[int]] = [[] for _ in range(viewers)]
        """When each viewer got each message (``time.time_ns()``), in order."""
        self.first_sent = 0
        """The producer's clock at the first message any viewer got."""

    @property
    def counts(self) -> list[int]:
        """How many messages each viewer got."""
        return [len(times) for times in self.arrivals]

    def line(self, label: str, seconds: float | None = None) -> str:
        if seconds is None:
            p50 = statistics.median(self.latencies)
            p99 = percentile(self.latencies, 0.99)
            return f"{label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(self.latencies)} samples)"
        counts = self.in_time(seconds)
        per_viewer = statistics.median(counts) / seconds
        total = sum(counts) / seconds
        return (
            f"{label}: {self.ingested(seconds):,.0f} msg/s ingested, {per_viewer:,.0f} msg/s "
            f"received per viewer, {total:,.0f} deliveries/s in time; "
            f"{sum(self.counts) / seconds:,.0f}/s counting the last arriving "
            f"{self.drained(seconds):.1f} s after the flood"
        )

    def drained(self, seconds: float) -> float:
        """How long after the flood's end its last message arrived."""
        last = max((times[-1] for times in self.arrivals if times), default=0)
        return max(0.0, (last - self.first_sent) / 1e9 - seconds)

    def in_time(self, seconds: float) -> list[int]:
        """Per viewer, the messages that arrived within ``seconds`` (+ GRACE_S) of the
        first one being sent: a server that buffers a flood without bound gets no
        credit for what its viewers get long after the flood ended."""
        cutoff = self.first_sent + int((seconds + GRACE_S) * 1e9)
        return [bisect.bisect_right(times, cutoff) for times in self.arrivals]

    def ingested(self, seconds: float) -> float:
        return (self.last_n + 1) / seconds

    def dropped(self) -> tuple[int, int]:
        """Messages the viewers missed from their first one on, and how many viewers
        joined after the first message (their earlier ones are not counted)."""
        missed = late = 0
        for first, count in zip(self.firsts, self.counts, strict=True):
            if first < 0:
                missed += self.last_n + 1
                continue
            late += first > 0
            missed += self.last_n + 1 - first - count
        return missed, late


async def read_into(
    ws: ClientConnection, figures: Figures, index: int, pick: Callable[[Any], Any]
) -> None:
    with contextlib.suppress(Exception):
        async for raw in ws:
            now = time.time_ns()
            frame = json.loads(raw)
            for item in frame if isinstance(frame, list) else [frame]:  # VisualBox batches
                message = pick(item)
                if message is None:
                    continue
                sent = message["t"]
                figures.latencies.append((now - sent) / 1e6)
                figures.arrivals[index].append(now)
                if not figures.first_sent or sent < figures.first_sent:
                    figures.first_sent = sent
                if figures.firsts[index] < 0:
                    figures.firsts[index] = message["n"]
                figures.last_n = max(figures.last_n, message["n"])


# --- baseline ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def baseline_server() -> AsyncIterator[int]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BASELINE_SERVER,
        str(port),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # asyncio's "socket.send() raised" as viewers leave
    )
    assert process.stdout is not None
    await process.stdout.readline()
    try:
        yield port
    finally:
        process.terminate()
        await process.wait()


async def baseline(viewers: int, rate: float, seconds: float) -> Figures:
    figures = Figures(viewers)
    async with baseline_server() as port:
        sockets = [
            await connect(f"ws://127.0.0.1:{port}/sub", compression=None, max_queue=None)
            for _ in range(viewers)
        ]
        readers = [
            asyncio.create_task(read_into(ws, figures, i, lambda m: m))
            for i, ws in enumerate(sockets)
        ]
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, str(port), str(rate), str(seconds)
        )
        await publisher.wait()
        await asyncio.sleep(0.5)  # let the last frames arrive before closing
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers)
    return figures


# --- VisualBox ---------------------------------------------------------------------------


class VisualBox:
    """`visualbox serve` in its own process on a fresh data dir, driven over HTTP."""

    def __init__(self, folder: Path, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.workers = workers
        self.env = {
            **os.environ,
            "VISUALBOX_DATA_DIR": str(folder),
            "VISUALBOX_SERVER__PORT": str(self.port),
            "VISUALBOX_SANDBOX__OUTPUT_RATE": "1000000",
            "VISUALBOX_SANDBOX__OUTPUT_BURST": "1000000",
            "VISUALBOX_FRAMES__PORT": str(free_port()),
            "VISUALBOX_LIVE__IDLE_TIMEOUT_S": "600",
            # The relay is measured, not the tenant quotas (bench/tenants.py does those).
            "VISUALBOX_QUOTAS__INSTANCES_PER_DASHBOARD": "100",
            "VISUALBOX_QUOTAS__SANDBOXES": "100000",
            "VISUALBOX_QUOTAS__OUTPUT_BYTES_PER_S": str(1 << 40),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx2.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120)

    def start(self) -> VisualBox:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> VisualBox:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "visualbox",
                "serve",
                "--log-level",
                "warning",
                "--workers",
                str(self.workers),
            ],  # fmt: skip
            env=self.env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx2.HTTPError):
                if self.http.get("/api/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("visualbox serve did not start")
            time.sleep(0.1)
        email = "bench@example.com"
        self.http.post(
            "/api/auth/signup",
            json={"name": "Bench", "email": email, "password": "bench password 1"},
        ).raise_for_status()
        token = self.http.post("/api/account/tokens", json={"name": "bench"}).json()["token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.token = token
        return self

    def module(self, code: str, schema: list[dict[str, Any]]) -> str:
        created = self.http.post(
            "/api/modules",
            json={"name": "Bench", "kind": "integration", "runtime": "python", "template": False},
        )
        created.raise_for_status()
        module_id: str = created.json()["id"]
        _ok(self.http.put(f"/api/modules/{module_id}/files/main.py", content=code.encode()))
        config = json.dumps(schema).encode()
        _ok(self.http.put(f"/api/modules/{module_id}/files/config.json", content=config))
        _ok(self.http.put(f"/api/modules/{module_id}/files/README.md", content=b"# Bench\n"))
        _ok(self.http.post(f"/api/modules/{module_id}/versions", json={"version": "1.0.0"}))
        return module_id

    def dashboard(self, instances: list[dict[str, Any]]) -> str:
        body = {"name": "Bench", "integrations": instances}
        response = _ok(self.http.post("/api/dashboards", json=body))
        dashboard_id: str = response.json()["id"]
        return dashboard_id

    async def viewer(self, dashboard_id: str) -> ClientConnection:
        return await join(self.port, self.token, dashboard_id)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
        self.http.close()


def _ok(response: httpx2.Response) -> httpx2.Response:
    if response.is_error:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.text}")
    return response


def _output(message: dict[str, Any]) -> dict[str, Any] | None:
    if message.get("type") != "OUTPUT":
        return None
    data: dict[str, Any] = message["data"]
    return data


async def visualbox_run(
    server: VisualBox, module: str, viewers: int, rate: float, seconds: float
) -> Figures:
    figures = Figures(viewers)
    # The integration waits for the viewers to join before it starts sending.
    delay = 1.0 + viewers * 0.01
    board = server.dashboard(
        [{"id": "b", "module_id": module, "label": "B",
          "config": {"rate": rate, "seconds": seconds, "delay": delay}}]
    )  # fmt: skip
    sockets: list[ClientConnection] = []
    for start in range(0, viewers, 50):  # 50 at a time: a thousand join in seconds
        sockets += await asyncio.gather(
            *(server.viewer(board) for _ in range(min(50, viewers - start)))
        )
    readers = [
        asyncio.create_task(read_into(ws, figures, i, _output)) for i, ws in enumerate(sockets)
    ]
    await asyncio.sleep(delay + seconds + 1.5)
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*readers)
    server.http.delete(f"/api/dashboards/{board}").raise_for_status()  # stops its instance
    return figures


async def concurrency(server: VisualBox, count: int) -> tuple[int, float, float]:
    """Start ``count`` trivial integrations (1 output/s each); how many run, and the
    memory each takes (PSS of everything running below the server)."""
    module = server.module(TRIVIAL, [])
    boards = []
    for start in range(0, count, 100):
        n = min(100, count - start)
        boards.append(server.dashboard(
            [{"id": f"i{k}", "module_id": module, "label": f"I{k}"} for k in range(n)]
        ))  # fmt: skip
    seen: dict[str, set[str]] = {b: set() for b in boards}
    twice: dict[str, set[str]] = {b: set() for b in boards}
    began = time.monotonic()
    sockets = [await server.viewer(b) for b in boards]

    async def watch(ws: ClientConnection, board: str) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                frame = json.loads(raw)
                for message in frame if isinstance(frame, list) else [frame]:
                    if message.get("type") == "OUTPUT":
                        instance = message["instance"]
                        (twice if instance in seen[board] else seen)[board].add(instance)

    watchers = [asyncio.create_task(watch(ws, b)) for ws, b in zip(sockets, boards, strict=True)]
    deadline = time.monotonic() + 180
    while sum(len(s) for s in twice.values()) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    running = sum(len(s) for s in twice.values())
    took = time.monotonic() - began
    assert server.process is not None
    per = _descendants_pss_kib(server.process.pid) / max(running, 1)
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*watchers)
    return running, per, took


def _descendants_pss_kib(root: int) -> int:
    """Proportional set size of every process below ``root`` (the sandboxes and what
    runs in them: bwrap, slirp4netns, the interpreters), in KiB."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    below = {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in below and pid not in below:
                below.add(pid)
                changed = True
    total = 0
    for pid in below - {root}:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port, keeping nothing on disk."""
    if not Path(REDIS_SERVER).exists():
        raise SystemExit("redis-server not found: run `scripts/system-packages test`")
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


async def fanout(folder: Path, viewers: int) -> None:
    """``viewers`` viewers of one dashboard at FANOUT_RATE messages per second."""
    base = await baseline(viewers, FANOUT_RATE, FANOUT_S)
    server = VisualBox(folder).start()
    try:
        module = server.module(INTEGRATION, SCHEMA)
        await visualbox_run(server, module, 1, RATE, 1.0)
        ours = await visualbox_run(server, module, viewers, FANOUT_RATE, FANOUT_S)
    finally:
        server.stop()
    dropped, late = ours.dropped()
    p99 = percentile(ours.latencies, 0.99)
    print(f"\n{viewers} viewers of one dashboard at {FANOUT_RATE} msg/s ({_load()})")
    print("  " + base.line("baseline  "))
    print("  " + ours.line("VisualBox "))
    print(f"  dropped: {dropped} (target 0); p99 {p99:.1f} ms (target <= 100 ms)"
          + (f"; {late} viewer(s) joined after the first message" if late else ""))  # fmt: skip


async def workers(folder: Path, counts: list[int], viewers: int) -> None:
    """The ``viewers``-viewer flood with ``visualbox serve --workers N``, each after the
    raw baseline."""
    with redis_server(folder) as redis_url:
        for count in counts:
            env = {"VISUALBOX_HUB__URL": redis_url} if count > 1 else {}
            server = VisualBox(folder / f"workers{count}", workers=count, **env).start()
            try:
                module = server.module(INTEGRATION, SCHEMA)
                await visualbox_run(server, module, 1, RATE, 1.0)
                base = await baseline(viewers, 0, FLOOD_S)
                ours = await visualbox_run(server, module, viewers, 0, FLOOD_S)
            finally:
                server.stop()
            hub = "Redis hub" if count > 1 else "memory hub"
            target = 1.0 if count > 1 else 0.7
            ratio = sum(ours.in_time(FLOOD_S)) / sum(base.in_time(FLOOD_S))
            eventually = sum(ours.counts) / sum(base.counts)
            print(f"\n{viewers} viewers, flood, --workers {count} ({hub}; {_load()})")
            print("  " + base.line("baseline  ", FLOOD_S))
            print("  " + ours.line("VisualBox ", FLOOD_S))
            print(f"  ratio: deliveries in time {ratio:.2f}x the baseline (target >= {target}); "
                  f"counting late ones {eventually:.2f}x")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", default="1,20,200", help="comma-separated; empty: skip")
    parser.add_argument("--integrations", type=int, default=200, help="0: skip")
    parser.add_argument("--fanout", type=int, default=1000, help="viewers; 0: skip")
    parser.add_argument("--workers", default="1,2", help="comma-separated; empty: skip")
    parser.add_argument("--flood-viewers", type=int, default=200, help="with --workers")
    args = parser.parse_args()
    counts = [int(v) for v in args.viewers.split(",") if v.strip()]
    # Every viewer is a socket here and one in the server.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * max([*counts, args.fanout, args.flood_viewers]) + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    print(f"{os.cpu_count()} cores; latency at {RATE} msg/s for {LATENCY_S:g} s, "
          f"throughput flooding for {FLOOD_S:g} s")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        server = VisualBox(Path(folder) / "data").start()
        try:
            module = server.module(INTEGRATION, SCHEMA)
            # Warm-up: the first start materializes the source.
            await visualbox_run(server, module, 1, RATE, 1.0)
            for viewers in counts:
                base = await baseline(viewers, RATE, LATENCY_S)
                ours = await visualbox_run(server, module, viewers, RATE, LATENCY_S)
                b50 = statistics.median(base.latencies)
                b99 = percentile(base.latencies, 0.99)
                o50 = statistics.median(ours.latencies)
                o99 = percentile(ours.latencies, 0.99)
                print(f"\n{viewers} viewer(s), latency")
                print("  " + base.line("baseline  "))
                print("  " + ours.line("VisualBox "))
                print(
                    f"  ratio: p50 {o50 / b50:.2f}x (target <= 2), "
                    f"p99 {o99 / b99:.2f}x (target <= 3)"
                )
                base_t = await baseline(viewers, 0, FLOOD_S)
                ours_t = await visualbox_run(server, module, viewers, 0, FLOOD_S)
                bt = sum(base_t.in_time(FLOOD_S)) / FLOOD_S
                ot = sum(ours_t.in_time(FLOOD_S)) / FLOOD_S
                print(f"{viewers} viewer(s), throughput")
                print("  " + base_t.line("baseline  ", FLOOD_S))
                print("  " + ours_t.line("VisualBox ", FLOOD_S))
                print(f"  ratio: deliveries {ot / bt:.2f}x the baseline; ingested "
                      f"{ours_t.ingested(FLOOD_S):,.0f} msg/s (target >= 10,000)")  # fmt: skip
        finally:
            server.stop()
        if args.fanout:
            await fanout(Path(folder) / "fanout", args.fanout)
        worker_counts = [int(v) for v in args.workers.split(",") if v.strip()]
        if worker_counts:
            await workers(Path(folder), worker_counts, args.flood_viewers)
        if not args.integrations:
            return
        server = VisualBox(Path(folder) / "data2").start()
        try:
            running, per_kib, took = await concurrency(server, args.integrations)
            print(f"\n{running} of {args.integrations} trivial integrations running at once "
                  f"(each had sent two outputs {took:.1f} s after the first JOIN); "
                  f"{per_kib / 1024:.1f} MiB each (PSS of the sandboxes and their processes), "
                  "target >= 200")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
