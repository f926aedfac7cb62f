"""The sign-in rate limiter, stored in the database so every server node shares it.

Each failed sign-in adds one row per key (the address tried and the client's IP
address). A key with ``limit`` failures inside the last ``window_s`` seconds is
blocked until the oldest of them leaves the window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc, utcnow
from visualbox.db.tables.accounts import SigninFailure
from visualbox.errors import RateLimited
from visualbox.services.tokens import token_hash


class TooManyAttempts(RateLimited):
    """Raised while a key is blocked; ``retry_after`` is whole seconds (≥ 1)."""


def email_key(email: str) -> str:
    return token_hash(f"email:{email}")


def ip_key(address: str) -> str:
    return token_hash(f"ip:{address}")


def check(db: Session, keys: Iterable[str], *, limit: int, window_s: float) -> None:
    """Raise :class:`TooManyAttempts` when any key has ``limit`` recent failures."""
    since = utcnow() - timedelta(seconds=window_s)
    wait = 0.0
    for key in keys:
        recent = select(SigninFailure.failed_at).where(
            SigninFailure.key == key, SigninFailure.failed_at > since
        )
        count = db.scalar(select(func.count()).select_from(recent.subquery())) or 0
        if count < limit:
            continue
        # Blocked until enough failures age out for the count to drop below the limit.
        times = db.scalars(recent.order_by(SigninFailure.failed_at.desc()).limit(limit)).all()
        free_at = as_utc(times[-1]) + timedelta(seconds=window_s)
        wait = max(wait, (free_at - utcnow()).total_seconds())
    if wait > 0:
        error = TooManyAttempts("Too many failed sign-ins; try again later.")
        error.retry_after = max(1, math.ceil(wait))
        raise error


def record_failure(db: Session, keys: Iterable[str], *, window_s: float) -> None:
    """Count one failure against each key (and purge rows older than the window)."""
    now = utcnow()
    db.execute(
        delete(SigninFailure).where(SigninFailure.failed_at <= now - timedelta(seconds=window_s))
    )
    db.add_all(SigninFailure(key=key, failed_at=now) for key in keys)
    db.commit()


def clear(db: Session, key: str) -> None:
    db.execute(delete(SigninFailure).where(SigninFailure.key == key))
    db.commit()
