"""Working copies replaced whole: a ZIP import, a reset to a published version, an undo.

Each replace first checks everything (an import must be a valid module of the
module's kind, and fit the limits and the owner's quota), then keeps the working
copy it replaces as the module's :class:`PreviousWorkingCopy` and writes the new
one, in one transaction: a refused replace changes nothing, and a done one can be
undone. Undo is a replace too: it swaps the two copies, so a second undo redoes.

Only one previous copy is kept per module (at most one module's worth of files,
as a ZIP; deleted with the module), so it is bounded by ``LIMITS.max_total_bytes``
per module rather than counted against the module-bytes quota.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from visualbox.db.base import utcnow
from visualbox.db.tables.modules import Module, ModuleFile, ModuleVersion
from visualbox.db.tables.working_copies import PreviousWorkingCopy
from visualbox.errors import Conflict, FieldError, InvalidInput
from visualbox.modules.archive import extract_zip, make_zip
from visualbox.modules.check import MODULE, Problem, check_tree
from visualbox.modules.manifest import ENTRY_FILES, MANIFEST_FILE
from visualbox.modules.tree import FileTree
from visualbox.services import modules, registry

_OPTION_RE = re.compile(r"^\[(\d+)\]\.?(.*)$")


@dataclass(frozen=True)
class Replaced:
    """What a replace did: ``replaced_by`` (``import``, ``reset``, ``undo``) and the
    version a reset went to."""

    replaced_by: str
    version: str | None


def previous(db: Session, module: Module) -> PreviousWorkingCopy | None:
    """The working copy as it was before the last replace, if there was one."""
    return db.get(PreviousWorkingCopy, module.id)


def import_archive(db: Session, module: Module, data: bytes) -> None:
    """Replace the working copy by a ZIP upload, if it holds a valid module of the same
    kind; hostile archives, and anything that is not such a module, change nothing."""
    try:
        tree = extract_zip(data)
    except InvalidInput as exc:
        raise InvalidInput(
            "This file cannot be imported, so nothing was replaced.",
            [FieldError(e.field, _archive_sentence(e)) for e in exc.fields],
        ) from None
    modules.check_replace(db, module, tree)
    refuse_unless_module(module, tree)
    _replace(db, module, tree, Replaced("import", None))


def reset(db: Session, module: Module, version: str) -> ModuleVersion:
    """Replace the working copy by the files of a published version (yanked ones too;
    a withdrawn one is :class:`~visualbox.errors.Gone`)."""
    row = registry.get_version(db, module, version)
    tree = registry.version_tree(db, row)
    _replace(db, module, tree, Replaced("reset", row.version))
    return row


@dataclass(frozen=True)
class Comparison:
    """How a published version's files differ from the working copy's, by path."""

    changed: list[str]
    """In both, with other contents: the working copy's are lost on a reset."""
    removed: list[str]
    """Only in the working copy: lost on a reset."""
    added: list[str]
    """Only in the version."""


def compare(db: Session, module: Module, version: str) -> Comparison:
    """What a reset to ``version`` would change (nothing is written)."""
    theirs = registry.version_tree(db, registry.get_version(db, module, version))
    ours = modules.working_tree(db, module)
    return Comparison(
        changed=sorted(p for p in ours.keys() & theirs.keys() if ours[p] != theirs[p]),
        removed=sorted(ours.keys() - theirs.keys()),
        added=sorted(theirs.keys() - ours.keys()),
    )


def undo(db: Session, module: Module) -> None:
    """Go back to the previous working copy (the current one becomes the previous)."""
    kept = previous(db, module)
    if kept is None:
        raise Conflict(
            "There is nothing to undo: this working copy has not been replaced.",
            [FieldError("previous", "no previous working copy")],
        )
    tree = extract_zip(kept.archive)
    folders, cover = [str(f) for f in kept.folders], kept.cover
    _replace(db, module, tree, Replaced("undo", None), folders=folders, cover=cover)


def refuse_unless_module(module: Module, tree: FileTree) -> None:
    """Raise :class:`InvalidInput` naming every problem if ``tree`` is not a valid
    module of ``module``'s kind; each reason is a whole sentence for the user."""
    checked, problems = check_tree(tree, default_name=module.name)
    if checked is not None and checked.manifest.kind != module.kind:
        held = _a(checked.manifest.kind)
        reason = f"The ZIP holds {held}, and this module is {_a(module.kind)}."
        raise InvalidInput(
            f"Nothing was replaced: {reason} Create {held} module to import it.",
            [FieldError("kind", reason)],
        )
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise InvalidInput(
            f"This ZIP is not a valid module ({count}), so nothing was replaced.",
            [FieldError(p.as_field_error().field, _sentence(module, tree, p)) for p in problems],
        )


def _replace(
    db: Session,
    module: Module,
    tree: FileTree,
    what: Replaced,
    *,
    folders: list[str] | None = None,
    cover: str | None = None,
) -> None:
    """Keep the current working copy as the previous one, then write ``tree``; one commit."""
    modules.check_replace(db, module, tree)
    rows = list(db.scalars(select(ModuleFile).where(ModuleFile.module_id == module.id)))
    current = modules.working_tree(db, module)
    explicit = sorted(r.path for r in rows if r.is_folder)
    kept = previous(db, module)
    if kept is None:
        kept = PreviousWorkingCopy(module_id=module.id)
        db.add(kept)
    kept.archive = make_zip(current)
    kept.folders = explicit
    kept.cover = module.cover
    kept.files = len(current)
    kept.size = sum(map(len, current.values()))
    kept.replaced_by = what.replaced_by
    kept.version = what.version
    kept.replaced_at = utcnow()
    if folders is not None:
        module.cover = cover
    modules.replace_tree(db, module, tree, folders=folders or ())


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _sentence(module: Module, tree: FileTree, problem: Problem) -> str:
    """One problem of the module check, as a sentence that names the file and field."""
    reason = problem.reason.rstrip(".")
    if problem.file == MANIFEST_FILE and reason.startswith("no entry file found"):
        if module.kind == "widget":
            return "There is no entry file: a widget starts from index.html."
        starts = ", ".join(
            f"{f} ({r.capitalize()})" for r, f in ENTRY_FILES.items() if r != "widget"
        )
        if MANIFEST_FILE in tree:
            return f"{MANIFEST_FILE}: no entry file found: an integration starts from {starts}."
        return f"There is no entry file: an integration starts from {starts}."
    if problem.file == "config.json" and reason.startswith("missing"):
        return (
            "config.json is missing: every module needs one; it lists the module's "
            "options ([] when it has none)."
        )
    if reason.startswith("missing: "):
        return f"{problem.file} is missing: {reason.removeprefix('missing: ')}."
    where = problem.file if problem.file != MODULE else "The module"
    field = problem.field
    option = _OPTION_RE.match(field)
    if problem.file == "config.json" and option:
        number, key = int(option.group(1)) + 1, option.group(2)
        where += f", option {number}" + (f" “{key}”" if key else "")
    elif field:
        where += f", “{field}”"
    return f"{where}: {reason}."


def _archive_sentence(error: FieldError) -> str:
    """A problem of the archive itself (``archive`` or ``archive:<entry>``) as a sentence."""
    reason = error.reason.rstrip(".")
    if error.field.startswith("archive:"):
        return f"{error.field.removeprefix('archive:')}: {reason}."
    if reason.startswith("not "):
        return f"The file is {reason}."
    return f"The ZIP {reason}." if reason.startswith("contains") else f"The ZIP: {reason}."
