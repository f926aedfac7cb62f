"""Request and response models of sharing and public dashboards (docs/api/sharing.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from visualbox.db.base import as_utc
from visualbox.schemas.dashboards import (
    _OUTPUT,
    DashboardSettingsPublic,
    VariablePublic,
    _Timestamps,
)


class SharingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public: bool
    listed: bool = False
    embed_origins: list[Annotated[str, Field(max_length=200)]] | None = Field(
        None,
        max_length=10,
        description="Origins whose pages may embed the public dashboard, such as "
        "https://intranet.example.org; omitted: unchanged.",
    )


class SharingPublic(BaseModel):
    public: bool
    listed: bool
    token: str | None
    url: str | None
    embed_origins: list[str] = Field(description="Origins whose pages may embed it.")
    embed_url: str | None = Field(
        description="The page to put in an <iframe> (the public view without chrome)."
    )


class PublicIntegration(BaseModel):
    id: str
    label: str


class PublicWidget(BaseModel):
    model_config = _OUTPUT

    id: str
    module_id: str
    version: str
    x: int
    y: int
    w: int
    h: int
    config: dict[str, Any]
    source: str | None
    background: str | None
    hide_until_data: bool
    title: str | None
    frame: str | None = Field(
        None, description="The URL its sandboxed iframe loads; null when its module is gone."
    )
    withdrawn: str | None = Field(
        None, description="Why its module or version was withdrawn (then `frame` is null)."
    )


class PublicDashboard(BaseModel):
    """A shared dashboard as any visitor sees it."""

    name: str
    settings: DashboardSettingsPublic
    variables: list[VariablePublic]
    integrations: list[PublicIntegration]
    widgets: list[PublicWidget]
    data: dict[str, Any] = Field(
        description="The last output of each integration instance: {instance id: value}."
    )
    updated_at: datetime

    @field_validator("updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class ExplorerItem(_Timestamps):
    name: str
    token: str
    url: str


class ExplorerPage(BaseModel):
    items: list[ExplorerItem]
    total: int
    page: int
    per_page: int
