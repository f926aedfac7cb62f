"""``visualbox module run`` as a user runs it: a subprocess of the installed command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

VISUALBOX = str(Path(sys.executable).parent / "visualbox")
SANDBOX = os.environ.get("VISUALBOX_TEST_SANDBOX", "bwrap")

CONFIG_JSON = json.dumps(
    [
        {"type": "slider", "name": "level", "label": "Level", "min": 0, "max": 10, "default": 1},
        {"type": "switch", "name": "loud", "label": "Loud", "default": False},
        {"type": "text", "name": "mode", "label": "Mode", "default": ""},
    ]
)
MAIN = """
import sys, time, visualbox
m = visualbox.MODEL
visualbox.output(m)
if m["mode"] == "fail":
    sys.exit(4)
if m["mode"] == "forever":
    i = 0
    while True:
        i += 1
        visualbox.output(i)
        time.sleep(0.05)
"""


def _module(tmp_path: Path, main: str = MAIN) -> Path:
    folder = tmp_path / "mod"
    folder.mkdir()
    (folder / "main.py").write_text(main)
    (folder / "config.json").write_text(CONFIG_JSON)
    (folder / "README.md").write_text("# Test\n\nA test integration.\n")
    return folder


def _env(**extra: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    if SANDBOX == "none":
        env.update(VISUALBOX_SANDBOX__BACKEND="none", VISUALBOX_SANDBOX__ALLOW_UNSANDBOXED="1")
    env["VISUALBOX_SANDBOX__NETWORK"] = "none"
    env.update(extra)
    return env


def _run(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run(
        [VISUALBOX, "module", "run", *args, "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=60,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return proc.returncode, lines, proc.stderr


def test_prints_every_message_and_stops_after_max_outputs(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    code, lines, _ = _run(tmp_path, str(folder), "--config", "level=3", "--config",
                          "mode=forever", "--max-outputs", "3")  # fmt: skip
    assert code == 0
    outputs = [line["data"] for line in lines if line["type"] == "OUTPUT"]
    assert outputs == [{"level": 3, "loud": False, "mode": "forever"}, 1, 2]
    assert lines[0] == {"type": "STATE", "state": "running"}
    assert {"type": "INIT"} in lines
    assert lines[-1]["type"] == "STATE" and lines[-1]["reason"] == "terminated"


def test_config_file_and_timeout(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    config_file = tmp_path / "values.json"
    config_file.write_text(json.dumps({"loud": True, "mode": "forever"}))
    code, lines, _ = _run(tmp_path, str(folder), "--config-file", str(config_file),
                          "--timeout", "1")  # fmt: skip
    assert code == 0
    assert lines[2] == {"type": "OUTPUT", "data": {"level": 1, "loud": True, "mode": "forever"}}
    assert lines[-1]["reason"] == "terminated"


def test_failing_integration_exits_non_zero(tmp_path: Path) -> None:
    code, lines, _ = _run(tmp_path, str(_module(tmp_path)), "--config", "mode=fail")
    assert code == 1
    assert lines[-1]["state"] == "exited" and lines[-1]["code"] == 4
    assert lines[-1]["reason"] == "crashed"


def test_invalid_config_value_names_the_field(tmp_path: Path) -> None:
    code, lines, err = _run(tmp_path, str(_module(tmp_path)), "--config", "level=99")
    assert code == 2 and lines == []
    assert "config.level" in err


def test_unknown_config_name_is_refused(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, str(_module(tmp_path)), "--config", "nope=1")
    assert code == 2 and "config.nope" in err


def test_invalid_module_is_refused(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    (folder / "config.json").write_text("[{")
    code, lines, err = _run(tmp_path, str(folder))
    assert code == 2 and lines == [] and "config.json" in err


def test_no_sandbox_gives_install_advice(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, str(_module(tmp_path)), VISUALBOX_SANDBOX__BACKEND="none",
                        VISUALBOX_SANDBOX__ALLOW_UNSANDBOXED="0")  # fmt: skip
    assert code == 3 and "sandbox" in err


def test_ctrl_c_terminates_the_run_cleanly(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    proc = subprocess.Popen(
        [VISUALBOX, "module", "run", str(folder), "--config", "mode=forever",
         "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # wait until the integration really runs
        seen.append(json.loads(line))
        if seen[-1]["type"] == "OUTPUT":
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    last = json.loads(rest.splitlines()[-1])
    assert proc.returncode == 130
    assert last["state"] == "exited" and last["reason"] == "terminated"
