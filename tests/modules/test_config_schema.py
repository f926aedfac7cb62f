from __future__ import annotations

import json
from typing import Any

import pytest

from visualbox.errors import InvalidInput
from visualbox.modules.config_schema import (
    FIELD_TYPES,
    ConfigSchema,
    parse_config_schema,
    schema_problems,
)


def entry(type_: str, name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"type": type_, "name": name, "label": name.title(), **extra}


def one(e: dict[str, Any]) -> ConfigSchema:
    return parse_config_schema([e])


def problems(source: Any) -> dict[str, str]:
    return {p.field: p.reason for p in schema_problems(source)}


SLIDER = entry("slider", "level", min=0, max=10, default=5)
SELECT = entry(
    "select",
    "unit",
    options=[{"label": "Celsius", "value": "c"}, {"label": "Fahrenheit", "value": "f"}],
    default="c",
)

# (entry, good defaults, bad defaults)
CASES: list[tuple[dict[str, Any], list[Any], list[Any]]] = [
    (entry("text"), ["hello", ""], [1, True, ["a"], "x" * 65_537]),
    (entry("password"), ["s3cret", ""], [0, False]),
    (entry("textarea"), ["a\nb"], [{"a": 1}]),
    (entry("number"), [0, -3, 2.5, 1e6], ["1", True, False, [1]]),
    (entry("number", min=0, max=1, step=0.25), [0, 0.5, 1], [-0.25, 1.25, 0.3]),
    (
        entry("color"),
        ["#fff", "#ffff", "#A0b1C2", "#a0b1c2d3"],
        ["fff", "#ff", "#fffff", "#ggg", 1],
    ),
    (entry("switch"), [True, False], [0, 1, "true", "false"]),
    (SLIDER, [0, 5, 10], [-1, 11, 2.5, "5", True]),
    (entry("slider", min=0, max=1, step=0.1), [0, 0.3, 1], [0.35, 2]),
    (SELECT, ["c", "f"], ["C", "k", 1, True]),
    (
        entry("date"),
        ["2024-02-29", "1999-12-31"],
        ["2023-02-29", "31-12-1999", "2024-13-01", 20240101],
    ),
]


@pytest.mark.parametrize(("e", "good", "bad"), CASES, ids=lambda c: str(c)[:30])
def test_defaults_are_type_checked(e: dict[str, Any], good: list[Any], bad: list[Any]) -> None:
    for value in good:
        f = one({**e, "default": value}).fields[0]
        assert f.default == value and type(f.default) is type(value)
    for value in bad:
        found = problems([{**e, "default": value}])
        assert list(found) == ["config.json[0].default"], (value, found)


def test_every_type_is_covered() -> None:
    assert {c[0]["type"] for c in CASES} == set(FIELD_TYPES)


@pytest.mark.parametrize(
    ("e", "value"),
    [(entry("switch"), False), (entry("number"), 0), (entry("text"), ""), (SLIDER, 0)],
)
def test_falsy_defaults_are_kept(e: dict[str, Any], value: Any) -> None:
    schema = one({**e, "default": value})
    assert schema.defaults() == {e["name"]: value}
    assert schema.defaults()[e["name"]] is not None


def test_missing_default_is_false_for_switch_and_null_otherwise() -> None:
    schema = parse_config_schema(
        [entry("switch", "on"), entry("text", "t"), entry("slider", "s", min=1, max=3)]
    )
    assert schema.defaults() == {"on": False, "t": None, "s": None}


def test_type_is_case_insensitive_and_normalised() -> None:
    schema = one(entry("SLIDER", "level", min=0, max=10))
    assert schema.fields[0].type == "slider"
    assert schema.to_json()[0]["type"] == "slider"


def test_original_visualbox_config_is_accepted() -> None:
    original = [
        {"type": "text", "name": "myVariable", "label": "My variable", "default": "Hello"},
        {"type": "password", "name": "myPassword", "label": "My password"},
        {
            "type": "Slider",
            "name": "fontSize",
            "label": "Font size",
            "min": 5,
            "max": 90,
            "default": 10,
        },
        {"type": "color", "name": "fontColor", "label": "Font color", "default": "#ffffffff"},
    ]
    schema = parse_config_schema(json.dumps(original).encode())
    assert [f.name for f in schema.fields] == ["myVariable", "myPassword", "fontSize", "fontColor"]
    assert schema.field("fontColor") is not None
    assert schema.defaults()["fontColor"] == "#ffffffff"  # alpha kept


def test_round_trip_through_to_json() -> None:
    schema = parse_config_schema(
        [SLIDER, SELECT, entry("number", "n", min=1, step=0.5, description="d", placeholder="p")]
    )
    assert parse_config_schema(schema.to_json()) == schema
    assert parse_config_schema(json.dumps(schema.to_json())) == schema


def test_duplicate_names_and_bad_identifiers() -> None:
    found = problems(
        [entry("text", "a"), entry("text", "1bad"), entry("text", "a"), entry("text", "has-dash")]
    )
    assert set(found) == {"config.json[1].name", "config.json[2].name", "config.json[3].name"}
    assert "duplicate" in found["config.json[2].name"]
    assert "config.json[0]" in found["config.json[2].name"]
    assert "identifier" in found["config.json[1].name"]


def test_required_keys_and_label() -> None:
    found = problems(
        [{"type": "text"}, {"name": "x", "label": "X"}, entry("text", "y", label="  ")]
    )
    assert found == {
        "config.json[0].name": "is required",
        "config.json[0].label": "is required",
        "config.json[1].type": "is required",
        "config.json[2].label": "must be a non-empty string",
    }


def test_every_bad_entry_is_reported() -> None:
    found = schema_problems(
        [
            entry("text", "ok"),
            entry("bogus", "t"),
            entry("slider", "s", min=5, max=1),
            entry("select", "o", options=[]),
            "not an object",
            entry("color", "c", default="red"),
        ]
    )
    assert [p.field for p in found] == [
        "config.json[1].type",
        "config.json[2].max",
        "config.json[3].options",
        "config.json[4]",
        "config.json[5].default",
    ]
    assert all(p.reason for p in found)
    with pytest.raises(InvalidInput) as info:
        parse_config_schema([entry("bogus"), entry("date", "d", default="soon")])
    assert [f.field for f in info.value.fields] == ["config.json[0].type", "config.json[1].default"]


def test_unknown_keys_are_refused_with_reason() -> None:
    found = problems([entry("text", "a", lable="typo"), entry("text", "b", min=1)])
    assert "unknown key" in found["config.json[0].lable"]
    assert found["config.json[1].min"] == "is not used by type text"


def test_slider_rules() -> None:
    assert "required" in problems([entry("slider", min=0)])["config.json[0].max"]
    assert "greater than min" in problems([entry("slider", min=3, max=3)])["config.json[0].max"]
    assert problems([entry("slider", min=0, max=10, step=0)]) == {
        "config.json[0].step": "must be greater than 0"
    }
    assert problems([entry("slider", min="0", max=10)]) == {
        "config.json[0].min": "must be a number"
    }
    assert (
        "step"
        in problems([entry("slider", min=0, max=10, step=3, default=4)])["config.json[0].default"]
    )
    assert "between 0 and 10" in problems([{**SLIDER, "default": 11}])["config.json[0].default"]


def test_select_option_rules() -> None:
    found = problems(
        [
            entry("select", "a"),
            entry("select", "b", options=[{"label": "A", "value": 1}, {"label": "B", "value": 1}]),
            entry("select", "c", options=[{"label": "", "value": None, "extra": 1}]),
            entry("select", "d", options=[{"label": "One", "value": 1}], default="1"),
        ]
    )
    assert found["config.json[0].options"] == "is required for a select"
    assert "duplicate" in found["config.json[1].options[1].value"]
    assert "unknown key" in found["config.json[2].options[0].extra"]
    assert found["config.json[2].options[0].label"] == "must be a non-empty string"
    assert "string, number or boolean" in found["config.json[2].options[0].value"]
    assert "option values" in found["config.json[3].default"]
    # true and 1 are different values
    ok = one(
        entry("select", "e", options=[{"label": "T", "value": True}, {"label": "1", "value": 1}])
    )
    assert [o.value for o in ok.fields[0].options or ()] == [True, 1]


def test_bad_json_names_line_and_column() -> None:
    (problem,) = schema_problems(b'[\n  {"type": "text",}\n]')
    assert problem.field == "config.json"
    assert "line 2" in problem.reason and "column" in problem.reason
    assert problems(b"{}") == {"config.json": "must be a JSON array of field entries"}
    assert "not valid JSON" in problems("[NaN]")["config.json"]
    assert problems(b"\xff[]") == {"config.json": "is not UTF-8 text"}
    assert parse_config_schema(b"\xef\xbb\xbf[]") == ConfigSchema(())  # BOM tolerated


def test_custom_file_name_in_fields() -> None:
    assert list(problems_for("widget/config.json")) == ["widget/config.json[0].type"]


def problems_for(file: str) -> dict[str, str]:
    return {p.field: p.reason for p in schema_problems([entry("nope")], file=file)}


# --- values -------------------------------------------------------------------------


SCHEMA = parse_config_schema(
    [
        SLIDER,
        SELECT,
        entry("password", "token", required=True),
        entry("switch", "debug"),
        entry("number", "ratio", min=0, max=1),
        entry("text", "title", default="Hi"),
        entry(
            "select",
            "count",
            options=[{"label": "Three", "value": 3}, {"label": "Yes", "value": True}],
        ),
    ]
)


def test_values_fill_defaults_and_keep_falsy() -> None:
    values = SCHEMA.validate_values({"token": "t", "level": 0, "title": "", "debug": False})
    assert values == {
        "level": 0,
        "unit": "c",
        "token": "t",
        "debug": False,
        "ratio": None,
        "title": "",
        "count": None,
    }


def test_values_report_every_bad_field_by_name() -> None:
    with pytest.raises(InvalidInput) as info:
        SCHEMA.validate_values({"level": 11, "unit": "k", "ratio": "x", "nope": 1, "debug": "yes"})
    found = {f.field: f.reason for f in info.value.fields}
    assert found == {
        "config.nope": "unknown name: no such config field",
        "config.level": "must be at most 10 (between 0 and 10)",
        "config.unit": 'must be one of the option values: "c", "f"',
        "config.token": "is required",
        "config.debug": "must be true or false",
        "config.ratio": "must be a number",
    }


def test_values_prefix_and_non_mapping() -> None:
    with pytest.raises(InvalidInput) as info:
        SCHEMA.validate_values({"token": ""}, prefix="body.config")
    assert [f.field for f in info.value.fields] == ["body.config.token"]
    with pytest.raises(InvalidInput):
        SCHEMA.validate_values(["token"])  # type: ignore[arg-type]


def test_integral_slider_value_is_int() -> None:
    assert SCHEMA.validate_values({"token": "t", "level": 3.0})["level"] == 3
    assert type(SCHEMA.validate_values({"token": "t", "level": 3.0})["level"]) is int


def test_secret_names() -> None:
    assert SCHEMA.secret_names() == frozenset({"token"})
    assert ConfigSchema(()).secret_names() == frozenset()


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("level", "3", 3),
        ("level", " 10 ", 10),
        ("ratio", "0.5", 0.5),
        ("ratio", "1", 1),
        ("ratio", "1e-1", 0.1),
        ("debug", "TRUE", True),
        ("debug", "yes", True),
        ("debug", "on", True),
        ("debug", "1", True),
        ("debug", "false", False),
        ("debug", "No", False),
        ("debug", "0", False),
        ("unit", "f", "f"),
        ("count", "3", 3),
        ("count", "3.0", 3),
        ("count", "true", True),
        ("title", "42", "42"),
        ("token", "s3cret", "s3cret"),
    ],
)
def test_cli_values_are_typed(name: str, raw: str, expected: Any) -> None:
    value = SCHEMA.parse_cli_value(name, raw)
    assert value == expected and type(value) is type(expected)


def test_cli_number_parses_floats() -> None:
    schema = one(entry("number", "n"))
    assert schema.parse_cli_value("n", "2.5") == 2.5
    assert type(schema.parse_cli_value("n", "3")) is int


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("level", "abc", "number"),
        ("level", "11", "at most 10"),
        ("level", "2.5", "step"),
        ("level", "nan", "number"),
        ("ratio", "inf", "number"),
        ("debug", "maybe", "true or false"),
        ("unit", "C", "option values"),
        ("count", "4", "option values"),
        ("nothere", "1", "unknown name"),
    ],
)
def test_cli_values_errors_name_the_field(name: str, raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        SCHEMA.parse_cli_value(name, raw)
    (error,) = info.value.fields
    assert error.field == f"config.{name}"
    assert reason in error.reason


def test_date_and_color_values() -> None:
    schema = parse_config_schema([entry("date", "d"), entry("color", "c")])
    assert schema.validate_values({"d": "2024-02-29", "c": "#11223344"}) == {
        "d": "2024-02-29",
        "c": "#11223344",
    }
    with pytest.raises(InvalidInput) as info:
        schema.validate_values({"d": "2023-02-29", "c": "#1234567"})
    assert {f.field for f in info.value.fields} == {"config.d", "config.c"}
