"""Request and response models of the accounts API (``/api/auth``, ``/api/account``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

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
# A 6-digit code from an authenticator app or a recovery code ("abcde-fghjk").
Code = Annotated[str, Field(min_length=1, max_length=32)]
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


class SigninTwoFactor(_Input):
    """``POST /api/auth/signin/2fa``: the challenge from the password step and a code
    from the authenticator app (or an unused recovery code)."""

    challenge: str = Field(min_length=1, max_length=1000)
    code: Code


class TwoFactorChallenge(BaseModel):
    """The answer to a right password when the account has two-factor sign-in: no
    session yet; send ``challenge`` with a code to ``POST /api/auth/signin/2fa``
    within five minutes."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    two_factor_required: Literal[True] = True
    challenge: str


class TwoFactorEnrol(_Input):
    """``POST /api/account/2fa``: start the set-up (the current password)."""

    password: Password


class TwoFactorEnrolment(BaseModel):
    """A new secret to add to an authenticator app: as text, as an ``otpauth://`` URI
    and as that URI's QR code (an SVG ``data:`` URI)."""

    secret: str
    uri: str
    qr_svg: str


class TwoFactorConfirm(_Input):
    """``POST /api/account/2fa/confirm``: a current code from the app."""

    code: Code


class TwoFactorDisable(_Input):
    """``POST /api/account/2fa/disable``: the password and a code (or a recovery code)."""

    password: Password
    code: Code


class RecoveryCodes(BaseModel):
    """One-time codes that stand in for the app; the only time they are shown."""

    recovery_codes: list[str]


class TwoFactorStatus(BaseModel):
    """``GET /api/account/2fa``."""

    enabled: bool
    recovery_codes_left: int
    required: bool
    """The server requires two-factor sign-in for this account (an administrator)."""


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
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    id: str
    name: str
    email: str
    is_admin: bool
    email_verified: bool = Field(validation_alias=AliasChoices("email_verified", "is_verified"))
    two_factor_enabled: bool = False
    created_at: Time


class SessionPublic(BaseModel):
    """``GET /api/auth/session``: the signed-in account, or ``null``;
    ``two_factor_setup_required`` when it may do nothing but set up two-factor sign-in
    (an administrator where ACCOUNTS__REQUIRE_2FA_FOR_ADMINS is on)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    user: AccountPublic | None
    two_factor_setup_required: bool = False
    mail: bool = False
    """The server sends mail; without it an administrator verifies new accounts and
    hands out reset links."""
    first_account: bool = False
    """No account exists yet: whoever signs up first becomes the administrator."""


class AccountCreated(AccountPublic):
    """``POST /api/auth/signup``: the new account and what happens next, in words
    (follow the mailed link, or wait for an administrator when the server sends no mail)."""

    message: str


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


class Notice(BaseModel):
    """An accepted request whose effect happens later (for example by mail)."""

    message: str
