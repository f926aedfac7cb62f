"""Output contracts: the JSON Schema an integration declares for what it outputs, and the
data shapes a widget declares it draws.

An integration's ``visualbox.json`` may say ``"output": {...}`` (a JSON Schema) or
``"output": "output.schema.json"`` (a file of the module holding one). A widget's may
say ``"accepts": ["number", "series"]`` (:data:`SHAPES`). :func:`output_schema` reads
and checks the declaration; :func:`compile_schema` turns a schema into a
:class:`~jsonschema_rs.Validator` (once per module); :class:`OutputCheck` checks the
outputs of one run against it, at most once per :data:`CHECK_EVERY_S`, and says what
does not match and where (a JSON Pointer) without ever raising.

Validation uses ``jsonschema_rs`` (Rust): it is fast enough to run on the server's
event loop, its regular expressions cannot backtrack without bound, and it never
fetches a remote ``$ref`` here (:func:`compile_schema` refuses them: a schema is
self-contained).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import jsonschema_rs

from visualbox.errors import FieldError
from visualbox.modules.tree import FileTree, path_problem

SHAPES = ("number", "string", "boolean", "series", "table", "geo", "object")
"""What a widget may declare it draws (``accepts``): a number, a string, a boolean, a
series (an array of ``[t, v]`` pairs), a table (an array of objects, or
``{columns, rows}``), geo (points with ``lat``/``lon``, or an object holding them) or
any object."""
MAX_SCHEMA_BYTES = 64 * 1024
"""A declared output schema as compact JSON, at most this long."""
CHECK_EVERY_S = 1.0
"""Outputs are checked at most this often per run, after a first :data:`CHECK_BURST` (the
others pass unchecked)."""
CHECK_BURST = 5
REPEAT_AFTER_S = 60.0
"""The same mismatch is reported again at most this often per run."""
MAX_REASON_CHARS = 200
_REMOTE_RE = re.compile(r"Resource '(.*?)' is not present in a registry and retrieving it failed")

Validator = jsonschema_rs.Validator


class SchemaUnusable(ValueError):
    """The declared schema cannot be compiled; the message says why in plain words."""


def output_schema(
    raw: object, tree: FileTree, key: str, problems: list[FieldError], *, read_files: bool = True
) -> dict[str, Any] | bool | None:
    """The schema ``visualbox.json``'s ``output`` (``raw``) declares, or ``None``.

    ``raw`` is a schema (object or boolean) or the path of a JSON file of ``tree``
    (with ``read_files=False`` that file must only exist, and the answer is ``None``).
    Each problem is added to ``problems``, naming ``key`` (``visualbox.json.output``)
    or the schema file.
    """
    where = key
    schema: Any = raw
    if isinstance(raw, str):
        where = raw
        if path_problem(raw) is not None or raw not in tree:
            problems.append(FieldError(key, f'names "{raw}", which is not a file of the module'))
            return None
        if not read_files:
            return None
        try:
            schema = json.loads(tree[raw].decode("utf-8-sig"))
        except UnicodeDecodeError:
            problems.append(FieldError(where, "is not UTF-8 text"))
            return None
        except json.JSONDecodeError as exc:
            problems.append(
                FieldError(
                    where, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                )
            )
            return None
    if not isinstance(schema, dict | bool):
        problems.append(
            FieldError(where, "must be a JSON Schema (an object) or the name of a file holding one")
        )
        return None
    size = len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_SCHEMA_BYTES:
        problems.append(FieldError(where, f"must be at most {MAX_SCHEMA_BYTES // 1024} KiB"))
        return None
    try:
        compile_schema(schema)
    except SchemaUnusable as exc:
        problems.append(FieldError(where, f"is not a valid JSON Schema: {exc}"))
        return None
    return schema


def accepted_shapes(raw: object, key: str, problems: list[FieldError]) -> tuple[str, ...]:
    """The shapes ``visualbox.json``'s ``accepts`` (a shape or a list of them) names."""
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        problems.append(FieldError(key, f"must be one or more of {', '.join(SHAPES)}"))
        return ()
    out: list[str] = []
    for i, name in enumerate(names):
        if name not in SHAPES:
            problems.append(FieldError(f"{key}[{i}]", f"must be one of {', '.join(SHAPES)}"))
        elif name in out:
            problems.append(FieldError(f"{key}[{i}]", f'duplicate shape "{name}"'))
        else:
            out.append(name)
    return tuple(out)


def compile_schema(schema: dict[str, Any] | bool) -> Validator:
    """A validator for ``schema`` (draft 2020-12 unless its ``$schema`` says otherwise).

    Raises :class:`SchemaUnusable` naming where in the schema it is wrong. Remote
    references are never fetched.
    """
    try:
        return jsonschema_rs.validator_for(schema, offline=True)
    except jsonschema_rs.ValidationError as exc:
        where = pointer(exc.instance_path)
        reason = exc.message.split("\n", 1)[0]
        remote = _REMOTE_RE.match(reason)
        if remote:
            reason = (
                f"it refers to {remote.group(1)}, which is not part of it "
                "(a schema must be self-contained: other documents are never fetched)"
            )
        reason = _short(reason)
        raise SchemaUnusable(f"at {where}: {reason}" if where != "/" else reason) from None
    except (jsonschema_rs.ReferencingError, ValueError, TypeError) as exc:
        raise SchemaUnusable(_short(str(exc).split("\n", 1)[0])) from None


def mismatch(validator: Validator, data: Any) -> str | None:
    """Where and how ``data`` does not match (``at /temperature: "hot" is not of type
    "number"``), or ``None`` when it matches. Never raises."""
    try:
        for error in validator.iter_errors(data):
            return f"at {pointer(error.instance_path)}: {_short(error.message)}"
    except Exception as exc:  # a schema that compiles but cannot be applied
        return f"could not be checked: {_short(str(exc))}"
    return None


class OutputCheck:
    """Checks the outputs of one run against its module's declared schema, cheaply.

    :meth:`check` returns the warning line to log, or ``None``. Outputs are checked at
    most once per ``every_s`` on average (a token bucket: the first ``burst`` at once),
    and the same mismatch is reported at most once per ``repeat_s``, so a flood of bad
    outputs neither costs much nor floods the log.
    """

    def __init__(
        self,
        validator: Validator,
        *,
        every_s: float = CHECK_EVERY_S,
        burst: int = CHECK_BURST,
        repeat_s: float = REPEAT_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.validator = validator
        self.every_s = every_s
        self.burst = burst
        self.repeat_s = repeat_s
        self.clock = clock
        self.checked = 0
        """How many outputs were checked (the others were skipped to keep it cheap)."""
        self._tokens = float(burst)
        self._at = clock()
        self._reported: dict[str, float] = {}

    def check(self, data: Any) -> str | None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) / self.every_s)
        self._at = now
        if self._tokens < 1:
            return None
        self._tokens -= 1
        self.checked += 1
        found = mismatch(self.validator, data)
        if found is None:
            return None
        last = self._reported.get(found)
        if last is not None and now - last < self.repeat_s:
            return None
        if len(self._reported) > 100:
            self._reported.clear()
        self._reported[found] = now
        return f"output does not match its declared shape {found}"


def pointer(path: list[str | int] | tuple[str | int, ...]) -> str:
    """A JSON Pointer (``/rows/0/name``) for a path; ``/`` for the whole value."""
    if not path:
        return "/"
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
