from __future__ import annotations

import json
from pathlib import Path

from visualbox.modules.archive import make_zip
from visualbox.modules.check import Problem, check_dir, check_tree, check_zip
from visualbox.modules.tree import write_dir

CONFIG = json.dumps([{"type": "slider", "name": "level", "label": "Level", "min": 0, "max": 10}])
GOOD = {
    "main.py": b"import visualbox\n",
    "config.json": CONFIG.encode(),
    "README.md": b"# M\n\nDoes.\n",
}


def test_a_good_module() -> None:
    checked, problems = check_tree(GOOD, default_name="mod")
    assert problems == []
    assert checked is not None
    assert checked.manifest.name == "mod" and checked.manifest.runtime == "python"
    assert checked.manifest.description == "Does."
    assert [f.name for f in checked.schema.fields] == ["level"]
    assert checked.tree is GOOD


def test_check_dir_reports_every_problem(tmp_path: Path) -> None:
    bad_config = [
        {"type": "slider", "name": "level", "label": "Level", "min": 0, "max": 10, "default": 11},
        {"type": "colour", "name": "c", "label": "C"},
    ]
    write_dir(
        {
            "main.py": b"",
            "index.js": b"",
            "config.json": json.dumps(bad_config).encode(),
            "visualbox.json": b'{"tags": ["Bad"]}',
        },
        tmp_path / "broken",
    )
    checked, problems = check_dir(tmp_path / "broken")
    assert checked is None
    as_text = sorted(str(p) for p in problems)
    assert "README.md: missing: every module needs a README.md" in as_text
    assert "config.json: [0].default: must be at most 10 (between 0 and 10)" in as_text
    assert any(t.startswith("config.json: [1].type: unknown type") for t in as_text)
    assert (
        "visualbox.json: tags[0]: must be 1-32 characters of a-z, 0-9 and '-', "
        "not starting with '-'" in as_text
    )
    assert any(
        t.startswith("visualbox.json: kind: ambiguous: found main.py and index.js") for t in as_text
    )
    assert len(problems) == 5


def test_missing_files() -> None:
    checked, problems = check_tree({"visualbox.json": b'{"kind": "widget"}'})
    assert checked is None
    assert {p.file for p in problems} == {"README.md", "config.json", "index.html"}
    checked, problems = check_tree({**GOOD, "visualbox.json": b'{"runtime": "go"}'})
    assert problems == [Problem("main.go", "", "missing: a go integration starts from main.go")]


def test_runtime_specific_files() -> None:
    node = {**GOOD, "visualbox.json": b'{"runtime": "node"}', "index.js": b""}
    _, problems = check_tree({**node, "package.json": b"{nope"})
    assert [(p.file, p.field) for p in problems] == [("package.json", "")]
    assert "not valid JSON" in problems[0].reason
    _, problems = check_tree({**node, "package.json": b"[]"})
    assert problems == [Problem("package.json", "", "must be a JSON object")]
    assert check_tree({**node, "package.json": b'{"dependencies": {}}'})[1] == []

    go = {**GOOD, "visualbox.json": b'{"runtime": "go"}', "main.go": b"package main\n"}
    assert check_tree({**go, "go.mod": b"module example\n\ngo 1.19\n"})[1] == []
    _, problems = check_tree({**go, "go.mod": b"go banana\n"})
    assert [(p.file, p.field) for p in problems] == [("go.mod", "module"), ("go.mod", "go")]
    _, problems = check_tree({**go, "go.mod": b"\xff\xfe"})
    assert [p.file for p in problems] == ["go.mod"] and "UTF-8" in problems[0].reason

    _, problems = check_tree({**GOOD, "requirements.txt": b"\xffrequests"})
    assert [p.file for p in problems] == ["requirements.txt"]
    _, problems = check_tree({**GOOD, "main.py": b"\xff"})
    assert [p.file for p in problems] == ["main.py"]


def test_limits_and_paths_are_checked() -> None:
    tree = {**GOOD, "../escape": b"", "big.bin": b"\0" * (5 * 1024 * 1024 + 1)}
    _, problems = check_tree(tree)
    assert {(p.file, p.field) for p in problems} == {("../escape", ""), ("big.bin", "")}
    _, problems = check_tree({**GOOD, **{f"f{i}": b"" for i in range(1000)}})
    assert [(p.file, p.field) for p in problems] == [(".", "files")]


def test_check_dir_refuses_symlinks(tmp_path: Path) -> None:
    write_dir(GOOD, tmp_path)
    (tmp_path / "leak").symlink_to("/etc/passwd")
    checked, problems = check_dir(tmp_path)
    assert checked is None
    assert problems == [Problem("leak", "", "symbolic links are not allowed")]


def test_check_zip() -> None:
    checked, problems = check_zip(
        make_zip({f"repo-main/{k}": v for k, v in GOOD.items()}), default_name="z"
    )
    assert problems == [] and checked is not None and checked.manifest.name == "z"
    checked, problems = check_zip(b"nope")
    assert checked is None and problems[0].file == "archive"


def test_problem_shapes() -> None:
    assert str(Problem("config.json", "[2].default", "bad")) == "config.json: [2].default: bad"
    assert str(Problem("README.md", "", "missing")) == "README.md: missing"
    assert (
        Problem("config.json", "[2].default", "bad").as_field_error().field
        == "config.json[2].default"
    )
    assert (
        Problem("visualbox.json", "tags[0]", "bad").as_field_error().field
        == "visualbox.json.tags[0]"
    )
    assert Problem(".", "files", "many").as_field_error().field == "files"
    assert Problem("README.md", "", "x").as_dict() == {
        "file": "README.md",
        "field": "",
        "reason": "x",
    }
