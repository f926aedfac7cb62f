"""Request and response models of snapshots (docs/api/snapshots.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from visualbox.db.base import as_utc
from visualbox.schemas.dashboards import DashboardSettingsPublic
from visualbox.schemas.history import HistoryPublic
from visualbox.schemas.sharing import PublicIntegration, PublicWidget

Moment = int | str
_MOMENT = "must be a time: ISO 8601 such as 2026-12-02T17:00:00Z, or milliseconds since 1970-01-01"


def to_ms(value: int | str) -> int:
    """ISO 8601 (UTC unless it says otherwise) or milliseconds since the epoch."""
    if isinstance(value, int):
        return value
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(_MOMENT) from None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


class SnapshotCreate(BaseModel):
    """A snapshot of the dashboard over ``[from, to)``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(
        None, max_length=100, description="Its name; default: the dashboard's name."
    )
    start: Moment = Field(
        alias="from",
        description="Start of the range: ISO 8601 (UTC unless it says otherwise) or ms "
        "since the epoch.",
    )
    end: Moment = Field(alias="to", description="End of the range (excluded), at most now.")

    @field_validator("start", "end")
    @classmethod
    def _moment(cls, value: int | str) -> int:
        return to_ms(value)


class SnapshotPublic(BaseModel):
    """A snapshot as its owner lists it."""

    id: str
    name: str
    dashboard_id: str
    start: int = Field(description="Start of the range (included), ms since the epoch.")
    end: int = Field(description="End of the range (excluded), ms since the epoch.")
    size: int = Field(description="Bytes it takes (the snapshot_bytes quota).")
    token: str
    url: str = Field(description="Its public link: PUBLIC_URL/s/<token>.")
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class PublicSnapshot(BaseModel):
    """Everything a visitor's browser needs to draw a snapshot."""

    name: str
    dashboard_name: str = Field(description="The dashboard's name when it was taken.")
    start: int
    end: int
    created_at: datetime
    settings: DashboardSettingsPublic
    integrations: list[PublicIntegration]
    widgets: list[PublicWidget]
    data: dict[str, Any] = Field(
        description="Each instance's values at the end of the range, as its output: "
        "{instance id: value} (only what widgets bind to)."
    )
    series: list[HistoryPublic] = Field(
        description="Every bound series over the range, downsampled to at most about 1000 points."
    )

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)
