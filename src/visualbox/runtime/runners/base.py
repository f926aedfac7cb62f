"""The runner contract: start an integration instance from a module reference and a run token.

A runner never reads the database. It gets *what* to run as a :class:`SourceRef`
(module, exact version or ``working``, content hash, runtime) and *the right to
fetch it* as a run token (``services/run_tokens.py``), and fetches the source
through the server's runner API (``GET /api/runner/modules/{id}/versions/{v}/archive``)
with that token, exactly as a remote runner (a Kubernetes pod) would.

Messages come back through ``on_message`` as the supervisor's
(:mod:`visualbox.runtime.messages`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from visualbox.runtime.channel import OutputBudget
from visualbox.runtime.messages import RunState
from visualbox.runtime.sandbox.base import ExitInfo
from visualbox.runtime.supervisor import OnMessage


@dataclass(frozen=True)
class SourceRef:
    """Exactly one module content: what a run token allows and a runner fetches."""

    module_id: str
    version: str
    """An exact version (``1.2.0``) or ``working`` (the owner's working copy)."""
    content_hash: str
    """``modules.tree.content_hash`` of the files; a runner checks what it fetched."""
    runtime: str


class RunHandle(Protocol):
    """A started instance (``supervisor.Run`` is one)."""

    @property
    def state(self) -> RunState: ...

    @property
    def exit_info(self) -> ExitInfo | None: ...

    async def restart(self, config: Mapping[str, Any]) -> None: ...

    async def terminate(self) -> ExitInfo | None: ...


class Runner(ABC):
    @abstractmethod
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
        """Fetch the source (``token`` must allow ``ref``) and start it with ``config``.

        Raises :class:`~visualbox.runtime.runners.sources.SourceUnavailable` when the
        source cannot be fetched; messages of the run go to ``on_message``. Output
        bytes are taken from ``output_budget`` (the owner's quota) before they are read.
        ``generation`` is the fencing generation of the lease under which this node runs
        the instance (docs/scaling.md), when there is one: a runner whose runs outlive
        the node (pods) uses it to tell a run of an older lease from this one.
        """

    async def open(self) -> None:
        """The runner's start-up work, once, before the first start (the Kubernetes
        runner deletes the pods a previous run of this node left); nothing by default."""
        return None

    @abstractmethod
    def active(self) -> int:
        """How many runs are not yet ended."""

    @abstractmethod
    async def close(self) -> None:
        """Terminate every run and wait for them: no process outlives this call."""
