"""Request and response models of alert rules (docs/api/alerts.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, JsonValue, field_validator

from visualbox.db.base import as_utc
from visualbox.schemas.common import Name, omitted_when_none

Condition = Literal["above", "below", "equals", "changed", "no_data"]
AlertStateName = Literal["ok", "pending", "firing"]
EventKind = Literal["fired", "resolved", "silenced", "unsilenced"]

_SOURCE = (
    "The data the rule watches: /<instance id>/<JSON Pointer into its output>, as a widget's "
    "source, e.g. /i1/battery."
)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertRuleCreate(_Rule):
    name: Name
    source: str = Field(min_length=2, max_length=1000, description=_SOURCE)
    condition: Condition
    threshold: JsonValue = Field(
        None,
        description="The value compared with: a number for above and below, any JSON value "
        "for equals; unused by changed and no_data.",
    )
    for_s: float = Field(
        0, ge=0, le=86_400, description="Seconds the condition must hold before it fires."
    )
    no_data_s: float | None = Field(
        None,
        gt=0,
        le=7 * 86_400,
        description="no_data: seconds without a value at the source before it fires.",
    )
    emails: list[EmailStr] = Field(
        default_factory=list,
        max_length=10,
        description="Addresses told when it fires and resolves.",
    )
    webhook_url: str | None = Field(
        None, max_length=2000, description="An http(s) URL that gets a signed POST."
    )
    webhook_secret: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        description="Key of the webhook's HMAC-SHA256 signature. Write-only: never returned.",
    )
    enabled: bool = True


class AlertRuleUpdate(_Rule):
    """Only the fields given change; ``webhook_secret`` omitted keeps the stored one."""

    name: Name | None = None
    source: str | None = Field(None, min_length=2, max_length=1000, description=_SOURCE)
    condition: Condition | None = None
    threshold: JsonValue = None
    for_s: float | None = Field(None, ge=0, le=86_400)
    no_data_s: float | None = Field(None, gt=0, le=7 * 86_400)
    emails: list[EmailStr] | None = Field(None, max_length=10)
    webhook_url: str | None = Field(None, max_length=2000, description="'' removes the webhook.")
    webhook_secret: str | None = Field(None, min_length=16, max_length=200)
    enabled: bool | None = None


class AlertRulePublic(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str
    dashboard_id: str
    name: str
    source: str
    condition: Condition
    threshold: JsonValue
    for_s: float
    no_data_s: float | None
    emails: list[str]
    webhook_url: str | None
    webhook_secret_set: bool = Field(description="A signing secret is stored (never shown).")
    enabled: bool
    silenced_until: datetime | None = omitted_when_none("Notifications are off until then.")
    state: AlertStateName
    state_since: datetime
    value: JsonValue = Field(description="The value at the last change of state.")

    @field_validator("silenced_until", "state_since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None


class AlertEventPublic(BaseModel):
    kind: EventKind
    at: datetime
    value: JsonValue
    notified: bool = Field(description="Notifications were sent (not silenced, under the limit).")

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class AlertSilence(_Rule):
    minutes: float = Field(gt=0, le=30 * 24 * 60, description="How long, in minutes.")


class AlertTestResult(BaseModel):
    queued: int = Field(description="Notifications queued (one per address, one webhook).")
