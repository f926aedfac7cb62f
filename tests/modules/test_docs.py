"""docs/modules.md stays true: every JSON example in it is valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

from visualbox.modules.config_schema import FIELD_TYPES, parse_config_schema
from visualbox.modules.manifest import load_manifest
from visualbox.modules.tree import LIMITS

DOC = (Path(__file__).parents[2] / "docs" / "modules.md").read_text()


def test_json_examples_are_valid() -> None:
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC, re.S)]
    checked = 0
    for block in blocks:
        if isinstance(block, list):
            parse_config_schema(block)
        elif "type" in block:
            parse_config_schema([block])
        elif "kind" in block:
            load_manifest({"visualbox.json": json.dumps(block).encode()}, default_name="x")
        else:
            continue
        checked += 1
    assert checked >= 9


def test_every_type_and_limit_is_documented() -> None:
    for type_ in FIELD_TYPES:
        assert f"**`{type_}`**" in DOC
    assert f"| files per module | {LIMITS.max_files:,} |" in DOC
    assert f"| size of one file | {LIMITS.max_file_bytes // 2**20} MiB |" in DOC
    assert f"| size of all files | {LIMITS.max_total_bytes // 2**20} MiB |" in DOC
    assert f"| length of a path | {LIMITS.max_path_len} bytes" in DOC
