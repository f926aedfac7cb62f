"""``config.json``: the one validator of a module's configuration schema and of its values.

The CLI, the runtime and the server all call this module, so a schema or a value
is accepted or refused the same way everywhere. ``docs/modules.md`` documents
every rule; the short version:

* a schema is a JSON array of entries ``{type, name, label, default, ...}``;
* ``type`` is one of :data:`FIELD_TYPES` (case-insensitive, normalised to lower case);
* unknown keys are refused (typos matter), every problem is reported at once,
  one :class:`~visualbox.errors.FieldError` per bad field named like
  ``config.json[2].default``;
* defaults are type-checked and falsy defaults (``false``, ``0``, ``""``) are kept;
  a missing default is ``false`` for a switch and ``null`` otherwise.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from visualbox.errors import FieldError, InvalidInput, plural

FIELD_TYPES: tuple[str, ...] = (
    "text",
    "password",
    "textarea",
    "number",
    "color",
    "switch",
    "slider",
    "select",
    "date",
)
MAX_FIELDS = 200
"""Most entries one ``config.json`` may have."""
MAX_NAME_CHARS = 64
MAX_TEXT_CHARS = 65_536
"""Longest string value (text, password, textarea) accepted, in characters."""

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COLOR_RE = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

_COMMON_KEYS = (
    "type",
    "name",
    "label",
    "default",
    "required",
    "description",
    "help",
    "placeholder",
)
_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "number": ("min", "max", "step"),
    "slider": ("min", "max", "step"),
    "select": ("options",),
}
_ALL_TYPE_KEYS = frozenset(k for keys in _TYPE_KEYS.values() for k in keys)
_STRING_TYPES = frozenset({"text", "password", "textarea"})

Scalar = str | int | float | bool


class _Bad(ValueError):
    """A value or schema key is wrong; the message is the plain-words reason."""


@dataclass(frozen=True)
class SelectOption:
    label: str
    value: Scalar


@dataclass(frozen=True)
class ConfigField:
    """One validated, normalised ``config.json`` entry."""

    type: str
    name: str
    label: str
    default: Any = None
    required: bool = False
    description: str | None = None
    placeholder: str | None = None
    options: tuple[SelectOption, ...] | None = None
    min: int | float | None = None
    max: int | float | None = None
    step: int | float | None = None

    @property
    def secret(self) -> bool:
        """Password values are secrets: stored encrypted, never shown back or logged."""
        return self.type == "password"

    @property
    def integral(self) -> bool:
        """A slider whose min, max and step are whole numbers only takes integers."""
        return self.type == "slider" and all(
            float(x).is_integer() for x in (self.min, self.max, self.step or 1) if x is not None
        )

    def validate(self, value: Any) -> Any:
        """Return ``value`` normalised for this field; raise ``ValueError(reason)`` if wrong.

        ``None`` is accepted (it means "no value"); :meth:`ConfigSchema.validate_values`
        applies defaults and ``required`` on top.
        """
        if value is None:
            return None
        if self.type in _STRING_TYPES:
            if not isinstance(value, str):
                raise _Bad("must be a string")
            if len(value) > MAX_TEXT_CHARS:
                raise _Bad(f"must be at most {MAX_TEXT_CHARS} characters")
            return value
        if self.type == "color":
            if not isinstance(value, str) or not _COLOR_RE.fullmatch(value):
                raise _Bad("must be a hex colour such as #rgb, #rgba, #rrggbb or #rrggbbaa")
            return value
        if self.type == "switch":
            if not isinstance(value, bool):
                raise _Bad("must be true or false")
            return value
        if self.type == "date":
            if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
                raise _Bad("must be a date written YYYY-MM-DD")
            try:
                date.fromisoformat(value)
            except ValueError:
                raise _Bad(f"{value} is not a real date") from None
            return value
        if self.type == "select":
            for option in self.options or ():
                if _same(value, option.value):
                    return option.value
            allowed = ", ".join(json.dumps(o.value) for o in self.options or ())
            raise _Bad(f"must be one of the option values: {allowed}")
        return self._validate_number(value)

    def _validate_number(self, value: Any) -> int | float:
        number = _number(value)
        if self.min is not None and number < self.min:
            raise _Bad(f"must be at least {self.min}" + self._range_hint())
        if self.max is not None and number > self.max:
            raise _Bad(f"must be at most {self.max}" + self._range_hint())
        step = self.step if self.step is not None else (1 if self.type == "slider" else None)
        if step is not None:
            base = self.min if self.min is not None else 0
            k = (number - base) / step
            if abs(k - round(k)) > 1e-9 * max(1.0, abs(k)):
                raise _Bad(f"must be {base} plus a multiple of the step {step}")
        if self.integral:
            return int(round(number))
        return number

    def _range_hint(self) -> str:
        if self.min is not None and self.max is not None:
            return f" (between {self.min} and {self.max})"
        return ""

    def parse_cli(self, raw: str) -> Any:
        """Type a command-line string for this field, then :meth:`validate` it."""
        if self.type == "switch":
            word = raw.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise _Bad("must be true or false (also yes/no, on/off, 1/0)")
        if self.type in ("number", "slider"):
            return self.validate(_parse_number(raw))
        if self.type == "select":
            for option in self.options or ():
                value = option.value
                if isinstance(value, str):
                    matched = raw == value
                elif isinstance(value, bool):
                    word = raw.strip().lower()
                    matched = (word in _TRUE and value) or (word in _FALSE and not value)
                else:
                    try:
                        matched = _parse_number(raw) == value
                    except ValueError:
                        matched = False
                if matched:
                    return value
            return self.validate(raw)  # raises with the list of allowed values
        return self.validate(raw)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "name": self.name,
            "label": self.label,
            "default": self.default,
            "required": self.required,
        }
        if self.description is not None:
            out["description"] = self.description
        if self.placeholder is not None:
            out["placeholder"] = self.placeholder
        if self.type in ("number", "slider"):
            for key in ("min", "max", "step"):
                if getattr(self, key) is not None:
                    out[key] = getattr(self, key)
        if self.options is not None:
            out["options"] = [{"label": o.label, "value": o.value} for o in self.options]
        return out


@dataclass(frozen=True)
class ConfigSchema:
    """A module's validated ``config.json``."""

    fields: tuple[ConfigField, ...] = ()

    def field(self, name: str) -> ConfigField | None:
        return next((f for f in self.fields if f.name == name), None)

    def secret_names(self) -> frozenset[str]:
        """Names of the password fields, whose values are secrets."""
        return frozenset(f.name for f in self.fields if f.secret)

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields}

    def validate_values(
        self, values: Mapping[str, Any], *, prefix: str = "config"
    ) -> dict[str, Any]:
        """Check user-supplied values; return every field's value (defaults filled in).

        ``None`` or a missing name takes the default. Unknown names, wrong values and
        required fields left empty are all reported in one :class:`InvalidInput`
        whose fields are named ``<prefix>.<name>`` and labelled by the field's label.
        """
        if not isinstance(values, Mapping):
            raise InvalidInput(
                f"{prefix}: must be an object of name: value pairs",
                [FieldError(prefix, "must be an object of name: value pairs")],
            )
        errors: list[FieldError] = []
        known = {f.name for f in self.fields}
        for key in values:
            if key not in known:
                errors.append(FieldError(f"{prefix}.{key}", "unknown name: no such config field"))
        result: dict[str, Any] = {}
        for f in self.fields:
            value = values.get(f.name)
            if value is None:
                value = f.default
            else:
                try:
                    value = f.validate(value)
                except ValueError as exc:
                    errors.append(FieldError(f"{prefix}.{f.name}", str(exc), f.label))
                    continue
            if f.required and (value is None or value == ""):
                errors.append(FieldError(f"{prefix}.{f.name}", "is required", f.label))
                continue
            result[f.name] = value
        if errors:
            raise InvalidInput(f"{prefix}: {plural(len(errors), 'invalid value')}", errors)
        return result

    def parse_cli_value(self, name: str, raw: str) -> Any:
        """Type ``raw`` (from ``--config name=raw``) for the field ``name``."""
        f = self.field(name)
        if f is None:
            raise InvalidInput(
                f"config.{name}: unknown name",
                [FieldError(f"config.{name}", "unknown name: no such config field")],
            )
        try:
            return f.parse_cli(raw)
        except ValueError as exc:
            raise InvalidInput(
                f"config.{name}: {exc}", [FieldError(f"config.{name}", str(exc))]
            ) from None

    def to_json(self) -> list[dict[str, Any]]:
        """The normalised schema; ``parse_config_schema(s.to_json()) == s``."""
        return [f.to_json() for f in self.fields]


def parse_config_schema(source: bytes | str | Any, *, file: str = "config.json") -> ConfigSchema:
    """Parse and validate a schema; raise :class:`InvalidInput` listing every problem.

    ``bytes``/``str`` are decoded as JSON; anything else is taken as already decoded.
    """
    schema, problems = _parse(source, file)
    if problems or schema is None:
        raise InvalidInput(f"{file} is not valid ({plural(len(problems), 'problem')})", problems)
    return schema


def schema_problems(source: bytes | str | Any, *, file: str = "config.json") -> list[FieldError]:
    """The problems :func:`parse_config_schema` would raise, without raising."""
    return _parse(source, file)[1]


def _parse(source: Any, file: str) -> tuple[ConfigSchema | None, list[FieldError]]:
    if isinstance(source, bytes | str):
        try:
            text = source.decode("utf-8-sig") if isinstance(source, bytes) else source
        except UnicodeDecodeError:
            return None, [FieldError(file, "is not UTF-8 text")]
        try:
            source = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            reason = f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            return None, [FieldError(file, reason)]
        except ValueError as exc:
            return None, [FieldError(file, f"is not valid JSON: {exc}")]
    if not isinstance(source, list):
        return None, [FieldError(file, "must be a JSON array of field entries")]
    problems: list[FieldError] = []
    if len(source) > MAX_FIELDS:
        problems.append(FieldError(file, f"has {len(source)} entries; at most {MAX_FIELDS}"))
    fields: list[ConfigField] = []
    first_index: dict[str, int] = {}
    for i, entry in enumerate(source):
        where = f"{file}[{i}]"
        parsed, entry_problems = _parse_entry(entry, where)
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and _NAME_RE.fullmatch(name):
            if name in first_index:
                entry_problems.append(
                    FieldError(
                        f"{where}.name",
                        f'duplicate name "{name}" (already used by {file}[{first_index[name]}])',
                    )
                )
                parsed = None
            else:
                first_index[name] = i
        problems.extend(entry_problems)
        if parsed is not None:
            fields.append(parsed)
    return (None if problems else ConfigSchema(tuple(fields))), problems


def _parse_entry(entry: Any, where: str) -> tuple[ConfigField | None, list[FieldError]]:
    if not isinstance(entry, dict):
        return None, [FieldError(where, "must be an object with type, name and label")]
    problems: list[FieldError] = []

    def bad(key: str, reason: str) -> None:
        problems.append(FieldError(f"{where}.{key}", reason))

    type_ = entry.get("type")
    if type_ is None:
        bad("type", "is required")
    elif not isinstance(type_, str):
        bad("type", "must be a string")
    elif type_.lower() not in FIELD_TYPES:
        bad("type", f'unknown type "{type_}"; expected one of {", ".join(FIELD_TYPES)}')
    kind = type_.lower() if isinstance(type_, str) and type_.lower() in FIELD_TYPES else None

    name = entry.get("name")
    if name is None:
        bad("name", "is required")
    elif not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        bad("name", "must be an identifier: letters, digits and _, not starting with a digit")
    elif len(name) > MAX_NAME_CHARS:
        bad("name", f"must be at most {MAX_NAME_CHARS} characters")
    label = entry.get("label")
    if label is None:
        bad("label", "is required")
    elif not isinstance(label, str) or not label.strip():
        bad("label", "must be a non-empty string")
    required = entry.get("required", False)
    if not isinstance(required, bool):
        bad("required", "must be true or false")
    for key in ("description", "help", "placeholder"):
        if key in entry and not isinstance(entry[key], str):
            bad(key, "must be a string")
    if "description" in entry and "help" in entry:
        bad("help", "give either description or help, not both")

    allowed = set(_COMMON_KEYS) | set(_TYPE_KEYS.get(kind or "", ()))
    for key in entry:
        if key in allowed:
            continue
        if kind is not None and key in _ALL_TYPE_KEYS:
            bad(str(key), f"is not used by type {kind}")
        elif kind is not None or key not in _ALL_TYPE_KEYS:
            bad(str(key), f"unknown key; allowed keys are {', '.join(sorted(allowed))}")

    bounds: dict[str, int | float | None] = {"min": None, "max": None, "step": None}
    options: tuple[SelectOption, ...] | None = None
    typed_ok = True
    if kind in ("number", "slider"):
        for key in bounds:
            if key in entry:
                try:
                    bounds[key] = _number(entry[key])
                except _Bad as exc:
                    bad(key, str(exc))
                    typed_ok = False
            elif kind == "slider" and key != "step":
                bad(key, "is required for a slider")
                typed_ok = False
        lo, hi, step = bounds["min"], bounds["max"], bounds["step"]
        if step is not None and step <= 0:
            bad("step", "must be greater than 0")
            typed_ok = False
        if lo is not None and hi is not None:
            if lo > hi or (kind == "slider" and lo == hi):
                bad("max", f"must be greater than min ({lo})")
                typed_ok = False
    elif kind == "select":
        options = _parse_options(entry.get("options"), where, problems)
        typed_ok = options is not None

    if kind is None or problems or not typed_ok:
        # The default is only judged against a schema entry that is itself valid.
        return None, problems
    assert isinstance(name, str) and isinstance(label, str) and isinstance(required, bool)
    description = entry.get("description", entry.get("help"))
    f = ConfigField(
        type=kind,
        name=name,
        label=label,
        required=required,
        description=description,
        placeholder=entry.get("placeholder"),
        options=options,
        **bounds,
    )
    default = entry.get("default")
    try:
        default = f.validate(default)
    except ValueError as exc:
        bad("default", str(exc))
        return None, problems
    if default is None and kind == "switch":
        default = False
    return replace(f, default=default), problems


def _parse_options(
    raw: Any, where: str, problems: list[FieldError]
) -> tuple[SelectOption, ...] | None:
    if raw is None:
        problems.append(FieldError(f"{where}.options", "is required for a select"))
        return None
    if not isinstance(raw, list) or not raw:
        problems.append(
            FieldError(f"{where}.options", "must be a non-empty array of {label, value}")
        )
        return None
    before = len(problems)
    options: list[SelectOption] = []
    for j, option in enumerate(raw):
        at = f"{where}.options[{j}]"
        if not isinstance(option, dict):
            problems.append(FieldError(at, "must be an object {label, value}"))
            continue
        for key in option:
            if key not in ("label", "value"):
                problems.append(
                    FieldError(f"{at}.{key}", "unknown key; options have label and value")
                )
        label, value = option.get("label"), option.get("value")
        if not isinstance(label, str) or not label.strip():
            problems.append(FieldError(f"{at}.label", "must be a non-empty string"))
        if not isinstance(value, str | int | float) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            problems.append(FieldError(f"{at}.value", "must be a string, number or boolean"))
            continue
        if any(_same(value, o.value) for o in options):
            problems.append(
                FieldError(f"{at}.value", f"duplicate option value {json.dumps(value)}")
            )
            continue
        if isinstance(label, str):
            options.append(SelectOption(label, value))
    return tuple(options) if len(problems) == before else None


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps JSON types apart (``true`` is not ``1``, ``"1"`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return isinstance(a, int | float) and isinstance(b, int | float) and a == b


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad("must be a finite number")
    return value


def _parse_number(raw: str) -> int | float:
    text = raw.strip()
    if _INT_RE.fullmatch(text):
        return int(text)
    if _FLOAT_RE.fullmatch(text):
        return _number(float(text))
    raise _Bad(f'must be a number, got "{raw}"')


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")
