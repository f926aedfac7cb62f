"""The runner contract (``runtime/runners/base.py``), run against every runner.

The local runner (a real sandboxed integration whose source comes through the
runner API with a run token), the Kubernetes runner (the same, in pods of an
*emulated* API server, run by the test kubelet of ``tests/runtime/kube/``) and the
scripted runner (the in-memory double the live service's tests use) must behave
alike: messages in the supervisor's order, the config passed, restarts with new
values, how a run ended, ``active()`` and ``close()`` ending every run. A runner
that passes here can stand in for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from tests.fixtures.ports import free_port
from tests.runtime.kube.cluster import Cluster
from visualbox.app import create_app
from visualbox.db.tables.accounts import User
from visualbox.runtime.messages import Init, Message, Output, RunState, State
from visualbox.runtime.runners import Runner, SourceRef
from visualbox.runtime.runners.scripted import ScriptedRun, ScriptedRunner
from visualbox.runtime.sandbox.base import ExitReason
from visualbox.services import accounts, modules, registry, run_tokens
from visualbox.settings import RunnerSettings, Settings

pytestmark = pytest.mark.anyio
TIMEOUT = 60.0

# The same integration twice: output the config's level, then run until stopped, or
# exit at once with the status the config's ``exit`` names.
PROGRAM = """\
import sys, time
import visualbox

if visualbox.MODEL["exit"]:
    sys.exit(int(visualbox.MODEL["exit"]))
visualbox.output({"level": visualbox.MODEL["level"]})
while True:
    time.sleep(60)
"""


async def script(run: ScriptedRun) -> int | None:
    run.init()
    if run.config["exit"]:
        return int(run.config["exit"])
    run.output({"level": run.config["level"]})
    return await run.until_stopped()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Subject:
    runner: Runner
    ref: SourceRef
    token: str


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, int]]:
    """An emulated cluster whose pods may call back the port of the app under test."""
    port = free_port()
    cluster = Cluster(tmp_path_factory.mktemp("kube"), [port]).start()
    yield cluster, port
    cluster.stop()


@contextlib.asynccontextmanager
async def served(app: FastAPI, port: int) -> AsyncIterator[None]:
    """``app`` served on ``port`` by uvicorn in this event loop (its runner's pods call
    it back), lifespan included."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.ensure_future(server.serve())
    started = asyncio.ensure_future(_started(server))
    await asyncio.wait({serving, started}, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if serving.done():
        serving.result()
    try:
        yield
    finally:
        server.should_exit = True
        await serving


async def _started(server: uvicorn.Server) -> None:
    while not server.started:
        await asyncio.sleep(0.01)  # polling uvicorn's flag, not a synchronisation sleep


@pytest.fixture(params=["local", "kubernetes", "scripted"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "scripted":
        runner = ScriptedRunner(script)
        yield Subject(runner, SourceRef("m", "1.0.0", "0" * 64, "python"), "no token needed")
        await runner.close()
        return
    settings = Settings(data_dir=tmp_path / "data")
    port = 0
    if request.param == "kubernetes":
        cluster, port = request.getfixturevalue("kube")
        settings.runner = RunnerSettings(
            backend="kubernetes",
            callback_url=f"ws://10.0.2.2:{port}",
            kubeconfig=cluster.kubeconfig,
            node_name=f"contract-{tmp_path.name}"[:60],
        )
    app = create_app(settings)
    try:
        with app.state.db.session() as db:
            user = accounts.create_user(
                db, name="Runner", email="runner@example.test", password="correct horse battery"
            )
            module = modules.create_module(
                db, user, name="Contract", kind="integration", runtime="python"
            )
            schema = [
                {"type": "number", "name": "level", "label": "Level"},
                {"type": "number", "name": "exit", "label": "Exit status"},
            ]
            modules.write_file(db, module, "config.json", json.dumps(schema).encode())
            modules.write_file(db, module, "main.py", PROGRAM.encode())
            registry.publish(db, module, "1.0.0")
            owner = db.get(User, user.id)
            resolved = registry.resolve(db, module.id, "1.0.0", user=owner)
        ref = SourceRef(module.id, "1.0.0", resolved.content_hash, "python")
        runner = app.state.live.runner  # the runner create_app wires to the runner API
        token = run_tokens.issue(app.state.secret_box, [ref])
        if request.param == "kubernetes":
            async with served(app, port):
                yield Subject(runner, ref, token)
                await runner.close()
        else:
            yield Subject(runner, ref, token)
            await runner.close()
    finally:
        app.state.db.dispose()


class Messages:
    """An ``on_message`` that records and lets a test wait."""

    def __init__(self) -> None:
        self.all: list[Message] = []
        self._changed = asyncio.Event()

    def __call__(self, message: Message) -> None:
        self.all.append(message)
        self._changed.set()

    async def wait_for(self, condition: Callable[[list[Message]], bool]) -> None:
        async def scan() -> None:
            while not condition(self.all):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(scan(), TIMEOUT)


def states(messages: list[Message]) -> list[tuple[str, str | None]]:
    return [(str(m.state), m.reason) for m in messages if isinstance(m, State)]


def outputs(messages: list[Message]) -> list[Any]:
    return [m.data for m in messages if isinstance(m, Output)]


async def test_a_run_gets_its_config_restarts_with_new_values_and_stops(subject: Subject) -> None:
    runner, messages = subject.runner, Messages()
    handle = await runner.start(
        "room/i1", subject.ref, subject.token, {"level": 3, "exit": 0}, messages
    )
    await messages.wait_for(lambda m: outputs(m) == [{"level": 3}])
    assert states(messages.all) == [("running", None)]
    assert isinstance(messages.all[1], Init)  # the integration is up before its outputs
    assert handle.state is RunState.RUNNING and runner.active() == 1
    with pytest.raises(ValueError, match="still active"):
        await runner.start("room/i1", subject.ref, subject.token, {"level": 1, "exit": 0}, print)

    await handle.restart({"level": 4, "exit": 0})
    await messages.wait_for(lambda m: outputs(m) == [{"level": 3}, {"level": 4}])
    assert states(messages.all) == [("running", None), ("exited", "terminated"), ("running", None)]

    info = await handle.terminate()
    assert info is not None and info.reason is ExitReason.TERMINATED
    assert handle.exit_info == info and handle.state is RunState.EXITED
    assert states(messages.all)[-1] == ("exited", "terminated")
    assert runner.active() == 0
    assert await handle.terminate() == info  # idempotent


async def test_a_run_that_ends_by_itself_says_how(subject: Subject) -> None:
    runner = subject.runner
    crashed, failed = Messages(), Messages()
    first = await runner.start(
        "room/a", subject.ref, subject.token, {"level": 1, "exit": 3}, crashed
    )
    second = await runner.start(
        "room/b", subject.ref, subject.token, {"level": 1, "exit": 78}, failed
    )
    await crashed.wait_for(lambda m: ("exited", "crashed") in states(m))
    await failed.wait_for(lambda m: ("exited", "config") in states(m))
    assert first.exit_info is not None and first.exit_info.code == 3
    assert second.exit_info is not None and second.exit_info.reason is ExitReason.CONFIG
    assert [m for m in crashed.all if isinstance(m, State)][-1].code == 3
    assert outputs(crashed.all) == [] and runner.active() == 0


async def test_close_ends_every_run(subject: Subject) -> None:
    runner = subject.runner
    seen = [Messages(), Messages()]
    handles = [
        await runner.start(f"room/{n}", subject.ref, subject.token, {"level": n, "exit": 0}, m)
        for n, m in enumerate(seen)
    ]
    for n, messages in enumerate(seen):
        await messages.wait_for(lambda m, n=n: outputs(m) == [{"level": n}])
    assert runner.active() == 2
    await runner.close()
    assert runner.active() == 0
    for handle, messages in zip(handles, seen, strict=True):
        assert handle.state is RunState.EXITED
        assert states(messages.all)[-1] == ("exited", "terminated")
