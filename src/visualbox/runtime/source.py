"""Getting a module's files onto disk as a :class:`ModuleSource` the supervisor can mount.

* :func:`load_module` checks a folder (``visualbox.modules.check``) and returns
  its source and config schema (the CLI uses it);
* :func:`from_checked` turns a checked in-memory module into a source;
* :func:`materialize` writes an in-memory file tree once per content hash under
  a directory, so the server can run modules that live in its database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from visualbox.errors import FieldError, InvalidInput
from visualbox.modules.check import CheckedModule, check_dir
from visualbox.modules.config_schema import ConfigSchema
from visualbox.runtime.layout import ModuleSource, runtime_of, tree_hash


def load_module(directory: Path) -> tuple[ModuleSource, ConfigSchema]:
    """Check ``directory`` (an integration); return its source and config schema.

    Raises :class:`InvalidInput` listing every problem (``file.field: reason``).
    """
    checked, problems = check_dir(directory)
    if checked is None:
        raise InvalidInput(
            f"{directory}: not a valid module", [p.as_field_error() for p in problems]
        )
    _require_integration(directory, checked)
    return ModuleSource.from_dir(directory, str(checked.manifest.runtime)), checked.schema


def from_checked(checked: CheckedModule, sources_dir: Path) -> ModuleSource:
    """The source of a checked module held in memory, written under ``sources_dir``."""
    _require_integration(Path(checked.manifest.name), checked)
    return materialize(checked.tree, str(checked.manifest.runtime), sources_dir)


def _require_integration(where: Path, checked: CheckedModule) -> None:
    if checked.manifest.kind != "integration" or checked.manifest.runtime is None:
        raise InvalidInput(
            f"{where}: a widget cannot be run",
            [FieldError("kind", "only integrations run; this module is a widget")],
        )


def materialize(tree: dict[str, bytes], runtime: str, sources_dir: Path) -> ModuleSource:
    """Write ``tree`` to ``sources_dir/<hash>`` (once; atomic) and return its source.

    Folders are 0755 and files 0644: the sandbox reads them as an unprivileged uid.
    """
    from visualbox.modules.tree import write_dir

    sources_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=sources_dir))
    try:
        write_dir(tree, tmp)
        # Readable by the sandbox's host uid whatever our umask (it is "other" to us).
        for path in tmp.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
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
