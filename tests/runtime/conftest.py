"""Deselecting, with a printed reason, the contract cases a backend cannot run here.

A test module may define ``deselect_reason(item) -> str | None``: every item of it
with a reason is deselected at collection (never skipped, so it cannot count as a
pass) and the reason is printed once per module and reason.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.hookimpl(trylast=True)  # after ``--quick`` left the sandbox suites out: no probes
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons: dict[tuple[str, str], int] = {}
    kept: list[pytest.Item] = []
    left_out: list[pytest.Item] = []
    for item in items:
        why: Callable[[pytest.Item], str | None] | None = getattr(
            getattr(item, "module", None), "deselect_reason", None
        )
        reason = why(item) if why is not None else None
        if reason is None:
            kept.append(item)
            continue
        left_out.append(item)
        key = (item.path.name, reason)
        reasons[key] = reasons.get(key, 0) + 1
    if not left_out:
        return
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for (module, reason), count in sorted(reasons.items()):
            reporter.write_line(f"{module}: deselected {count}: {reason}")
