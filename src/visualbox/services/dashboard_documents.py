"""Dashboard documents: validating what a save would store (docs/dashboards.md).

A dashboard's *document* is its settings, integration instances and widgets.
:func:`check` validates the whole content at once against the modules it uses
(each item's module and version must resolve for the owner, be of the right kind,
and its config must match the module's schema; widget sources must point into an
instance of the same dashboard) and raises one :class:`InvalidInput` naming every
bad path (``integrations[0].config.level``, ``widgets[2].w``), each labelled for people
("Level (Simulated device)", "Width (Temperature)"). It returns the
document to store, with password values replaced by markers, and those values
apart (``services/dashboard_secrets.py`` seals them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.errors import (
    FieldError,
    Gone,
    InvalidInput,
    NotFound,
    from_validation,
    label_of,
    plural,
)
from visualbox.modules.config_schema import ConfigSchema
from visualbox.schemas.dashboards import (
    GRID_COLUMNS,
    DashboardContent,
    IntegrationInstance,
    ModuleInstance,
    Variable,
)
from visualbox.services import registry
from visualbox.services.dashboard_secrets import KINDS, Secrets, is_secret_marker, secret_marker

_POINTER_ESCAPE = re.compile(r"~(?![01])")


@dataclass
class Checked:
    """A valid document, ready to store."""

    document: dict[str, Any]
    secrets: Secrets
    """The password values, kept out of ``document``."""
    module_ids: set[str] = field(default_factory=set)


def parse_content(content: dict[str, Any]) -> DashboardContent:
    """``content`` (a stored document with a name and changes applied) as the model a
    save takes; :class:`InvalidInput` naming each bad path."""
    try:
        return DashboardContent.model_validate(content)
    except ValidationError as exc:
        fields = from_validation(exc.errors())
        raise InvalidInput("The dashboard is not valid.", fields) from None


def check(
    db: Session,
    user: User,
    content: DashboardContent,
    stored: Secrets,
    *,
    imported: bool = False,
    keep_withdrawn: frozenset[tuple[str, str]] = frozenset(),
) -> Checked:
    """Validate the whole content; return the document to store and its secrets.

    ``stored`` holds the secrets a marker ``{"secret": true, "set": true}`` keeps.
    Items of a withdrawn module or version are kept as they are (not validated, their
    secrets dropped) when ``keep_withdrawn`` has their (module id, version): the dashboard had
    them already, and its owner may save other changes before removing them."""
    errors: list[FieldError] = []
    checked = Checked({"settings": content.settings.model_dump()}, {})
    instance_ids = {i.id for i in content.integrations}
    errors.extend(_variable_problems(content.variables, instance_ids))
    checked.document["variables"] = [v.model_dump() for v in content.variables]
    names = {v.name for v in content.variables}
    seen: dict[str, str] = {}
    sections: tuple[tuple[str, Sequence[ModuleInstance]], ...] = (
        ("integrations", content.integrations),
        ("widgets", content.widgets),
    )
    for section, items in sections:
        out: list[dict[str, Any]] = []
        checked.secrets[section] = {}
        for i, item in enumerate(items):
            path = f"{section}[{i}]"
            first = len(errors)
            if item.id in seen:
                errors.append(
                    FieldError(f"{path}.id", f'"{item.id}" is already used by {seen[item.id]}')
                )
            else:
                seen[item.id] = path
            data = item.model_dump()
            checked.module_ids.add(item.module_id)
            kind = KINDS[section]
            schema = _schema(
                db, user, item.module_id, item.version, kind, path, errors, keep_withdrawn
            )
            if section == "widgets":  # an integration is shared: its config is never a viewer's
                errors.extend(_unknown_references(item.config, f"{path}.config", names))
            if schema is not None:
                kept = stored.get(section, {}).get(item.id, {})
                result = _check_config(
                    schema, item.config, kept, f"{path}.config", errors, imported
                )
                if result is not None:
                    data["config"], secrets = result
                    if secrets:
                        checked.secrets[section][item.id] = secrets
            out.append(data)
            errors[first:] = [_labelled(e, path, _name(item, i)) for e in errors[first:]]
        checked.document[section] = out
    for i, widget in enumerate(content.widgets):
        first = len(errors)
        if widget.x + widget.w > GRID_COLUMNS:
            errors.append(
                FieldError(
                    f"widgets[{i}].w", f"x + w must be at most {GRID_COLUMNS} (the grid's columns)"
                )
            )
        reason = _source_problem(widget.source, instance_ids, names)
        if reason:
            errors.append(FieldError(f"widgets[{i}].source", reason))
        errors[first:] = [_labelled(e, f"widgets[{i}]", _name(widget, i)) for e in errors[first:]]
    if errors:
        problems = plural(len(errors), "problem")
        raise InvalidInput(f"The dashboard was not saved: {problems} to correct.", errors)
    return checked


def _labelled(error: FieldError, path: str, name: str) -> FieldError:
    """``error`` of the item at ``path`` labelled with the item's name: "Speed (Simulated
    device)" for ``integrations[0].config.speed``, "Width (Temperature)"."""
    label = error.label or label_of(error.field.removeprefix(path).lstrip("."))
    return FieldError(error.field, error.reason, f"{label} ({name})")


def _name(item: ModuleInstance, index: int) -> str:
    """An instance as its owner knows it: the integration's label, the widget's title."""
    if isinstance(item, IntegrationInstance):
        return item.label
    title = getattr(item, "title", None)
    return title or f"widget {index + 1}"


def _schema(
    db: Session,
    user: User,
    module_id: str,
    spec: str,
    kind: str,
    path: str,
    errors: list[FieldError],
    keep_withdrawn: frozenset[tuple[str, str]] = frozenset(),
) -> ConfigSchema | None:
    try:
        module = registry.resolve(db, module_id, spec, user=user)
    except Gone as exc:
        if (module_id, spec) not in keep_withdrawn:
            at = "version" if any(f.field == "version" for f in exc.fields) else "module_id"
            errors.append(FieldError(f"{path}.{at}", exc.message))
        return None
    except NotFound as exc:
        named = {f.field for f in exc.fields}
        at, what = ("version", "version") if "version" in named else ("module_id", "module")
        reason = f'no {what} "{spec if at == "version" else module_id}" that you can use'
        errors.append(FieldError(f"{path}.{at}", reason))
        return None
    except InvalidInput:  # the owner's working copy has a broken config.json
        errors.append(FieldError(f"{path}.version", "the module's config.json is not valid"))
        return None
    if module.kind != kind:
        reason = f'"{module.name}" is {_a(module.kind)} module; expected {_a(kind)} module'
        errors.append(FieldError(f"{path}.module_id", reason))
        return None
    schema: ConfigSchema = module.schema
    return schema


def _check_config(
    schema: ConfigSchema,
    given: dict[str, Any],
    kept: dict[str, str],
    prefix: str,
    errors: list[FieldError],
    imported: bool,
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """Validate one item's config; return (config with markers, secret values)."""
    secret_names = schema.secret_names()
    values = {k: v for k, v in given.items() if k not in secret_names}
    for name in secret_names:
        value = given.get(name, secret_marker(True))
        if is_secret_marker(value):
            value = kept.get(name) if value.get("set") is True else None
        values[name] = value
    unset_required: set[str] = set()
    if imported:  # an export carries no secrets: let the owner fill them in later
        for f in schema.fields:
            if f.secret and f.required and values.get(f.name) in (None, "") and not f.default:
                values[f.name] = "unset"
                unset_required.add(f.name)
    try:
        full = schema.validate_values(values, prefix=prefix)
    except InvalidInput as exc:
        errors.extend(exc.fields)
        return None
    secrets = {
        k: full[k]
        for k in secret_names
        if k not in unset_required and full.get(k) not in (None, "")
    }
    config = {k: secret_marker(k in secrets) if k in secret_names else v for k, v in full.items()}
    return config, secrets


def _source_problem(
    source: str | None, instance_ids: set[str], variables: set[str] | None = None
) -> str | None:
    """Why ``source`` is not a JSON Pointer (RFC 6901) into an instance's data, or None.
    With ``variables``, it may use ``${name}`` of those after its instance."""
    if not source:
        return None
    if not source.startswith("/"):
        return "must be a JSON Pointer starting with / such as /i1/temperature"
    tokens = source[1:].split("/")
    if any(_POINTER_ESCAPE.search(t) for t in tokens):
        return "~ must be followed by 0 or 1 in a JSON Pointer (~0 is ~, ~1 is /)"
    first = tokens[0].replace("~1", "/").replace("~0", "~")
    if variables is not None and "${" in first:
        return "the instance (the first part) cannot be a variable: name it, as in /i1/${device}"
    if first not in instance_ids:
        return f'"{first}" is not an integration instance of this dashboard'
    if variables is not None:
        return _unknown_reference(source, variables)
    return None


# --- variables -------------------------------------------------------------------------

REFERENCE = re.compile(r"\$\{([^}]*)\}")
"""``${name}`` in a widget source or a config string value."""


def _unknown_reference(text: str, names: set[str]) -> str | None:
    for match in REFERENCE.finditer(text):
        if match.group(1) not in names:
            known = ", ".join(sorted(names)) or "none yet"
            return f"uses ${{{match.group(1)}}}, but the dashboard has no such variable ({known})"
    return None


def _unknown_references(value: Any, path: str, names: set[str]) -> list[FieldError]:
    """A config value's ``${name}`` references of unknown variables, at any depth."""
    if isinstance(value, str):
        reason = _unknown_reference(value, names)
        return [FieldError(path, reason)] if reason else []
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = [(f"{path}.{k}", v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    else:
        return []
    return [e for p, v in items for e in _unknown_references(v, p, names)]


def _variable_problems(variables: Sequence[Variable], instance_ids: set[str]) -> list[FieldError]:
    """Each variable's problems: a name used twice, a list without values or a default
    outside them, a path that is no pointer into an instance."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, v in enumerate(variables):
        at = f"variables[{i}]"
        if v.name in seen:
            errors.append(FieldError(f"{at}.name", f'"{v.name}" is used by another variable'))
        seen.add(v.name)
        if v.kind == "list":
            if not v.values:
                errors.append(FieldError(f"{at}.values", "a list variable needs values"))
            elif len(set(v.values)) != len(v.values):
                errors.append(FieldError(f"{at}.values", "each value may appear only once"))
            elif v.default is not None and v.default not in v.values:
                errors.append(FieldError(f"{at}.default", "must be one of the values"))
        elif v.values:
            errors.append(FieldError(f"{at}.values", "only a list variable has values"))
        if v.kind == "path":
            reason = "is required: where the values are, such as /i1/devices"
            if v.path:
                reason = _source_problem(v.path, instance_ids) or (
                    "cannot use a variable" if "${" in v.path else ""
                )
            if reason:
                errors.append(FieldError(f"{at}.path", reason))
        elif v.path:
            errors.append(FieldError(f"{at}.path", "only a path variable has a path"))
    names = {f"variables[{i}]": v.label or v.name for i, v in enumerate(variables)}
    return [
        FieldError(
            e.field,
            e.reason,
            f"{label_of(e.field.split('.')[-1])} ({names[e.field.split('.')[0]]})",
        )
        for e in errors
    ]


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"
