"""The OpenAPI document at ``/api/openapi.json``: FastAPI's, plus the error shape
and the live protocol.

Every error the API answers has one shape, ``{"error": {"code", "message",
"fields"}}`` (see ``app.py``), whatever the status. FastAPI only knows its own
``422`` model, which the app never sends; this replaces it and declares the error
shape for every operation's ``4XX`` and ``5XX`` answers, so clients generated from
the document (and schemathesis) expect what the server really sends.

The WebSocket ``/api/live`` is no REST operation, but its messages are part of the
contract too: the document declares them as components (``LiveClientMessage``,
``LiveServerMessage`` and the models they are made of, from ``schemas/live.py``),
so the web app's types for them are generated like the others.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

from visualbox.schemas.live import client_message, server_message


class ErrorField(BaseModel):
    field: str
    """Where the problem is: a body field (``name``, ``widgets[0].source``), a query or
    path parameter, a header, or ``body``. For programs: a form shows the reason under
    the input of that name."""
    label: str
    """For people: the field as the user knows it ("Display name", "Speed (Simulated
    device)"); never a path."""
    reason: str
    """For people: what is wrong, such as "must not be empty"."""


class ErrorDetail(BaseModel):
    code: str
    """Stable and machine-readable: ``invalid``, ``not_found``, ``quota_exceeded`` …"""
    message: str
    """For people: what went wrong and, where it helps, what to do."""
    fields: list[ErrorField]


class ErrorResponse(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_ERROR = {
    "description": "An error, in the shape every error of the API has.",
    "content": {"application/json": {"schema": _ERROR_REF}},
}


FILE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file's bytes, in its own media type.", "content": {"*/*": {}}}
}
"""``responses=`` of a route that answers a module file (any media type)."""
ZIP: dict[int | str, dict[str, Any]] = {
    200: {"description": "A ZIP archive.", "content": {"application/zip": {}}}
}
"""``responses=`` of a route that answers a ZIP archive."""


def _document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorField, ErrorDetail, ErrorResponse):
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        schemas[model.__name__].pop("$defs", None)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault("4XX", _ERROR)
            responses.setdefault("5XX", _ERROR)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _add_live_protocol(schemas)
    return document


def _add_live_protocol(schemas: dict[str, Any]) -> None:
    unions: list[tuple[str, TypeAdapter[Any], Any]] = [
        ("LiveClientMessage", client_message, "validation"),
        ("LiveServerMessage", server_message, "serialization"),
    ]
    for name, adapter, mode in unions:
        schema = adapter.json_schema(mode=mode, ref_template="#/components/schemas/{model}")
        for part, definition in {**schema.pop("$defs", {}), name: schema}.items():
            if schemas.setdefault(part, definition) != definition:
                raise RuntimeError(f"two different schemas are named {part!r} in the API")


def install(app: FastAPI) -> None:
    """Serve the document above (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
