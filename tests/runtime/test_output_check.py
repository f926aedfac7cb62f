"""Outputs checked against the module's declared output schema, in the real sandbox:
by the supervisor (what the live service runs) and by ``visualbox module run``."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.cli.test_module_run import VISUALBOX, _env
from tests.runtime.harness import Collector, make_sandbox, module, run_async, settings
from visualbox.modules.output_contract import CHECK_BURST, CHECK_EVERY_S
from visualbox.runtime.messages import RunState, StatusLevel
from visualbox.runtime.supervisor import Supervisor

SCHEMA = {
    "type": "object",
    "required": ["temperature"],
    "properties": {"temperature": {"type": "number"}},
}
GOOD_THEN_BAD = """\
import sys, visualbox
visualbox.output({"temperature": 21.5})
visualbox.output({"temperature": "hot"})
visualbox.output({"temperature": 22})
print("still here", flush=True)
"""
FLOOD = """\
import visualbox
for i in range(300):
    visualbox.output({"temperature": "hot %d" % i})
visualbox.output({"temperature": 1, "done": True})
"""
WARNING = 'output does not match its declared shape at /temperature: "hot" is not of type "number"'


def files(main: str, **manifest: object) -> dict[str, str]:
    return {
        "main.py": main,
        "config.json": "[]",
        "README.md": "# Probe\n\nA probe.\n",
        "output.schema.json": json.dumps(SCHEMA),
        "visualbox.json": json.dumps(
            {"kind": "integration", "runtime": "python", "output": "output.schema.json", **manifest}
        ),
    }


async def run_to_end(source_dir: Path, main: str) -> Collector:
    source = module("python", source_dir, files(main))
    supervisor = Supervisor(make_sandbox(), settings(), source_dir.parent / "cache")
    collector = Collector()
    try:
        run = await supervisor.start("probe", source, {}, on_message=collector)
        await run.wait()
    finally:
        await supervisor.close()
    return collector


def test_a_mismatch_is_a_warning_naming_the_path_and_the_run_goes_on(tmp_path: Path) -> None:
    got = run_async(run_to_end(tmp_path / "mod", GOOD_THEN_BAD))
    assert got.outputs == [{"temperature": 21.5}, {"temperature": "hot"}, {"temperature": 22}]
    assert got.statuses(StatusLevel.WARNING) == [WARNING]
    # The warning follows the output that did not match; the run was not disturbed.
    kinds = [type(m).__name__ for m in got.messages]
    bad_at = got.messages.index(next(m for m in got.messages if "hot" in str(m)))
    assert kinds[bad_at + 1] == "Status" and WARNING in str(got.messages[bad_at + 1])
    assert "still here" in got.statuses(StatusLevel.INFO)
    [end] = got.exits()
    assert end.state is RunState.EXITED and end.code == 0


def test_a_flood_of_bad_outputs_gives_few_warnings(tmp_path: Path) -> None:
    started = time.monotonic()
    got = run_async(run_to_end(tmp_path / "mod", FLOOD))
    elapsed = time.monotonic() - started
    assert len(got.outputs) == 301  # every output still arrives
    warnings = got.statuses(StatusLevel.WARNING)
    # The first few are checked at once, then one a second at most.
    assert 1 <= len(warnings) <= CHECK_BURST + 1 + int(elapsed / CHECK_EVERY_S), elapsed
    assert warnings[0].startswith("output does not match its declared shape at /temperature: ")


def test_module_run_reports_the_mismatch_with_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "mod"
    module("python", folder, files(GOOD_THEN_BAD))
    proc = subprocess.run(
        [VISUALBOX, "module", "run", str(folder), "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {"type": "STATUS", "status": "T_WARNING", "data": WARNING} in lines
    assert [line["data"] for line in lines if line["type"] == "OUTPUT"] == [
        {"temperature": 21.5},
        {"temperature": "hot"},
        {"temperature": 22},
    ]


def test_module_run_refuses_a_bad_declared_schema(tmp_path: Path) -> None:
    folder = tmp_path / "mod"
    module("python", folder, files(GOOD_THEN_BAD))
    (folder / "output.schema.json").write_text(json.dumps({"type": "nmber"}))
    proc = subprocess.run(
        [VISUALBOX, "module", "run", str(folder), "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode != 0
    assert "output.schema.json: is not a valid JSON Schema: at /type" in proc.stderr
