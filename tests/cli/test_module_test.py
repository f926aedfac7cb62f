"""``visualbox module test`` as a developer runs it (a subprocess of the installed command):
an integration's cases in the real sandbox, a widget's in headless Chromium, and the
built-in library passing its own cases (docs/modules.md#module-tests)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_module_run import VISUALBOX, _env
from visualbox.services.builtin import BUILTIN_DIR, builtin_folders

README = "# Test\n\nA test module.\n"
COUNTER = """
import time, visualbox
n = visualbox.MODEL["start"]
while True:
    visualbox.output({"count": n, "unit": "items"})
    n += 1
    time.sleep(0.05)
"""
CONFIG = json.dumps([{"type": "number", "name": "start", "label": "Start", "default": 0}])
WIDGET = """<!doctype html><html><body><p id="v"></p><script>
visualbox.onDataChanged(function (d) {
  if (d === 'throw') throw new Error('cannot draw ' + d);
  if (d === 'log') visualbox.log('no data source set', 'error');
  document.getElementById('v').textContent = String(d);
});
</script></body></html>"""


def _test(folder: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VISUALBOX, "module", "test", str(folder), "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )


def _module(tmp_path: Path, files: dict[str, str], cases: dict[str, object]) -> Path:
    folder = tmp_path / "mod"
    (folder / "tests").mkdir(parents=True)
    for name, text in {"README.md": README, **files}.items():
        (folder / name).write_text(text)
    for name, case in cases.items():
        (folder / "tests" / f"{name}.json").write_text(json.dumps(case))
    return folder


@pytest.mark.parametrize(
    "folder",
    [f for f in builtin_folders() if (f / "tests").is_dir()],
    ids=lambda f: f.name,
)
def test_the_builtin_library_passes_its_own_cases(folder: Path, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    result = _test(folder, tmp_path, "--screenshots", str(shots))
    assert result.returncode == 0, result.stdout + result.stderr
    cases = sorted(p.stem for p in (folder / "tests").glob("*.json"))
    assert f"{len(cases)} case" in result.stdout and "0 failed" in result.stdout
    for name in cases:
        assert f"✓ {name}:" in result.stdout, result.stdout
    if (folder / "index.html").exists():  # a widget: one screenshot per case, not blank
        from PIL import Image

        for name in cases:
            with Image.open(shots / f"{name}.png") as image:
                colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
            assert colours is not None and len(colours) > 2, f"{name}.png is blank"


def test_builtin_folders_with_cases_cover_both_kinds() -> None:
    with_cases = {f.name for f in builtin_folders() if (f / "tests").is_dir()}
    assert {"counter", "simulator", "value", "line-chart"} <= with_cases
    assert BUILTIN_DIR.is_dir()


def test_an_integration_case_names_what_differs_and_where(tmp_path: Path) -> None:
    folder = _module(
        tmp_path,
        {"main.py": COUNTER, "config.json": CONFIG},
        {
            "counts": {"config": {"start": 3}, "expect": [{"count": 3, "unit": "items"}]},
            "off-by-one": {"config": {"start": 3}, "expect": [{"count": 3}, {"count": 5}]},
            "schema": {
                "outputs": 2,
                "schema": {"properties": {"unit": {"type": "number"}}},
            },
        },
    )
    result = _test(folder, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout
    assert "✓ counts: 1 output as expected" in lines
    assert '✗ off-by-one: output 1 at /unit: not expected (got "items")' in lines
    assert "output 2 at /count: expected 5, got 4" in lines
    assert "✗ schema: output 1 does not match the schema:" in lines and "/unit" in lines
    assert "3 cases: 1 passed, 2 failed" in lines

    only = _test(folder, tmp_path, "--case", "counts")
    assert only.returncode == 0 and "1 case: 1 passed" in only.stdout, only.stdout


def test_cases_that_are_not_valid_are_named_with_their_field(tmp_path: Path) -> None:
    folder = _module(
        tmp_path,
        {"main.py": COUNTER, "config.json": CONFIG},
        {
            "bad": {"config": {"start": "three"}, "outputs": 0, "colour": "red"},
            "worse": [],
        },
    )
    (folder / "tests" / "broken.json").write_text("{not json")
    result = _test(folder, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert "tests/bad.json: colour" in err and "is not a field of a test case" in err
    assert "tests/bad.json: outputs" in err and "from 1 to 1000" in err
    assert "tests/broken.json" in err and "not valid JSON" in err
    assert "tests/worse.json" in err and "must be a JSON object" in err
    assert "Traceback" not in err

    (folder / "tests" / "broken.json").unlink()
    (folder / "tests" / "worse.json").unlink()
    (folder / "tests" / "bad.json").write_text(json.dumps({"config": {"start": "three"}}))
    result = _test(folder, tmp_path)
    assert result.returncode == 2 and "tests/bad.json: config.start" in result.stderr

    (folder / "tests" / "bad.json").write_text(json.dumps({"config": {"start": 3}}))
    unknown = _test(folder, tmp_path, "--case", "nope")
    assert unknown.returncode == 2 and "no test case named nope" in unknown.stderr


def test_a_module_without_cases_says_how_to_add_one(tmp_path: Path) -> None:
    folder = _module(tmp_path, {"main.py": COUNTER, "config.json": CONFIG}, {})
    result = _test(folder, tmp_path)
    assert result.returncode == 2
    assert "has no test cases to run: add tests/<name>.json" in result.stderr


def test_a_widget_case_fails_on_an_error_it_raises_or_logs(tmp_path: Path) -> None:
    folder = _module(
        tmp_path,
        {"index.html": WIDGET, "config.json": "[]"},
        {
            "draws": {"data": "hello", "width": 200, "height": 100},
            "throws": {"data": "throw"},
            "logs": {"data": "log", "theme": "dark"},
        },
    )
    shots = tmp_path / "shots"
    result = _test(folder, tmp_path, "--screenshots", str(shots))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "✓ draws: drawn" in result.stdout
    # The SDK catches what a listener throws and logs it as an error.
    assert "✗ throws: the widget logged an error: Error: cannot draw throw\n" in result.stdout
    assert "✗ logs: the widget logged an error: no data source set" in result.stdout
    from PIL import Image

    with Image.open(shots / "draws.png") as image:
        assert image.size == (200, 100)
