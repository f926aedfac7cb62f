from __future__ import annotations

import json
from typing import Any

import pytest

from visualbox.errors import InvalidInput
from visualbox.modules.manifest import ENTRY_FILES, Manifest, load_manifest, readme_description

README = (
    b"# Weather\n\nShows **today's** weather from [yr.no](https://yr.no).\nUpdated hourly.\n\n..."
)


def tree_with(*files: str, manifest: Any = None, readme: bytes = README) -> dict[str, bytes]:
    tree = dict.fromkeys(files, b"")
    tree["README.md"] = readme
    if manifest is not None:
        tree["visualbox.json"] = (
            manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        )
    return tree


def refused(tree: dict[str, bytes]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        load_manifest(tree, default_name="m")
    return {f.field: f.reason for f in info.value.fields}


@pytest.mark.parametrize(
    ("entry", "kind", "runtime"),
    [
        ("main.py", "integration", "python"),
        ("index.js", "integration", "node"),
        ("main.go", "integration", "go"),
        ("index.html", "widget", None),
    ],
)
def test_original_modules_are_inferred(entry: str, kind: str, runtime: str | None) -> None:
    manifest = load_manifest(tree_with(entry, "config.json"), default_name="weather")
    assert manifest == Manifest(
        name="weather",
        kind=kind,  # type: ignore[arg-type]
        runtime=runtime,  # type: ignore[arg-type]
        description="Shows today's weather from yr.no. Updated hourly.",
    )
    assert manifest.entry_file == entry
    assert ENTRY_FILES[runtime or "widget"] == entry


def test_ambiguity_names_the_files() -> None:
    found = refused(tree_with("main.py", "index.js"))
    assert "main.py and index.js" in found["visualbox.json.kind"]
    found = refused(tree_with("main.go", "index.html"))
    assert "main.go and index.html" in found["visualbox.json.kind"]
    assert (
        "runtime"
        in refused(tree_with("main.py", "main.go", manifest={"kind": "integration"}))[
            "visualbox.json.runtime"
        ]
    )


def test_manifest_resolves_ambiguity() -> None:
    m = load_manifest(
        tree_with("main.py", "index.js", manifest={"runtime": "node"}), default_name="x"
    )
    assert (m.kind, m.runtime) == ("integration", "node")
    m = load_manifest(
        tree_with("main.py", "index.html", manifest={"kind": "widget"}), default_name="x"
    )
    assert (m.kind, m.runtime) == ("widget", None)
    m = load_manifest(
        tree_with("main.py", "index.html", manifest={"kind": "integration"}), default_name="x"
    )
    assert (m.kind, m.runtime) == ("integration", "python")


def test_no_entry_file() -> None:
    assert "no entry file" in refused(tree_with("config.json"))["visualbox.json.kind"]


def test_full_manifest() -> None:
    manifest = {
        "name": "Weather",
        "kind": "integration",
        "runtime": "go",
        "description": "Own words",
        "tags": ["weather", "iot-2"],
        "version": "1.2.3-beta.1",
    }
    m = load_manifest(tree_with("main.go", manifest=manifest), default_name="x")
    assert m == Manifest(
        "Weather", "integration", "go", "Own words", ("weather", "iot-2"), "1.2.3-beta.1"
    )
    assert load_manifest(tree_with(manifest=m.to_json()), default_name="y") == m


def test_sample_is_any_json_up_to_64_kib() -> None:
    sample = {"series": [[1, 2.5], [2, None]], "label": "ü"}
    manifest = {"kind": "widget", "sample": sample}
    m = load_manifest(tree_with("index.html", manifest=manifest), default_name="x")
    assert m.sample == sample and m.to_json()["sample"] == sample
    big = {"kind": "widget", "sample": "x" * (64 * 1024)}
    found = refused(tree_with("index.html", manifest=big))
    assert found["visualbox.json.sample"] == "must be at most 64 KiB of JSON"


def test_every_manifest_problem_is_reported() -> None:
    found = refused(
        tree_with(
            "index.html",
            manifest={
                "name": "",
                "kind": "widget",
                "runtime": "python",
                "tags": ["OK", "a", "a", 3],
                "version": "1.0",
                "descripton": "typo",
            },
        )
    )
    assert set(found) == {
        "visualbox.json.name",
        "visualbox.json.runtime",
        "visualbox.json.tags[0]",
        "visualbox.json.tags[2]",
        "visualbox.json.tags[3]",
        "visualbox.json.version",
        "visualbox.json.descripton",
    }
    assert "unknown key" in found["visualbox.json.descripton"]
    assert "widgets have no runtime" in found["visualbox.json.runtime"]
    assert "duplicate" in found["visualbox.json.tags[2]"]
    assert "semantic version" in found["visualbox.json.version"]


def test_bad_values() -> None:
    found = refused(
        tree_with(
            "main.py",
            manifest={"kind": "app", "runtime": "ruby", "tags": "x", "description": 3},
        )
    )
    assert set(found) == {
        "visualbox.json.kind",
        "visualbox.json.runtime",
        "visualbox.json.tags",
        "visualbox.json.description",
    }
    assert (
        "at most 500"
        in refused(tree_with("main.py", manifest={"description": "x" * 501}))[
            "visualbox.json.description"
        ]
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"{", "not valid JSON"), (b"[]", "JSON object"), (b"\xff", "UTF-8")],
)
def test_unreadable_manifest(raw: bytes, reason: str) -> None:
    assert reason in refused(tree_with("main.py", manifest=raw))["visualbox.json"]


@pytest.mark.parametrize(
    ("readme", "expected"),
    [
        (README, "Shows today's weather from yr.no. Updated hourly."),
        (b"", ""),
        (b"# Only a title\n", ""),
        (b"Title\n=====\n\nFirst *para*.\n", "First para."),
        (
            b"<!-- hidden -->\n![badge](https://x/b.svg)\n# T\n\n> Quoted `code` and __bold__\n",
            "Quoted code and bold",
        ),
        (b"```\ncode\n```\n\n- item one\n- item two\n", "item one item two"),
        (b"<p align=center>Hello <b>there</b></p>\n", "Hello there"),
        (b"x" * 600, "x" * 499 + "\u2026"),
    ],
)
def test_readme_description(readme: bytes, expected: str) -> None:
    assert readme_description(readme) == expected
