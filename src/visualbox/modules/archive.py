"""ZIP archives of modules: hostile uploads in, deterministic downloads out.

:func:`extract_zip` treats every archive as an attack until proven otherwise: it
never writes to disk, never trusts sizes written in headers (it counts the bytes
it actually inflates and stops at the limit), and refuses path traversal,
absolute paths, links and special entries, duplicates, encryption, too many
entries, too much data and suspicious compression ratios.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib

from visualbox.errors import FieldError, InvalidInput, plural
from visualbox.modules.tree import LIMITS, FileTree, Limits, display_path, is_ignored, path_problem

RATIO_GRACE_BYTES = 1024 * 1024
"""Entries are only judged by compression ratio once they inflate past this size,
so small, very regular files (for example blank-padded JSON) are not refused."""
_CHUNK = 64 * 1024
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def extract_zip(data: bytes, *, limits: Limits = LIMITS, max_ratio: float = 100.0) -> FileTree:
    """Unpack a ZIP archive into a :data:`FileTree`, or raise :class:`InvalidInput`.

    Problems are named ``archive`` (the archive as a whole) or
    ``archive:<entry name>``. When every file sits under one common top folder
    (as in GitHub's ``repo-main/`` downloads) that folder is stripped. Entries
    in :data:`~visualbox.modules.tree.IGNORED_DIRS` (``.git/``, ``__MACOSX/``, ...)
    are skipped.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _invalid("archive", f"not a valid ZIP archive ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > 2 * limits.max_files:
            raise _invalid("archive", f"{len(infos)} entries; at most {2 * limits.max_files}")
        files = _select_entries(infos, limits)
        tree: FileTree = {}
        total = 0
        for path, info in files:
            content = _inflate(
                archive, info, limits, max_ratio, len(data), limits.max_total_bytes - total
            )
            total += len(content)
            tree[path] = content
    return _strip_top_folder(tree)


def _select_entries(
    infos: list[zipfile.ZipInfo], limits: Limits
) -> list[tuple[str, zipfile.ZipInfo]]:
    """Check every entry's name and kind; return the file entries to inflate."""
    problems: list[FieldError] = []
    files: list[tuple[str, zipfile.ZipInfo]] = []
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        where = f"archive:{display_path(name)}"
        if is_ignored(name) or (name.endswith("/") and is_ignored(name + "x")):
            continue  # version control and caches: left out, never unpacked
        reason = path_problem(name, limits)
        if reason:
            problems.append(FieldError(where, reason))
            continue
        path = name.rstrip("/")
        if path in seen:
            problems.append(FieldError(where, "duplicate entry name"))
            continue
        seen.add(path)
        if info.flag_bits & 0x1:
            problems.append(FieldError(where, "encrypted entries are not supported"))
            continue
        mode = info.external_attr >> 16 if info.create_system == 3 else 0
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            problems.append(FieldError(where, "symbolic links are not allowed"))
            continue
        if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            problems.append(
                FieldError(where, "special files (devices, FIFOs, sockets) are not allowed")
            )
            continue
        if info.is_dir() or stat.S_ISDIR(mode) or is_ignored(name):
            continue
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(
                FieldError(
                    where, f"unsupported compression method {info.compress_type}; use deflate"
                )
            )
            continue
        files.append((path, info))
    if len(files) > limits.max_files:
        problems.append(FieldError("archive", f"{len(files)} files; at most {limits.max_files}"))
    folders = {p[:i] for p, _ in files for i in range(len(p)) if p[i] == "/"}
    for path, _ in files:
        if path in folders:
            problems.append(
                FieldError(f"archive:{display_path(path)}", "is both a file and a folder")
            )
    if not files and not problems:
        problems.append(FieldError("archive", "contains no files"))
    if problems:
        raise InvalidInput(
            f"The ZIP file cannot be used ({plural(len(problems), 'problem')}).", problems
        )
    return files


def _inflate(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    limits: Limits,
    max_ratio: float,
    archive_bytes: int,
    budget: int,
) -> bytes:
    """Read one entry, counting real bytes against the file and total limits."""
    where = f"archive:{display_path(info.filename)}"
    compressed = max(1, min(info.compress_size, archive_bytes))
    out = bytearray()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                out += chunk
                if len(out) > limits.max_file_bytes:
                    raise _invalid(where, f"larger than {limits.max_file_bytes} bytes")
                if len(out) > budget:
                    raise _invalid(
                        "archive", f"more than {limits.max_total_bytes} bytes once unpacked"
                    )
                if len(out) > RATIO_GRACE_BYTES and len(out) / compressed > max_ratio:
                    raise _invalid(
                        where, f"compression ratio over {max_ratio:g}:1 (a likely zip bomb)"
                    )
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
    ) as exc:
        raise _invalid(where, f"corrupt entry ({exc})") from None
    return bytes(out)


def _strip_top_folder(tree: FileTree) -> FileTree:
    tops = {path.split("/", 1)[0] for path in tree}
    if len(tops) == 1 and all("/" in path for path in tree):
        return {path.split("/", 1)[1]: content for path, content in tree.items()}
    return tree


def make_zip(tree: FileTree) -> bytes:
    """A ZIP of ``tree``: sorted entries, fixed timestamps and modes, so equal trees
    give byte-identical archives (and equal download hashes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(tree):
            info = zipfile.ZipInfo(path, date_time=_FIXED_TIME)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, tree[path], compresslevel=9)
    return buffer.getvalue()


def _invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field}: {reason}", [FieldError(field, reason)])
