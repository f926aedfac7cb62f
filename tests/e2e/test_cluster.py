"""The web app on two server nodes behind a load balancer (the test's own, on
loopback): when the node running the dashboard's integration dies, the page
reconnects through the balancer to the surviving node, which takes the integration
over, and the widget shows data again, without a reload."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD
from tests.fixtures.balancer import balancing
from tests.fixtures.ports import free_port
from tests.fixtures.redis import RedisServer
from tests.fixtures.serve import listening, start_serve
from tests.live.conftest import LEVEL_SCHEMA, Server, live_settings
from visualbox.services.signing import new_key_text as registry_key

# Outputs its run's id: a new run (another node) shows another id.
MAIN_PY = """\
import os, time
import visualbox

run = os.urandom(4).hex()
while True:
    visualbox.output({"run": run})
    time.sleep(0.3)
"""


def _nodes(
    stack: ExitStack, tmp_path: Path, database_url: str, redis: RedisServer
) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """Two nodes behind a balancer for the app and one for the frames origin; returns
    the app's URL (the balancer's) and the node processes."""
    app_ports, frame_ports = [free_port(), free_port()], [free_port(), free_port()]
    app = stack.enter_context(balancing(app_ports))
    frames = stack.enter_context(balancing(frame_ports))
    url = f"http://127.0.0.1:{app.port}"
    env = {
        "VISUALBOX_DATABASE__URL": database_url,
        "VISUALBOX_HUB__URL": redis.url,
        "VISUALBOX_SECURITY__SECRETS_KEY": Fernet.generate_key().decode(),
        "VISUALBOX_SECURITY__REGISTRY_KEY": registry_key(),  # the same on both nodes
        "VISUALBOX_SERVER__PUBLIC_URL": url,
        "VISUALBOX_FRAMES__ORIGIN": f"http://127.0.0.1:{frames.port}",
        "VISUALBOX_LIVE__LEASE_TTL_S": "4",
    }
    processes = []
    for n, (port, frame_port) in enumerate(zip(app_ports, frame_ports, strict=True)):
        process, _, _ = start_serve(tmp_path / f"node{n}", port, frame_port, env=env)
        stack.callback(_stop, process)
        processes.append(process)
    for port in app_ports + frame_ports:
        _wait(lambda port=port: listening(port))  # type: ignore[misc]
    return url, processes


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait(condition: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)  # polling a condition, with a deadline


def test_the_page_reconnects_to_a_surviving_node_and_shows_data_again(
    tmp_path: Path, page: Page, postgres_databases: Any, redis_server: RedisServer
) -> None:
    database_url = postgres_databases.create()
    try:
        seed = Server(live_settings(tmp_path / "seed", database_url))
        owner = seed.account("Ada", email="ada@example.test")
        module = owner.module("python", {"main.py": MAIN_PY}, schema=LEVEL_SCHEMA)
        seed.start()
        board = owner.dashboard(
            [{"id": "i1", "module_id": module, "label": "Feed", "config": {}}],
            widgets=[
                {
                    "id": "w1",
                    "module_id": "builtin-value",
                    "x": 0,
                    "y": 0,
                    "w": 8,
                    "h": 5,
                    "source": "/i1/run",
                }
            ],
        )
        seed.stop()
        with ExitStack() as stack:
            url, (first, _second) = _nodes(stack, tmp_path, database_url, redis_server)
            answer = page.request.post(
                f"{url}/api/auth/signin", data={"email": "ada@example.test", "password": PASSWORD}
            )
            assert answer.ok, answer.text()
            page.goto(f"{url}/d/{board['id']}")
            value = page.locator('[data-widget="w1"]').frame_locator("iframe").locator("#value")
            expect(value).to_have_text(re.compile(r"^[0-9a-f]{8}$"), timeout=30_000)
            before = value.inner_text()

            # The balancer sent the page (and so the lease) to the first node: kill it.
            first.send_signal(signal.SIGKILL)
            first.wait(30)
            expect(value).not_to_have_text(before, timeout=30_000)
            expect(value).to_have_text(re.compile(r"^[0-9a-f]{8}$"))
            expect(page.get_by_title("Live data: open")).to_be_visible()
    finally:
        postgres_databases.drop(database_url)
