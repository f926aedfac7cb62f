"""Dashboards: create, read, save (optimistic concurrency), duplicate, export, import.

Rules (docs/dashboards.md):

* A dashboard belongs to its owner; anyone else, administrators included, gets
  :class:`NotFound` (we do not reveal that it exists).
* Every save validates the whole document and raises one :class:`InvalidInput`
  naming every bad path (``integrations[0].config.level``, ``widgets[2].w``).
* Every save is a compare-and-set on ``revision`` in the database: the first of two
  saves based on the same revision wins, the other gets :class:`Conflict`.
* Password values are kept in the encrypted ``secrets`` column, never in the
  document; see :func:`instance_config` for the runtime's way to read them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from visualbox.db.base import utcnow
from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.errors import Conflict, FieldError, Gone, InvalidInput, NotFound
from visualbox.modules.config_schema import ConfigSchema
from visualbox.schemas.dashboards import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    GRID_COLUMNS,
    DashboardContent,
    DashboardExport,
    ModuleInstance,
)
from visualbox.services import quotas, registry
from visualbox.services.secrets import SecretBox

Secrets = dict[str, dict[str, dict[str, str]]]
"""``{"integrations"|"widgets": {item id: {field name: plaintext}}}``."""

_KINDS = {"integrations": "integration", "widgets": "widget"}
_POINTER_ESCAPE = re.compile(r"~(?![01])")


def secret_marker(is_set: bool) -> dict[str, bool]:
    """What APIs show instead of a password value."""
    return {"secret": True, "set": is_set}


def is_secret_marker(value: Any) -> bool:
    return isinstance(value, dict) and value.get("secret") is True


# --- reading ---------------------------------------------------------------------------


def list_dashboards(db: Session, user: User) -> list[Dashboard]:
    """The caller's dashboards, most recently changed first."""
    query = (
        select(Dashboard)
        .where(Dashboard.owner_id == user.id)
        .order_by(Dashboard.updated_at.desc(), Dashboard.id)
    )
    return list(db.scalars(query))


def get_dashboard(db: Session, user: User, dashboard_id: str) -> Dashboard:
    dashboard = _find(db, dashboard_id)
    if dashboard is None or dashboard.owner_id != user.id:
        raise NotFound("No such dashboard.")
    return dashboard


def _find(db: Session, dashboard_id: str) -> Dashboard | None:
    if "\x00" in dashboard_id:  # no id has one, and PostgreSQL refuses NUL in a query
        return None
    return db.get(Dashboard, dashboard_id)


def read_secrets(box: SecretBox, dashboard: Dashboard) -> Secrets:
    if not dashboard.secrets:
        return {"integrations": {}, "widgets": {}}
    stored: Secrets = box.decrypt_json(dashboard.secrets)
    return stored


def instance_config(
    db: Session, box: SecretBox, dashboard_id: str, instance_id: str
) -> dict[str, Any]:
    """The full config of integration instance ``instance_id``, secrets decrypted.

    Server-internal (the runtime passes it to the integration); never send it to a
    client. :class:`NotFound` if the dashboard or the instance does not exist.
    """
    return _item_config(db, box, dashboard_id, "integrations", instance_id)


def widget_config(db: Session, box: SecretBox, dashboard_id: str, widget_id: str) -> dict[str, Any]:
    """Like :func:`instance_config`, for a widget."""
    return _item_config(db, box, dashboard_id, "widgets", widget_id)


def instance_configs(box: SecretBox, dashboard: Dashboard) -> dict[str, dict[str, Any]]:
    """Every integration instance's full config, secrets decrypted once for all."""
    secrets = read_secrets(box, dashboard)["integrations"]
    return {
        item["id"]: _full_config(item, secrets.get(item["id"], {}))
        for item in dashboard.document["integrations"]
    }


def _item_config(
    db: Session, box: SecretBox, dashboard_id: str, section: str, item_id: str
) -> dict[str, Any]:
    dashboard = _find(db, dashboard_id)
    if dashboard is None:
        raise NotFound("No such dashboard.")
    item = next((i for i in dashboard.document[section] if i["id"] == item_id), None)
    if item is None:
        raise NotFound(f"No {_KINDS[section]} {item_id!r} on this dashboard.")
    return _full_config(item, read_secrets(box, dashboard)[section].get(item_id, {}))


def _full_config(item: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The item's values, each password marker replaced by its secret (or ``None``)."""
    config = {k: (None if is_secret_marker(v) else v) for k, v in item["config"].items()}
    config.update(secrets)
    return config


# --- writing ---------------------------------------------------------------------------


def create_dashboard(
    db: Session, box: SecretBox, user: User, content: DashboardContent, *, imported: bool = False
) -> Dashboard:
    """Validate and store a new dashboard of ``user`` at revision 1."""
    quotas.check_dashboards(db, user)
    checked = _check(db, user, content, {"integrations": {}, "widgets": {}}, imported=imported)
    quotas.check_dashboard_document(db, user, checked.document)
    dashboard = Dashboard(
        owner_id=user.id,
        name=content.name,
        document=checked.document,
        secrets=_seal(box, checked.secrets),
        revision=1,
        public=False,
        listed=False,
    )
    db.add(dashboard)
    db.flush()
    registry.set_dashboard_uses(db, dashboard.id, checked.module_ids)
    db.commit()
    return dashboard


def save_dashboard(
    db: Session,
    box: SecretBox,
    user: User,
    dashboard_id: str,
    content: DashboardContent,
    revision: int,
) -> Dashboard:
    """Replace a dashboard's content if it is still at ``revision``; bump the revision.

    Secrets: a string sets a password value, ``null`` clears it, the marker
    ``{"secret": true, "set": true}`` or leaving the name out keeps the stored one.
    """
    dashboard = get_dashboard(db, user, dashboard_id)
    if dashboard.revision != revision:
        raise _stale(dashboard.revision)
    kept = _kept_secrets(box, dashboard, content)
    checked = _check(db, user, content, kept, keep_withdrawn=_uses(dashboard.document))
    quotas.check_dashboard_document(
        db, user, checked.document, before=dashboard.document, dashboard_id=dashboard_id
    )
    result = db.execute(
        update(Dashboard)
        .where(Dashboard.id == dashboard_id, Dashboard.revision == revision)
        .values(
            name=content.name,
            document=checked.document,
            secrets=_seal(box, checked.secrets),
            revision=Dashboard.revision + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        current = db.scalar(select(Dashboard.revision).where(Dashboard.id == dashboard_id))
        raise _stale(current)
    registry.set_dashboard_uses(db, dashboard_id, checked.module_ids)
    db.commit()
    db.refresh(dashboard)
    return dashboard


def content_of(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard's content as a save would take it (secrets as markers)."""
    return {"name": dashboard.name, **dashboard.document}


def delete_dashboard(db: Session, user: User, dashboard_id: str) -> None:
    dashboard = get_dashboard(db, user, dashboard_id)
    registry.clear_dashboard_uses(db, dashboard_id)
    db.delete(dashboard)
    db.commit()


def duplicate_dashboard(db: Session, user: User, dashboard_id: str) -> Dashboard:
    """A private copy for the same owner, secrets included, at revision 1."""
    source = get_dashboard(db, user, dashboard_id)
    quotas.check_dashboards(db, user)
    quotas.check_dashboard_document(db, user, source.document)
    copy = Dashboard(
        owner_id=user.id,
        name=_copy_name(source.name),
        document=source.document,
        secrets=source.secrets,
        revision=1,
        public=False,
        listed=False,
    )
    db.add(copy)
    db.flush()
    registry.set_dashboard_uses(db, copy.id, _module_ids(source.document))
    db.commit()
    return copy


def export_dashboard(db: Session, user: User, dashboard_id: str) -> dict[str, Any]:
    """The portable JSON document; secrets become ``{"secret": true, "set": false}``."""
    dashboard = get_dashboard(db, user, dashboard_id)
    document = dashboard.document

    def strip(item: dict[str, Any]) -> dict[str, Any]:
        config = {
            k: secret_marker(False) if is_secret_marker(v) else v for k, v in item["config"].items()
        }
        return {**item, "config": config}

    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "name": dashboard.name,
        "settings": document["settings"],
        "integrations": [strip(i) for i in document["integrations"]],
        "widgets": [strip(w) for w in document["widgets"]],
    }


def import_dashboard(db: Session, box: SecretBox, user: User, data: DashboardExport) -> Dashboard:
    """A new dashboard of ``user`` from an export; required secrets may be left unset."""
    content = DashboardContent(
        name=data.name,
        settings=data.settings,
        integrations=data.integrations,
        widgets=data.widgets,
    )
    return create_dashboard(db, box, user, content, imported=True)


# --- validation ------------------------------------------------------------------------


@dataclass
class _Checked:
    document: dict[str, Any]
    secrets: Secrets
    module_ids: set[str] = field(default_factory=set)


def _check(
    db: Session,
    user: User,
    content: DashboardContent,
    stored: Secrets,
    *,
    imported: bool = False,
    keep_withdrawn: frozenset[tuple[str, str]] = frozenset(),
) -> _Checked:
    """Validate the whole content; return the document to store and its secrets.

    Items of a withdrawn module or version are kept as they are (not validated, their
    secrets dropped) when ``keep_withdrawn`` has their (module id, version): the dashboard had
    them already, and its owner may save other changes before removing them."""
    errors: list[FieldError] = []
    checked = _Checked({"settings": content.settings.model_dump()}, {})
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
            if item.id in seen:
                errors.append(
                    FieldError(f"{path}.id", f'"{item.id}" is already used by {seen[item.id]}')
                )
            else:
                seen[item.id] = path
            data = item.model_dump()
            checked.module_ids.add(item.module_id)
            kind = _KINDS[section]
            schema = _schema(
                db, user, item.module_id, item.version, kind, path, errors, keep_withdrawn
            )
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
        checked.document[section] = out
    instance_ids = {i.id for i in content.integrations}
    for i, widget in enumerate(content.widgets):
        if widget.x + widget.w > GRID_COLUMNS:
            errors.append(
                FieldError(
                    f"widgets[{i}].w", f"x + w must be at most {GRID_COLUMNS} (the grid's columns)"
                )
            )
        reason = _source_problem(widget.source, instance_ids)
        if reason:
            errors.append(FieldError(f"widgets[{i}].source", reason))
    if errors:
        raise InvalidInput(f"The dashboard is not valid ({len(errors)} problem(s)).", errors)
    return checked


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


def _source_problem(source: str | None, instance_ids: set[str]) -> str | None:
    """Why ``source`` is not a JSON Pointer (RFC 6901) into an instance's data, or None."""
    if not source:
        return None
    if not source.startswith("/"):
        return "must be a JSON Pointer starting with / such as /i1/temperature"
    tokens = source[1:].split("/")
    if any(_POINTER_ESCAPE.search(t) for t in tokens):
        return "~ must be followed by 0 or 1 in a JSON Pointer (~0 is ~, ~1 is /)"
    first = tokens[0].replace("~1", "/").replace("~0", "~")
    if first not in instance_ids:
        return f'"{first}" is not an integration instance of this dashboard'
    return None


# --- helpers ---------------------------------------------------------------------------


def _kept_secrets(box: SecretBox, dashboard: Dashboard, content: DashboardContent) -> Secrets:
    """The stored secrets a save may keep: an item's only while it keeps its module.

    A password was given to one module's code. When an item's ``module_id`` changes
    (or the item is removed and another is added under the same id), its stored
    values are dropped rather than handed to a different module, possibly written
    by someone else; the owner enters them again for the new module.
    """
    stored = read_secrets(box, dashboard)
    before = {
        section: {item["id"]: item["module_id"] for item in dashboard.document[section]}
        for section in _KINDS
    }
    after = {
        "integrations": {i.id: i.module_id for i in content.integrations},
        "widgets": {w.id: w.module_id for w in content.widgets},
    }
    return {
        section: {
            item_id: values
            for item_id, values in stored.get(section, {}).items()
            if item_id in after[section] and before[section].get(item_id) == after[section][item_id]
        }
        for section in _KINDS
    }


def _seal(box: SecretBox, secrets: Secrets) -> str | None:
    if not any(secrets.values()):
        return None
    return box.encrypt_json(secrets)


def _stale(current: int | None) -> Conflict:
    if current is None:
        return Conflict(
            "The dashboard was deleted meanwhile.",
            [FieldError("revision", "the dashboard no longer exists")],
        )
    return Conflict(
        f"The dashboard changed since you loaded it (it is now at revision {current}); "
        "reload it and apply your change again.",
        [FieldError("revision", f"is stale; the current revision is {current}")],
    )


def _uses(document: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """The (module id, version) pairs a stored document uses."""
    return frozenset((item["module_id"], item["version"]) for s in _KINDS for item in document[s])


def _module_ids(document: dict[str, Any]) -> set[str]:
    return {item["module_id"] for s in ("integrations", "widgets") for item in document[s]}


def _path(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _copy_name(name: str) -> str:
    suffix = " (copy)"
    return name[: 100 - len(suffix)] + suffix


# --- fine-grained changes (each one a save of the whole document) ----------------------


def patch_dashboard(
    db: Session, box: SecretBox, user: User, dashboard_id: str, changes: dict[str, Any]
) -> Dashboard:
    """Replace only the top-level parts in ``changes`` (must include ``revision``)."""
    dashboard = get_dashboard(db, user, dashboard_id)
    revision = changes.pop("revision")
    return _save_dict(db, box, user, dashboard_id, {**content_of(dashboard), **changes}, revision)


def add_integration(
    db: Session,
    box: SecretBox,
    user: User,
    dashboard_id: str,
    revision: int,
    instance: dict[str, Any],
) -> Dashboard:
    dashboard = get_dashboard(db, user, dashboard_id)
    content = content_of(dashboard)
    content["integrations"] = [*content["integrations"], instance]
    return _save_dict(db, box, user, dashboard_id, content, revision)


def change_integration(
    db: Session,
    box: SecretBox,
    user: User,
    dashboard_id: str,
    instance_id: str,
    revision: int,
    changes: dict[str, Any],
) -> Dashboard:
    """Update one instance's label, version, config or keep_running."""
    dashboard = get_dashboard(db, user, dashboard_id)
    content = content_of(dashboard)
    _instance_index(content, instance_id)
    content["integrations"] = [
        {**i, **changes} if i["id"] == instance_id else i for i in content["integrations"]
    ]
    return _save_dict(db, box, user, dashboard_id, content, revision)


def remove_integration(
    db: Session, box: SecretBox, user: User, dashboard_id: str, instance_id: str, revision: int
) -> Dashboard:
    """Remove one instance; widgets that took data from it lose their source."""
    dashboard = get_dashboard(db, user, dashboard_id)
    content = content_of(dashboard)
    _instance_index(content, instance_id)
    content["integrations"] = [i for i in content["integrations"] if i["id"] != instance_id]
    for widget in content["widgets"]:
        source = widget.get("source") or ""
        first = source[1:].split("/")[0].replace("~1", "/").replace("~0", "~")
        if source and first == instance_id:
            widget["source"] = None
    return _save_dict(db, box, user, dashboard_id, content, revision)


def _instance_index(content: dict[str, Any], instance_id: str) -> int:
    for i, item in enumerate(content["integrations"]):
        if item["id"] == instance_id:
            return i
    raise NotFound(f"No integration instance {instance_id!r} on this dashboard.")


def _save_dict(
    db: Session,
    box: SecretBox,
    user: User,
    dashboard_id: str,
    content: dict[str, Any],
    revision: int,
) -> Dashboard:
    try:
        model = DashboardContent.model_validate(content)
    except ValidationError as exc:
        fields = [FieldError(_path(e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput("The dashboard is not valid.", fields) from None
    return save_dashboard(db, box, user, dashboard_id, model, revision)
