"""Request and response models of dashboards (see docs/api/dashboards.md).

Pydantic checks each field's type and range (so errors name the field); the rules
that need the database or the whole document (modules exist and have the right
kind, config values, unique ids, JSON Pointer sources, ``x + w <= 24``) live in
``services/dashboards.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from visualbox.db.base import as_utc
from visualbox.schemas.common import Name, omitted_when_none

GRID_COLUMNS = 24
HEX_COLOUR = r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"
ITEM_ID = r"^[A-Za-z0-9_-]{1,32}$"
VERSION_SPEC = r"^(?:latest|working|\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?)$"
VARIABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,31}$"
EXPORT_FORMAT = "visualbox.dashboard"
EXPORT_VERSION = 1


class _Input(BaseModel):
    """A request body: unknown fields, read-only ones included, are refused."""

    model_config = ConfigDict(extra="forbid")


_OUTPUT = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)
"""The config of a response model: a field with a default is always sent, so the
OpenAPI document (and the TypeScript generated from it) marks it required."""


class Shadow(_Input):
    opacity: int = Field(3, ge=0, le=100, description="Widget shadow opacity, percent.")
    radius: int = Field(5, ge=0, le=25, description="Widget shadow blur radius, px.")


class DashboardSettings(_Input):
    background: str | None = Field(
        None, pattern=HEX_COLOUR, description="Page colour, #rrggbb or #rrggbbaa."
    )
    radius: int = Field(5, ge=0, le=50, description="Widget border radius, px.")
    shadow: Shadow = Field(default_factory=Shadow)


class ModuleInstance(_Input):
    """What integration instances and widgets share: a module version and its config."""

    id: str = Field(pattern=ITEM_ID, description="Short id, unique in the dashboard.")
    module_id: str = Field(min_length=1, max_length=64)
    version: str = Field("latest", pattern=VERSION_SPEC)
    config: dict[str, Any] = Field(default_factory=dict)


class IntegrationInstance(ModuleInstance):
    """An integration module running for this dashboard."""

    label: str = Field(min_length=1, max_length=100)
    keep_running: bool = False
    history: Literal["bound", "output", "off"] = Field(
        "bound",
        description="What is recorded as history: the values its widgets bind to, those and "
        "its whole output, or nothing.",
    )


class WidgetInstance(ModuleInstance):
    """A widget placed on the 24-column grid."""

    x: int = Field(0, ge=0, lt=GRID_COLUMNS)
    y: int = Field(0, ge=0, le=100_000)
    w: int = Field(6, ge=1, le=GRID_COLUMNS)
    h: int = Field(4, ge=1, le=1_000)
    source: str | None = Field(
        None, max_length=1000, description="JSON Pointer into the data, e.g. /i1/temperature."
    )
    background: str | None = Field(None, pattern=HEX_COLOUR)
    hide_until_data: bool = False
    title: str | None = Field(None, max_length=200)


class Variable(_Input):
    """A dashboard variable: widget sources and config values use it as ``${name}``; each
    viewer picks its value (docs/dashboards.md#variables)."""

    name: str = Field(pattern=VARIABLE_NAME, description="An identifier, used as ${name}.")
    label: str | None = Field(None, max_length=100, description="Shown in the picker.")
    kind: Literal["list", "text", "path"] = Field(
        description="list: fixed values; text: free text; path: the keys of an object or the "
        "items of an array in the data, at ``path``."
    )
    values: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=200, description="The choices of a list variable."
    )
    path: str | None = Field(
        None, max_length=1000, description="Where a path variable's values are: /i1/devices."
    )
    default: str | None = Field(None, max_length=200, description="The value before a choice.")


class DashboardContent(_Input):
    """Everything a save replaces."""

    name: Name
    settings: DashboardSettings = Field(default_factory=DashboardSettings)
    variables: list[Variable] = Field(default_factory=list, max_length=20)
    integrations: list[IntegrationInstance] = Field(default_factory=list, max_length=100)
    widgets: list[WidgetInstance] = Field(default_factory=list, max_length=500)


class DashboardCreate(DashboardContent):
    team_id: str | None = Field(
        None, max_length=32, description="Create it in this team (you must be its editor)."
    )


class DashboardUpdate(DashboardContent):
    revision: int = Field(ge=1, description="The revision this change was based on.")


class DashboardPatch(_Input):
    """Replace only the given top-level parts."""

    revision: int = Field(ge=1, description="The revision this change was based on.")
    team_id: str | None = Field(
        None,
        max_length=32,
        description="Move it into this team, or out of its team with null (admin role).",
    )
    name: Name | None = None
    settings: DashboardSettings | None = None
    variables: list[Variable] | None = Field(None, max_length=20)
    integrations: list[IntegrationInstance] | None = Field(None, max_length=100)
    widgets: list[WidgetInstance] | None = Field(None, max_length=500)


class IntegrationAdd(_Input):
    revision: int = Field(ge=1)
    instance: IntegrationInstance


class IntegrationChange(_Input):
    """Change one integration instance; omitted fields keep their value."""

    revision: int = Field(ge=1)
    label: str | None = Field(None, min_length=1, max_length=100)
    version: str | None = Field(None, pattern=VERSION_SPEC)
    config: dict[str, Any] | None = None
    keep_running: bool | None = None
    history: Literal["bound", "output", "off"] | None = None


class SamplePublic(BaseModel):
    """A sample dashboard: ``name`` for ``POST /api/dashboards/samples/{name}``."""

    name: str
    title: str


class DashboardExport(_Input):
    """The portable form: no ids of this server, no secret values."""

    format: Literal["visualbox.dashboard"] = "visualbox.dashboard"
    version: Literal[1] = 1
    name: Name
    settings: DashboardSettings = Field(default_factory=DashboardSettings)
    variables: list[Variable] = Field(default_factory=list, max_length=20)
    integrations: list[IntegrationInstance] = Field(default_factory=list, max_length=100)
    widgets: list[WidgetInstance] = Field(default_factory=list, max_length=500)


class _Timestamps(BaseModel):
    created_at: datetime
    updated_at: datetime

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)  # SQLite hands back naive datetimes


TeamRole = Literal["owner", "admin", "editor", "viewer"]


class DashboardSummary(_Timestamps):
    id: str
    name: str
    revision: int
    public: bool
    listed: bool
    team_id: str | None = Field(description="The team it belongs to; null for a private one.")
    team_name: str | None
    role: TeamRole = Field(
        description="The caller's role: owner, or their role in the dashboard's team "
        "(docs/teams.md); a viewer gets the stripped view a public link gets."
    )


class VariablePublic(Variable):
    model_config = _OUTPUT


class ShadowPublic(Shadow):
    model_config = _OUTPUT


class DashboardSettingsPublic(DashboardSettings):
    model_config = _OUTPUT

    shadow: ShadowPublic = Field(default_factory=ShadowPublic)


_WITHDRAWN = "Why its module or version was withdrawn; absent when it was not."


class IntegrationPublic(IntegrationInstance):
    """An integration instance in an answer: what was saved, plus ``withdrawn``."""

    model_config = _OUTPUT

    withdrawn: str | None = omitted_when_none(_WITHDRAWN)


class WidgetPublic(WidgetInstance):
    """A widget in an answer: what was saved, plus ``frame`` and ``withdrawn``."""

    model_config = _OUTPUT

    frame: str | None = Field(
        None, description="The URL its sandboxed iframe loads; null when its module is gone."
    )
    withdrawn: str | None = omitted_when_none(_WITHDRAWN)


class DashboardPublic(DashboardSummary):
    """A dashboard as its owner sees it; secrets appear as ``{"secret": true, "set": bool}``."""

    settings: DashboardSettingsPublic
    variables: list[VariablePublic]
    integrations: list[IntegrationPublic]
    widgets: list[WidgetPublic]
    share_url: str | None
