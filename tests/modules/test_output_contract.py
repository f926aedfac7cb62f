"""Output contracts: an integration's declared output schema, a widget's accepted shapes,
how ``module check`` judges them, and how outputs are checked against them."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from visualbox.modules.check import Problem, check_tree
from visualbox.modules.output_contract import (
    SHAPES,
    OutputCheck,
    SchemaUnusable,
    compile_schema,
    mismatch,
    pointer,
)
from visualbox.modules.tree import FileTree
from visualbox.schemas.registry import ManifestPublic, Shape
from visualbox.services.builtin import BUILTIN_DIR

READING = {
    "type": "object",
    "required": ["temperature"],
    "properties": {"temperature": {"type": "number"}, "rows": {"type": "array"}},
}


def integration(manifest: dict[str, Any], **files: str) -> FileTree:
    tree = {
        "main.py": b"import visualbox\n",
        "config.json": b"[]",
        "README.md": b"# Probe\n\nA probe.\n",
        "visualbox.json": json.dumps({"kind": "integration", **manifest}).encode(),
    }
    tree.update({name: text.encode() for name, text in files.items()})
    return tree


def widget(manifest: dict[str, Any]) -> FileTree:
    return {
        "index.html": b"<!doctype html>",
        "config.json": b"[]",
        "README.md": b"# Dial\n\nA dial.\n",
        "visualbox.json": json.dumps({"kind": "widget", **manifest}).encode(),
    }


def problems_of(tree: FileTree) -> list[Problem]:
    checked, problems = check_tree(tree)
    assert checked is None
    return problems


def test_an_inline_schema_and_a_schema_file_are_both_read() -> None:
    checked, problems = check_tree(integration({"output": READING}))
    assert not problems and checked is not None
    assert checked.manifest.output == READING
    as_file = integration({"output": "out/shape.json"}, **{"out/shape.json": json.dumps(READING)})
    checked, problems = check_tree(as_file)
    assert not problems and checked is not None
    # The published manifest holds the schema itself, whichever way it was declared.
    assert checked.manifest.to_json()["output"] == READING
    assert ManifestPublic.model_validate(checked.manifest.to_json()).output == READING


def test_a_bad_schema_file_is_refused_naming_the_file_and_where() -> None:
    bad = {**READING, "properties": {"temperature": {"type": "nmber"}}}
    problems = problems_of(integration({"output": "shape.json"}, **{"shape.json": json.dumps(bad)}))
    assert len(problems) == 1
    assert problems[0].file == "shape.json"
    assert problems[0].reason.startswith("is not a valid JSON Schema: at /properties/temperature")
    assert str(problems[0]).startswith("shape.json: is not a valid JSON Schema")


@pytest.mark.parametrize(
    ("manifest", "files", "file", "field", "reason"),
    [
        ({"output": {"minimum": "ten"}}, {}, "visualbox.json", "output", "at /minimum"),
        ({"output": "gone.json"}, {}, "visualbox.json", "output", '"gone.json", which is not'),
        ({"output": "../x.json"}, {}, "visualbox.json", "output", "not a file of the module"),
        ({"output": 5}, {}, "visualbox.json", "output", "must be a JSON Schema"),
        ({"output": "s.json"}, {"s.json": "{nope"}, "s.json", "", "is not valid JSON"),
        ({"output": "s.json"}, {"s.json": "[1]"}, "s.json", "", "must be a JSON Schema"),
        (
            {"output": {"$ref": "http://127.0.0.1:9/shape.json"}},
            {},
            "visualbox.json",
            "output",
            "must be self-contained",
        ),
        (
            {"output": {"$schema": "http://127.0.0.1:9/meta", "type": "object"}},
            {},
            "visualbox.json",
            "output",
            "Unknown meta-schema",
        ),
        ({"accepts": ["number"]}, {}, "visualbox.json", "accepts", "only widgets"),
    ],
)
def test_check_names_the_file_the_field_and_the_reason(
    manifest: dict[str, Any], files: dict[str, str], file: str, field: str, reason: str
) -> None:
    problems = problems_of(integration(manifest, **files))
    assert [(p.file, p.field) for p in problems] == [(file, field)], problems
    assert reason in problems[0].reason


def test_a_huge_schema_is_refused() -> None:
    huge = {"enum": ["x" * 1000] * 70}
    problems = problems_of(integration({"output": huge}))
    assert problems[0].field == "output" and "at most 64 KiB" in problems[0].reason


def test_a_widget_declares_the_shapes_it_draws() -> None:
    checked, problems = check_tree(widget({"accepts": "number"}))
    assert not problems and checked is not None and checked.manifest.accepts == ("number",)
    checked, _ = check_tree(widget({"accepts": ["series", "number"]}))
    assert checked is not None and checked.manifest.to_json()["accepts"] == ["series", "number"]
    problems = problems_of(widget({"accepts": ["number", "chart", "number"]}))
    assert [(p.field, p.reason.split(";")[0]) for p in problems] == [
        ("accepts[1]", "must be one of " + ", ".join(SHAPES)),
        ("accepts[2]", 'duplicate shape "number"'),
    ]
    assert problems_of(widget({"accepts": []}))[0].field == "accepts"
    assert problems_of(widget({"output": READING}))[0].field == "output"


def test_the_api_knows_the_same_shapes() -> None:
    assert get_args(Shape) == SHAPES


def test_a_mismatch_names_its_json_pointer() -> None:
    validator = compile_schema(READING)
    assert mismatch(validator, {"temperature": 21.5}) is None
    assert (
        mismatch(validator, {"temperature": "hot"})
        == 'at /temperature: "hot" is not of type "number"'
    )
    assert mismatch(validator, 5) == 'at /: 5 is not of type "object"'
    assert mismatch(validator, {}).startswith("at /: ")  # type: ignore[union-attr]
    nested = compile_schema({"properties": {"a/b": {"items": {"type": "string"}}}})
    assert mismatch(nested, {"a/b": ["x", 1]}) == 'at /a~1b/1: 1 is not of type "string"'
    assert pointer(["rows", 0, "t~"]) == "/rows/0/t~0"


def test_a_long_reason_is_cut() -> None:
    validator = compile_schema({"type": "number"})
    found = mismatch(validator, "x" * 5000)
    assert found is not None and len(found) < 220 and found.endswith("…")


def test_a_schema_that_does_not_compile_says_why() -> None:
    with pytest.raises(SchemaUnusable, match="at /type"):
        compile_schema({"type": "nmber"})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_outputs_are_checked_at_most_once_a_second_and_a_repeat_is_quiet() -> None:
    clock = Clock()
    check = OutputCheck(compile_schema(READING), every_s=1.0, burst=3, repeat_s=60.0, clock=clock)
    good, bad = {"temperature": 1}, {"temperature": "hot"}
    assert check.check(good) is None and check.check(good) is None
    first = check.check(bad)  # the first few are all checked
    assert first == (
        'output does not match its declared shape at /temperature: "hot" is not of type "number"'
    )
    # A flood within the second: nothing more is even checked.
    assert [check.check({"temperature": str(i)}) for i in range(1000)] == [None] * 1000
    assert check.checked == 3
    # A second later it is checked again, but the same mismatch is not repeated...
    clock.now += 1.0
    assert check.check(bad) is None and check.checked == 4
    # ... while a different one is reported at once,
    clock.now += 1.0
    other = check.check({"temperature": 1, "rows": {}})
    assert other is not None and "at /rows" in other
    # ... and the first again once a minute has passed.
    clock.now += 60.0
    assert check.check(bad) == first
    clock.now += 1.0
    assert check.check({"temperature": 3}) is None


def test_the_registry_serves_the_contracts_of_the_builtins(client: TestClient) -> None:
    base = "/api/registry/modules/builtin-{}/versions/latest"
    simulator = client.get(base.format("simulator")).json()["manifest"]
    schema = json.loads((BUILTIN_DIR / "simulator" / "output.schema.json").read_text())
    assert simulator["output"] == schema  # read from the file visualbox.json names
    assert "accepts" not in simulator
    gauge = client.get(base.format("gauge")).json()["manifest"]
    assert gauge["accepts"] == ["number"] and "output" not in gauge
