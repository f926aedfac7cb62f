from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import visualbox
from visualbox.cli import main
from visualbox.modules.archive import make_zip
from visualbox.modules.tree import read_dir

SDK = Path(visualbox.__file__).parent / "sdk"
TEMPLATES = [
    (["--kind", "integration", "--runtime", "python"], "integration", "python", "main.py"),
    (["--kind", "integration", "--runtime", "node"], "integration", "node", "index.js"),
    (["--kind", "integration", "--runtime", "go"], "integration", "go", "main.go"),
    (["--kind", "widget"], "widget", None, "index.html"),
]


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.mark.parametrize(("options", "kind", "runtime", "entry"), TEMPLATES)
def test_init_then_check_passes(
    tmp_path: Path, options: list[str], kind: str, runtime: str | None, entry: str
) -> None:
    target = tmp_path / "my-module"
    code, out = run("module", "init", target, *options)
    assert code == 0, out
    files = read_dir(target)
    assert {"config.json", "README.md", "visualbox.json", entry} <= set(files)
    assert b"__NAME__" not in files["README.md"] and b"# my-module" in files["README.md"]
    schema = json.loads(files["config.json"])
    types = {e["type"] for e in schema}
    if kind == "integration":
        assert {"text", "password", "slider", "switch"} <= types
        assert any(e["type"] == "switch" and e["default"] is False for e in schema)
    else:
        assert {"slider", "color"} <= types
        html = files["index.html"].decode()
        for api in (
            "visualbox.onConfigChanged",
            "visualbox.onDataChanged",
            "fontSize",
            "fontColor",
        ):
            assert api in html
        assert "http://" not in html and "https://" not in html  # self-contained, no CDN

    code, out = run("module", "check", target)
    assert code == 0, out
    expected_kind = f"{kind}, {runtime}" if runtime else kind
    assert out.strip() == f"OK: my-module ({expected_kind}), {len(schema)} config field(s)"

    code, out = run("module", "check", "--json", target)
    assert code == 0
    result = json.loads(out)
    assert result["ok"] is True and result["problems"] == []
    assert result["module"]["kind"] == kind and result["module"].get("runtime") == runtime
    assert len(result["module"]["content_hash"]) == 64


def test_init_name_and_default_runtime(tmp_path: Path) -> None:
    code, _ = run("module", "init", tmp_path / "x", "--kind", "integration", "--name", "Weather")
    assert code == 0
    manifest = json.loads((tmp_path / "x" / "visualbox.json").read_text())
    assert manifest["name"] == "Weather" and manifest["runtime"] == "python"


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    code, out = run("module", "init", tmp_path, "--kind", "widget")
    assert code == 1
    assert "is not empty" in out
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_init_refuses_runtime_for_widgets(tmp_path: Path) -> None:
    code, out = run("module", "init", tmp_path / "w", "--kind", "widget", "--runtime", "go")
    assert code == 2 and "--runtime is for integrations" in out
    assert not (tmp_path / "w").exists()


def test_check_broken_module_names_file_field_reason(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    (tmp_path / "config.json").write_text(
        json.dumps(
            [
                {
                    "type": "slider",
                    "name": "level",
                    "label": "Level",
                    "min": 0,
                    "max": 10,
                    "default": 20,
                },
                {"type": "switch", "name": "on", "label": "On", "default": "yes"},
            ]
        )
    )
    code, out = run("module", "check", tmp_path)
    assert code == 1
    lines = out.strip().splitlines()
    assert "README.md: missing: every module needs a README.md" in lines
    assert "config.json: [0].default: must be at most 10 (between 0 and 10)" in lines
    assert "config.json: [1].default: must be true or false" in lines
    assert lines[-1] == f"3 problem(s) in {tmp_path}"

    code, out = run("module", "check", "--json", tmp_path)
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False
    assert {
        "file": "config.json",
        "field": "[1].default",
        "reason": "must be true or false",
    } in result["problems"]


def test_check_a_zip(tmp_path: Path) -> None:
    code, _ = run("module", "init", tmp_path / "m", "--kind", "widget")
    assert code == 0
    archive = tmp_path / "upload.zip"
    archive.write_bytes(make_zip({f"m-main/{k}": v for k, v in read_dir(tmp_path / "m").items()}))
    code, out = run("module", "check", archive)
    assert code == 0 and out.startswith("OK: m (widget)")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    code, out = run("module", "check", tmp_path / "bad.zip")
    assert code == 1 and out.startswith("archive: not a valid ZIP archive")


def first_line(argv: list[str], cwd: Path, env: dict[str, str], want: str) -> str:
    """Start a template, return its first stdout line containing ``want``, then stop it."""
    with subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if want in line:
                    return line
            raise AssertionError(f"{argv} ended without printing {want!r}")
        finally:
            proc.kill()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("runtime", ["python", "node", "go"])
def test_integration_templates_really_run(tmp_path: Path, runtime: str) -> None:
    """Outside a sandbox the SDK prints outputs on stdout: the first one proves the
    template runs against the real SDK."""
    target = tmp_path / "m"
    assert run("module", "init", target, "--kind", "integration", "--runtime", runtime)[0] == 0
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    env["PYTHONUNBUFFERED"] = "1"  # as the runtime sets it
    if runtime == "python":
        argv, env["PYTHONPATH"] = ["/usr/bin/python3", "main.py"], str(SDK / "python")
    elif runtime == "node":
        argv, env["NODE_PATH"] = ["/usr/bin/node", "index.js"], str(SDK / "node")
    else:
        gopath = tmp_path / "gopath"
        shutil.copytree(SDK / "go" / "visualbox", gopath / "src" / "visualbox")
        shutil.copytree(target, gopath / "src" / "app")
        env |= {"GOPATH": str(gopath), "GO111MODULE": "off", "GOCACHE": str(tmp_path / "cache")}
        build = subprocess.run(
            ["go", "build", "-o", str(tmp_path / "app"), "."],
            cwd=gopath / "src" / "app",
            env={**env, "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
        )
        assert build.returncode == 0, build.stderr
        argv = [str(tmp_path / "app")]
    line = first_line(argv, target, env, '"count":1')
    assert json.loads(line) == {"title": "Counter", "count": 1, "sine": 0.1987}
