"""The SDKs on their own: the frames they write and their behaviour outside VisualBox.

The supervisor tests (``tests/runtime/test_supervisor.py``) run them in the
sandbox; here each SDK runs as a plain host process against a pipe and a memfd
the test made, so the frame format itself is checked byte for byte.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from visualbox.runtime.layout import SDK_DIR
from visualbox.runtime.supervisor import config_memfd

PROGRAMS = {
    "python": ("main.py", "import visualbox\nvisualbox.output(visualbox.MODEL)\n"
               "visualbox.output('text')\nvisualbox.output([1, 'é'])\n"),
    "node": ("index.js", "const v = require('visualbox');\nv.output(v.MODEL);\n"
             "v.output('text');\nv.output([1, 'é']);\n"),
    "go": ("main.go", 'package main\n\nimport "visualbox"\n\nfunc main() {\n'
           '\tvisualbox.Output(visualbox.MODEL)\n\tvisualbox.Output("text")\n'
           '\tvisualbox.Output([]interface{}{1, "é"})\n}\n'),
}  # fmt: skip


def _command(runtime: str, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    name, text = PROGRAMS[runtime]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    if runtime == "python":
        (tmp_path / name).write_text(text)
        env["PYTHONPATH"] = str(SDK_DIR / "python")
        return ["/usr/bin/python3", "-s", "-S", str(tmp_path / name)], env
    if runtime == "node":
        (tmp_path / name).write_text(text)
        env["NODE_PATH"] = str(SDK_DIR / "node")
        return ["/usr/bin/node", str(tmp_path / name)], env
    gopath = tmp_path / "gopath"
    (gopath / "src" / "app").mkdir(parents=True)
    (gopath / "src" / "app" / name).write_text(text)
    shutil.copytree(SDK_DIR / "go" / "visualbox", gopath / "src" / "visualbox")
    build_env = dict(env, GOPATH=str(gopath), GO111MODULE="off", GOCACHE=str(tmp_path / "gc"),
                     HOME=str(tmp_path), CGO_ENABLED="0")  # fmt: skip
    binary = tmp_path / "integration"
    subprocess.run(["/usr/bin/go", "build", "-o", str(binary), "app"], env=build_env, check=True)
    return [str(binary)], env


def _frames(data: bytes) -> list[tuple[bytes, bytes]]:
    frames = []
    while data:
        size = int.from_bytes(data[:4], "big")
        frames.append((data[4:5], data[5 : 4 + size]))
        data = data[4 + size :]
    return frames


@pytest.mark.parametrize("runtime", ["python", "node", "go"])
def test_frames_on_the_output_fd(runtime: str, tmp_path: Path) -> None:
    argv, env = _command(runtime, tmp_path)
    config = {"flag": False, "n": 0, "s": "", "pw": "x y"}
    config_fd = config_memfd(config)
    read_fd, write_fd = os.pipe()
    env.update(VISUALBOX_CONFIG_FD=str(config_fd), VISUALBOX_OUTPUT_FD=str(write_fd))
    try:
        proc = subprocess.Popen(argv, env=env, pass_fds=(config_fd, write_fd))
    finally:
        os.close(config_fd)
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    assert proc.wait(timeout=30) == 0
    frames = _frames(data)
    assert frames[0] == (b"I", b"")
    assert [tag for tag, _ in frames[1:]] == [b"O", b"T", b"O"]
    assert json.loads(frames[1][1]) == config
    assert frames[2][1] == b"text"  # strings are sent as text, tagged T
    assert json.loads(frames[3][1].decode("utf-8")) == [1, "é"]


LINE_AFTER = {
    "python": "print('a line after the outputs')\n",
    "node": "console.log('a line after the outputs');\n",
    "go": None,  # Go answers every frame before Output returns: see below
}


def _answers_left(argv: list[str], base: dict[str, str]) -> int:
    """Run with five answers waiting on the ack pipe; how many the program left."""
    read_fd, write_fd = os.pipe()
    ack_r, ack_w = os.pipe()
    os.write(ack_w, b"\x06" * 5)
    env = dict(base)
    env.update(VISUALBOX_OUTPUT_FD=str(write_fd), VISUALBOX_ACK_FD=str(ack_r))
    try:
        proc = subprocess.Popen(argv, env=env, pass_fds=(write_fd, ack_r), stdout=subprocess.PIPE)
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    try:
        assert proc.wait(timeout=30) == 0
        assert len(_frames(data)) == 4
        left = bytearray(4)
        fcntl.ioctl(ack_r, termios.FIONREAD, left)
        return int.from_bytes(left, sys.byteorder)
    finally:
        os.close(ack_r)
        os.close(ack_w)


@pytest.mark.parametrize("runtime", ["python", "node", "go"])
def test_a_line_waits_for_the_answers_to_the_frames_before_it(runtime: str, tmp_path: Path) -> None:
    """The supervisor answers each frame with one byte once it emitted it. Python and
    Node send up to 64 frames without waiting and wait for every answer before a line
    is written to stdout or stderr (so it cannot overtake an output); Go waits for
    each answer in Output. Outputs go on when the supervisor is gone (the pipe's end)."""
    argv, base = _command(runtime, tmp_path)
    line = LINE_AFTER[runtime]
    if line is None:
        assert _answers_left(argv, base) == 1  # one answer read per frame
    else:
        assert _answers_left(argv, base) == 5  # four frames, no line: nothing awaited
        name, text = PROGRAMS[runtime]
        (tmp_path / name).write_text(text + line)
        assert _answers_left(argv, base) == 1  # the line waited for all four answers

    # The supervisor gone (the ack pipe closed, nothing in it): outputs go on.
    read_fd, write_fd = os.pipe()
    ack_r, ack_w = os.pipe()
    os.close(ack_w)
    env = dict(base)
    env.update(VISUALBOX_OUTPUT_FD=str(write_fd), VISUALBOX_ACK_FD=str(ack_r))
    try:
        proc = subprocess.Popen(argv, env=env, pass_fds=(write_fd, ack_r))
    finally:
        os.close(write_fd)
        os.close(ack_r)
    with os.fdopen(read_fd, "rb") as pipe:
        assert len(_frames(pipe.read())) == 4
    assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("runtime", ["python", "node", "go"])
def test_outside_visualbox_outputs_go_to_stdout(runtime: str, tmp_path: Path) -> None:
    argv, env = _command(runtime, tmp_path)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == ["{}", "text", '[1,"é"]']
    assert "not running under VisualBox" in proc.stderr
