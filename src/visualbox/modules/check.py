"""Check a whole module: structure, manifest, ``config.json`` and limits, all at once.

:func:`check_tree` never runs the module's code; it reports every problem it can
find as a :class:`Problem` naming the file, the field and the reason, so
``visualbox module check`` and the server's upload answer can show all of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from visualbox.errors import FieldError, InvalidInput
from visualbox.modules.archive import extract_zip
from visualbox.modules.config_schema import ConfigSchema, parse_config_schema
from visualbox.modules.manifest import MANIFEST_FILE, Manifest, load_manifest
from visualbox.modules.tree import FileTree, check_tree_limits, read_dir

MODULE = "."
"""The ``file`` of problems about the module as a whole (too many files, ...)."""
_GO_MODULE_RE = re.compile(r"^\s*module\s+\S+", re.M)
_GO_VERSION_RE = re.compile(r"^\s*go\s+(\S+)", re.M)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a module. ``field`` is empty when the whole file is at fault."""

    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        if not self.field:
            return f"{self.file}: {self.reason}"
        return f"{self.file}: {self.field}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "field": self.field, "reason": self.reason}

    def as_field_error(self) -> FieldError:
        """The API's shape: one field path such as ``config.json[2].default``."""
        if not self.field:
            return FieldError(self.file, self.reason)
        if self.file == MODULE:
            return FieldError(self.field, self.reason)
        joiner = "" if self.field.startswith("[") else "."
        return FieldError(f"{self.file}{joiner}{self.field}", self.reason)


@dataclass(frozen=True)
class CheckedModule:
    """A module that passed :func:`check_tree`: safe to store, prepare and run."""

    manifest: Manifest
    schema: ConfigSchema
    tree: FileTree


def check_tree(
    tree: FileTree, *, default_name: str = "module"
) -> tuple[CheckedModule | None, list[Problem]]:
    """Check a module held in memory. Returns the module, or ``None`` and every problem."""
    problems = [_from_field_error(e) for e in check_tree_limits(tree)]

    if "README.md" not in tree:
        problems.append(Problem("README.md", "", "missing: every module needs a README.md"))
    else:
        problems += _text_problems(tree, "README.md")

    schema: ConfigSchema | None = None
    if "config.json" not in tree:
        problems.append(
            Problem("config.json", "", "missing: every module needs a config.json ([] for none)")
        )
    else:
        try:
            schema = parse_config_schema(tree["config.json"])
        except InvalidInput as exc:
            problems += [_from_field_error(e) for e in exc.fields]

    manifest: Manifest | None = None
    try:
        manifest = load_manifest(tree, default_name=default_name)
    except InvalidInput as exc:
        problems += [_from_field_error(e) for e in exc.fields]
    if manifest is not None:
        problems += _entry_problems(tree, manifest)

    if problems or manifest is None or schema is None:
        return None, problems
    return CheckedModule(manifest=manifest, schema=schema, tree=tree), []


def check_dir(root: Path) -> tuple[CheckedModule | None, list[Problem]]:
    """Read the folder ``root`` (see :func:`~visualbox.modules.tree.read_dir`) and check it.

    The folder's name is the module's name unless ``visualbox.json`` says otherwise.
    """
    try:
        tree = read_dir(root)
    except InvalidInput as exc:
        return None, [_from_field_error(e) for e in exc.fields]
    return check_tree(tree, default_name=Path(root).resolve().name or "module")


def check_zip(
    data: bytes, *, default_name: str = "module"
) -> tuple[CheckedModule | None, list[Problem]]:
    """Unpack a ZIP upload (see :func:`~visualbox.modules.archive.extract_zip`) and check it.

    Problems with the archive itself have ``file`` ``archive`` or ``archive:<entry>``.
    """
    try:
        tree = extract_zip(data)
    except InvalidInput as exc:
        return None, [_from_field_error(e) for e in exc.fields]
    return check_tree(tree, default_name=default_name)


def _entry_problems(tree: FileTree, manifest: Manifest) -> list[Problem]:
    entry = manifest.entry_file
    if entry not in tree:
        what = f"a {manifest.runtime} integration" if manifest.runtime else "a widget"
        return [Problem(entry, "", f"missing: {what} starts from {entry}")]
    problems = _text_problems(tree, entry)
    if manifest.runtime == "node" and "package.json" in tree:
        try:
            package = json.loads(tree["package.json"].decode("utf-8-sig"))
        except UnicodeDecodeError:
            problems.append(Problem("package.json", "", "is not UTF-8 text"))
        except json.JSONDecodeError as exc:
            problems.append(
                Problem(
                    "package.json",
                    "",
                    f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                )
            )
        else:
            if not isinstance(package, dict):
                problems.append(Problem("package.json", "", "must be a JSON object"))
    if manifest.runtime == "python" and "requirements.txt" in tree:
        problems += _text_problems(tree, "requirements.txt")
    if manifest.runtime == "go" and "go.mod" in tree:
        text_problems = _text_problems(tree, "go.mod")
        problems += text_problems
        if not text_problems:
            text = tree["go.mod"].decode("utf-8")
            if not _GO_MODULE_RE.search(text):
                problems.append(Problem("go.mod", "module", 'needs a "module <path>" line'))
            version = _GO_VERSION_RE.search(text)
            if version and not re.fullmatch(r"1\.\d+(\.\d+)?", version.group(1)):
                problems.append(
                    Problem("go.mod", "go", f'"{version.group(1)}" is not a Go version like 1.19')
                )
    return problems


def _text_problems(tree: FileTree, path: str) -> list[Problem]:
    try:
        tree[path].decode("utf-8")
    except UnicodeDecodeError as exc:
        return [Problem(path, "", f"is not UTF-8 text (byte {exc.start})")]
    return []


def _from_field_error(error: FieldError) -> Problem:
    """Split a field path such as ``config.json[2].default`` into file and field."""
    for file in ("config.json", MANIFEST_FILE):
        if error.field == file or error.field.startswith((file + ".", file + "[")):
            return Problem(file, error.field[len(file) :].lstrip("."), error.reason)
    if error.field == "files":
        return Problem(MODULE, "files", error.reason)
    return Problem(error.field, "", error.reason)
