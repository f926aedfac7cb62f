"""Dashboard secrets: password values kept out of the document, and full configs.

A config field of type ``password`` is never stored in a dashboard's document:
the document holds the marker ``{"secret": true, "set": bool}`` and the values
live encrypted in the dashboard's ``secrets`` column (:class:`SecretBox`). APIs
only ever show the marker; the runtime gets the full config, secrets decrypted,
through :func:`instance_configs` (and :func:`instance_config`, :func:`widget_config`).

Saving (``services/dashboards.py``) keeps a stored secret only while its item keeps
its module (:func:`kept_secrets`), so a password given to one module's code never
reaches another's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from visualbox.db.tables.dashboards import Dashboard
from visualbox.errors import NotFound
from visualbox.schemas.dashboards import DashboardContent
from visualbox.services.secrets import SecretBox

Secrets = dict[str, dict[str, dict[str, str]]]
"""``{"integrations"|"widgets": {item id: {field name: plaintext}}}``."""

KINDS = {"integrations": "integration", "widgets": "widget"}
"""The document's sections, and what each of their items is."""


def secret_marker(is_set: bool) -> dict[str, bool]:
    """What APIs show instead of a password value."""
    return {"secret": True, "set": is_set}


def is_secret_marker(value: Any) -> bool:
    return isinstance(value, dict) and value.get("secret") is True


def read_secrets(box: SecretBox, dashboard: Dashboard) -> Secrets:
    if not dashboard.secrets:
        return {"integrations": {}, "widgets": {}}
    stored: Secrets = box.decrypt_json(dashboard.secrets)
    return stored


def seal(box: SecretBox, secrets: Secrets) -> str | None:
    """The ``secrets`` column for ``secrets``: encrypted, or ``None`` when there are none."""
    if not any(secrets.values()):
        return None
    return box.encrypt_json(secrets)


def kept_secrets(box: SecretBox, dashboard: Dashboard, content: DashboardContent) -> Secrets:
    """The stored secrets a save may keep: an item's only while it keeps its module.

    A password was given to one module's code. When an item's ``module_id`` changes
    (or the item is removed and another is added under the same id), its stored
    values are dropped rather than handed to a different module, possibly written
    by someone else; the owner enters them again for the new module.
    """
    stored = read_secrets(box, dashboard)
    before = {
        section: {item["id"]: item["module_id"] for item in dashboard.document[section]}
        for section in KINDS
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
        for section in KINDS
    }


# --- full configs (server-internal) ----------------------------------------------------


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
    # No id has a NUL, and PostgreSQL refuses one in a query.
    dashboard = db.get(Dashboard, dashboard_id) if "\x00" not in dashboard_id else None
    if dashboard is None:
        raise NotFound("No such dashboard.")
    item = next((i for i in dashboard.document[section] if i["id"] == item_id), None)
    if item is None:
        raise NotFound(f"No {KINDS[section]} {item_id!r} on this dashboard.")
    return _full_config(item, read_secrets(box, dashboard)[section].get(item_id, {}))


def _full_config(item: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The item's values, each password marker replaced by its secret (or ``None``)."""
    config = {k: (None if is_secret_marker(v) else v) for k, v in item["config"].items()}
    config.update(secrets)
    return config
