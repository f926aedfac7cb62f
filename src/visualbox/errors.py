"""The errors VisualBox raises, and the one shape they take over the API.

Every failure a user can cause is a :class:`VisualBoxError`: it carries a stable
machine-readable ``code``, a human ``message`` and, for bad input, one
:class:`FieldError` per offending field. The API renders it as::

    {"error": {"code": "invalid", "message": "...", "fields": [{"field": ..., "reason": ...}]}}

and the CLI prints the same information as ``field: reason`` lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field.

    ``field`` is a dotted/indexed path such as ``config.json[2].default`` or
    ``body.email``; ``reason`` says what is wrong in plain words.
    """

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class VisualBoxError(Exception):
    """Base class of every error a user can cause."""

    message: str
    fields: list[FieldError] = field(default_factory=list)

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Extra HTTP response headers for this error."""
        return {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": [f.as_dict() for f in self.fields],
            }
        }

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        return self.message + "\n" + "\n".join(f"  {f}" for f in self.fields)


class InvalidInput(VisualBoxError):
    code = "invalid"
    status = 422


class Unauthenticated(VisualBoxError):
    code = "unauthenticated"
    status = 401


class Forbidden(VisualBoxError):
    code = "forbidden"
    status = 403


class NotFound(VisualBoxError):
    code = "not_found"
    status = 404


class Conflict(VisualBoxError):
    code = "conflict"
    status = 409


class Gone(NotFound):
    """It existed and was withdrawn on purpose (a module, a version): the message says
    why, in the withdrawer's words. A :class:`NotFound`, so callers that treat a missing
    thing gracefully treat a withdrawn one the same way."""

    code = "gone"
    status = 410


class InUse(Conflict):
    """A destructive change needs confirmation: others depend on what it removes."""

    code = "in_use"


class TooLarge(VisualBoxError):
    code = "too_large"
    status = 413


class RateLimited(VisualBoxError):
    code = "rate_limited"
    status = 429
    retry_after: int = 1
    """Whole seconds until a retry may succeed; sent as ``Retry-After``."""

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(VisualBoxError):
    """A required component (for example the sandbox) is missing or broken."""

    code = "unavailable"
    status = 503


def invalid(field_name: str, reason: str, message: str | None = None) -> InvalidInput:
    """Shorthand for a single-field :class:`InvalidInput`."""
    return InvalidInput(message or f"{field_name}: {reason}", [FieldError(field_name, reason)])
