"""Running a built-in integration for real: its folder, its ``config.json``, the sandbox.

    got = run_builtin("http-json", {"url": f"http://{HOST_ALIAS}:{port}/"},
                      allow_host_ports=[port], until=lambda c: len(c.outputs) >= 2)

The config goes through the module's own schema (defaults filled in, bad values
refused) exactly as a dashboard's would. The run uses the real sandbox with
outbound network, which reaches only the host loopback ports in
``allow_host_ports`` (as ``HOST_ALIAS``), and is stopped once ``until`` holds
(or after ``timeout`` seconds, which fails the test).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.runtime.harness import HOST_ALIAS, Collector, make_sandbox, settings
from visualbox.modules.check import CheckedModule, check_tree
from visualbox.modules.config_schema import ConfigSchema
from visualbox.modules.tree import read_dir
from visualbox.runtime.layout import ModuleSource
from visualbox.runtime.supervisor import Supervisor
from visualbox.services.builtin import BUILTIN_DIR

__all__ = [
    "HOST_ALIAS",
    "Collector",
    "builtin_dir",
    "checked_builtin",
    "run_builtin",
    "start_builtin",
]

CACHE_DIR: Path | None = None


def builtin_dir(name: str) -> Path:
    folder: Path = BUILTIN_DIR / name
    return folder


def checked_builtin(name: str) -> CheckedModule:
    """Built-in ``name`` as ``visualbox module check`` sees it (its manifest and schema)."""
    checked, problems = check_tree(read_dir(builtin_dir(name)), default_name=name)
    assert checked is not None and not problems, problems
    return checked


def _module(name: str) -> tuple[ModuleSource, ConfigSchema]:
    checked = checked_builtin(name)
    return ModuleSource.from_dir(builtin_dir(name), checked.manifest.runtime), checked.schema


class Running:
    """A started built-in integration: ``collector`` fills as it runs; ``stop()`` ends it."""

    def __init__(self, supervisor: Supervisor, collector: Collector) -> None:
        self.supervisor = supervisor
        self.collector = collector

    async def wait_for(self, predicate: Callable[[Collector], bool], timeout: float = 60) -> None:
        await self.collector.wait_for(predicate, timeout)

    async def stop(self) -> None:
        await self.supervisor.close()


async def start_builtin(
    name: str,
    config: dict[str, Any],
    cache_dir: Path,
    *,
    allow_host_ports: Sequence[int] = (),
    network: str = "outbound",
) -> Running:
    """Start built-in integration ``name`` with ``config`` (checked by its config.json)."""
    module, schema = _module(name)
    values = schema.validate_values(config)
    collector = Collector()
    supervisor = Supervisor(
        make_sandbox(),
        settings(network=network, allow_host_ports=list(allow_host_ports)),
        cache_dir,
    )
    await supervisor.start(name, module, values, on_message=collector)
    return Running(supervisor, collector)


def run_builtin(
    name: str,
    config: dict[str, Any],
    cache_dir: Path,
    *,
    until: Callable[[Collector], bool],
    allow_host_ports: Sequence[int] = (),
    network: str = "outbound",
    timeout: float = 60,
) -> Collector:
    """Run ``name`` until ``until(collector)`` holds, then stop it; return what it sent."""

    async def go() -> Collector:
        running = await start_builtin(
            name, config, cache_dir, allow_host_ports=allow_host_ports, network=network
        )
        try:
            await running.wait_for(until, timeout)
        finally:
            await running.stop()
        return running.collector

    return asyncio.run(go())
