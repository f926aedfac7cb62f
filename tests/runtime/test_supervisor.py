"""The supervisor with real sandboxed Python, Node.js and Go integrations.

Cases marked ``WITH_RUNSC`` / ``THROUGH_LAUNCHER`` also run on gVisor (``runsc``, which
passes no descriptors: the integration runs behind the launcher, ``runtime/launcher.py``)
and on bubblewrap through the launcher; the gVisor ones are deselected, with the reason
printed, where runsc cannot run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.harness import (
    RUNTIMES,
    SANDBOX,
    Collector,
    make_sandbox,
    program,
    run_async,
    runsc_missing,
    settings,
)
from visualbox.runtime.messages import Init, Output, RunState, State, StatusLevel
from visualbox.runtime.sandbox.base import ExitReason
from visualbox.runtime.sandbox.bwrap import _descendants
from visualbox.runtime.supervisor import Supervisor
from visualbox.settings import SandboxSettings

CONFIG = {
    "mode": "",
    "flag": False,
    "zero": 0,
    "empty": "",
    "level": 3,
    "ratio": 0.5,
    "password": "s3cret-päss",
    "day": "2024-01-02",
    "nothing": None,
}


WITH_RUNSC = pytest.mark.parametrize("backend", [SANDBOX, "runsc"])
"""The case also runs on gVisor, through the launcher (it passes no descriptors)."""
THROUGH_LAUNCHER = pytest.mark.parametrize("backend", [SANDBOX, "runsc", "bwrap-launcher"])
"""... and on bubblewrap through the launcher too (same channel, no gVisor)."""


def deselect_reason(item: pytest.Item) -> str | None:
    """Read by ``tests/conftest.py``: the runsc cases where runsc cannot run."""
    return runsc_missing(item, "backend")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


async def _run(
    runtime: str,
    tmp_path: Path,
    cache_dir: Path,
    config: dict[str, Any],
    sandbox_settings: SandboxSettings | None = None,
    backend: str = SANDBOX,
) -> Collector:
    collector = Collector()
    supervisor = Supervisor(make_sandbox(backend), sandbox_settings or settings(), cache_dir)
    try:
        run = await supervisor.start("t", program(runtime, tmp_path / "m"), config,
                                     on_message=collector)  # fmt: skip
        await run.wait()
    finally:
        await supervisor.close()
    return collector


@pytest.mark.parametrize("runtime", RUNTIMES)
@THROUGH_LAUNCHER
def test_outputs_in_order_with_typed_config_and_logs(
    runtime: str, backend: str, tmp_path: Path, cache_dir: Path
) -> None:
    got = run_async(_run(runtime, tmp_path, cache_dir, CONFIG, backend=backend))
    assert got.outputs == [{"config": CONFIG}, 0, 1, 2, 3, 4, "done"]
    assert "out line" in got.statuses(StatusLevel.INFO)
    assert "err line" in got.statuses(StatusLevel.ERROR)
    init = next(i for i, m in enumerate(got.messages) if isinstance(m, Init))
    first_output = next(i for i, m in enumerate(got.messages) if isinstance(m, Output))
    assert init < first_output
    assert got.states[-2:] == [State(RunState.RUNNING), got.exits()[0]]
    assert (got.exits()[0].code, got.exits()[0].reason) == (0, "exited")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_non_zero_exit_is_reported(runtime: str, tmp_path: Path, cache_dir: Path) -> None:
    got = run_async(_run(runtime, tmp_path, cache_dir, {"mode": "exit3"}))
    assert got.outputs[-1] == 4 and "done" not in got.outputs
    (exited,) = got.exits()
    assert (exited.code, exited.reason) == (3, "crashed")


@pytest.mark.parametrize("runtime", RUNTIMES)
@WITH_RUNSC
def test_crash_is_reported_with_its_error(
    runtime: str, backend: str, tmp_path: Path, cache_dir: Path
) -> None:
    got = run_async(_run(runtime, tmp_path, cache_dir, {"mode": "crash"}, backend=backend))
    (exited,) = got.exits()
    assert exited.reason == "crashed" and exited.code not in (0, None)
    assert any("boom" in line for line in got.statuses(StatusLevel.ERROR))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_not_json_serialisable_output_raises_in_the_sdk(
    runtime: str, tmp_path: Path, cache_dir: Path
) -> None:
    got = run_async(_run(runtime, tmp_path, cache_dir, {"mode": "bad"}))
    errors = [o for o in got.outputs if isinstance(o, str) and o.startswith("error: ")]
    assert len(errors) == 1 and "JSON" in errors[0]
    assert got.outputs[-1] == "done"


@pytest.mark.parametrize("runtime", RUNTIMES)
@WITH_RUNSC
def test_config_is_neither_in_the_environment_nor_argv(
    runtime: str, backend: str, tmp_path: Path, cache_dir: Path
) -> None:
    config = {"mode": "secrets", "password": "hunter2-secret"}
    got = run_async(_run(runtime, tmp_path, cache_dir, config, backend=backend))
    leak = got.outputs[6]
    assert got.outputs[0] == {"config": config}
    assert "VISUALBOX_OUTPUT_FD=" in leak["environ"]
    for text in (leak["environ"], leak["cmdline"]):
        assert "hunter2-secret" not in text and "secrets" not in text


@pytest.mark.parametrize("runtime", RUNTIMES)
@THROUGH_LAUNCHER
def test_oversized_output_is_rejected_and_the_run_continues(
    runtime: str, backend: str, tmp_path: Path, cache_dir: Path
) -> None:
    config = {"mode": "big", "size": 200_000}
    got = run_async(
        _run(runtime, tmp_path, cache_dir, config, settings(output_max_bytes=4096), backend=backend)
    )
    assert got.outputs[-2:] == ["after", "done"]
    assert not any(isinstance(o, str) and o.startswith("xxx") for o in got.outputs)
    assert any("200000 bytes rejected" in e for e in got.statuses(StatusLevel.ERROR))
    assert got.exits()[0].reason == "exited"


@pytest.mark.skipif(SANDBOX == "none", reason="the unsandboxed backend enforces no memory limit")
@pytest.mark.parametrize("runtime", RUNTIMES)
@WITH_RUNSC
def test_memory_bomb_is_reported_as_oom(
    runtime: str, backend: str, tmp_path: Path, cache_dir: Path
) -> None:
    got = run_async(
        _run(
            runtime, tmp_path, cache_dir, {"mode": "oom"}, settings(memory_mb=128), backend=backend
        )
    )
    (exited,) = got.exits()
    assert exited.reason == "oom", exited


@pytest.mark.parametrize("runtime", RUNTIMES)
@WITH_RUNSC
def test_restart_with_new_config(
    runtime: str, backend: str, tmp_path: Path, cache_dir: Path
) -> None:
    async def scenario() -> Collector:
        got = Collector()
        supervisor = Supervisor(make_sandbox(backend), settings(), cache_dir)
        try:
            run = await supervisor.start(
                "r", program(runtime, tmp_path / "m"), {"mode": "wait", "level": 1},
                on_message=got,
            )  # fmt: skip
            await got.wait_for(lambda c: "waiting" in c.outputs)
            assert run.state is RunState.RUNNING
            await run.restart({"mode": "wait", "level": 2})
            await got.wait_for(lambda c: c.outputs.count("waiting") == 2)
            await run.terminate()
            assert run.state is RunState.EXITED
        finally:
            await supervisor.close()
        return got

    got = run_async(scenario())
    configs = [o["config"]["level"] for o in got.outputs if isinstance(o, dict)]
    assert configs == [1, 2]
    states = [(s.state, s.reason) for s in got.states if s.state is not RunState.PREPARING]
    assert states == [
        (RunState.RUNNING, None),
        (RunState.EXITED, "terminated"),
        (RunState.RUNNING, None),
        (RunState.EXITED, "terminated"),
    ]


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("backend", [SANDBOX, "bwrap-launcher"])
def test_output_flood_is_throttled_with_bounded_memory(
    runtime: str, backend: str, tmp_path: Path, cache_dir: Path
) -> None:
    rate, burst, wanted = 100.0, 50, 250

    async def scenario() -> tuple[float, int]:
        got = Collector()
        supervisor = Supervisor(
            make_sandbox(backend), settings(output_rate=rate, output_burst=burst), cache_dir
        )
        loop = __import__("asyncio").get_running_loop()
        try:
            await supervisor.start(
                "f", program(runtime, tmp_path / "m"), {"mode": "flood"}, on_message=got
            )
            await got.wait_for(lambda c: any(isinstance(m, Init) for m in c.messages))
            started, rss_before = loop.time(), _rss_kib()
            await got.wait_for(lambda c: len(c.outputs) >= wanted)
            elapsed = loop.time() - started
            growth = _rss_kib() - rss_before
        finally:
            await supervisor.close()
        return elapsed, growth

    elapsed, growth_kib = run_async(scenario())
    # INIT takes a token, and the bucket starts full: the rest arrives at `rate` per second.
    assert elapsed >= (wanted - burst) / rate * 0.9
    assert elapsed < (wanted - burst) / rate + 5
    # Unthrottled, the writer would push ~1 GB/s; the supervisor holds at most a few frames.
    assert growth_kib < 48 * 1024


def test_many_integrations_at_once_are_isolated(tmp_path: Path, cache_dir: Path) -> None:
    async def scenario() -> list[Collector]:
        supervisor = Supervisor(make_sandbox(), settings(), cache_dir)
        collectors = [Collector() for _ in range(10)]
        try:
            runs = [
                await supervisor.start(
                    f"run{i}",
                    program("python", tmp_path / f"m{i}"),
                    {"mode": "isolation", "tag": str(i)},
                    on_message=collectors[i],
                )  # fmt: skip
                for i in range(10)
            ]
            for run in runs:
                await run.wait()
        finally:
            await supervisor.close()
        return collectors

    for i, got in enumerate(run_async(scenario())):
        home = next(o for o in got.outputs if isinstance(o, dict) and "home" in o)
        assert home == {"home": [f"mine-{i}"], "tag": str(i)}
        assert got.exits()[0].reason == "exited"


def test_close_terminates_every_run(tmp_path: Path, cache_dir: Path) -> None:
    async def scenario() -> list[Collector]:
        supervisor = Supervisor(make_sandbox(), settings(), cache_dir)
        collectors = [Collector(), Collector()]
        for i, got in enumerate(collectors):
            await supervisor.start(f"c{i}", program("python", tmp_path / f"m{i}"),
                                   {"mode": "wait"}, on_message=got)  # fmt: skip
        for got in collectors:
            await got.wait_for(lambda c: "waiting" in c.outputs)
        await supervisor.close()
        return collectors

    for got in run_async(scenario()):
        assert [e.reason for e in got.exits()] == ["terminated"]


def test_a_stop_right_after_a_start_ends_the_run_at_once(tmp_path: Path, cache_dir: Path) -> None:
    """A stop that comes while the sandbox is still being set up (Restart then Stop at
    once) ends it at once and leaves nothing running. It used to wait, for as long as
    the integration would have run, for pipes a half-started sandbox held open."""
    source = program("python", tmp_path / "m")

    async def scenario() -> list[float]:
        supervisor = Supervisor(make_sandbox(), settings(), cache_dir)
        took = []
        try:
            for turns in range(12):  # stop after 0, 1, 2 … turns of the event loop
                run = await supervisor.start(f"s{turns}", source, {"mode": "wait"},
                                             on_message=Collector())  # fmt: skip
                for _ in range(turns):
                    await asyncio.sleep(0)
                started = time.monotonic()
                ended = await asyncio.wait_for(run.terminate(), 30)
                took.append(time.monotonic() - started)
                assert ended is not None and ended.reason is ExitReason.TERMINATED
        finally:
            await supervisor.close()
        return took

    took = run_async(scenario())
    assert max(took) < 5, took  # it hung until the 30 s deadline before
    assert not _sandboxes_left(), "a sandbox process outlived its stop"


def _sandboxes_left() -> list[int]:
    """Processes of ours still running the sandbox (bwrap) or an integration."""
    found = []
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"bwrap" in f.read():
                found.append(pid)
    return found


def test_exit_reason_and_code_come_from_the_sandbox(tmp_path: Path, cache_dir: Path) -> None:
    got = run_async(_run("python", tmp_path, cache_dir, {"mode": "exit3"}))
    assert got.exits()[0].detail  # human text
    assert ExitReason(got.exits()[0].reason) is ExitReason.CRASHED
