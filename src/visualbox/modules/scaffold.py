"""New modules from the templates in ``templates/`` (``visualbox module init``).

Each template is a folder of real files, ``integration-<runtime>`` or ``widget``;
:func:`scaffold` copies one into a :data:`FileTree`, puts the module's name into
its README and adds a ``visualbox.json``.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable

from visualbox.modules.manifest import MANIFEST_FILE, Kind, Runtime
from visualbox.modules.tree import FileTree

NAME_PLACEHOLDER = "__NAME__"


def template_name(kind: Kind, runtime: Runtime | None) -> str:
    if kind == "widget":
        if runtime is not None:
            raise ValueError("widgets have no runtime")
        return "widget"
    if runtime is None:
        raise ValueError("an integration needs a runtime: python, node or go")
    return f"integration-{runtime}"


def scaffold(kind: Kind, runtime: Runtime | None, name: str) -> FileTree:
    """The files of a new, working module called ``name``."""
    folder = files("visualbox.modules").joinpath("templates", template_name(kind, runtime))
    tree: FileTree = {}
    _collect(folder, "", tree)
    tree["README.md"] = tree["README.md"].replace(NAME_PLACEHOLDER.encode(), name.encode())
    manifest: dict[str, object] = {"name": name, "kind": kind}
    if runtime is not None:
        manifest["runtime"] = runtime
    manifest["tags"] = ["example"]
    manifest["version"] = "0.1.0"
    tree[MANIFEST_FILE] = (json.dumps(manifest, indent=2) + "\n").encode()
    return tree


def _collect(folder: Traversable, prefix: str, tree: FileTree) -> None:
    for item in folder.iterdir():
        if item.is_dir():
            if item.name != "__pycache__":
                _collect(item, f"{prefix}{item.name}/", tree)
        else:
            tree[prefix + item.name] = item.read_bytes()
