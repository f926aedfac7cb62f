"""Runners: where integration instances run (the local sandbox today; Kubernetes later)."""

from __future__ import annotations

from visualbox.runtime.runners.base import RunHandle, Runner, SourceRef
from visualbox.runtime.runners.local import LocalRunner
from visualbox.runtime.runners.sources import SourceClient, SourceUnavailable

__all__ = ["LocalRunner", "RunHandle", "Runner", "SourceClient", "SourceRef", "SourceUnavailable"]
