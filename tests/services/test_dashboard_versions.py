"""What changed between two dashboard contents, in words and side by side (pure functions
of ``services/dashboard_changes.py``, kept by ``services/dashboard_versions.py``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from visualbox.services.dashboard_changes import compare, describe, show, summary

NAMES = {"m-weather": "Weather station", "m-gauge": "Gauge", "m-map": "Map"}


def _marker(is_set: bool) -> dict[str, bool]:
    return {"secret": True, "set": is_set}


def _base() -> dict[str, Any]:
    return {
        "name": "Station",
        "settings": {"background": None, "radius": 5, "shadow": {"opacity": 3, "radius": 5}},
        "integrations": [
            {
                "id": "i1",
                "module_id": "m-weather",
                "version": "latest",
                "label": "Weather",
                "keep_running": False,
                "history": "bound",
                "config": {"speed": 1, "city": "Oslo", "password": _marker(True)},
            }
        ],
        "widgets": [
            _widget("w1", "Temperature", "m-gauge", 0, 0),
            _widget("w2", None, "m-map", 6, 0),
        ],
    }


def _widget(wid: str, title: str | None, module: str, x: int, y: int) -> dict[str, Any]:
    return {
        "id": wid,
        "module_id": module,
        "version": "1.0.0",
        "x": x,
        "y": y,
        "w": 6,
        "h": 4,
        "source": "/i1/temperature",
        "background": None,
        "hide_until_data": False,
        "title": title,
        "config": {"colour": "#ffffff"},
    }


def _changed(**parts: Any) -> dict[str, Any]:
    after = copy.deepcopy(_base())
    after.update(parts)
    return after


def test_no_change_says_nothing() -> None:
    assert describe(_base(), _base(), NAMES) == []
    assert summary([]) == "Saved with no changes"


def test_added_and_removed_items_are_named_with_their_module() -> None:
    after = _changed()
    after["widgets"].append(_widget("w3", "Pressure", "m-gauge", 12, 0))
    after["integrations"] = []
    assert describe(_base(), after, NAMES) == [
        "Removed integration “Weather”",
        "Added widget “Pressure” (Gauge)",
    ]
    # a widget without a title is known by its module's name (no repetition)
    after["widgets"].append(_widget("w4", None, "m-map", 0, 8))
    assert describe(_base(), after, NAMES)[-1] == "Added widget “Map”"


def test_an_item_that_changes_module_is_removed_and_added() -> None:
    after = _changed()
    after["widgets"][0]["module_id"] = "m-map"
    assert describe(_base(), after, NAMES) == [
        "Removed widget “Temperature”",
        "Added widget “Temperature” (Map)",
    ]


def test_moves_and_resizes_are_counted() -> None:
    after = _changed()
    after["widgets"][1]["y"] = 4
    assert describe(_base(), after, NAMES) == ["Moved “Map”"]
    for widget in after["widgets"]:
        widget["x"], widget["w"] = 12, 8
    after["widgets"].append(_widget("w3", "Extra", "m-gauge", 0, 9))
    changes = describe(_base(), after, NAMES)
    assert changes == ["Added widget “Extra” (Gauge)", "Moved 2 widgets", "Resized 2 widgets"]
    one = _changed()
    one["widgets"][1]["h"] = 9
    assert describe(_base(), one, NAMES) == ["Resized “Map”"]


def test_sources_settings_and_names_in_words() -> None:
    after = _changed(name="Lab")
    after["widgets"][0]["source"] = "/i1/temp"
    after["widgets"][1]["source"] = None
    after["integrations"][0]["config"].update(speed=2, city="Bergen")
    after["integrations"][0]["keep_running"] = True
    after["integrations"][0]["label"] = "Weather 2"
    after["widgets"][0]["version"] = "1.1.0"
    after["widgets"][0]["hide_until_data"] = True
    assert describe(_base(), after, NAMES) == [
        "Renamed the dashboard to “Lab”",
        "Renamed integration “Weather” to “Weather 2”",
        "Changed the settings of integration “Weather 2” (keep running, speed, city)",
        "Changed the version of widget “Temperature” to 1.1.0",
        "Changed the source of “Temperature” to /i1/temp",
        "Changed the settings of widget “Temperature” (hide until data)",
        "Removed the source of “Map”",
    ]


def test_theme_and_variables() -> None:
    after = _changed(settings={**_base()["settings"], "radius": 12})
    assert describe(_base(), after, NAMES) == ["Changed the theme"]
    after = _changed(variables=[{"name": "room", "kind": "text"}])
    assert describe(_base(), after, NAMES) == ["Changed the variables"]


@pytest.mark.parametrize(
    ("before", "after", "given", "said"),
    [
        (False, True, False, "Set a password of “Weather”"),
        (True, False, False, "Cleared a password of “Weather”"),
        (True, True, True, "Changed a password of “Weather”"),
        (True, True, False, None),
    ],
)
def test_passwords_are_told_never_shown(
    before: bool, after: bool, given: bool, said: str | None
) -> None:
    old, new = _changed(), _changed()
    old["integrations"][0]["config"]["password"] = _marker(before)
    new["integrations"][0]["config"]["password"] = _marker(after)
    secrets = {("integrations", "i1", "password")} if given else set()
    assert describe(old, new, NAMES, secrets) == ([said] if said else [])


def test_two_passwords_are_counted() -> None:
    old, new = _changed(), _changed()
    old["integrations"][0]["config"]["token"] = _marker(True)
    new["integrations"][0]["config"]["token"] = _marker(True)
    given = {("integrations", "i1", "password"), ("integrations", "i1", "token")}
    assert describe(old, new, NAMES, given) == ["Changed 2 passwords of “Weather”"]


def test_summary_joins_notes_and_stays_bounded() -> None:
    assert summary(["Moved “Map”"], "Restored version 3") == "Restored version 3: Moved “Map”"
    assert summary([], "Created the dashboard") == "Created the dashboard"
    long = summary([f"Added widget “W{i}”" for i in range(500)], limit=200)
    assert len(long) <= 200
    assert long.endswith("; …")


def test_compare_draws_both_layouts_and_the_changed_fields() -> None:
    after = _changed()
    after["widgets"][0]["x"] = 12
    after["widgets"].pop(1)
    after["widgets"].append(_widget("w3", "New", "m-gauge", 0, 4))
    after["integrations"][0]["config"].update(city="Bergen", password=_marker(False))
    result = compare(_base(), after, NAMES)
    assert [(c["id"], c["status"]) for c in result["before_cells"]] == [
        ("w1", "changed"),
        ("w2", "removed"),
    ]
    assert [(c["id"], c["label"], c["status"]) for c in result["after_cells"]] == [
        ("w1", "Temperature", "changed"),
        ("w3", "New", "added"),
    ]
    statuses = [(i["id"], i["status"]) for i in result["items"]]
    assert statuses == [("i1", "changed"), ("w1", "changed"), ("w3", "added"), ("w2", "removed")]
    items = {(i["kind"], i["id"]): i for i in result["items"]}
    assert items[("integration", "i1")]["fields"] == [
        {"name": "city", "before": "Oslo", "after": "Bergen"},
        {"name": "password", "before": "•••• (set)", "after": "(not set)"},
    ]
    assert items[("widget", "w1")]["fields"] == [{"name": "x", "before": "0", "after": "12"}]
    assert items[("widget", "w2")]["status"] == "removed"
    assert items[("widget", "w3")]["status"] == "added"
    renamed = compare(_base(), _changed(name="Lab"), NAMES)["items"]
    assert renamed == [
        {
            "kind": "dashboard",
            "id": "",
            "label": "Lab",
            "status": "changed",
            "fields": [{"name": "name", "before": "Station", "after": "Lab"}],
        }
    ]


def test_show_never_prints_a_password() -> None:
    assert show(_marker(True)) == "•••• (set)"
    assert show(_marker(False)) == "(not set)"
    assert show([1, "a"]) == '[1, "a"]'
    assert show(None) is None
    assert show("Oslo") == "Oslo"
