"""Accounts: create users, check passwords, sign-in sessions and API tokens.

Services are the only layer that touches the database; each write commits.
"""

from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc, utcnow
from visualbox.db.tables.accounts import ApiToken, User, UserSession
from visualbox.errors import Conflict, FieldError, InvalidInput
from visualbox.services.tokens import new_token, token_hash

API_TOKEN_PREFIX = "vbx_"
MIN_PASSWORD = 8

_hasher = PasswordHasher()
# A real hash to verify against when the email is unknown, so that timing does not
# tell which addresses have accounts.
_DUMMY_HASH = _hasher.hash("not a real password")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            "The password is too short.",
            [FieldError(field, f"must be at least {MIN_PASSWORD} characters")],
        )


def verify_password(user: User | None, password: str) -> bool:
    """Check a password in constant-ish time, also when there is no such user."""
    stored = user.password_hash if user is not None else None
    try:
        ok = _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


def user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == normalize_email(email)))


def count_users(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User).where(User.is_system.is_(False))) or 0


def create_user(
    db: Session,
    *,
    name: str,
    email: str,
    password: str | None,
    is_admin: bool = False,
    verified: bool = False,
    is_system: bool = False,
) -> User:
    email = normalize_email(email)
    if user_by_email(db, email) is not None:
        raise Conflict(
            "An account with this email already exists.",
            [FieldError("email", "is already registered")],
        )
    if password is not None:
        check_password_strength(password)
    user = User(
        name=name.strip(),
        email=email,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
        is_system=is_system,
        email_verified_at=utcnow() if verified else None,
    )
    db.add(user)
    db.commit()
    return user


# -- sessions ---------------------------------------------------------------------------


def create_session(db: Session, user: User, *, days: int) -> str:
    """Start a sign-in session; returns the cookie value (only its hash is stored)."""
    token = new_token()
    db.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    db.commit()
    return token


def user_for_session(db: Session, token: str) -> User | None:
    row = db.get(UserSession, token_hash(token))
    if row is None or as_utc(row.expires_at) <= utcnow():
        return None
    return db.get(User, row.user_id)


def end_session(db: Session, token: str) -> None:
    row = db.get(UserSession, token_hash(token))
    if row is not None:
        db.delete(row)
        db.commit()


def end_all_sessions(db: Session, user: User) -> None:
    db.query(UserSession).filter(UserSession.user_id == user.id).delete()
    db.commit()


# -- API tokens -------------------------------------------------------------------------


def create_api_token(db: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a personal API token; returns the row and the token (shown once)."""
    token = new_token(API_TOKEN_PREFIX)
    row = ApiToken(
        user_id=user.id,
        name=name.strip() or "token",
        token_hash=token_hash(token),
        prefix=token[: len(API_TOKEN_PREFIX) + 4],
    )
    db.add(row)
    db.commit()
    return row, token


def user_for_api_token(db: Session, token: str) -> User | None:
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= utcnow()):
        return None
    now = utcnow()
    if row.last_used_at is None or now - as_utc(row.last_used_at) > timedelta(minutes=1):
        row.last_used_at = now
        db.commit()
    return db.get(User, row.user_id)
