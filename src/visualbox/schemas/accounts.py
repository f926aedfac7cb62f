"""Request and response models of the accounts API (``/api/auth``, ``/api/account``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
)

from visualbox.db.base import as_utc
from visualbox.schemas.common import Name

# Upper bound only so that nobody makes the server hash megabytes.
NewPassword = Annotated[str, Field(min_length=8, max_length=1024)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Token = Annotated[str, Field(min_length=1, max_length=200)]
# SQLite hands back naive datetimes; every stored time is UTC, say so in the answer.
Time = Annotated[datetime, AfterValidator(as_utc)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountCreate(_Input):
    """``POST /api/auth/signup``."""

    name: Name
    email: EmailStr
    password: NewPassword


class Signin(_Input):
    """``POST /api/auth/signin``."""

    email: str = Field(min_length=1, max_length=254)
    password: Password


class EmailTokenUse(_Input):
    """``POST /api/auth/verify``: the token from a verification or change-email link."""

    token: Token


class PasswordForgot(_Input):
    """``POST /api/auth/forgot``."""

    email: str = Field(min_length=1, max_length=254)


class PasswordReset(_Input):
    """``POST /api/auth/reset``: the token from a reset link and the new password;
    ``revoke_tokens`` (default true) also revokes every API token of the account."""

    token: Token
    password: NewPassword
    revoke_tokens: bool = True


class AccountUpdate(_Input):
    """``PATCH /api/account``."""

    name: Name


class EmailChange(_Input):
    """``POST /api/account/email``: the new address and the current password."""

    email: EmailStr
    password: Password


class PasswordChange(_Input):
    """``POST /api/account/password``."""

    current_password: Password
    new_password: NewPassword


class ApiTokenCreate(_Input):
    """``POST /api/account/tokens``; no ``expires_in_days`` means it never expires."""

    name: Name
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class AccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    email: str
    is_admin: bool
    email_verified: bool = Field(validation_alias=AliasChoices("email_verified", "is_verified"))
    created_at: Time


class SessionPublic(BaseModel):
    """``GET /api/auth/session``: the signed-in account, or ``null``."""

    user: AccountPublic | None


class ApiTokenPublic(BaseModel):
    """A token as listed: never the secret itself, only its first characters."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str
    created_at: Time
    last_used_at: Time | None
    expires_at: Time | None


class ApiTokenCreated(ApiTokenPublic):
    """The answer to creating a token: the only time ``token`` is shown."""

    token: str


class AccountPage(BaseModel):
    """``GET /api/users``: one page of accounts, oldest first."""

    items: list[AccountPublic]
    total: int
    offset: int
    limit: int


class Notice(BaseModel):
    """An accepted request whose effect happens later (for example by mail)."""

    message: str
