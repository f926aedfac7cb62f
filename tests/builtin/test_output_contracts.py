"""The built-in library declares its output contracts, and keeps them: each integration's
outputs, run for real in the sandbox, match its declared schema (no warning either);
each widget says which shapes it draws."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.builtin.harness import HOST_ALIAS, Collector, checked_builtin, run_builtin
from tests.fixtures.http_api import HttpApi, Reply
from visualbox.modules.output_contract import compile_schema, mismatch
from visualbox.runtime.messages import StatusLevel
from visualbox.services.builtin import builtin_folders

PASS_THROUGH = {"http-json"}
"""Outputs whatever JSON its API answers: no shape to declare."""


def checked_against_contract(name: str, got: Collector) -> None:
    """Every output matches the declared schema, and the run said nothing to the contrary."""
    schema = checked_builtin(name).manifest.output
    assert schema is not None
    validator = compile_schema(schema)
    assert got.outputs
    for output in got.outputs:
        assert mismatch(validator, output) is None, output
    shape_warnings = [w for w in got.statuses(StatusLevel.WARNING) if "declared" in w]
    assert shape_warnings == []


def test_every_builtin_declares_its_contract() -> None:
    for folder in builtin_folders():
        manifest = checked_builtin(folder.name).manifest
        if manifest.kind == "widget":
            assert manifest.accepts, folder.name
        elif folder.name not in PASS_THROUGH:
            assert manifest.output is not None, folder.name
            if manifest.sample is not None:  # the example matches the contract
                assert mismatch(compile_schema(manifest.output), manifest.sample) is None


@pytest.mark.parametrize(
    "config",
    [
        {"history": 5, "battery": True, "gps": True},
        {"history": 0, "battery": False, "gps": False},
    ],
)
def test_simulator_outputs_match(cache_dir: Path, config: dict[str, Any]) -> None:
    got = run_builtin(
        "simulator",
        {"interval": 0.2, "seed": 3, **config},
        cache_dir,
        network="none",
        until=lambda c: len(c.outputs) >= 6,
    )
    checked_against_contract("simulator", got)


def test_counter_outputs_match(cache_dir: Path) -> None:
    got = run_builtin(
        "counter",
        {"interval": 1, "step": 0.5},
        cache_dir,
        network="none",
        until=lambda c: len(c.outputs) >= 2,
    )
    checked_against_contract("counter", got)


@pytest.mark.parametrize(
    ("path", "reply"),
    [
        ("/t.csv", Reply(200, b"city;temp\r\nOslo;3.5\r\nRome;18\r\n", "text/csv")),
        ("/t.json", Reply.json([{"city": "Oslo", "temp": 3.5}, {"city": "Rome", "n": None}])),
        ("/l.json", Reply.json([1, 2, "three"])),
    ],
)
def test_table_from_url_outputs_match(
    api: HttpApi, cache_dir: Path, path: str, reply: Reply
) -> None:
    api.serve(path, reply)
    got = run_builtin(
        "table-from-url",
        {"url": f"http://{HOST_ALIAS}:{api.port}{path}", "interval": 0.2},
        cache_dir,
        allow_host_ports=[api.port],
        until=lambda c: len(c.outputs) >= 2,
    )
    checked_against_contract("table-from-url", got)
