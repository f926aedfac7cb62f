"""Runners: where integration instances run: the local sandbox, or Kubernetes pods
(``kubernetes.py``).

``ScriptedRunner`` is the in-memory double for tests of what uses a runner.
"""

from __future__ import annotations

from visualbox.runtime.runners.base import RunHandle, Runner, SourceRef
from visualbox.runtime.runners.local import LocalRunner
from visualbox.runtime.runners.scripted import ScriptedRun, ScriptedRunner
from visualbox.runtime.runners.sources import SourceClient, SourceUnavailable

__all__ = [
    "LocalRunner",
    "RunHandle",
    "Runner",
    "ScriptedRun",
    "ScriptedRunner",
    "SourceClient",
    "SourceRef",
    "SourceUnavailable",
]
