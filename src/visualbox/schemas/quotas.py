"""Request and response models of the quotas API (``/api/users/{id}/quotas``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Count = Annotated[int | None, Field(ge=0, le=1 << 62)]


class QuotaPublic(BaseModel):
    limit: int | None = Field(description="What applies to the account; null: unlimited.")
    default: int = Field(description="The server's setting (VISUALBOX_QUOTAS__<NAME>).")
    override: int | None = Field(description="The account's own limit; null: the default.")
    used: int | None = Field(description="Current use; null when not counted (a rate).")


class QuotasPublic(BaseModel):
    user_id: str
    exempt: bool = Field(description="The system account (built-in modules) has no quotas.")
    quotas: dict[str, QuotaPublic]


class QuotasUpdate(BaseModel):
    """Overrides to set (a number) or clear (null: back to the default); others are kept."""

    model_config = ConfigDict(extra="forbid")

    dashboards: Count = None
    modules: Count = None
    instances_per_dashboard: Annotated[int | None, Field(ge=0, le=100)] = None
    keep_running: Count = None
    sandboxes: Count = None
    output_bytes_per_s: Annotated[int | None, Field(ge=1024, le=1 << 62)] = None
    module_bytes: Count = None
    snapshots: Count = None
    snapshot_bytes: Count = None
    history_bytes: Count = None
