"""Request and response models of the registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from visualbox.schemas.common import Name
from visualbox.schemas.modules import ForkedFrom


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
    version: str
    yanked: bool
    created_at: datetime
    changelog: str
    withdrawn: bool = False
    """Its files are gone for good; ``withdrawn_reason`` says why."""
    withdrawn_reason: str | None = None
    withdrawn_at: datetime | None = None


class VersionPublic(VersionSummary):
    module_id: str
    runtime: str | None
    content_hash: str
    size: int
    readme: str
    config_schema: list[Any]
    manifest: dict[str, Any]


class SearchItem(BaseModel):
    id: str
    name: str
    description: str
    kind: str
    runtime: str | None
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
