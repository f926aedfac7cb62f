"""Field types shared by the request models of several nouns."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
"""A display name (account, module, dashboard): 1-100 characters, no control
characters (PostgreSQL cannot store NUL, and line breaks have no place in a name)."""


def omitted_when_none(description: str | None = None) -> Any:
    """A response field left out of the answer when it is ``None``: optional in the
    OpenAPI document, so generated clients see ``field?: T``."""
    return Field(None, exclude_if=lambda value: value is None, description=description)
