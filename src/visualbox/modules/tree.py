"""A module's files in memory (:data:`FileTree`), its limits, and safe paths.

A module travels as a :data:`FileTree`, a dict of ``'/'``-separated relative path
to bytes. Every path in one has passed :func:`normalize_path`; every tree that
reaches the server, the runtime or the CLI has passed :func:`check_tree_limits`.
:func:`read_dir` and :func:`write_dir` are the only functions of this package that
touch the file system.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from visualbox.errors import FieldError, InvalidInput, plural

FileTree = dict[str, bytes]


@dataclass(frozen=True)
class Limits:
    """Size limits of one module. ``docs/modules.md`` documents them."""

    max_files: int = 1000
    max_file_bytes: int = 5 * 1024 * 1024
    max_total_bytes: int = 20 * 1024 * 1024
    max_path_len: int = 255
    """In UTF-8 bytes, for the whole relative path."""


LIMITS = Limits()

IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "__MACOSX", ".visualbox"})
"""Folders left out when reading a folder or an archive: version control, caches and the
CLI's own state (``.visualbox/``: the module link, test screenshots)."""

_VCS_DIRS = frozenset({".git", ".hg", ".svn"})
"""Refused in paths given to us (their hooks and config act on whoever unpacks them)."""
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE_RE = re.compile(r"[A-Za-z]:")


def normalize_path(path: str, *, field: str = "path", limits: Limits = LIMITS) -> str:
    """Return ``path`` if it is a safe relative module path; raise :class:`InvalidInput`.

    Safe means: ``'/'``-separated, relative, no ``.``/``..``/empty segments, no
    backslash, no control characters, no drive letter, at most
    ``LIMITS.max_path_len`` UTF-8 bytes. A single trailing ``/`` (a folder entry in
    an archive) is dropped.
    """
    reason = path_problem(path, limits)
    if reason:
        raise InvalidInput(f"{field}: {reason}", [FieldError(field, reason)])
    return path[:-1] if path.endswith("/") else path


def path_problem(path: str, limits: Limits = LIMITS) -> str | None:
    """Why ``path`` is not a safe module path, or ``None`` (see :func:`normalize_path`)."""
    if not isinstance(path, str) or not path:
        return "path is empty"
    if _CONTROL_RE.search(path):
        return "path contains a control character"
    if "\\" in path:
        return "path contains a backslash; use '/' to separate folders"
    if path.startswith("/"):
        return "path is absolute; module paths are relative"
    if len(path.encode("utf-8", "surrogatepass")) > limits.max_path_len:
        return f"path is longer than {limits.max_path_len} bytes"
    segments = (path[:-1] if path.endswith("/") else path).split("/")
    if _DRIVE_RE.fullmatch(segments[0]):
        return "path starts with a drive letter; module paths are relative"
    for segment in segments:
        if segment.lower() in _VCS_DIRS:
            return f"path is inside a version-control folder ({segment}); leave those out"
        if segment == "..":
            return "path goes up with '..'; it must stay inside the module"
        if segment == ".":
            return "path contains a '.' segment"
        if not segment:
            return "path contains an empty segment ('//')"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "path is not valid UTF-8"
    if not unicodedata.is_normalized("NFC", path):
        return "path is not in Unicode NFC form (two spellings of the same name)"
    return None


def is_ignored(path: str) -> bool:
    """Whether ``path`` sits inside one of :data:`IGNORED_DIRS`."""
    return any(segment in IGNORED_DIRS for segment in path.rstrip("/").split("/")[:-1])


def check_tree_limits(tree: FileTree, *, limits: Limits = LIMITS) -> list[FieldError]:
    """Every way ``tree`` breaks the path rules or :data:`LIMITS` (empty when fine).

    Per-file problems are named by the file's path; tree-wide ones by ``files``.
    """
    problems: list[FieldError] = []
    if len(tree) > limits.max_files:
        problems.append(
            FieldError("files", f"{len(tree)} files; at most {limits.max_files} allowed")
        )
    total = 0
    for path in sorted(tree):
        reason = path_problem(path, limits)
        if reason is None and path.endswith("/"):
            reason = "path ends with '/'; files need a name"
        if reason:
            problems.append(FieldError(display_path(path), reason))
        size = len(tree[path])
        total += size
        if size > limits.max_file_bytes:
            problems.append(
                FieldError(
                    display_path(path), f"{size} bytes; at most {limits.max_file_bytes} allowed"
                )
            )
    if total > limits.max_total_bytes:
        problems.append(
            FieldError("files", f"{total} bytes in all; at most {limits.max_total_bytes} allowed")
        )
    folded: dict[str, str] = {}
    for path in sorted(tree):
        other = folded.setdefault(path.casefold(), path)
        if other != path:
            problems.append(
                FieldError(display_path(path), f"differs from {other} only in letter case")
            )
    paths = set(tree)
    for path in sorted(tree):
        parts = path.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in paths:
                problems.append(
                    FieldError(display_path(path), f"{'/'.join(parts[:i])} is a file, not a folder")
                )
                break
    return problems


def content_hash(tree: FileTree) -> str:
    """SHA-256 hex of the tree: stable across runs, independent of dict order.

    Each (path, content) pair is framed with its lengths, so no two different
    trees hash the same input.
    """
    digest = hashlib.sha256(b"visualbox-tree-v1\0")
    for path in sorted(tree):
        name = path.encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(len(tree[path]).to_bytes(8, "big"))
        digest.update(tree[path])
    return digest.hexdigest()


def read_dir(root: Path, *, limits: Limits = LIMITS) -> FileTree:
    """Read the folder ``root`` into a :data:`FileTree`.

    Refuses (with :class:`InvalidInput` naming the path) symbolic links, special
    files (sockets, FIFOs, devices), bad names and anything over :data:`LIMITS`;
    stops reading as soon as a limit is crossed. Skips :data:`IGNORED_DIRS`.
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInput(f"{root}: not a folder", [FieldError(str(root), "not a folder")])
    tree: FileTree = {}
    problems: list[FieldError] = []
    total = 0

    def walk(folder: Path, prefix: str) -> None:
        nonlocal total
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = prefix + entry.name
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    if entry.name not in IGNORED_DIRS:
                        walk(Path(entry.path), rel + "/")
                    continue
                if stat.S_ISLNK(info.st_mode):
                    problems.append(FieldError(display_path(rel), "symbolic links are not allowed"))
                    continue
                if not stat.S_ISREG(info.st_mode):
                    problems.append(
                        FieldError(
                            display_path(rel),
                            "special files (sockets, FIFOs, devices) are not allowed",
                        )
                    )
                    continue
                reason = path_problem(rel, limits)
                if reason:
                    problems.append(FieldError(display_path(rel), reason))
                    continue
                if len(tree) >= limits.max_files:
                    raise _OverLimit("files", f"more than {limits.max_files} files")
                content = _read_file(Path(entry.path), rel, limits)
                total += len(content)
                if total > limits.max_total_bytes:
                    raise _OverLimit("files", f"more than {limits.max_total_bytes} bytes in all")
                tree[rel] = content

    try:
        walk(root, "")
    except _OverLimit as exc:
        problems.append(FieldError(exc.field, exc.reason))
    if problems:
        raise InvalidInput(
            f"{root}: {plural(len(problems), 'problem')} reading the module", problems
        )
    return tree


class _OverLimit(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def _read_file(path: Path, rel: str, limits: Limits) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise _OverLimit(display_path(rel), "changed into a special file while reading")
        content = fh.read(limits.max_file_bytes + 1)
    if len(content) > limits.max_file_bytes:
        raise _OverLimit(display_path(rel), f"larger than {limits.max_file_bytes} bytes")
    return content


def write_dir(tree: FileTree, root: Path) -> None:
    """Write ``tree`` under ``root`` (created if missing), refusing unsafe paths.

    Every path is checked with :func:`normalize_path` before anything is written,
    and files are opened with ``O_NOFOLLOW`` so a symlink planted in ``root``
    cannot redirect a write.
    """
    root = Path(root)
    paths = [normalize_path(p, field=p) for p in tree]
    root.mkdir(parents=True, exist_ok=True)
    base = root.resolve()
    for path in paths:
        folder = base
        for part in path.split("/")[:-1]:
            folder = folder / part
            if folder.is_symlink():
                raise InvalidInput(
                    f"{path}: escapes {root}", [FieldError(path, "escapes the module (symlink)")]
                )
            folder.mkdir(exist_ok=True)
        target = base / path
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(target, flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(tree[path])


def display_path(path: str) -> str:
    """``path`` with control characters escaped, safe to print in a message."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", path)
