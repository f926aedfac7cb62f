from __future__ import annotations

import io
import stat
import struct
import zipfile

import pytest

from visualbox.errors import InvalidInput
from visualbox.modules.archive import extract_zip, make_zip
from visualbox.modules.tree import Limits


def zip_of(
    *entries: tuple[str | zipfile.ZipInfo, bytes], method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def refused(data: bytes, **kwargs: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        extract_zip(data, **kwargs)  # type: ignore[arg-type]
    return {f.field: f.reason for f in info.value.fields}


def test_plain_archive() -> None:
    data = zip_of(("main.py", b"print(1)"), ("lib/", b""), ("lib/a.py", b"x"), ("README.md", b"#"))
    assert extract_zip(data) == {"main.py": b"print(1)", "lib/a.py": b"x", "README.md": b"#"}


def test_common_top_folder_is_stripped() -> None:
    data = zip_of(("repo-main/", b""), ("repo-main/main.py", b"1"), ("repo-main/sub/x", b"2"))
    assert extract_zip(data) == {"main.py": b"1", "sub/x": b"2"}
    # two top folders, or a file at the top: kept as is
    assert set(extract_zip(zip_of(("a/x", b""), ("b/y", b"")))) == {"a/x", "b/y"}
    assert set(extract_zip(zip_of(("a/x", b""), ("y", b"")))) == {"a/x", "y"}


def test_ignored_folders_are_skipped() -> None:
    data = zip_of(("m/main.py", b"1"), ("__MACOSX/m/._main.py", b"junk"), ("m/.git/HEAD", b"ref"))
    assert extract_zip(data) == {"main.py": b"1"}


def test_not_a_zip() -> None:
    assert "not a valid ZIP" in refused(b"this is not a zip")["archive"]
    assert "not a valid ZIP" in refused(b"")["archive"]


def test_empty_archive_and_folders_only() -> None:
    assert refused(zip_of())["archive"] == "contains no files"
    assert refused(zip_of(("a/", b""), ("a/b/", b"")))["archive"] == "contains no files"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", ".."),
        ("a/../../x", ".."),
        ("/etc/x", "absolute"),
        ("C:/x", "drive letter"),
        ("a\\..\\x", "backslash"),
    ],
)
def test_traversal_and_absolute_names(name: str, reason: str) -> None:
    data = zip_of(("ok.txt", b""), (zipfile.ZipInfo(name), b"x"))
    found = refused(data)
    assert list(found) == [f"archive:{name}"]
    assert reason in found[f"archive:{name}"]


def unix_entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def test_symlink_and_special_entries() -> None:
    data = zip_of(
        ("ok.txt", b""),
        (unix_entry("link", stat.S_IFLNK | 0o777), b"/etc/passwd"),
        (unix_entry("fifo", stat.S_IFIFO | 0o644), b""),
        (unix_entry("dev", stat.S_IFCHR | 0o644), b""),
    )
    found = refused(data)
    assert found["archive:link"] == "symbolic links are not allowed"
    assert "special files" in found["archive:fifo"]
    assert "special files" in found["archive:dev"]
    # regular files with unix modes are fine
    assert extract_zip(zip_of((unix_entry("run.sh", stat.S_IFREG | 0o755), b"x"))) == {
        "run.sh": b"x"
    }


def test_duplicate_names() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = zip_of(("a.txt", b"1"), ("a.txt", b"2"))
    assert refused(data) == {"archive:a.txt": "duplicate entry name"}


def test_file_and_folder_with_the_same_name() -> None:
    assert refused(zip_of(("a", b"1"), ("a/b", b"2"))) == {
        "archive:a": "is both a file and a folder"
    }


def test_too_many_entries() -> None:
    limits = Limits(max_files=5)
    data = zip_of(*((f"f{i}", b"") for i in range(6)))
    assert "6 files; at most 5" in refused(data, limits=limits)["archive"]
    data = zip_of(*((f"d{i}/", b"") for i in range(11)), ("x", b""))
    assert "12 entries" in refused(data, limits=limits)["archive"]
    assert len(extract_zip(zip_of(*((f"f{i}", b"") for i in range(5))), limits=limits)) == 5


def test_zip_bomb_by_total_size() -> None:
    limits = Limits(max_file_bytes=1000, max_total_bytes=2500)
    data = zip_of(*((f"f{i}", b"a" * 1000) for i in range(3)))
    assert "more than 2500 bytes once unpacked" in refused(data, limits=limits)["archive"]


def test_zip_bomb_by_file_size() -> None:
    limits = Limits(max_file_bytes=1000)
    assert (
        "larger than 1000 bytes"
        in refused(zip_of(("big", b"a" * 1001)), limits=limits)["archive:big"]
    )


def test_header_sizes_are_not_trusted() -> None:
    """Headers that understate or overstate an entry's size change nothing: only the
    bytes really inflated count."""
    limits = Limits(max_file_bytes=2_000_000)
    data = bytearray(zip_of(("liar", b"\0" * 3_000_000)))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)  # uncompressed size in the central directory
    struct.pack_into("<I", data, 22, 10)  # and in the local header
    found = refused(bytes(data), limits=limits, max_ratio=1e9)
    assert "corrupt entry" in found["archive:liar"]  # stops at the claimed size: CRC fails
    data = bytearray(zip_of(("liar", b"\0" * 3_000_000)))
    struct.pack_into("<I", data, data.rfind(b"PK\x01\x02") + 24, 0xFFFFFFF0)  # claims 4 GiB
    assert (
        "larger than 2000000 bytes"
        in refused(bytes(data), limits=limits, max_ratio=1e9)["archive:liar"]
    )


def test_zip_bomb_by_ratio() -> None:
    data = zip_of(("bomb", b"\0" * 4_000_000))  # ~1000:1
    assert "compression ratio" in refused(data)["archive:bomb"]
    assert extract_zip(data, max_ratio=10_000) == {"bomb": b"\0" * 4_000_000}
    # small regular files are not judged by ratio
    assert extract_zip(zip_of(("pad.json", b" " * 100_000)))["pad.json"] == b" " * 100_000


def test_encrypted_entries() -> None:
    data = bytearray(zip_of(("secret.txt", b"x"), method=zipfile.ZIP_STORED))
    struct.pack_into("<H", data, 6, 1)  # local header flag bits: encrypted
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 1)
    assert refused(bytes(data)) == {"archive:secret.txt": "encrypted entries are not supported"}


def test_corrupt_entry() -> None:
    data = bytearray(zip_of(("a.txt", b"hello world" * 10), method=zipfile.ZIP_STORED))
    data[30 + len("a.txt")] ^= 0xFF  # flip a content byte: CRC mismatch
    assert "corrupt" in refused(bytes(data))["archive:a.txt"]


def test_make_zip_is_deterministic_and_round_trips() -> None:
    tree = {"b.txt": b"2", "a/x.py": b"print()", "README.md": b"# hi\n"}
    first = make_zip(tree)
    assert first == make_zip(dict(reversed(list(tree.items()))))
    assert extract_zip(first) == tree
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == sorted(tree)
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
