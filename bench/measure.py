"""What the benchmark scripts share: a free loopback port, a percentile, a viewer."""

from __future__ import annotations

import json
import socket

from websockets.asyncio.client import ClientConnection, connect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def join(port: int, token: str, dashboard_id: str) -> ClientConnection:
    """A live connection of the token's user that joined its dashboard's room."""
    ws = await connect(
        f"ws://127.0.0.1:{port}/api/live",
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        max_queue=None,
    )
    await ws.send(json.dumps({"type": "JOIN", "dashboard": dashboard_id}))
    return ws
