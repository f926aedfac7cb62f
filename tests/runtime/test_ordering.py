"""Log lines and outputs arrive complete and in the order written, and text stays text.

Real sandboxed integrations in each runtime print a line, write one to stderr,
output, print again and output again; they are then stopped, by the supervisor or
by ``visualbox module run --max-outputs 2``: every line and output arrives, in
order, before the final STATE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.harness import (
    ENTRY,
    RUNTIMES,
    SANDBOX,
    Collector,
    make_sandbox,
    module,
    run_async,
    settings,
)
from visualbox.runtime.messages import Init, Message, Output, RunState, State, Status
from visualbox.runtime.supervisor import Supervisor

# No flush anywhere: the sandbox and the SDKs must keep the order on their own.
ORDER = {
    "python": """\
import sys, time
import visualbox
print("line 1")
print("line 2 on stderr", file=sys.stderr)
visualbox.output("42")
print("line 3")
visualbox.output({"n": 2})
time.sleep(3600)
""",
    "node": """\
const visualbox = require('visualbox');
console.log('line 1');
console.error('line 2 on stderr');
visualbox.output('42');
console.log('line 3');
visualbox.output({ n: 2 });
setInterval(() => {}, 1 << 30);
""",
    "go": """\
package main

import (
\t"fmt"
\t"os"
\t"time"
\t"visualbox"
)

func main() {
\tfmt.Println("line 1")
\tfmt.Fprintln(os.Stderr, "line 2 on stderr")
\tvisualbox.Output("42")
\tfmt.Println("line 3")
\tvisualbox.Output(map[string]int{"n": 2})
\ttime.Sleep(time.Hour)
}
""",
}
EXPECTED = [
    {"type": "STATUS", "status": "T_INFO", "data": "line 1"},
    {"type": "STATUS", "status": "T_ERROR", "data": "line 2 on stderr"},
    {"type": "OUTPUT", "data": "42"},
    {"type": "STATUS", "status": "T_INFO", "data": "line 3"},
    {"type": "OUTPUT", "data": {"n": 2}},
]

TEXTS = {
    "python": """\
import visualbox
for value in ["42", '{"a": 1}', ' [1, "x"]', '"quoted"', "{not json", "", 42, 1.5, None]:
    visualbox.output(value)
""",
    "node": """\
const visualbox = require('visualbox');
for (const value of ['42', '{"a": 1}', ' [1, "x"]', '"quoted"', '{not json', '', 42, 1.5, null]) {
  visualbox.output(value);
}
""",
    "go": """\
package main

import "visualbox"

func main() {
\tfor _, value := range []interface{}{"42", `{"a": 1}`, ` [1, "x"]`, `"quoted"`, "{not json",
\t\t"", 42, 1.5, nil} {
\t\tvisualbox.Output(value)
\t}
}
""",
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _relevant(messages: list[Message]) -> list[dict[str, Any]]:
    """What the integration said once it ran: lines and outputs, then how it ended."""
    running = next(i for i, m in enumerate(messages) if m == State(RunState.RUNNING))
    return [m.to_json() for m in messages[running + 1 :] if not isinstance(m, Init)]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_lines_and_outputs_arrive_in_order_when_the_run_is_stopped(
    runtime: str, tmp_path: Path, cache_dir: Path
) -> None:
    source = module(runtime, tmp_path / "m", {ENTRY[runtime]: ORDER[runtime]})

    async def scenario() -> Collector:
        got = Collector()
        supervisor = Supervisor(make_sandbox(), settings(), cache_dir)
        try:
            run = await supervisor.start("o", source, {}, on_message=got)
            await got.wait_for(lambda c: len(c.outputs) == 2)
            await run.terminate()
        finally:
            await supervisor.close()
        return got

    got = _relevant(run_async(scenario()).messages)
    assert got[:-1] == EXPECTED
    assert got[-1]["type"] == "STATE" and got[-1]["reason"] == "terminated"


def test_lines_written_before_a_stop_are_read_after_it(tmp_path: Path, cache_dir: Path) -> None:
    """Lines still in the pipe when the run is stopped (here held back by the log rate
    limit) arrive before its final STATE; a stop used to drop them."""
    # One write: when the first line arrives, all four are in the pipe.
    main = "import time\nprint('tail 0\\ntail 1\\ntail 2\\ntail 3')\ntime.sleep(3600)\n"
    source = module("python", tmp_path / "m", {"main.py": main})
    slow_logs = settings(log_rate=4, log_burst=1)  # the last line comes 0.75 s after the first

    async def scenario() -> tuple[Collector, bool]:
        got = Collector()
        supervisor = Supervisor(make_sandbox(), slow_logs, cache_dir)
        try:
            run = await supervisor.start("t", source, {}, on_message=got)
            await got.wait_for(lambda c: any(isinstance(m, Status) for m in c.messages))
            early = len([m for m in got.messages if isinstance(m, Status)]) < 4
            await run.terminate()
        finally:
            await supervisor.close()
        return got, early

    got, early = run_async(scenario())
    assert early  # the stop came while lines were still unread
    statuses = [m.to_json()["data"] for m in got.messages if isinstance(m, Status)]
    assert statuses == [f"tail {i}" for i in range(4)]
    assert got.messages[-1] == got.exits()[0] and got.exits()[0].reason == "terminated"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_text_outputs_stay_text(runtime: str, tmp_path: Path, cache_dir: Path) -> None:
    source = module(runtime, tmp_path / "m", {ENTRY[runtime]: TEXTS[runtime]})

    async def scenario() -> Collector:
        got = Collector()
        supervisor = Supervisor(make_sandbox(), settings(), cache_dir)
        try:
            run = await supervisor.start("x", source, {}, on_message=got)
            await run.wait()
        finally:
            await supervisor.close()
        return got

    got = run_async(scenario())
    assert got.outputs == ["42", {"a": 1}, [1, "x"], '"quoted"', "{not json", "", 42, 1.5, None]
    texts = [m.text for m in got.messages if isinstance(m, Output)]
    # An object or array keeps its JSON text (relayed as is); a plain string has none.
    assert texts[1:3] == ['{"a": 1}', ' [1, "x"]'] and texts[0] is None


# -- the same integrations under `visualbox module run --max-outputs 2` ------------------

VISUALBOX = str(Path(sys.executable).parent / "visualbox")


def _cli_env() -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    if SANDBOX == "none":
        env.update(VISUALBOX_SANDBOX__BACKEND="none", VISUALBOX_SANDBOX__ALLOW_UNSANDBOXED="1")
    env["VISUALBOX_SANDBOX__NETWORK"] = "none"
    return env


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_module_run_max_outputs_prints_every_line_in_order(runtime: str, tmp_path: Path) -> None:
    folder = tmp_path / "mod"
    files = {ENTRY[runtime]: ORDER[runtime], "config.json": "[]", "README.md": "# T\n\nA test.\n"}
    files["visualbox.json"] = json.dumps({"runtime": runtime})
    module(runtime, folder, files)
    proc = subprocess.run(
        [VISUALBOX, "module", "run", str(folder), "--max-outputs", "2"]
        + ["--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=_cli_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    running = lines.index({"type": "STATE", "state": "running"})
    got = [line for line in lines[running + 1 :] if line["type"] != "INIT"]
    assert got[:-1] == EXPECTED
    assert got[-1]["type"] == "STATE" and got[-1]["reason"] == "terminated"
