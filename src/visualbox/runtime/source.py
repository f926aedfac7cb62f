"""Getting a module's files onto disk as a :class:`ModuleSource` the supervisor can mount.

* :func:`load_module` checks a folder (``visualbox.modules.check`` when it is
  available) and returns its source and config schema (the CLI uses it);
* :func:`materialize` writes an in-memory file tree once per content hash under
  a directory, so the server can run modules that live in its database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from visualbox.errors import FieldError, InvalidInput
from visualbox.runtime.layout import ModuleSource, runtime_of, tree_hash


def load_module(directory: Path) -> tuple[ModuleSource, Any]:
    """Check ``directory`` (an integration); return its source and ``ConfigSchema``.

    Raises :class:`InvalidInput` listing every problem.
    """
    try:
        from visualbox.modules.check import check_dir
    except ImportError:
        return _load_minimal(directory)
    checked, problems = check_dir(directory)
    if checked is None:
        raise InvalidInput(f"{directory}: not a valid module", list(problems))
    return _source(directory, checked.manifest), checked.schema


def _source(directory: Path, manifest: Any) -> ModuleSource:
    if manifest.kind != "integration" or manifest.runtime is None:
        raise InvalidInput(
            f"{directory}: a widget cannot be run",
            [FieldError("kind", "only integrations run; this module is a widget")],
        )
    return ModuleSource.from_dir(directory, manifest.runtime)


def _load_minimal(directory: Path) -> tuple[ModuleSource, Any]:
    """Fallback while ``visualbox.modules.check`` is missing: manifest + config schema."""
    from visualbox.modules.config_schema import ConfigSchema, parse_config_schema
    from visualbox.modules.manifest import load_manifest
    from visualbox.modules.tree import read_dir

    tree = read_dir(directory)
    manifest = load_manifest(tree, default_name=directory.name)
    raw = tree.get("config.json")
    schema = parse_config_schema(raw) if raw is not None else ConfigSchema()
    return _source(directory, manifest), schema


def materialize(tree: dict[str, bytes], runtime: str, sources_dir: Path) -> ModuleSource:
    """Write ``tree`` to ``sources_dir/<hash>`` (once; atomic) and return its source."""
    from visualbox.modules.tree import write_dir

    sources_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=sources_dir))
    try:
        write_dir(tree, tmp)
        digest = tree_hash(tmp)
        target = sources_dir / digest
        tmp.chmod(0o755)
        try:
            os.rename(tmp, target)
        except OSError:  # already there (same content)
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ModuleSource(target, runtime_of(runtime), digest)
