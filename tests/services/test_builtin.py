"""Built-in modules are published at start-up, once, and again on a version bump."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from visualbox.services import registry
from visualbox.services.accounts import user_by_email
from visualbox.services.builtin import (
    BUILTIN_DIR,
    SYSTEM_EMAIL,
    builtin_folders,
    builtin_id,
    publish_builtins,
)

COUNTER_VERSION = json.loads((BUILTIN_DIR / "counter" / "visualbox.json").read_text())["version"]


def test_every_builtin_is_published_once(app: FastAPI, client: TestClient) -> None:
    folders = builtin_folders()
    assert {f.name for f in folders} >= {"counter", "value"}
    with app.state.db.session() as db:
        # create_app published them already: publishing again changes nothing
        assert publish_builtins(db) == []
        for folder in folders:
            assert registry.resolve(db, builtin_id(folder.name), "latest", user=None)
        system = user_by_email(db, SYSTEM_EMAIL)
        assert system is not None and system.is_system and system.password_hash is None
        resolved = registry.resolve(db, builtin_id("counter"), "latest", user=None)
        assert resolved.runtime == "python" and resolved.version == COUNTER_VERSION
    page = client.get(f"/api/registry/modules/{builtin_id('counter')}").json()
    assert page["owner_name"] == "VisualBox" and "example" in page["tags"]
    found = client.get("/api/registry/search", params={"q": "counter"}).json()
    assert builtin_id("counter") in [i["id"] for i in found["items"]]


def test_version_bump_republishes(app: FastAPI, tmp_path: Path) -> None:
    root = tmp_path / "builtin"
    # a folder name the app has not published yet
    shutil.copytree(BUILTIN_DIR / "counter", root / "counter2")
    manifest_path = root / "counter2" / "visualbox.json"
    with app.state.db.session() as db:
        assert publish_builtins(db, root) == ["builtin-counter2"]
        (root / "counter2" / "main.py").write_text("import visualbox\nvisualbox.output(1)\n")
        assert publish_builtins(db, root) == []  # changed without a bump: left alone
        manifest = json.loads(manifest_path.read_text())
        manifest["version"] = "1.1.0"
        manifest_path.write_text(json.dumps(manifest))
        assert publish_builtins(db, root) == ["builtin-counter2"]
        resolved = registry.resolve(db, "builtin-counter2", "latest", user=None)
        assert resolved.version == "1.1.0"
        tree = registry.module_tree(db, resolved)
        assert tree["main.py"] == b"import visualbox\nvisualbox.output(1)\n"
        module = registry.listed_module(db, "builtin-counter2")
        assert [v.version for v in registry.versions_of(db, module)] == ["1.1.0", COUNTER_VERSION]


def test_every_builtin_documents_its_config_output_and_an_example() -> None:
    for folder in builtin_folders():
        readme = (folder / "README.md").read_text()
        for section in ("## Configuration", "## Example"):
            assert section in readme, f"{folder.name}: README.md has no {section}"
        assert "## Output" in readme or "## Data" in readme, f"{folder.name}: no ## Output/Data"
        configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
        for field in json.loads((folder / "config.json").read_text()):
            name = field["name"]
            # a numbered family is documented by its first: `sensor1_kind` … `sensor3_kind`
            first = re.sub(r"\d", "1", name)
            assert f"`{name}`" in configuration or f"`{first}`" in configuration, (
                f"{folder.name}: README.md does not document config field {name}"
            )
