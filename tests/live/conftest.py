"""A real VisualBox server on loopback (uvicorn in a thread) and WebSocket clients for it.

Everything here is real: the server, its sandboxed integrations, the WebSocket
connections. Tests wait for messages (with timeouts), never for time to pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from tests.fixtures.ports import free_port
from visualbox.app import create_app
from visualbox.cli.serve import uvicorn_options
from visualbox.db.tables.accounts import User
from visualbox.services import accounts, modules, registry
from visualbox.settings import DatabaseSettings, LiveSettings, Settings

TIMEOUT = 60.0

PYTHON_COUNTER = """\
import os, time
import visualbox

nonce = os.urandom(6).hex()
print("starting with level", visualbox.MODEL["level"], flush=True)
n = 0
while True:
    visualbox.output({"nonce": nonce, "n": n, "level": visualbox.MODEL["level"]})
    n += 1
    time.sleep(float(visualbox.MODEL.get("every") or 0.2))
"""
LEVEL_SCHEMA = [
    {"type": "number", "name": "level", "label": "Level", "default": 1},
    {"type": "number", "name": "every", "label": "Every (s)", "default": 0.2},
]


class Server:
    """``create_app(settings)`` served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        settings.server.port = self.port
        self.app: FastAPI = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            **uvicorn_options(settings),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/live"

    def start(self) -> Server:
        self._thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)  # polling a flag the server sets, not a synchronisation sleep
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(TIMEOUT)
        self.app.state.db.dispose()

    # -- fixtures' helpers ----------------------------------------------------------------
    def account(self, name: str = "Owner", *, email: str | None = None) -> Account:
        with self.app.state.db.session() as db:
            user = accounts.create_user(
                db,
                name=name,
                email=email or f"{name.lower()}-{free_port()}@example.test",
                password="correct horse battery",
                verified=True,
            )
            _row, token = accounts.create_api_token(db, user, "tests")
            return Account(self, user.id, token)


@dataclass
class Account:
    server: Server
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def http(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.server.url, headers=self.headers, timeout=TIMEOUT)

    def module(
        self,
        runtime: str,
        files: dict[str, str],
        *,
        schema: list[dict[str, Any]] | None = None,
        publish: str | None = "1.0.0",
    ) -> str:
        """A module of ``files`` (plus config.json), published as ``publish``."""
        with self.server.app.state.db.session() as db:
            user = db.get(User, self.id)
            module = modules.create_module(
                db, user, name=f"Live test {runtime}", kind="integration", runtime=runtime
            )
            modules.write_file(db, module, "config.json", json.dumps(schema or []).encode())
            for path, content in files.items():
                modules.write_file(db, module, path, content.encode())
            if publish:
                registry.publish(db, module, publish)
            module_id: str = module.id
            return module_id

    def dashboard(self, integrations: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        with self.http() as http:
            response = http.post(
                "/api/dashboards", json={"name": "Live", "integrations": integrations, **extra}
            )
            assert response.status_code == 201, response.text
            body: dict[str, Any] = response.json()
            return body


class Client:
    """One WebSocket viewer that records every message it receives."""

    def __init__(self, connection: ClientConnection, tick_s: float | None) -> None:
        self.connection = connection
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self._ticker = asyncio.create_task(self._tick(tick_s)) if tick_s else None
        self.closed: asyncio.Event = asyncio.Event()

    async def _tick(self, every: float) -> None:
        """What a browser does: TICK while the page is open (the server's idle clock)."""
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(every)
                await self.send({"type": "TICK"})

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                message = json.loads(raw)
                # A frame holds one message, or a batch of them in an array.
                self.messages.extend(message if isinstance(message, list) else [message])
                self._changed.set()
        except Exception:
            pass
        finally:
            self.closed.set()
            self._changed.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        after: int = 0,
        timeout: float = TIMEOUT,
    ) -> dict[str, Any]:
        """The first message (from index ``after``) matching ``predicate``."""

        async def scan() -> dict[str, Any]:
            seen = after
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                if self.closed.is_set():
                    raise AssertionError(f"connection closed; got {self.messages[-5:]}")
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self.connection.close()
        await self._reader


async def viewer(
    server: Server, account: Account | None = None, *, tick: bool = True, **kwargs: Any
) -> Client:
    """A connected viewer; it TICKs 4 times per idle timeout unless ``tick`` is false."""
    headers = account.headers if account else {}
    connection = await connect(server.ws_url, additional_headers=headers, **kwargs)
    every = server.settings.live.idle_timeout_s / 4 if tick else None
    return Client(connection, every)


def output_of(instance: str, key: str = "n") -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "OUTPUT" and m["instance"] == instance and key in m["data"]


def live_settings(tmp_path: Path, database_url: str | None = None, **live: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database=DatabaseSettings(url=database_url),
        live=LiveSettings(**live),
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(live_settings(tmp_path, idle_timeout_s=1.0, flush_interval_s=0.1)).start()
    yield running
    running.stop()
