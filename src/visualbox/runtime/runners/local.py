"""The local runner: integration instances in this machine's sandbox, via the supervisor."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visualbox.runtime.channel import OutputBudget
from visualbox.runtime.layout import ModuleSource
from visualbox.runtime.runners.base import RunHandle, Runner, SourceRef
from visualbox.runtime.runners.sources import SourceClient
from visualbox.runtime.source import materialize
from visualbox.runtime.supervisor import OnMessage, Supervisor


class LocalRunner(Runner):
    """Fetches each distinct source once per process (by content hash), then runs it."""

    def __init__(self, supervisor: Supervisor, sources: SourceClient, sources_dir: Path) -> None:
        self.supervisor = supervisor
        self._sources = sources
        self._sources_dir = sources_dir
        self._materialized: dict[str, ModuleSource] = {}
        self._fetching: dict[str, asyncio.Future[ModuleSource]] = {}

    async def start(
        self,
        run_id: str,
        ref: SourceRef,
        token: str,
        config: Mapping[str, Any],
        on_message: OnMessage,
        *,
        output_budget: OutputBudget | None = None,
        generation: int | None = None,
    ) -> RunHandle:
        source = await self._source(ref, token)
        return await self.supervisor.start(
            run_id, source, config, on_message=on_message, output_budget=output_budget
        )

    async def _source(self, ref: SourceRef, token: str) -> ModuleSource:
        known = self._materialized.get(ref.content_hash)
        if known is not None and known.root.is_dir():
            return known
        pending = self._fetching.get(ref.content_hash)
        if pending is not None:  # another start of the same content is fetching it
            return await asyncio.shield(pending)
        future: asyncio.Future[ModuleSource] = asyncio.get_running_loop().create_future()
        self._fetching[ref.content_hash] = future
        try:
            tree = await self._sources.fetch(ref, token)
            source = await asyncio.to_thread(materialize, tree, ref.runtime, self._sources_dir)
            self._materialized[ref.content_hash] = source
            future.set_result(source)
            return source
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._fetching[ref.content_hash]

    def active(self) -> int:
        return sum(1 for run in self.supervisor.runs() if not run.done)

    async def close(self) -> None:
        await self.supervisor.close()
        await self._sources.close()
