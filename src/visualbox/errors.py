"""The errors VisualBox raises, and the one shape they take over the API.

Every failure a user can cause is a :class:`VisualBoxError`: it carries a stable
machine-readable ``code``, a human ``message`` and, for bad input, one
:class:`FieldError` per offending field. The API renders it as::

    {"error": {"code": "invalid", "message": "...",
               "fields": [{"field": ..., "label": ..., "reason": ...}]}}

and the CLI prints the same information as ``field: reason`` lines. ``field`` is for
programs (a form maps errors to its inputs by it); ``label`` and ``reason`` are for
people: a user never sees a path such as ``integrations[0].config.speed``, but "Speed
(Simulated device)" and "must be at most 10".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field.

    ``field`` is a dotted/indexed path such as ``config.json[2].default`` or
    ``email``; ``reason`` says what is wrong in plain words; ``label`` names the field
    as the user knows it (its label in the form), :func:`label_of` the path if empty.
    """

    field: str
    reason: str
    label: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "label": self.label or label_of(self.field),
            "reason": self.reason,
        }

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


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and the noun that agrees with it: "1 dashboard", "2 dashboards"."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


# -- Field labels ------------------------------------------------------------------

_FILE = re.compile(
    r"^(?P<file>[\w/-][\w./-]*\.(?:json|md|py|js|mjs|go|mod|sum|txt|html|css|toml|ts))"
    r"(?P<rest>(?:[.\[].*)?)$"
)
_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_WORDS = {
    "body": "The request",
    "id": "ID",
    "w": "Width",
    "h": "Height",
    "x": "Column",
    "y": "Row",
    "email": "Email address",
    "module_id": "Module",
    "source": "Data source",
    "revision": "Saved version",
    "hide_until_data": "Hide until data arrives",
    "expires_in_days": "Expires after (days)",
    "cover": "Cover image",
    "challenge": "Sign-in step",
    "token": "Link",
    "user_id": "Account",
    "from": "From",
    "to": "To",
}
"""Labels of field names whose humanised form would not say what the form shows."""
_ITEMS = {
    "integrations": "integration",
    "widgets": "widget",
    "tags": "tag",
    "options": "option",
    "files": "file",
    "fields": "field",
    "recovery_codes": "recovery code",
    "emails": "email address",
    "variables": "variable",
    "values": "value",
    "embed_origins": "origin",
}
"""The singular of each list, to name one of its items: ``widgets[2]`` is "widget 3"."""
_QUIET = {"body", "query", "path", "header", "cookie", "config", "settings", "instance"}
"""Containers a label leaves out: ``integrations[0].config.speed`` is "Speed (integration 1)"."""


def label_of(path: str) -> str:
    """A field path in words, for people: ``display_name`` is "Display name",
    ``widgets[2].w`` "Width (widget 3)", ``config.json[2].default`` "Default (config.json,
    entry 3)". A caller that knows better (the label of a config field, the label of an
    instance) passes ``FieldError(label=...)`` instead."""
    if path.startswith("archive"):
        entry = path.partition(":")[2]
        return f"{entry} (in the ZIP file)" if entry else "The ZIP file"
    file = ""
    matched = _FILE.match(path)
    if matched:
        file, path = matched["file"], matched["rest"]
        if not path:
            return file
    tokens: list[str | int] = [
        int(m[1]) if m[1] is not None else m[2] for m in _TOKEN.finditer(path)
    ]
    context: list[str] = []
    words: list[str] = []
    previous: str | int | None = None
    for token in tokens:
        if isinstance(token, int):
            item = _ITEMS.get(previous, "entry") if isinstance(previous, str) else "entry"
            if words and previous == words[-1]:
                words.pop()
            context.append(f"{item} {token + 1}")
        elif token == "quotas":
            context.append("quota")
        elif token not in _QUIET:
            words.append(token)
        previous = token
    if not words:
        main = context.pop().capitalize() if context else "The request"
    else:
        *parents, last = words
        main = _humanise(last)
        if parents:
            tail = main if main.isupper() else main[0].lower() + main[1:]
            main = f"{_humanise(parents[-1])} {tail}"
    if file:
        context.insert(0, file)
    return f"{main} ({', '.join(context)})" if context else main


def _humanise(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    words = [w for w in re.split(r"[_\-\s]+|(?<=[a-z])(?=[A-Z])", name) if w]
    text = " ".join("ID" if w.lower() == "id" else w.lower() for w in words) or name
    return text[0].upper() + text[1:]


# -- Validation errors in words -----------------------------------------------------

_REASONS = {
    "missing": "is required",
    "extra_forbidden": (
        "is not a field of this request (a typo, or a read-only field): leave it out"
    ),
    "string_type": "must be text",
    "string_unicode": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing_size": "is too large a number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "decimal_parsing": "must be a number",
    "bool_type": "must be yes or no (true or false)",
    "bool_parsing": "must be yes or no (true or false)",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "dict_type": "must be a set of names and values",
    "model_type": "must be a set of names and values",
    "model_attributes_type": "must be a set of names and values",
    "json_invalid": "is not valid JSON",
    "json_type": "must be JSON text",
    "none_required": "must be left empty",
    "url_type": "must be a web address such as https://example.com",
    "url_parsing": "must be a web address such as https://example.com",
    "url_scheme": "must be a web address such as https://example.com",
    "url_syntax_violation": "must be a web address such as https://example.com",
    "date_type": "must be a date written YYYY-MM-DD",
    "date_parsing": "must be a date written YYYY-MM-DD",
    "date_from_datetime_parsing": "must be a date written YYYY-MM-DD",
    "datetime_type": "must be a date and time such as 2026-01-31T12:00:00Z",
    "datetime_parsing": "must be a date and time such as 2026-01-31T12:00:00Z",
    "datetime_from_date_parsing": "must be a date and time such as 2026-01-31T12:00:00Z",
    "uuid_type": "must be an ID",
    "uuid_parsing": "must be an ID",
    "union_tag_invalid": "is not one of the known kinds",
    "union_tag_not_found": "needs a type",
    "frozen_field": "cannot be changed",
    "frozen_instance": "cannot be changed",
    "bytes_type": "must be text",
    "string_pattern_mismatch": "is not in the expected form",
}
"""Words for each pydantic error type our request models can produce (tests/api/test_errors.py
checks that no request gets pydantic's own phrasing)."""


PATTERNS = {
    r"^[^\x00-\x1f\x7f]*$": "must not contain line breaks or other control characters",
    r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$": "must be a colour written #rrggbb or #rrggbbaa",
    r"^[A-Za-z0-9_-]{1,32}$": "must be 1 to 32 letters, digits, - or _",
    r"^(?:latest|working|\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?)$": (
        "must be latest, working or a version such as 1.2.0"
    ),
    r"^[a-z0-9][a-z0-9-]{0,31}$": (
        "must be 1 to 32 lower-case letters, digits or hyphens, not starting with a hyphen"
    ),
    r"^[A-Za-z_][A-Za-z0-9_]{0,31}$": (
        "must be 1 to 32 letters, digits or _, not starting with a digit (such as device)"
    ),
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": "must be an email address such as ada@example.org",
}
"""What each regular expression of the request models asks for, in words
(tests/api/test_errors.py checks that every pattern of the API is here)."""


def reason_of(error: Mapping[str, Any], patterns: Mapping[str, str] = PATTERNS) -> str:
    """What a pydantic validation error (one entry of ``exc.errors()``) says, in words
    with the constraint spelled out: "must not be empty", "must be at most 100
    characters". ``patterns`` maps a regular expression to what it asks for."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "string_too_short":
        n = int(ctx.get("min_length", 1))
        return "must not be empty" if n == 1 else f"must be at least {plural(n, 'character')}"
    if kind == "string_too_long":
        return f"must be at most {plural(int(ctx.get('max_length', 0)), 'character')}"
    if kind == "too_short":
        n = int(ctx.get("min_length", 1))
        return "must not be empty" if n == 1 else f"must have at least {plural(n, 'item')}"
    if kind == "too_long":
        return f"must have at most {plural(int(ctx.get('max_length', 0)), 'item')}"
    limits = {
        "greater_than": ("gt", "must be more than"),
        "greater_than_equal": ("ge", "must be at least"),
        "less_than": ("lt", "must be less than"),
        "less_than_equal": ("le", "must be at most"),
        "multiple_of": ("multiple_of", "must be a multiple of"),
    }
    if kind in limits:
        key, words = limits[kind]
        return f"{words} {ctx.get(key)}"
    if kind in ("literal_error", "enum"):
        return f"must be {str(ctx.get('expected', '')).replace(chr(39), '')}"
    if kind == "string_pattern_mismatch":
        return patterns.get(str(ctx.get("pattern")), _REASONS[kind])
    if kind == "value_error" and "reason" in ctx:  # email-validator
        return "must be an email address such as ada@example.com"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"]).removeprefix("Value error, ").rstrip(".")
    return _REASONS.get(kind, "is not valid")


def path_of(loc: Iterable[int | str]) -> str:
    """A pydantic location as a field path: ``("body", "widgets", 2, "w")`` is
    ``widgets[2].w`` (where the request carried it is left out)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def from_validation(
    errors: Iterable[Mapping[str, Any]], patterns: Mapping[str, str] = PATTERNS
) -> list[FieldError]:
    """pydantic's ``exc.errors()`` as :class:`FieldError` s in words."""
    return [
        FieldError(
            "body" if e.get("type") == "json_invalid" else path_of(e.get("loc", ())),
            reason_of(e, patterns),
        )
        for e in errors
    ]
