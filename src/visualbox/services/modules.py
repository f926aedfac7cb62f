"""Modules: working copies owned by one user — metadata, files, folders and archives.

A working copy is private to its owner: every function here takes a module the
caller already owns (:func:`get_owned` turns anyone else's into ``NotFound``, so
existence is not revealed). Each write checks everything first, then changes the
rows and commits once, so a failed write leaves the working copy untouched.
Concurrent writes to one file: the last one wins (there is no revision check).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from visualbox.db.base import utcnow
from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.modules import Module, ModuleFile, ModuleTag, ModuleUse, WithdrawnModule
from visualbox.db.tables.teams import TeamMember
from visualbox.errors import (
    Conflict,
    FieldError,
    InUse,
    InvalidInput,
    NotFound,
    TooLarge,
    plural,
)
from visualbox.modules.archive import make_zip
from visualbox.modules.check import Problem, check_tree
from visualbox.modules.config_schema import schema_problems
from visualbox.modules.manifest import (
    ENTRY_FILES,
    KINDS,
    MANIFEST_FILE,
    MAX_TAG_CHARS,
    MAX_TAGS,
    RUNTIMES,
    TAG_PATTERN,
    Runtime,
    load_manifest,
    readme_description,
)
from visualbox.modules.scaffold import scaffold
from visualbox.modules.tree import (
    LIMITS,
    FileTree,
    check_tree_limits,
    normalize_path,
    path_problem,
)
from visualbox.services import blobs, policy, quotas, search

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")
_TAG_RE = re.compile(TAG_PATTERN)
_DESCRIBING_FILES = frozenset({"README.md", MANIFEST_FILE})


@dataclass(frozen=True)
class Usage:
    """Who would lose a module (or a version): dashboards, and how many are others'."""

    dashboards: int
    own_dashboards: int
    other_users: int
    dashboard_ids: tuple[str, ...]

    @classmethod
    def of(cls, module: Module, rows: list[tuple[str, str]]) -> Usage:
        """From ``(dashboard id, dashboard owner id)`` pairs."""
        own = sum(1 for _, owner in rows if owner == module.owner_id)
        others = {owner for _, owner in rows if owner != module.owner_id}
        return cls(len(rows), own, len(others), tuple(sorted(d for d, _ in rows)))

    def sentence(self, singular: str, plural: str) -> str:
        """``3 dashboards use it (2 of them belong to 1 other user).`` and the like, with
        the verb phrase ``singular`` or ``plural`` (the web app words it the same way)."""
        n, theirs = self.dashboards, self.dashboards - self.own_dashboards
        others = f"{self.other_users} other user{'s' if self.other_users != 1 else ''}"
        if theirs == 0:
            whose = "yours" if n == 1 else "all yours"
        elif theirs == n:
            whose = f"{'it belongs' if n == 1 else 'they belong'} to {others}"
        else:
            whose = f"{theirs} of them belong to {others}"
        return f"{self.count(singular, plural)} ({whose})."

    def count(self, singular: str, plural: str) -> str:
        """``1 dashboard uses it``, ``3 dashboards use it``."""
        n = self.dashboards
        return f"{n} dashboard{'s' if n != 1 else ''} {singular if n == 1 else plural}"


@dataclass(frozen=True)
class FileEntry:
    """One entry of a working copy's tree; folders have no hash."""

    path: str
    size: int
    sha256: str | None
    is_folder: bool


# -- modules ----------------------------------------------------------------------------


def list_modules(db: Session, user: User, *, kind: str | None = None) -> list[Module]:
    """The caller's modules and those of the teams where the caller is an editor or admin."""
    teams = select(TeamMember.team_id).where(
        TeamMember.user_id == user.id, TeamMember.role.in_(("editor", "admin"))
    )
    query = select(Module).where(or_(Module.owner_id == user.id, Module.team_id.in_(teams)))
    if kind is not None:
        query = query.where(Module.kind == kind)
    return list(db.scalars(query.order_by(Module.updated_at.desc(), Module.id)))


def get_owned(db: Session, module_id: str, user: User, *, need: policy.Need = "edit") -> Module:
    """The module if ``user`` owns it or may ``need`` it as a member of its team
    (``services/policy.py``); ``NotFound`` otherwise (also for other users')."""
    return policy.require_module(db, user, module_id, need)


def move_module(db: Session, user: User, module: Module, team_id: str | None) -> None:
    """Move ``module`` into team ``team_id`` (``None``: out of its team): the admin role
    on the module (its owner, or an admin of its team) and in the target team."""
    if team_id == module.team_id:
        return
    policy.require_module(db, user, module.id, "admin")
    if team_id is not None:
        policy.require_team(db, user, team_id, "admin")
    module.team_id = team_id
    db.flush()


def create_module(
    db: Session,
    user: User,
    *,
    name: str,
    kind: str,
    runtime: str | None,
    template: bool = True,
    tree: FileTree | None = None,
    module_id: str | None = None,
    forked_from: tuple[str, str] | None = None,
) -> Module:
    """Create a working copy: the template for ``kind``/``runtime``, ``tree``, or empty.

    ``forked_from`` is the (module id, version) it was copied from."""
    if kind not in KINDS:
        raise InvalidInput("Unknown kind.", [FieldError("kind", "must be integration or widget")])
    if kind == "integration" and runtime not in RUNTIMES:
        raise InvalidInput(
            "An integration needs a runtime.",
            [FieldError("runtime", "must be python, node or go for an integration")],
        )
    if kind == "widget" and runtime is not None:
        raise InvalidInput(
            "Widgets have no runtime.", [FieldError("runtime", "must be absent for a widget")]
        )
    if tree is None:
        tree = scaffold(kind, cast("Runtime | None", runtime), name) if template else {}
    quotas.check_modules(db, user)
    quotas.check_module_bytes(db, user.id, sum(len(content) for content in tree.values()))
    module = Module(owner_id=user.id, name=name.strip(), kind=kind, runtime=runtime, tags=[])
    if module_id is not None:
        module.id = module_id
        db.execute(delete(WithdrawnModule).where(WithdrawnModule.module_id == module_id))
    if forked_from is not None:
        module.forked_from_id, module.forked_from_version = forked_from
    db.add(module)
    db.flush()
    _store_tree(db, module, tree)
    _refresh_description(db, module)
    db.commit()
    return module


def update_module(db: Session, module: Module, changes: dict[str, Any]) -> Module:
    """Change ``name``, ``description`` (``None``: follow README.md again), ``tags`` or
    ``cover`` (a path of an image in the working copy, or ``None``)."""
    if "name" in changes:
        module.name = str(changes["name"]).strip()
    if "tags" in changes:
        tags = _clean_tags(changes["tags"])
        module.tags = tags
        db.execute(delete(ModuleTag).where(ModuleTag.module_id == module.id))
        db.add_all(ModuleTag(module_id=module.id, tag=tag) for tag in tags)
    if "cover" in changes:
        module.cover = _check_cover(db, module, changes["cover"])
    if "description" in changes:
        description = changes["description"]
        module.description_set = description is not None
        if description is not None:
            module.description = description.strip()
        else:
            _refresh_description(db, module)
    search.index_module(db, module)
    db.commit()
    return module


def using_dashboards(db: Session, module_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(id, owner id, document)`` of every dashboard that uses ``module_id``."""
    query = (
        select(Dashboard.id, Dashboard.owner_id, Dashboard.document)
        .join(ModuleUse, ModuleUse.dashboard_id == Dashboard.id)
        .where(ModuleUse.module_id == module_id)
    )
    return [(d, o, doc) for d, o, doc in db.execute(query)]


def usage(db: Session, module: Module) -> Usage:
    """The dashboards (anyone's) that use the module."""
    return Usage.of(module, [(d, o) for d, o, _ in using_dashboards(db, module.id)])


def delete_module(db: Session, module: Module, *, confirm: bool = False) -> Usage:
    """Delete the module: its working copy, published versions and listing. Return who
    used it (their dashboards should be told).

    Others' use never blocks the owner, but while dashboards use it the delete needs
    ``confirm`` (:class:`InUse` otherwise). Those dashboards keep loading and say that
    the module was withdrawn: a :class:`WithdrawnModule` row remembers its name.
    """
    found = usage(db, module)
    if found.dashboards and not confirm:
        raise InUse(
            f"{found.sentence('uses this module', 'use this module')} Deleting it withdraws "
            "it from them: their widgets show that it was withdrawn and their integrations "
            "stop. Send confirm=true to delete it anyway.",
            [
                FieldError(
                    "confirm",
                    found.count("uses this module", "use this module"),
                    "Confirmation",
                )
            ],
        )
    search.unindex_module(db, module.id)
    db.merge(
        WithdrawnModule(
            module_id=module.id, owner_id=module.owner_id, name=module.name, kind=module.kind
        )
    )
    db.delete(module)
    db.commit()
    return found


def _clean_tags(tags: list[str]) -> list[str]:
    problems = [
        FieldError(
            f"tags[{i}]", "must be 1-32 characters of a-z, 0-9 and '-', not starting with '-'"
        )
        for i, tag in enumerate(tags)
        if len(tag) > MAX_TAG_CHARS or not _TAG_RE.fullmatch(tag)
    ]
    if len(tags) > MAX_TAGS:
        problems.append(FieldError("tags", f"at most {MAX_TAGS} tags"))
    if problems:
        raise InvalidInput("The tags are not valid.", problems)
    return list(dict.fromkeys(tags))


def _check_cover(db: Session, module: Module, cover: str | None) -> str | None:
    if cover is None:
        return None
    path = normalize_path(cover, field="cover")
    row = db.get(ModuleFile, (module.id, path))
    if row is None or row.is_folder:
        raise InvalidInput("No such cover.", [FieldError("cover", "no such file in the module")])
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        raise InvalidInput(
            "The cover is not an image.",
            [FieldError("cover", f"must be an image: {', '.join(IMAGE_EXTENSIONS)}")],
        )
    return path


# -- files and folders ------------------------------------------------------------------


def _rows(db: Session, module: Module) -> list[ModuleFile]:
    return list(db.scalars(select(ModuleFile).where(ModuleFile.module_id == module.id)))


def list_files(db: Session, module: Module) -> list[FileEntry]:
    """Files and folders (explicit empty ones and those implied by file paths), by path."""
    entries: dict[str, FileEntry] = {}
    for row in _rows(db, module):
        entries[row.path] = FileEntry(row.path, row.size, row.blob_sha, row.is_folder)
        parts = row.path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            entries.setdefault(folder, FileEntry(folder, 0, None, True))
    return [entries[path] for path in sorted(entries)]


def read_file(db: Session, module: Module, path: str) -> bytes:
    path = normalize_path(path)
    row = db.get(ModuleFile, (module.id, path))
    if row is None or row.blob_sha is None:
        raise NotFound("No such file.", [FieldError("path", "no such file")])
    return blobs.get_blob(db, row.blob_sha)


def write_file(db: Session, module: Module, path: str, content: bytes) -> FileEntry:
    """Create or replace one file. ``config.json`` and ``visualbox.json`` must be valid."""
    path = normalize_path(path)
    if len(content) > LIMITS.max_file_bytes:
        raise TooLarge(
            "The file is too large.",
            [FieldError(path, f"larger than the per-file limit of {LIMITS.max_file_bytes} bytes")],
        )
    rows = _rows(db, module)
    others = [r for r in rows if r.path != path and not r.is_folder]
    if sum(r.size for r in others) + len(content) > LIMITS.max_total_bytes:
        raise TooLarge(
            "The module would be too large.",
            [FieldError("files", f"over the module limit of {LIMITS.max_total_bytes} bytes")],
        )
    if len(others) + 1 > LIMITS.max_files:
        raise TooLarge(
            "The module has too many files.",
            [FieldError("files", f"over the module limit of {LIMITS.max_files} files")],
        )
    _check_free(rows, path, field="path", replacing_file=True)
    if path == "config.json":
        problems = schema_problems(content)
        if problems:
            raise InvalidInput(
                f"config.json is not valid ({plural(len(problems), 'problem')}).", problems
            )
    if path == MANIFEST_FILE:
        _check_manifest(module, rows, content)
    row = db.get(ModuleFile, (module.id, path))
    quotas.check_module_bytes(db, module.owner_id, len(content) - (row.size if row else 0))
    sha = blobs.put_blob(db, content)
    if row is None:
        row = ModuleFile(module_id=module.id, path=path)
        db.add(row)
    row.blob_sha, row.size = sha, len(content)
    _touched(db, module, {path})
    db.commit()
    return FileEntry(path, len(content), sha, False)


def make_folder(db: Session, module: Module, path: str) -> FileEntry:
    """Create an (empty) folder; creating an existing folder is harmless. Explicit
    folders count with files against ``LIMITS.max_files``, so rows stay bounded."""
    path = normalize_path(path)
    rows = _rows(db, module)
    if any(r.path == path or r.path.startswith(path + "/") for r in rows):
        if any(r.path == path and not r.is_folder for r in rows):
            raise Conflict("A file has that name.", [FieldError("path", "is a file")])
        return FileEntry(path, 0, None, True)
    _check_free(rows, path, field="path")
    if len(rows) + 1 > LIMITS.max_files:
        raise TooLarge(
            "The module has too many entries.",
            [FieldError("files", f"over the module limit of {LIMITS.max_files} files and folders")],
        )
    db.add(ModuleFile(module_id=module.id, path=path, blob_sha=None, size=0))
    _touched(db, module, set())
    db.commit()
    return FileEntry(path, 0, None, True)


def rename(db: Session, module: Module, source: str, target: str) -> None:
    """Move a file or a whole folder. Contents are untouched (blobs are shared); every
    moved path must stay a valid path (a longer folder name can push one over the limit)."""
    source = normalize_path(source, field="from")
    target = normalize_path(target, field="to")
    if source == target:
        return
    rows = _rows(db, module)
    moving = [r for r in rows if r.path == source or r.path.startswith(source + "/")]
    if not moving:
        raise NotFound("No such file or folder.", [FieldError("from", "no such file or folder")])
    if target.startswith(source + "/"):
        raise InvalidInput(
            "A folder cannot move into itself.", [FieldError("to", "is inside 'from'")]
        )
    _check_free(rows, target, field="to")
    for row in moving:
        moved = target + row.path[len(source) :]
        reason = path_problem(moved)
        if reason:
            raise InvalidInput(f"to: {reason}", [FieldError("to", f"{reason} ({moved})")])
    for row in moving:
        row.path = target + row.path[len(source) :]
    if module.cover and (module.cover == source or module.cover.startswith(source + "/")):
        module.cover = target + module.cover[len(source) :]
    _touched(db, module, {source, target})
    db.commit()


def delete_path(db: Session, module: Module, path: str) -> None:
    """Delete a file, or a folder with everything in it."""
    path = normalize_path(path)
    doomed = select(ModuleFile).where(
        ModuleFile.module_id == module.id,
        or_(ModuleFile.path == path, ModuleFile.path.startswith(path + "/", autoescape=True)),
    )
    rows = list(db.scalars(doomed))
    if not rows:
        raise NotFound("No such file or folder.", [FieldError("path", "no such file or folder")])
    for row in rows:
        db.delete(row)
    if module.cover and (module.cover == path or module.cover.startswith(path + "/")):
        module.cover = None
    _touched(db, module, {path})
    db.commit()


def _check_free(
    rows: list[ModuleFile], path: str, *, field: str, replacing_file: bool = False
) -> None:
    """``path`` may be created: no file above it, nothing (but a file we replace) at it."""
    files = {r.path for r in rows if not r.is_folder}
    parts = path.split("/")
    for i in range(1, len(parts)):
        above = "/".join(parts[:i])
        if above in files:
            raise Conflict("A file is in the way.", [FieldError(field, f"{above} is a file")])
    taken = any(r.path.startswith(path + "/") or (r.path == path and r.is_folder) for r in rows)
    if taken or (path in files and not replacing_file):
        raise Conflict("That name is taken.", [FieldError(field, f"{path} already exists")])


def _check_manifest(module: Module, rows: list[ModuleFile], content: bytes) -> None:
    """Validate a new ``visualbox.json`` against the module's files and kind."""
    tree: FileTree = {r.path: b"" for r in rows if not r.is_folder}
    tree[ENTRY_FILES[module.runtime or "widget"]] = b""
    tree[MANIFEST_FILE] = content
    manifest = load_manifest(tree, default_name=module.name, read_files=False)
    if manifest.kind != module.kind:
        raise InvalidInput(
            "The manifest does not match the module.",
            [FieldError(f"{MANIFEST_FILE}.kind", f"this module is a {module.kind}")],
        )


# -- whole trees ------------------------------------------------------------------------


def working_tree(db: Session, module: Module) -> FileTree:
    """Every file of the working copy (empty folders are not part of a tree)."""
    rows = [r for r in _rows(db, module) if r.blob_sha is not None]
    contents = blobs.get_blobs(db, {cast(str, r.blob_sha) for r in rows})
    return {r.path: contents[cast(str, r.blob_sha)] for r in rows}


def check_replace(db: Session, module: Module, tree: FileTree) -> None:
    """Refuse ``tree`` as the new working copy if it breaks the limits or the quota."""
    problems = check_tree_limits(tree)
    if problems:
        raise InvalidInput(
            f"The files break the limits ({plural(len(problems), 'problem')}).", problems
        )
    stored = sum(r.size for r in _rows(db, module))
    quotas.check_module_bytes(db, module.owner_id, sum(map(len, tree.values())) - stored)


def replace_tree(
    db: Session, module: Module, tree: FileTree, *, folders: Iterable[str] = ()
) -> None:
    """Replace the whole working copy by ``tree`` (and the explicit empty ``folders``)
    in one transaction (commits). ``services.working_copies`` keeps the previous one."""
    check_replace(db, module, tree)
    db.execute(delete(ModuleFile).where(ModuleFile.module_id == module.id))
    _store_tree(db, module, tree)
    db.add_all(ModuleFile(module_id=module.id, path=p, blob_sha=None, size=0) for p in folders)
    if module.cover not in tree:
        module.cover = None
    _touched(db, module, set(tree) | {"README.md"})
    db.commit()


def export_archive(db: Session, module: Module) -> bytes:
    return make_zip(working_tree(db, module))


def check_module(db: Session, module: Module) -> list[Problem]:
    """Every problem of the working copy (empty: it can be published)."""
    checked, problems = check_tree(working_tree(db, module), default_name=module.name)
    if checked is not None and checked.manifest.kind != module.kind:
        problems = [Problem(MANIFEST_FILE, "kind", f"this module is a {module.kind}")]
    return problems


def _store_tree(db: Session, module: Module, tree: FileTree) -> None:
    for path, content in tree.items():
        sha = blobs.put_blob(db, content)
        db.add(ModuleFile(module_id=module.id, path=path, blob_sha=sha, size=len(content)))
    db.flush()


def _touched(db: Session, module: Module, paths: set[str]) -> None:
    """Bookkeeping after a change of ``paths``: modified time and derived description."""
    db.flush()
    module.updated_at = utcnow()
    if paths & _DESCRIBING_FILES:
        _refresh_description(db, module)


def _refresh_description(db: Session, module: Module) -> None:
    """Unless the owner wrote one, the description follows the manifest or README.md."""
    if module.description_set:
        return
    rows = {r.path: r for r in _rows(db, module) if r.blob_sha is not None}
    wanted = {p: r.blob_sha for p, r in rows.items() if p in _DESCRIBING_FILES}
    contents = blobs.get_blobs(db, {cast(str, sha) for sha in wanted.values()})
    tree: FileTree = dict.fromkeys(rows, b"")
    tree.update({p: contents[cast(str, sha)] for p, sha in wanted.items()})
    try:
        module.description = load_manifest(
            tree, default_name=module.name, read_files=False
        ).description
    except InvalidInput:
        module.description = readme_description(tree.get("README.md", b""))
