"""Errors in words for people: no request, however wrong, gets pydantic's (or another
library's) phrasing back, and every field is named by a label, never by a path.

The bodies are derived from ``/api/openapi.json``: for each operation that takes JSON,
an empty object, every property of the wrong type, strings too long and too short,
numbers out of range and text that breaks a pattern, sent by a signed-in
administrator (so that no operation refuses before it reads its body).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.test_dashboards import INTEGRATION_SCHEMA, World
from tests.conftest import Account
from visualbox.errors import PATTERNS, FieldError, label_of, reason_of

LIBRARY = re.compile(
    r"\bshould\b|Input should|Field required|String should|value_error|type=|"
    r"Value error|pydantic|validation error for|unable to (parse|interpret)",
    re.IGNORECASE,
)
"""Phrases of pydantic (and of its validators) that must never reach a user."""
PATH = re.compile(r"[\[\].]")


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:  # ``X | None``: the first choice that is not null
            choices = [c for c in schema[key] if c.get("type") != "null"]
            return _resolve(document, choices[0]) if choices else {}
    return schema


def _wrong(schema: dict[str, Any]) -> list[Any]:
    """Values this property refuses."""
    kind = schema.get("type")
    values: list[Any] = {
        "string": [12345, ""],
        "integer": ["twelve", 1.5],
        "number": ["twelve"],
        "boolean": ["maybe"],
        "array": ["not a list"],
        "object": [7],
    }.get(kind, [{"unexpected": True}])
    if kind == "string":
        if "maxLength" in schema:
            values.append("x" * (schema["maxLength"] + 1))
        if "pattern" in schema:
            values.append("\x01 bad\nvalue")
        if "enum" in schema:
            values.append("none-of-these")
    if kind in ("integer", "number"):
        for key, delta in (("minimum", -1), ("maximum", 1)):
            if key in schema:
                values.append(schema[key] + delta)
        if "exclusiveMaximum" in schema:
            values.append(schema["exclusiveMaximum"])
    if kind == "array" and "maxItems" in schema:
        values.append([None] * (schema["maxItems"] + 1))
    return values


def _bodies(document: dict[str, Any], schema: dict[str, Any]) -> Iterator[Any]:
    schema = _resolve(document, schema)
    yield {}
    yield []
    properties = schema.get("properties", {})
    for name, prop in properties.items():
        for value in _wrong(_resolve(document, prop)):
            yield {name: value}
    yield {"not_a_field": 1}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method, path, content["application/json"]["schema"]


@pytest.fixture
def admin(make_account: Callable[..., Account]) -> Account:
    return make_account("Ada", admin=True)


def _check(answer: Any, where: str) -> None:
    error = answer.json()["error"]
    assert not LIBRARY.search(error["message"]), (where, error)
    for f in error["fields"]:
        assert set(f) == {"field", "label", "reason"}, (where, f)
        assert not LIBRARY.search(f["reason"]), (where, f)
        assert f["label"] and not PATH.search(f["label"]), (where, f)
        assert not re.search(r"\b1 \w+s\b", f["reason"] + error["message"]), (where, f)


def test_no_request_gets_a_library_message_or_a_raw_path(app: FastAPI, admin: Account) -> None:
    document = admin.http.get("/api/openapi.json").json()
    refused: dict[str, int] = {}
    for method, path, schema in _operations(document):
        url = re.sub(r"\{[^}]+\}", "x1", path)
        for body in _bodies(document, schema):
            answer = admin.http.request(method.upper(), url, json=body)
            if answer.status_code == 422:
                _check(answer, f"{method.upper()} {path} {body!r}")
                refused[f"{method} {path}"] = refused.get(f"{method} {path}", 0) + 1
    operations = {f"{m} {p}" for m, p, _ in _operations(document)}
    # Every JSON operation refuses at least one of these bodies as invalid input (none
    # stops earlier at "not found" or "forbidden" before reading its body).
    assert operations - set(refused) == set()
    assert sum(refused.values()) > 200


def test_invalid_input_names_the_field_and_the_constraint_in_words(
    app: FastAPI, admin: Account
) -> None:
    answer = admin.http.post("/api/dashboards", json={"name": "", "widgets": "x"})
    assert answer.status_code == 422
    fields = {f["field"]: f for f in answer.json()["error"]["fields"]}
    assert fields["name"] == {"field": "name", "label": "Name", "reason": "must not be empty"}
    assert fields["widgets"]["reason"] == "must be a list"
    too_long = admin.http.patch("/api/account", json={"name": "x" * 101}).json()["error"]
    assert too_long["fields"] == [
        {"field": "name", "label": "Name", "reason": "must be at most 100 characters"}
    ]
    assert too_long["message"] == "Name must be at most 100 characters."
    token = admin.http.post("/api/account/tokens", json={"name": "t", "expires_in_days": 0})
    assert token.json()["error"]["fields"] == [
        {
            "field": "expires_in_days",
            "label": "Expires after (days)",
            "reason": "must be at least 1",
        }
    ]


def test_a_config_value_is_named_by_its_label_and_its_instance(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    assert INTEGRATION_SCHEMA[0] == {**INTEGRATION_SCHEMA[0], "name": "level", "label": "Level"}
    world = World(app, make_account)
    content = world.content()
    content["integrations"][0]["config"]["level"] = 11
    content["widgets"][0]["w"] = 30
    refused = world.owner.http.post("/api/dashboards", json=content)
    assert refused.status_code == 422
    error = refused.json()["error"]
    fields = {f["field"]: f for f in error["fields"]}
    assert fields["widgets[0].w"]["label"] == "Width (widget 1)"
    content["widgets"][0]["w"] = 12
    refused = world.owner.http.post("/api/dashboards", json=content)
    error = refused.json()["error"]
    assert error["message"] == "The dashboard was not saved: 1 problem to correct."
    assert error["fields"] == [
        {
            "field": "integrations[0].config.level",
            "label": "Level (Tromsø)",
            "reason": "must be at most 10 (between 0 and 10)",
        }
    ]


def test_a_stale_save_says_what_happened_without_revision_numbers(
    app: FastAPI, make_account: Callable[..., Account]
) -> None:
    world = World(app, make_account)
    created = world.create()
    url = f"/api/dashboards/{created['id']}"
    assert world.owner.http.put(url, json=world.content(revision=1)).status_code == 200
    stale = world.owner.http.put(url, json=world.content(revision=1)).json()["error"]
    assert "changed elsewhere" in stale["message"]
    assert not re.search(r"revision \d", stale["message"] + stale["fields"][0]["reason"])
    assert stale["fields"][0]["label"] == "Saved version"


def test_every_pattern_of_the_api_is_said_in_words(admin: Account) -> None:
    document = admin.http.get("/api/openapi.json").json()
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in document["components"]["schemas"].items() if "Public" not in k})
    walk(document["paths"])
    live = {p for p in found if p.startswith("^(dashboard|dev)")}
    assert found - live - set(PATTERNS) == set()


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ({"type": "missing"}, "is required"),
        ({"type": "string_too_short", "ctx": {"min_length": 1}}, "must not be empty"),
        ({"type": "string_too_short", "ctx": {"min_length": 8}}, "must be at least 8 characters"),
        ({"type": "string_too_long", "ctx": {"max_length": 1}}, "must be at most 1 character"),
        ({"type": "too_long", "ctx": {"max_length": 5}}, "must have at most 5 items"),
        ({"type": "too_short", "ctx": {"min_length": 2}}, "must have at least 2 items"),
        ({"type": "int_parsing"}, "must be a whole number"),
        ({"type": "greater_than", "ctx": {"gt": 0}}, "must be more than 0"),
        ({"type": "less_than_equal", "ctx": {"le": 100}}, "must be at most 100"),
        ({"type": "literal_error", "ctx": {"expected": "'a' or 'b'"}}, "must be a or b"),
        ({"type": "enum", "ctx": {"expected": "'x', 'y' or 'z'"}}, "must be x, y or z"),
        ({"type": "url_parsing"}, "must be a web address such as https://example.com"),
        ({"type": "json_invalid"}, "is not valid JSON"),
        ({"type": "model_type"}, "must be a set of names and values"),
        ({"type": "bool_parsing"}, "must be yes or no (true or false)"),
        (
            {"type": "value_error", "ctx": {"reason": "An email address must have an @-sign."}},
            "must be an email address such as ada@example.com",
        ),
        (
            {"type": "value_error", "ctx": {"error": ValueError("widgets have no runtime")}},
            "widgets have no runtime",
        ),
        ({"type": "something_new"}, "is not valid"),
    ],
)
def test_each_validation_error_in_words(error: dict[str, Any], words: str) -> None:
    assert reason_of(error) == words


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("display_name", "Display name"),
        ("integrations[0].config.speed", "Speed (integration 1)"),
        ("widgets[2].w", "Width (widget 3)"),
        ("settings.shadow.opacity", "Shadow opacity"),
        ("tags[3]", "Tag 4"),
        ("quotas.dashboards", "Dashboards (quota)"),
        ("config.json[2].default", "Default (config.json, entry 3)"),
        ("archive:src/x.py", "src/x.py (in the ZIP file)"),
    ],
)
def test_a_path_in_words(path: str, label: str) -> None:
    assert label_of(path) == label
    assert FieldError(path, "is wrong").as_dict()["label"] == label
