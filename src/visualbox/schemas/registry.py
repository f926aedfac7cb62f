"""Request and response models of the registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from visualbox.schemas.common import Name, omitted_when_none
from visualbox.schemas.modules import ForkedFrom, Kind, Runtime

FieldType = Literal[
    "text", "password", "textarea", "number", "color", "switch", "slider", "select", "date"
]
"""``config_schema.FIELD_TYPES`` (``tests/schemas/test_registry.py`` keeps them equal)."""
Scalar = str | bool | int | float


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    changelog: str = Field("", max_length=20_000)


class ForkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field("latest", min_length=1, max_length=64)
    name: Name | None = None


class WithdrawCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why; shown to everyone.")
    confirm: bool = Field(False, description="Withdraw even though dashboards depend on it.")


class VersionSummary(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    version: str
    yanked: bool
    created_at: datetime
    changelog: str
    withdrawn: bool = False
    """Its files are gone for good; ``withdrawn_reason`` says why."""
    withdrawn_reason: str | None = None
    withdrawn_at: datetime | None = None


class SelectOptionPublic(BaseModel):
    label: str
    value: Scalar


class ConfigFieldPublic(BaseModel):
    """One normalised ``config.json`` entry (``modules/config_schema.py``, docs/modules.md);
    keys that do not apply to its type are absent."""

    type: FieldType
    name: str
    label: str
    default: Any
    required: bool
    description: str | None = omitted_when_none()
    placeholder: str | None = omitted_when_none()
    options: list[SelectOptionPublic] | None = omitted_when_none()
    min: int | float | None = omitted_when_none()
    max: int | float | None = omitted_when_none()
    step: int | float | None = omitted_when_none()


class ManifestPublic(BaseModel):
    """``visualbox.json`` as published (``modules/manifest.py``); empty once the version
    is withdrawn, and ``runtime``, ``version`` and ``sample`` are absent when not given."""

    name: str | None = omitted_when_none()
    kind: Kind | None = omitted_when_none()
    runtime: Runtime | None = omitted_when_none()
    description: str | None = omitted_when_none()
    tags: list[str] | None = omitted_when_none()
    version: str | None = omitted_when_none()
    sample: Any = omitted_when_none(
        "Example data: what a widget's preview shows, or what an integration outputs."
    )


class VersionPublic(VersionSummary):
    module_id: str
    runtime: Runtime | None
    content_hash: str
    size: int
    readme: str
    config_schema: list[ConfigFieldPublic]
    manifest: ManifestPublic


class SearchItem(BaseModel):
    id: str
    name: str
    description: str
    kind: Kind
    runtime: Runtime | None
    tags: list[str]
    cover: str | None
    owner_name: str
    latest_version: str | None
    published_at: datetime | None
    forks: int
    uses: int


class RegistryModulePublic(SearchItem):
    """A module as the registry shows it; ``versions`` lists yanked ones to managers only,
    withdrawn ones (with their reason) to everyone."""

    versions: list[VersionSummary]
    forked_from: ForkedFrom | None


class SearchPage(BaseModel):
    items: list[SearchItem]
    total: int
    page: int
    per_page: int
