"""Built-in modules: every folder of ``visualbox/builtin/`` published by the system account.

At start-up :func:`publish_builtins` makes sure each built-in module is in the
registry at the ``version`` its ``visualbox.json`` declares. A module's id is
derived from its folder name (``builtin-<folder>``), so dashboards keep referring
to it across releases. When nothing changed it only reads and compares, so it is
cheap to run on every start; a new ``version`` publishes the folder's files again.
A broken built-in module is a bug of VisualBox itself: it raises ``RuntimeError``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import semver
from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.db.tables.modules import Module
from visualbox.modules.check import check_tree
from visualbox.modules.tree import content_hash, read_dir
from visualbox.services import accounts, modules, registry

log = logging.getLogger("visualbox.builtin")

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "builtin"
SYSTEM_EMAIL = "system@visualbox.invalid"
SYSTEM_NAME = "VisualBox"
ID_PREFIX = "builtin-"


def builtin_id(folder_name: str) -> str:
    """The stable module id of the built-in module in folder ``folder_name``."""
    return (ID_PREFIX + folder_name)[:32]


def builtin_folders(root: Path = BUILTIN_DIR) -> list[Path]:
    """The module folders under ``root`` (not ``__pycache__``, hidden or ``_private`` ones)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def system_user(db: Session) -> User:
    """The account that owns the built-in modules (no password: nobody can sign in)."""
    user = accounts.user_by_email(db, SYSTEM_EMAIL)
    if user is None:
        user = accounts.create_user(
            db,
            name=SYSTEM_NAME,
            email=SYSTEM_EMAIL,
            password=None,
            verified=True,
            is_system=True,
        )
    return user


def publish_builtins(db: Session, root: Path = BUILTIN_DIR) -> list[str]:
    """Publish every built-in module whose declared version is not published yet.

    Returns the ids of the modules published by this call (empty when all were up
    to date). Idempotent; each publication commits.
    """
    published: list[str] = []
    for folder in builtin_folders(root):
        tree = read_dir(folder)
        checked, problems = check_tree(tree, default_name=folder.name)
        if checked is None or problems:
            raise RuntimeError(f"built-in module {folder.name} is broken: {problems}")
        version = checked.manifest.version
        if version is None:
            raise RuntimeError(f"built-in module {folder.name}: visualbox.json needs a version")
        module_id = builtin_id(folder.name)
        module = db.get(Module, module_id)
        if module is not None:
            versions = registry.versions_of(db, module)
            if versions and semver.Version.parse(version) <= semver.Version.parse(
                versions[0].version
            ):
                if versions[0].content_hash != content_hash(tree):
                    log.warning(
                        "built-in module %s changed without a version bump above %s; "
                        "not republished",
                        folder.name,
                        versions[0].version,
                    )
                continue
        owner = system_user(db)
        manifest = checked.manifest
        if module is None:
            module = modules.create_module(
                db,
                owner,
                name=manifest.name,
                kind=manifest.kind,
                runtime=manifest.runtime,
                tree=tree,
                module_id=module_id,
            )
        else:
            modules.replace_tree(db, module, tree)
        modules.update_module(db, module, {"name": manifest.name, "tags": list(manifest.tags)})
        registry.publish(db, module, version, changelog="Built-in module.")
        log.info("published built-in module %s %s", module_id, version)
        published.append(module_id)
    return published
