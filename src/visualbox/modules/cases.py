"""Module tests (docs/modules.md#module-tests): the cases under a module's ``tests/``
folder, and how an integration's outputs are compared with what a case expects.

Each ``tests/<name>.json`` is one case. For an **integration**::

    {"config": {"interval": 1}, "outputs": 2, "timeout": 30,
     "expect": [{"count": 0}, {"count": 1}], "schema": {...}}

``config`` is checked against ``config.json`` like a dashboard's; the run collects
``outputs`` outputs (default: as many as ``expect`` lists, else 1) within ``timeout``
seconds (default 30); each listed ``expect`` value must equal the output at its place
(JSON equality, key order aside), and every output must match ``schema`` (default: the
output schema the module declares, if any). For a **widget**::

    {"config": {"unit": "°C"}, "data": 21.5, "width": 400, "height": 300, "theme": "dark"}

the widget is drawn with that config and data in headless Chromium: a case passes when
the page raises no error and logs none, and its screenshot is saved.

This module only reads and compares; ``visualbox module test`` (``cli/module_test.py``)
runs the cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from visualbox.errors import FieldError, InvalidInput
from visualbox.modules.config_schema import ConfigSchema
from visualbox.modules.output_contract import SchemaUnusable, compile_schema, mismatch
from visualbox.modules.tree import FileTree

TESTS_DIR = "tests/"
MAX_CASES = 50
MAX_OUTPUTS = 1000
MAX_TIMEOUT_S = 600.0
DEFAULT_TIMEOUT_S = 30.0
THEMES = ("light", "dark")

_INTEGRATION_KEYS = {"config", "outputs", "timeout", "expect", "schema", "description"}
_WIDGET_KEYS = {"config", "data", "width", "height", "theme", "description"}


@dataclass(frozen=True)
class IntegrationCase:
    name: str
    config: dict[str, Any]
    outputs: int
    timeout: float
    expect: list[Any] | None
    schema: dict[str, Any] | bool | None


@dataclass(frozen=True)
class WidgetCase:
    name: str
    config: dict[str, Any]
    data: Any
    width: int
    height: int
    theme: str


Case = IntegrationCase | WidgetCase


def case_files(tree: FileTree) -> list[str]:
    """The case files of ``tree``: ``tests/*.json`` (not in sub-folders), sorted."""
    return sorted(
        path
        for path in tree
        if path.startswith(TESTS_DIR) and path.endswith(".json") and "/" not in path[6:]
    )


def load_cases(
    tree: FileTree,
    kind: str,
    config_schema: ConfigSchema,
    output_schema: dict[str, Any] | bool | None = None,
) -> list[Case]:
    """Every case of ``tree`` for a module of ``kind``; every problem of every case is
    named at once (the file and the field) in one :class:`InvalidInput`."""
    problems: list[FieldError] = []
    files = case_files(tree)
    if len(files) > MAX_CASES:
        problems.append(FieldError("tests", f"has {len(files)} cases; at most {MAX_CASES}"))
        files = files[:MAX_CASES]
    cases: list[Case] = []
    for path in files:
        try:
            raw = json.loads(tree[path].decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(FieldError(path, f"is not valid JSON: {exc}"))
            continue
        if not isinstance(raw, dict):
            problems.append(FieldError(path, "must be a JSON object"))
            continue
        name = path[len(TESTS_DIR) : -len(".json")]
        before = len(problems)
        if kind == "integration":
            case: Case | None = _integration_case(name, path, raw, problems, output_schema)
        else:
            case = _widget_case(name, path, raw, problems)
        if case is not None and len(problems) == before:
            try:
                config = config_schema.validate_values(case.config, prefix=f"{path}: config")
            except InvalidInput as exc:
                problems.extend(exc.fields)
                continue
            cases.append(_with_config(case, config))
    if problems:
        raise InvalidInput("Some test cases of the module are not valid.", problems)
    return cases


def _with_config(case: Case, config: dict[str, Any]) -> Case:
    if isinstance(case, IntegrationCase):
        return IntegrationCase(
            case.name, config, case.outputs, case.timeout, case.expect, case.schema
        )
    return WidgetCase(case.name, config, case.data, case.width, case.height, case.theme)


def _unknown(path: str, raw: dict[str, Any], known: set[str], problems: list[FieldError]) -> None:
    for key in sorted(set(raw) - known):
        problems.append(
            FieldError(
                f"{path}: {key}", f"is not a field of a test case ({', '.join(sorted(known))})"
            )
        )


def _config(path: str, raw: dict[str, Any], problems: list[FieldError]) -> dict[str, Any]:
    config = raw.get("config", {})
    if not isinstance(config, dict):
        problems.append(FieldError(f"{path}: config", "must be an object of config values"))
        return {}
    return config


def _integration_case(
    name: str,
    path: str,
    raw: dict[str, Any],
    problems: list[FieldError],
    declared: dict[str, Any] | bool | None,
) -> IntegrationCase | None:
    _unknown(path, raw, _INTEGRATION_KEYS, problems)
    config = _config(path, raw, problems)
    expect = raw.get("expect")
    if expect is not None and not isinstance(expect, list):
        problems.append(FieldError(f"{path}: expect", "must be a list of outputs, in order"))
        expect = None
    outputs = raw.get("outputs", len(expect) if expect else 1)
    if isinstance(outputs, bool) or not isinstance(outputs, int) or not 1 <= outputs <= MAX_OUTPUTS:
        problems.append(
            FieldError(f"{path}: outputs", f"must be a whole number from 1 to {MAX_OUTPUTS}")
        )
        outputs = 1
    elif expect and outputs < len(expect):
        problems.append(
            FieldError(f"{path}: outputs", f"is {outputs}, fewer than the {len(expect)} expected")
        )
    timeout = raw.get("timeout", DEFAULT_TIMEOUT_S)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT_S
    ):
        problems.append(
            FieldError(
                f"{path}: timeout", f"must be seconds, above 0 and at most {MAX_TIMEOUT_S:g}"
            )
        )
        timeout = DEFAULT_TIMEOUT_S
    schema = raw.get("schema", declared)
    if schema is not None:
        if not isinstance(schema, dict | bool):
            problems.append(FieldError(f"{path}: schema", "must be a JSON Schema (an object)"))
            schema = None
        else:
            try:
                compile_schema(schema)
            except SchemaUnusable as exc:
                problems.append(FieldError(f"{path}: schema", str(exc)))
    return IntegrationCase(name, config, outputs, float(timeout), expect, schema)


def _widget_case(
    name: str, path: str, raw: dict[str, Any], problems: list[FieldError]
) -> WidgetCase | None:
    _unknown(path, raw, _WIDGET_KEYS, problems)
    config = _config(path, raw, problems)
    if "data" not in raw:
        problems.append(FieldError(f"{path}: data", "is required: the data the widget draws"))
    size = {}
    for key, default in (("width", 400), ("height", 300)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 50 <= value <= 2000:
            problems.append(FieldError(f"{path}: {key}", "must be pixels, from 50 to 2000"))
            value = default
        size[key] = value
    theme = raw.get("theme", "light")
    if theme not in THEMES:
        problems.append(FieldError(f"{path}: theme", 'must be "light" or "dark"'))
        theme = "light"
    return WidgetCase(name, config, raw.get("data"), size["width"], size["height"], theme)


def compare_outputs(case: IntegrationCase, outputs: list[Any]) -> list[str]:
    """What is wrong with ``outputs`` for ``case``, in words (empty when they pass)."""
    problems: list[str] = []
    if len(outputs) < case.outputs:
        problems.append(
            f"expected {case.outputs} output{'s' if case.outputs != 1 else ''} within "
            f"{case.timeout:g} s, got {len(outputs)}"
        )
    for n, (want, got) in enumerate(zip(case.expect or [], outputs, strict=False), start=1):
        difference = _difference(want, got, "")
        if difference is not None:
            problems.append(f"output {n} {difference}")
    if case.schema is not None:
        validator = compile_schema(case.schema)
        for n, got in enumerate(outputs, start=1):
            reason = mismatch(validator, got)
            if reason is not None:
                problems.append(f"output {n} does not match the schema: {reason}")
    return problems


def _difference(want: Any, got: Any, at: str) -> str | None:
    """Where ``got`` first differs from ``want`` (a JSON Pointer and both values)."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            here = f"{at}/{key.replace('~', '~0').replace('/', '~1')}"
            if key not in got:
                return f"at {here}: missing (expected {_short(want[key])})"
            if key not in want:
                return f"at {here}: not expected (got {_short(got[key])})"
            found = _difference(want[key], got[key], here)
            if found is not None:
                return found
        return None
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return f"at {at or '/'}: expected {len(want)} items, got {len(got)}"
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            found = _difference(a, b, f"{at}/{i}")
            if found is not None:
                return found
        return None
    same = (
        want == got
        and type(want) is type(got)
        or (
            isinstance(want, int | float)
            and isinstance(got, int | float)
            and not isinstance(want, bool)
            and not isinstance(got, bool)
            and want == got
        )
    )
    return None if same else f"at {at or '/'}: expected {_short(want)}, got {_short(got)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"
