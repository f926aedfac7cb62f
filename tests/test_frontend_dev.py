"""``npm run dev`` (Vite with hot reload) in front of ``visualbox serve``, as
docs/development.md tells a front-end developer to work: the REST API and the live
WebSocket both work through its proxy."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from websockets.asyncio.client import connect

from tests.fixtures.ports import free_port
from tests.fixtures.serve import listening, serving

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"


@pytest.fixture
def vite(tmp_path: Path) -> Iterator[str]:
    """``visualbox serve`` on a free port and ``npm run dev`` proxying to it; the Vite URL."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is missing: run scripts/system-packages test"
    with serving(tmp_path / "data", free_port()) as (server_url, _printed):
        port = free_port()
        env = {**os.environ, "VISUALBOX_DEV_SERVER": server_url, "NO_COLOR": "1"}
        command = [npm, "run", "dev", "--", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--strictPort"],
            cwd=FRONTEND,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # npm starts vite: stop both
        )
        try:
            deadline = time.monotonic() + 60
            while not listening(port):
                assert process.poll() is None, "npm run dev stopped: " + _output(process)
                assert time.monotonic() < deadline, "npm run dev did not listen within 60 s"
                time.sleep(0.05)  # polling a condition, with a deadline
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


def _output(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    return process.stdout.read().decode(errors="replace")[-3000:]


def test_the_dev_server_serves_the_app_and_proxies_the_api_and_the_live_socket(vite: str) -> None:
    page = httpx2.get(f"{vite}/", timeout=30)
    assert page.status_code == 200 and re.search(r'<div id="app">', page.text)
    health = httpx2.get(f"{vite}/api/health", timeout=30)
    assert health.status_code == 200 and health.json()["ok"] is True

    async def live() -> list[dict[str, object]]:
        url = vite.replace("http://", "ws://") + "/api/live"
        async with connect(url, origin=vite) as socket:  # type: ignore[arg-type]
            await socket.send(json.dumps({"type": "TICK"}))
            tick = json.loads(await asyncio.wait_for(socket.recv(), 30))
            await socket.send(json.dumps({"type": "JOIN", "share": "no-such-link"}))
            error = json.loads(await asyncio.wait_for(socket.recv(), 30))
            return [tick, error]

    tick, error = asyncio.run(live())
    assert tick == {"type": "TICK"}
    assert error["type"] == "ERROR" and error["code"] == "not_found"
