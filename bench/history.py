"""History: what recording costs the relay (prints figures; not a test).

    .venv/bin/python bench/history.py [--rounds 5]

Three `visualbox serve` processes on fresh data dirs: recording off
(`HISTORY__ENABLED=false`), on with the defaults (at most `HISTORY__MAX_RATE`, 100,
outputs of an instance recorded per second: of a flood, the last of each 10 ms), and
on recording every output (`HISTORY__MAX_RATE=0`); the same sandboxed integration as
bench/relay.py runs on each, set to `"history": "output"` so its whole output is
recorded. In alternating rounds (so all see the same machine load) it measures the
relay's latency at 50 messages per second (p50, p99 of all rounds' samples) and the
ingest rate while the integration floods (median), with one viewer, then prints them,
the ratios to "off" and the values the recorder stored per second. Target: recording
costs at most 10% (ratio of ingest rates >= 0.9, of p99 latencies <= 1.1).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import percentile
from relay import FLOOD_S, INTEGRATION, LATENCY_S, RATE, SCHEMA, Figures, VisualBox, read_into


async def run(server: VisualBox, module: str, rate: float, seconds: float) -> tuple[Figures, int]:
    """One integration sending for ``seconds`` (``rate`` 0: as fast as it can) to one
    viewer; the figures and how many values were recorded."""
    figures = Figures(viewers=1)
    delay = 2.0  # the integration waits for the viewer to join before it sends
    config = {"rate": rate, "seconds": seconds, "delay": delay}
    instance = {"id": "b", "module_id": module, "label": "B", "config": config}
    board = server.dashboard([{**instance, "history": "output"}])
    socket = await server.viewer(board)
    reader = asyncio.create_task(read_into(socket, figures, 0, _output))
    await asyncio.sleep(delay + seconds + 1.5)
    await socket.close()
    await reader
    # What was recorded, once the recorder (a flush every second) has caught up.
    params = {"instance": "b", "points": "100000", "from": str(time.time_ns() // 10**6 - 3600_000)}
    recorded, deadline = -1, time.monotonic() + 30
    while time.monotonic() < deadline:
        csv = server.http.get(f"/api/dashboards/{board}/history.csv", params=params)
        csv.raise_for_status()
        count = max(0, len(csv.text.splitlines()) - 1)
        if count == recorded:
            break
        recorded = count
        await asyncio.sleep(1.5)
    server.http.delete(f"/api/dashboards/{board}").raise_for_status()
    return figures, recorded


def _output(message: dict[str, Any]) -> dict[str, Any] | None:
    if message.get("type") != "OUTPUT":
        return None
    data: dict[str, Any] = message["data"]
    return data


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    names = ("off", "on", "every")
    results: dict[str, dict[str, list[float]]] = {
        name: {"ingest": [], "recorded": [], "per_s": []} for name in names
    }
    latencies: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as folder:
        servers = {
            "off": VisualBox(Path(folder) / "off", VISUALBOX_HISTORY__ENABLED="false").start(),
            "on": VisualBox(Path(folder) / "on").start(),
            "every": VisualBox(Path(folder) / "every", VISUALBOX_HISTORY__MAX_RATE="0").start(),
        }
        try:
            modules = {name: s.module(INTEGRATION, SCHEMA) for name, s in servers.items()}
            for name, server in servers.items():  # warm-up: materialize the source
                await run(server, modules[name], RATE, 1.0)
            for _ in range(args.rounds):
                for name, server in servers.items():
                    latency, _ = await run(server, modules[name], RATE, LATENCY_S)
                    flood, recorded = await run(server, modules[name], 0, FLOOD_S)
                    if not latency.latencies or flood.last_n < 0:
                        print(f"  (recording {name}: no output arrived in time; round skipped)")
                        continue
                    latencies[name] += latency.latencies
                    results[name]["ingest"].append(flood.ingested(FLOOD_S))
                    results[name]["recorded"].append(recorded / max(flood.last_n + 1, 1))
                    results[name]["per_s"].append(recorded / FLOOD_S)
        finally:
            for server in servers.values():
                server.stop()
    median = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in results.items()}
    for name, pooled in latencies.items():  # one round's 200 samples make a shaky p99
        median[name]["p50"] = statistics.median(pooled)
        median[name]["p99"] = percentile(pooled, 0.99)
    print(f"{args.rounds} rounds; latency at {RATE} msg/s for {LATENCY_S:g} s (percentiles of "
          f"all rounds' samples), flooding for {FLOOD_S:g} s (medians); one viewer")  # fmt: skip
    labels = {"off": "off", "on": "on (100/s)", "every": "every output"}
    for name in names:
        m = median[name]
        print(
            f"  recording {labels[name]:12}: p50 {m['p50']:.2f} ms, p99 {m['p99']:.2f} ms, "
            f"{m['ingest']:,.0f} msg/s ingested; of the flood {m['recorded']:.1%} recorded, "
            f"{m['per_s']:,.0f} values/s"
        )
    off = median["off"]
    for name in ("on", "every"):
        m = median[name]
        print(f"  ratio {labels[name]}/off: ingest {m['ingest'] / off['ingest']:.2f}x "
              f"(target >= 0.9), p50 {m['p50'] / off['p50']:.2f}x, "
              f"p99 {m['p99'] / off['p99']:.2f}x (target <= 1.1)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
