"""Request and response models of the administration of users (``/api/users``)."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from visualbox.schemas.accounts import AccountPublic, Time


class UserPublic(AccountPublic):
    """An account as an administrator sees it: also whether it is disabled."""

    disabled: bool = Field(validation_alias=AliasChoices("disabled", "is_disabled"))


class UserPage(BaseModel):
    """``GET /api/users``: one page of accounts, oldest first."""

    items: list[UserPublic]
    total: int
    offset: int
    limit: int


class UserUpdate(BaseModel):
    """``PATCH /api/users/{id}``: what to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    email_verified: bool | None = None
    disabled: bool | None = None
    is_admin: bool | None = None


class ResetLinkPublic(BaseModel):
    """``POST /api/users/{id}/reset-link``: a one-time link to choose a new password,
    for the administrator to hand over (nothing is mailed)."""

    link: str
    expires_at: Time
