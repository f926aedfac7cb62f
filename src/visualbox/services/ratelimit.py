"""The sign-in rate limiter, stored in the database so every server node shares it.

Each sign-in attempt adds one row per key (the address tried and the client's IP
address) *before* the password is checked, and counts the rows including its
own: so concurrent attempts cannot all slip past the check before any failure is
written. An attempt over the limit removes its rows again and is refused; a
successful one removes its rows; a failed one leaves them as failures. A key
with ``limit`` failures inside the last ``window_s`` seconds is blocked until the
oldest of them leaves the window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def begin(db: Session, keys: Sequence[str], *, limit: int, window_s: float) -> list[str]:
    """Count an attempt against every key; raise :class:`TooManyAttempts` when over
    the limit. Returns the ids of the attempt's rows: pass them to :func:`succeeded`
    when the password was right; leave them when it was wrong (they are failures)."""
    now = utcnow()
    since = now - timedelta(seconds=window_s)
    db.execute(delete(SigninFailure).where(SigninFailure.failed_at <= since))
    rows = [SigninFailure(key=key, failed_at=now) for key in keys]
    db.add_all(rows)
    db.commit()
    ids = [row.id for row in rows]
    wait = 0.0
    for key in keys:
        recent = select(SigninFailure.failed_at).where(
            SigninFailure.key == key, SigninFailure.failed_at > since
        )
        count = db.scalar(select(func.count()).select_from(recent.subquery())) or 0
        if count <= limit:  # this attempt included
            continue
        # Blocked until enough failures age out for the count to drop below the limit.
        times = db.scalars(recent.order_by(SigninFailure.failed_at.desc()).limit(limit + 1)).all()
        free_at = as_utc(times[-1]) + timedelta(seconds=window_s)
        wait = max(wait, (free_at - utcnow()).total_seconds(), 1.0)
    if wait > 0:
        succeeded(db, ids)  # a refused attempt is not a failure: it must not extend the block
        error = TooManyAttempts("Too many failed sign-ins; try again later.")
        error.retry_after = max(1, math.ceil(wait))
        raise error
    return ids


def succeeded(db: Session, ids: Sequence[str]) -> None:
    """Remove an attempt's rows: it was not a failure."""
    db.execute(delete(SigninFailure).where(SigninFailure.id.in_(ids)))
    db.commit()


def clear(db: Session, key: str) -> None:
    db.execute(delete(SigninFailure).where(SigninFailure.key == key))
    db.commit()
