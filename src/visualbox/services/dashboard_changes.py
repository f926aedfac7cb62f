"""What changed between two dashboard contents, in words and side by side (pure functions).

A *content* is a dashboard as saved: ``{"name", "settings", "integrations", "widgets"}``
with every password value replaced by its marker ``{"secret": true, "set": bool}``
(``dashboard_secrets.py``), as kept in ``dashboard_versions``. Nothing here reads the
database or a secret: :func:`describe` gives the sentences a version's summary is made
of ("Added widget “Temperature” (Gauge)", "Moved 3 widgets"); :func:`compare` gives what
the web app draws side by side (both layouts cell by cell, and the changed fields of each
item, a password shown only as "•••• (set)").
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from visualbox.services.dashboard_secrets import KINDS, is_secret_marker

SecretKey = tuple[str, str, str]
"""``(section, item id, field name)`` of a password."""

SET, NOT_SET = "•••• (set)", "(not set)"
_GEOMETRY = ("x", "y", "w", "h")
_OWN_FIELDS = {
    "integrations": ("label", "version", "keep_running", "history"),
    "widgets": ("title", "version", "source", "background", "hide_until_data", *_GEOMETRY),
}
"""The fields of an item besides ``id``, ``module_id`` and ``config``, as compared."""
_SETTINGS_WORDS = {"keep_running": "keep running", "hide_until_data": "hide until data"}


def label(section: str, item: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """An item as its owner knows it: an integration's label; a widget's title, else its
    module's name."""
    if section == "integrations":
        return str(item.get("label") or item["id"])
    return str(item.get("title") or names.get(item["module_id"]) or f"widget {item['id']}")


def _q(text: str) -> str:
    return f"“{text}”"


def _same_item(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> bool:
    """Whether ``after`` continues ``before`` (same id, same module): else removed + added."""
    return before is not None and before["module_id"] == after["module_id"]


def _items(content: Mapping[str, Any], section: str) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in content.get(section, [])}


# --- in words ----------------------------------------------------------------------------


def describe(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    secrets_changed: Collection[SecretKey] = (),
) -> list[str]:
    """What turned ``before`` into ``after``, one sentence per change, never a password.

    ``names`` maps module ids to module names; ``secrets_changed`` names the passwords
    whose value the save replaced by another (a marker alone cannot tell)."""
    names = names or {}
    out: list[str] = []
    if before.get("name") != after.get("name"):
        out.append(f"Renamed the dashboard to {_q(str(after.get('name')))}")
    if before.get("settings") != after.get("settings"):
        out.append("Changed the theme")
    if before.get("variables", []) != after.get("variables", []):
        out.append("Changed the variables")
    for section, kind in KINDS.items():
        old, new = _items(before, section), _items(after, section)
        moved: list[str] = []
        resized: list[str] = []
        for item_id, item in old.items():
            if item_id not in new or not _same_item(item, new[item_id]):
                out.append(f"Removed {kind} {_q(label(section, item, names))}")
        for item_id, item in new.items():
            previous = old.get(item_id)
            name = label(section, item, names)
            if previous is None or not _same_item(previous, item):
                module = names.get(item["module_id"])
                suffix = f" ({module})" if module and module != name else ""
                out.append(f"Added {kind} {_q(name)}{suffix}")
                continue
            out.extend(_item_changes(section, previous, item, names, secrets_changed))
            if section == "widgets":
                if (previous["x"], previous["y"]) != (item["x"], item["y"]):
                    moved.append(name)
                if (previous["w"], previous["h"]) != (item["w"], item["h"]):
                    resized.append(name)
        if moved:
            out.append(
                f"Moved {_q(moved[0])}" if len(moved) == 1 else f"Moved {len(moved)} widgets"
            )
        if resized:
            many = f"Resized {len(resized)} widgets"
            out.append(f"Resized {_q(resized[0])}" if len(resized) == 1 else many)
    return out


def _item_changes(
    section: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    names: Mapping[str, str],
    secrets_changed: Collection[SecretKey],
) -> list[str]:
    kind = KINDS[section]
    old_name, name = label(section, before, names), label(section, after, names)
    out: list[str] = []
    if old_name != name:
        out.append(f"Renamed {kind} {_q(old_name)} to {_q(name)}")
    if before.get("version") != after.get("version"):
        out.append(f"Changed the version of {kind} {_q(name)} to {after.get('version')}")
    if section == "widgets" and before.get("source") != after.get("source"):
        source = after.get("source")
        out.append(
            f"Changed the source of {_q(name)} to {source}"
            if source
            else f"Removed the source of {_q(name)}"
        )
    changed: list[str] = [
        _SETTINGS_WORDS.get(f, f)
        for f in _OWN_FIELDS[section]
        if f not in ("label", "title", "version", "source", *_GEOMETRY)
        and before.get(f) != after.get(f)
    ]
    passwords: dict[str, int] = {"Set": 0, "Changed": 0, "Cleared": 0}
    old_config, config = before.get("config", {}), after.get("config", {})
    for key in [*config, *(k for k in old_config if k not in config)]:
        was, now = old_config.get(key), config.get(key)
        if is_secret_marker(was) or is_secret_marker(now):
            was_set, now_set = _is_set(was), _is_set(now)
            if now_set and not was_set:
                passwords["Set"] += 1
            elif was_set and not now_set:
                passwords["Cleared"] += 1
            elif now_set and (section, after["id"], key) in secrets_changed:
                passwords["Changed"] += 1
        elif was != now:
            changed.append(key)
    if changed:
        out.append(f"Changed the settings of {kind} {_q(name)} ({', '.join(changed)})")
    for verb, count in passwords.items():
        if count:
            what = "a password" if count == 1 else f"{count} passwords"
            out.append(f"{verb} {what} of {_q(name)}")
    return out


def _is_set(value: Any) -> bool:
    return is_secret_marker(value) and value.get("set") is True


def summary(changes: list[str], note: str | None = None, *, limit: int = 2000) -> str:
    """The sentences as one summary, after ``note`` ("Restored version 3: ...")."""
    text = "; ".join(changes)
    if note:
        text = f"{note}: {text}" if text else note
    elif not text:
        text = "Saved with no changes"
    if len(text) > limit:
        text = text[: limit - 1].rsplit("; ", 1)[0] + "; …"
    return text


# --- side by side ------------------------------------------------------------------------


def show(value: Any) -> str | None:
    """A config value as the compare view prints it; a password only as set or not."""
    if is_secret_marker(value):
        return SET if value.get("set") is True else NOT_SET
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _fields(item: Mapping[str, Any], section: str) -> dict[str, str | None]:
    fields = {f: show(item.get(f)) for f in _OWN_FIELDS[section]}
    fields["module"] = item["module_id"]
    fields.update({k: show(v) for k, v in item.get("config", {}).items()})
    return fields


def _settings_fields(content: Mapping[str, Any]) -> dict[str, str | None]:
    flat: dict[str, str | None] = {"name": show(content.get("name"))}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(inner, f"{prefix}.{key}" if prefix else key)
        else:
            flat[prefix] = show(value)

    walk(content.get("settings", {}), "")
    if content.get("variables"):
        flat["variables"] = show(content["variables"])
    return flat


def _field_changes(
    before: Mapping[str, str | None], after: Mapping[str, str | None]
) -> list[dict[str, str | None]]:
    keys = [*before, *(k for k in after if k not in before)]
    return [
        {"name": k, "before": before.get(k), "after": after.get(k)}
        for k in keys
        if before.get(k) != after.get(k)
    ]


def compare(
    before: Mapping[str, Any], after: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Both layouts cell by cell (``status``: same, added, removed or changed) and every
    changed item with its changed fields (``before``/``after`` as :func:`show` prints them):
    the dashboard's own first, then changed items, added ones, removed ones."""
    names = names or {}
    items: list[dict[str, Any]] = []
    dashboard = _field_changes(_settings_fields(before), _settings_fields(after))
    if dashboard:
        name = str(after.get("name"))
        items.append(
            {"kind": "dashboard", "id": "", "label": name, "status": "changed", "fields": dashboard}
        )
    status: dict[str, dict[str, str]] = {"before": {}, "after": {}}
    for section, kind in KINDS.items():
        old, new = _items(before, section), _items(after, section)
        for item_id, item in old.items():
            if item_id not in new or not _same_item(item, new[item_id]):
                fields = _field_changes(_fields(item, section), {})
                items.append(_entry(kind, section, item, names, "removed", fields))
                status["before"][item_id] = "removed"
        for item_id, item in new.items():
            previous = old.get(item_id)
            if previous is None or not _same_item(previous, item):
                fields = _field_changes({}, _fields(item, section))
                items.append(_entry(kind, section, item, names, "added", fields))
                status["after"][item_id] = "added"
                continue
            fields = _field_changes(_fields(previous, section), _fields(item, section))
            if fields:
                items.append(_entry(kind, section, item, names, "changed", fields))
                status["before"][item_id] = status["after"][item_id] = "changed"
    order = {"changed": 0, "added": 1, "removed": 2}  # the dashboard's own stays first
    items.sort(key=lambda i: (i["kind"] != "dashboard", order[i["status"]]))
    return {
        "changes": describe(before, after, names),
        "before_cells": _cells(before, names, status["before"]),
        "after_cells": _cells(after, names, status["after"]),
        "items": items,
    }


def _entry(
    kind: str,
    section: str,
    item: Mapping[str, Any],
    names: Mapping[str, str],
    status: str,
    fields: list[dict[str, str | None]],
) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": item["id"],
        "label": label(section, item, names),
        "status": status,
        "fields": fields,
    }


def _cells(
    content: Mapping[str, Any], names: Mapping[str, str], status: Mapping[str, str]
) -> list[dict[str, Any]]:
    return [
        {
            "id": w["id"],
            "label": label("widgets", w, names),
            **{g: w[g] for g in _GEOMETRY},
            "status": status.get(w["id"], "same"),
        }
        for w in content.get("widgets", [])
    ]
