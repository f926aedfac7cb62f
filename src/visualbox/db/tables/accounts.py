"""Accounts: users, sign-in sessions, API tokens, one-time email tokens, two-factor
recovery codes and the sign-in throttle's failures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, created_column, id_column, updated_column


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    email_verified_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    """When an administrator disabled the account: it may not sign in, its sessions
    ended and its API tokens stop working until it is enabled again."""
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    """The TOTP secret, encrypted with the server's SecretBox; set from enrolment on."""
    totp_enabled_at: Mapped[datetime | None]
    """When enrolment was confirmed with a code; ``None`` while pending or off."""
    totp_last_step: Mapped[int | None]
    """The 30-second time step of the last accepted code: older or equal ones are refused."""
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None


class UserSession(Base):
    """A browser sign-in. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]


class ApiToken(Base):
    """A personal API token for the CLI and automation (``Authorization: Bearer``)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_column()
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class EmailToken(Base):
    """A one-time link sent by mail: verify an address, reset a password, change email."""

    __tablename__ = "email_tokens"
    __table_args__ = (Index("ix_email_tokens_user_purpose", "user_id", "purpose"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    new_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class RecoveryCode(Base):
    """A one-time two-factor recovery code; only the SHA-256 of the code is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_column()
    used_at: Mapped[datetime | None]


class SigninFailure(Base):
    """One failed sign-in or code, counted by the throttle (shared by every server node).

    ``key`` is the SHA-256 of a kind and its parts (``pair:<client>:<email>``,
    ``client:<address>``, ``account:<email>``, ...), so the table holds no addresses
    in clear. Rows older than the window are purged.
    """

    __tablename__ = "signin_failures"
    __table_args__ = (Index("ix_signin_failures_key_at", "key", "failed_at"),)

    id: Mapped[str] = id_column()
    key: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = created_column()
