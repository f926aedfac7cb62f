"""Users as an administrator sees them: the list, verifying, disabling, the
administrator role and reset links to hand over (a server without mail needs them).

An administrator may not remove their own administrator role, disable or un-verify
their own account: a server must never lose its last way in by a slip of the hand.
System accounts (the built-in modules' publisher) are not users: they are not
listed and an id of one is :class:`NotFound`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from visualbox.db.base import utcnow
from visualbox.db.tables.accounts import User
from visualbox.errors import Conflict, NotFound
from visualbox.services import accounts
from visualbox.settings import Settings


def list_users(db: Session, *, offset: int, limit: int) -> tuple[Sequence[User], int]:
    """One page of (non-system) accounts, oldest first, and the total count."""
    users = db.scalars(
        select(User)
        .where(User.is_system.is_(False))
        .order_by(User.created_at, User.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return users, accounts.count_users(db)


def get_user(db: Session, user_id: str) -> User:
    user = db.get(User, user_id)
    if user is None or user.is_system:
        raise NotFound("No such user.")
    return user


def update_user(
    db: Session,
    admin: User,
    user_id: str,
    *,
    verified: bool | None = None,
    disabled: bool | None = None,
    is_admin: bool | None = None,
) -> User:
    """Change what is given (``None``: leave as is). Disabling ends every session of
    the account; its API tokens stop working while it is disabled."""
    user = get_user(db, user_id)
    if user.id == admin.id:
        if is_admin is False:
            raise Conflict(
                "You cannot remove your own administrator role: another administrator must do it."
            )
        if disabled:
            raise Conflict("You cannot disable your own account.")
        if verified is False:
            raise Conflict("You cannot mark your own account as not verified.")
    if verified is not None and verified != user.is_verified:
        user.email_verified_at = utcnow() if verified else None
    if disabled is not None and disabled != user.is_disabled:
        user.disabled_at = utcnow() if disabled else None
        if disabled:
            accounts.end_sessions(db, user)
    if is_admin is not None:
        user.is_admin = is_admin
    db.commit()
    return user


@dataclass(frozen=True)
class ResetLink:
    link: str
    expires_at: datetime


def reset_link(db: Session, settings: Settings, user_id: str) -> ResetLink:
    """A one-time link to choose a new password (one hour), for an administrator to
    hand over; following it also verifies the address. Earlier links stay valid."""
    user = get_user(db, user_id)
    link = accounts.new_link(db, settings, user, "reset")
    return ResetLink(link=link, expires_at=utcnow() + accounts.LINK_LIFETIME["reset"])
