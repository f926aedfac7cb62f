"""Request and response models of dashboard versions (see docs/api/dashboards.md).

A version holds the dashboard as saved; password values never appear, only the marker
``{"secret": true, "set": bool}`` (and, side by side, "•••• (set)").
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from visualbox.db.base import as_utc
from visualbox.schemas.dashboards import (
    GRID_COLUMNS,
    DashboardPublic,
    DashboardSettingsPublic,
    IntegrationInstance,
    WidgetInstance,
)

_OUTPUT = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)


class VersionAuthor(BaseModel):
    id: str
    name: str


class DashboardVersionSummary(BaseModel):
    """One saved version: ``number`` is the dashboard revision the save made."""

    number: int
    saved_at: datetime
    saved_by: VersionAuthor | None = Field(
        description="Who saved it; null once their account is deleted."
    )
    summary: str = Field(description="What the save changed, in words.")

    @field_validator("saved_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)  # SQLite hands back naive datetimes


class DashboardVersionPage(BaseModel):
    """``GET /api/dashboards/{id}/versions``: one page of versions, newest first."""

    items: list[DashboardVersionSummary]
    total: int
    offset: int
    limit: int


class VersionIntegration(IntegrationInstance):
    model_config = _OUTPUT


class VersionWidget(WidgetInstance):
    model_config = _OUTPUT


class DashboardVersionPublic(DashboardVersionSummary):
    """A version with the dashboard as it was saved (passwords as markers)."""

    name: str
    settings: DashboardSettingsPublic
    integrations: list[VersionIntegration]
    widgets: list[VersionWidget]


class LayoutCell(BaseModel):
    """A widget of one side's layout; ``status`` compares it with the other side."""

    id: str
    label: str
    x: int
    y: int
    w: int
    h: int
    status: Literal["same", "added", "removed", "changed"]


class FieldChange(BaseModel):
    """One changed field; a value as text (JSON for numbers and lists), a password only as
    "•••• (set)" or "(not set)", null when absent on that side."""

    name: str
    before: str | None
    after: str | None


class ItemChange(BaseModel):
    kind: Literal["dashboard", "integration", "widget"]
    id: str
    label: str
    status: Literal["added", "removed", "changed"]
    fields: list[FieldChange]


class DashboardVersionCompare(BaseModel):
    """Two versions side by side: what changed in words, both layouts, changed fields."""

    before: DashboardVersionSummary
    after: DashboardVersionSummary
    changes: list[str]
    columns: int = Field(GRID_COLUMNS, description="Columns of the layout grid.")
    before_cells: list[LayoutCell]
    after_cells: list[LayoutCell]
    items: list[ItemChange]

    model_config = _OUTPUT


class VersionRestore(BaseModel):
    """``POST .../versions/{number}/restore``: a save, so based on the current revision."""

    model_config = ConfigDict(extra="forbid")

    revision: int = Field(ge=1, description="The revision this restore is based on.")


class VersionRestored(BaseModel):
    dashboard: DashboardPublic
    version: DashboardVersionSummary = Field(description="The new version the restore saved.")
    lost_secrets: list[str] = Field(
        description="Passwords of the restored version that could not be kept (their item "
        "or module changed since), in words; enter them again."
    )
