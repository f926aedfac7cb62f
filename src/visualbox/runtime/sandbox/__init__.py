"""Sandboxes for integrations; :func:`get_sandbox` picks the configured one.

See ``base.py`` for the contract and ``docs/sandbox.md`` for what each backend
isolates and how to install it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .base import (
    ExitInfo,
    ExitReason,
    Limits,
    Mount,
    Sandbox,
    SandboxProcess,
    SandboxSpec,
    SandboxUnavailable,
)

if TYPE_CHECKING:
    from visualbox.settings import SandboxSettings

__all__ = [
    "ExitInfo",
    "ExitReason",
    "Limits",
    "Mount",
    "Sandbox",
    "SandboxProcess",
    "SandboxSpec",
    "SandboxUnavailable",
    "default_limits",
    "get_sandbox",
]


def get_sandbox(settings: SandboxSettings) -> Sandbox:
    """The backend ``settings.backend`` names (not yet checked: call ``check()``).

    ``none`` is refused unless ``settings.allow_unsandboxed`` is true.
    """
    if settings.backend == "bwrap":
        from .bwrap import BwrapSandbox

        return BwrapSandbox(
            outbound=settings.network == "outbound",
            host_uid=settings.host_uid,
            host_gid=settings.host_gid,
            ca_bundle=settings.ca_bundle,
        )
    if settings.backend == "runsc":
        from .runsc import RunscSandbox

        return RunscSandbox(platform=settings.runsc_platform, ca_bundle=settings.ca_bundle)
    if not settings.allow_unsandboxed:
        raise SandboxUnavailable(
            "the `none` sandbox backend runs integrations without any isolation; "
            "set VISUALBOX_SANDBOX__ALLOW_UNSANDBOXED=true for development only"
        )
    # none.py belongs to the supervisor's author; imported lazily so it stays optional.
    none = importlib.import_module(f"{__name__}.none")
    sandbox: Sandbox = none.NoneSandbox(ca_bundle=settings.ca_bundle)
    return sandbox


def default_limits(settings: SandboxSettings) -> Limits:
    """The per-integration :class:`Limits` the settings ask for."""
    return Limits(
        memory_mb=settings.memory_mb,
        cpu=settings.cpu,
        pids=settings.pids,
        disk_mb=settings.disk_mb,
        nofile=settings.nofile,
    )
