"""``visualbox module pull|push|publish``: a module folder and its copy on a server.

A folder pulled from (or pushed to) a server remembers which module it is in
``.visualbox/module.json`` (``{"server", "module"}``); ``--module NAME|ID`` and
``--server URL`` override it. A folder without one is matched by its module's name
among the caller's modules, and ``push``/``publish`` create the module when none has it.
``.visualboxignore`` (``visualbox.modules.ignore``) decides which files travel.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import semver

from visualbox.cli.remote import URL_ENV, BadInput, Remote, RemoteError, file_url
from visualbox.errors import InvalidInput
from visualbox.modules.archive import extract_zip
from visualbox.modules.check import check_tree
from visualbox.modules.ignore import IGNORE_FILE, IgnoreRules
from visualbox.modules.manifest import load_manifest
from visualbox.modules.tree import FileTree, check_tree_limits, display_path, write_dir

LINK_FILE = Path(".visualbox") / "module.json"

server_option = click.option(
    "--server",
    metavar="URL",
    help="The server (default: $VISUALBOX_URL, else the folder's, else the last login).",
)
module_option = click.option(
    "--module",
    "module_ref",
    metavar="NAME|ID",
    help="Which of your modules (default: the folder's, else the one of the same name).",
)
dir_argument = click.argument(
    "directory",
    default=".",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="[DIR]",
)


# -- the local folder ----------------------------------------------------------------------


@dataclass
class LocalModule:
    """The files of a module folder that the ignore rules let through."""

    root: Path
    rules: IgnoreRules
    tree: FileTree = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)


def ignore_rules(root: Path) -> IgnoreRules:
    try:
        text = (root / IGNORE_FILE).read_text("utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {root / IGNORE_FILE}: {exc}") from None
    return IgnoreRules.parse(text)


def read_local(root: Path) -> LocalModule:
    """Read ``root`` as the server would store it; :class:`RemoteError` naming a symbolic
    link, a special file or a limit crossed."""
    local = LocalModule(root, ignore_rules(root))
    problems: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = prefix + entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    if not local.rules.ignores(rel, is_folder=True):
                        local.folders.add(rel)
                        walk(Path(entry.path), rel + "/")
                elif local.rules.ignores(rel):
                    continue
                elif stat.S_ISLNK(mode):
                    problems.append(f"{display_path(rel)}: symbolic links are not allowed")
                elif not stat.S_ISREG(mode):
                    problems.append(f"{display_path(rel)}: special files are not allowed")
                else:
                    with open(entry.path, "rb") as fh:
                        local.tree[rel] = fh.read()

    walk(root, "")
    problems += [f"{e.field}: {e.reason}" for e in check_tree_limits(local.tree)]
    if problems:
        raise BadInput(f"cannot upload {root}: " + "; ".join(problems))
    return local


def module_name(root: Path, tree: FileTree) -> str:
    try:
        return load_manifest(tree, default_name=root.resolve().name).name
    except InvalidInput:
        return root.resolve().name


def read_link(root: Path) -> dict[str, str]:
    try:
        data = json.loads((root / LINK_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ("server", "module") and isinstance(v, str)}


def write_link(root: Path, server: str, module_id: str) -> None:
    path = root / LINK_FILE
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"server": server, "module": module_id}, indent=2) + "\n")


# -- the module on the server ----------------------------------------------------------------


def find_module(remote: Remote, ref: str) -> dict[str, Any] | None:
    """One of the caller's modules by id, else by name; ``None`` when none has it."""
    mine: list[dict[str, Any]] = remote.json("GET", "/api/modules")
    for module in mine:
        if module["id"] == ref:
            return module
    named = [m for m in mine if m["name"] == ref] or [
        m for m in mine if m["name"].casefold() == ref.casefold()
    ]
    if len(named) > 1:
        ids = ", ".join(m["id"] for m in named)
        raise RemoteError(f"{len(named)} of your modules are named {ref!r}: use an id ({ids})")
    return named[0] if named else None


def resolve(
    root: Path, server: str | None, module_ref: str | None, *, create: bool
) -> tuple[Remote, dict[str, Any]]:
    """The server and module that ``root`` goes to (see the module's docstring)."""
    link = read_link(root)
    if server is None and module_ref is None and not os.environ.get(URL_ENV):
        server = link.get("server")  # --server, then VISUALBOX_URL, then the folder's
    remote = Remote.connect(server)
    try:
        ref = module_ref or (link.get("module") if link.get("server") == remote.url else None)
        if ref:
            module = find_module(remote, ref)
            if module is None:
                raise BadInput(f"{remote.url} has no module {ref!r} of yours")
            return remote, module
        local = read_local(root)
        name = module_name(root, local.tree)
        module = find_module(remote, name)
        if module is None:
            if not create:
                raise BadInput(f"{remote.url} has no module named {name!r} of yours")
            module = _create(remote, root, name, local.tree)
        return remote, module
    except BaseException:
        remote.close()
        raise


def _create(remote: Remote, root: Path, name: str, tree: FileTree) -> dict[str, Any]:
    try:
        manifest = load_manifest(tree, default_name=name)
    except InvalidInput as exc:
        problems = "; ".join(f"{e.field}: {e.reason}" for e in exc.fields)
        raise BadInput(f"cannot create a module from {root}: {problems}") from None
    body = {"name": name, "kind": manifest.kind, "runtime": manifest.runtime, "template": False}
    module: dict[str, Any] = remote.json("POST", "/api/modules", json_body=body)
    click.echo(f"Created {manifest.kind} {name!r} on {remote.url} (id {module['id']})")
    return module


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def push_tree(remote: Remote, module_id: str, local: LocalModule) -> Changes:
    """Make the working copy match ``local`` through the file routes: only what differs
    travels. Paths the ignore rules leave out are never removed from the server."""
    entries: list[dict[str, Any]] = remote.json("GET", f"/api/modules/{module_id}/files")
    remote_files = {e["path"]: e["sha256"] for e in entries if not e["is_folder"]}
    remote_folders = {e["path"] for e in entries if e["is_folder"]}
    changes = Changes()
    gone_folders = sorted(
        f
        for f in remote_folders
        if f not in local.folders and not local.rules.ignores_path(f + "/x")
    )
    for folder in gone_folders:
        if any(folder.startswith(g + "/") for g in gone_folders):
            continue
        remote.request("DELETE", file_url(module_id, folder), expect=(204, 404))
    for path in sorted(remote_files):
        if path in local.tree or local.rules.ignores_path(path):
            continue
        changes.removed.append(path)
        if not any(path.startswith(g + "/") for g in gone_folders):
            remote.request("DELETE", file_url(module_id, path), expect=(204, 404))
    # The manifest and the config schema last: the server checks them against the rest.
    last = ("config.json", "visualbox.json")
    for path in sorted(local.tree, key=lambda p: (p in last, p)):
        content = local.tree[path]
        digest = _sha256(content)
        if remote_files.get(path) == digest:
            continue
        (changes.changed if path in remote_files else changes.added).append(path)
        remote.request("PUT", file_url(module_id, path), content=content)
    kept = {f for f in remote_folders if f not in gone_folders}
    for folder in sorted(local.folders):
        if folder not in kept and not any(p.startswith(folder + "/") for p in local.tree):
            remote.request("POST", f"/api/modules/{module_id}/folders", json_body={"path": folder})
    return changes


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def print_changes(changes: Changes, remote: Remote, module: dict[str, Any]) -> None:
    for word, paths in (("added", changes.added), ("changed", changes.changed)):
        for path in paths:
            click.echo(f"  {word}: {display_path(path)}")
    for path in changes.removed:
        click.echo(f"  removed: {display_path(path)}")
    if changes:
        counts = f"{len(changes.added)} added, {len(changes.changed)} changed, "
        counts += f"{len(changes.removed)} removed"
        click.echo(f"Pushed {module['name']!r} to {remote.url}: {counts}")
    else:
        click.echo(f"Nothing to push: {module['name']!r} on {remote.url} is up to date")


# -- commands --------------------------------------------------------------------------------


@click.command()
@click.argument("ref", metavar="NAME|ID")
@click.argument("directory", required=False, type=click.Path(path_type=Path), metavar="[DIR]")
@click.option(
    "--version", help="A published version (X.Y.Z or latest) instead of the working copy."
)
@click.option("--force", is_flag=True, help="Write into a non-empty folder (making it match).")
@server_option
def pull(
    ref: str, directory: Path | None, version: str | None, force: bool, server: str | None
) -> None:
    """Download a module's working copy (or a published version) into DIR."""
    with Remote.connect(server) as remote:
        module = find_module(remote, ref)
        if module is None and version is None:
            raise BadInput(f"{remote.url} has no module {ref!r} of yours")
        module_id = module["id"] if module else ref
        target = directory or Path(_folder_name(module["name"] if module else ref))
        if target.exists() and not target.is_dir():
            raise BadInput(f"{target} is a file, not a folder")
        if target.exists() and any(target.iterdir()) and not force:
            raise BadInput(
                f"{target} is not empty: choose a new or empty folder, or pass --force",
            )
        if version is None:
            tree, folders = _working_copy(remote, module_id)
            what = "the working copy"
        else:
            tree, folders = _version(remote, module_id, version), set()
            what = f"version {version}"
        removed = _replace_folder(target, tree, folders)
        if module is not None:
            write_link(target, remote.url, module_id)
    name = module["name"] if module else module_id
    click.echo(f"Pulled {what} of {name!r} into {target}: {len(tree)} file(s)")
    for path in removed:
        click.echo(f"  removed: {display_path(path)}")


def _folder_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "module"


def _working_copy(remote: Remote, module_id: str) -> tuple[FileTree, set[str]]:
    entries: list[dict[str, Any]] = remote.json("GET", f"/api/modules/{module_id}/files")
    tree = {
        e["path"]: remote.request("GET", file_url(module_id, e["path"])).content
        for e in entries
        if not e["is_folder"]
    }
    return tree, {e["path"] for e in entries if e["is_folder"]}


def _version(remote: Remote, module_id: str, version: str) -> FileTree:
    path = f"/api/registry/modules/{quote(module_id, safe='')}/versions/{quote(version)}/archive"
    data = remote.request("GET", path).content
    try:
        return extract_zip(data)
    except InvalidInput as exc:
        raise RemoteError(f"the archive of {version} cannot be unpacked: {exc.message}") from None


def _replace_folder(target: Path, tree: FileTree, folders: set[str]) -> list[str]:
    """Write ``tree`` into ``target``; remove the files there that are not in it (but those
    the ignore rules leave out, such as ``.git``). Returns the removed paths."""
    removed: list[str] = []
    if target.exists():
        existing = read_local(target)
        for path in sorted(existing.tree):
            if path not in tree and path != str(LINK_FILE):
                (target / path).unlink()
                removed.append(path)
        for folder in sorted(existing.folders, reverse=True):
            if folder not in folders and not any(p.startswith(folder + "/") for p in tree):
                shutil.rmtree(target / folder, ignore_errors=True)
    try:
        write_dir(tree, target)
    except InvalidInput as exc:
        raise RemoteError(f"cannot write into {target}: {exc.message}") from None
    for folder in folders:
        (target / folder).mkdir(parents=True, exist_ok=True)
    return removed


@click.command()
@dir_argument
@server_option
@module_option
def push(directory: Path, server: str | None, module_ref: str | None) -> None:
    """Upload the module in DIR to its working copy; print what changed."""
    remote, module = resolve(directory, server, module_ref, create=True)
    with remote:
        changes = push_tree(remote, module["id"], read_local(directory))
        write_link(directory, remote.url, module["id"])
        print_changes(changes, remote, module)


@click.command()
@dir_argument
@click.option("--version", required=True, help="The new version, X.Y.Z (semver).")
@click.option("--changelog", default="", help="What changed in this version.")
@server_option
@module_option
def publish(
    directory: Path, version: str, changelog: str, server: str | None, module_ref: str | None
) -> None:
    """Check the module in DIR, push it and publish it as VERSION."""
    if not semver.Version.is_valid(version):
        raise BadInput(f"--version {version!r} is not a version like 1.2.0 (semver)")
    local = read_local(directory)
    checked, problems = check_tree(local.tree, default_name=directory.resolve().name)
    if checked is None:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise RemoteError(f"not published: {len(problems)} problem(s); nothing was uploaded")
    remote, module = resolve(directory, server, module_ref, create=True)
    with remote:
        highest = _highest_version(remote, module["id"])
        if highest is not None and semver.Version.parse(version) <= highest:
            raise BadInput(
                f"version {version} is not higher than {highest}, the highest version of "
                f"{module['name']!r} published so far (yanked ones count): choose a higher one; "
                "nothing was uploaded",
            )
        changes = push_tree(remote, module["id"], local)
        write_link(directory, remote.url, module["id"])
        print_changes(changes, remote, module)
        body = {"version": version, "changelog": changelog}
        remote.request("POST", f"/api/modules/{module['id']}/versions", json_body=body)
    click.echo(f"Published {module['name']!r} {version} on {remote.url}")


def _highest_version(remote: Remote, module_id: str) -> semver.Version | None:
    response = remote.request("GET", f"/api/registry/modules/{module_id}", expect=(200, 404))
    if response.status_code == 404:
        return None
    versions = [semver.Version.parse(v["version"]) for v in response.json()["versions"]]
    return max(versions, default=None)
