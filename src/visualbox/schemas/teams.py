"""Request and response models of teams (see docs/api/teams.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from visualbox.db.base import as_utc
from visualbox.schemas.common import Name

MemberRole = Literal["viewer", "editor", "admin"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamCreate(_Input):
    name: Name


class TeamUpdate(_Input):
    name: Name


class MemberUpdate(_Input):
    role: MemberRole


class InvitationCreate(_Input):
    email: str = Field(
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="The address to invite, such as ada@example.com.",
    )
    role: MemberRole = "viewer"


class _Utc(BaseModel):
    @field_validator("created_at", "expires_at", check_fields=False)
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)  # SQLite hands back naive datetimes


class TeamPublic(_Utc):
    id: str
    name: str
    role: MemberRole = Field(description="The caller's role in the team.")
    members: int = Field(description="How many members it has.")
    created_at: datetime


class TeamMemberPublic(_Utc):
    user_id: str
    name: str
    email: str
    role: MemberRole
    created_at: datetime


class InvitationPublic(_Utc):
    id: str
    email: str
    role: MemberRole
    created_at: datetime
    expires_at: datetime


class InvitationResult(BaseModel):
    """What ``POST /api/teams/{id}/invitations`` did, in words (``message``): an
    invitation mailed, or (no mail server) the existing account added at once."""

    message: str
    invitation: InvitationPublic | None
    member: TeamMemberPublic | None


class InvitationPreview(BaseModel):
    """What an invitation link offers, for the page that accepts it."""

    team_name: str
    role: MemberRole
    email: str
