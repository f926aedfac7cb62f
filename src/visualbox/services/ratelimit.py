"""Sign-in throttling, stored in the database so every server node shares it.

Failures are counted under *keys*, each a :class:`Budget`: a number of free
failures inside a window, after which every further attempt under that key must
wait for a delay after the key's latest failure: ``delay_s``, then twice that, four
times … up to ``max_delay_s``. An attempt that comes too early is refused (429 with
``Retry-After``) without being counted, so nothing is ever locked for longer than
the cap, and a refused attempt does not lengthen the wait. Sign-in uses three keys
(see :func:`visualbox.services.accounts.sign_in`): the (client address, account)
pair, tight; the client address across accounts (password spraying); and the
account across addresses (distributed guessing), loose. A stranger's failures from
their own address therefore slow down only that address, never the owner's.

Each attempt adds one row per key *before* the password is checked and counts the
rows including its own and those of attempts still running: so concurrent attempts
cannot all slip past the check before any failure is written (at most the free
failures, then one attempt per delay, get through). A refused attempt removes its
rows again; a successful one removes its rows (:func:`succeeded`); a failed one
leaves them as failures, forgotten after the window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc, utcnow
from visualbox.db.tables.accounts import SigninFailure
from visualbox.errors import RateLimited
from visualbox.services.tokens import token_hash
from visualbox.settings import AccountSettings

KEEP_S = 86400.0
"""Failures are kept at least this long (the longest window in use), then purged."""


class TooManyAttempts(RateLimited):
    """Raised while a key must wait; ``retry_after`` is whole seconds (≥ 1)."""


@dataclass(frozen=True)
class Budget:
    """How many failures under one key are free, and how long the waits after them are."""

    key: str
    free: int
    delay_s: float
    max_delay_s: float
    window_s: float
    """Failures older than this no longer count."""

    def wait_after(self, failures: int) -> float:
        """The wait after the latest of ``failures`` earlier failures (0 while free)."""
        if failures < self.free:
            return 0.0
        return float(min(self.max_delay_s, self.delay_s * 2 ** min(failures - self.free, 62)))


def signin_budget(limits: AccountSettings, key: str, free: int) -> Budget:
    """A budget of ``free`` failures under ``key`` with the sign-in waits and window
    of the settings (``ACCOUNTS__SIGNIN_DELAY_S`` and the rest)."""
    return Budget(
        key, free, limits.signin_delay_s, limits.signin_max_delay_s, limits.signin_window_s
    )


def key(kind: str, *parts: str) -> str:
    """A key for ``kind`` (``pair``, ``client``, ``account``, …); only its hash is stored."""
    return token_hash(":".join((kind, *parts)))


def begin(db: Session, budgets: Sequence[Budget]) -> list[str]:
    """Count an attempt under every budget's key; raise :class:`TooManyAttempts` when it
    comes too early for any of them. Returns the ids of the attempt's rows: pass them to
    :func:`succeeded` when the attempt was right; leave them when it was wrong."""
    now = utcnow()
    keep_s = max([KEEP_S, *(budget.window_s for budget in budgets)])
    db.execute(
        delete(SigninFailure).where(SigninFailure.failed_at <= now - timedelta(seconds=keep_s))
    )
    rows = [SigninFailure(key=budget.key, failed_at=now) for budget in budgets]
    db.add_all(rows)
    db.commit()
    ids = [row.id for row in rows]
    wait = 0.0
    for budget, own in zip(budgets, ids, strict=True):
        others = (
            select(SigninFailure.failed_at)
            .where(
                SigninFailure.key == budget.key,
                SigninFailure.failed_at > now - timedelta(seconds=budget.window_s),
                SigninFailure.id != own,
            )
            .subquery()
        )
        count, latest = db.execute(select(func.count(), func.max(others.c.failed_at))).one()
        delay = budget.wait_after(count)
        if delay > 0 and latest is not None:
            wait = max(wait, (as_utc(latest) + timedelta(seconds=delay) - utcnow()).total_seconds())
    if wait > 0:
        succeeded(db, ids)  # a refused attempt is not a failure: it must not lengthen the wait
        error = TooManyAttempts("Too many failed attempts; wait a moment and try again.")
        error.retry_after = max(1, math.ceil(wait))
        raise error
    return ids


def succeeded(db: Session, ids: Sequence[str]) -> None:
    """Remove an attempt's rows: it was not a failure."""
    db.execute(delete(SigninFailure).where(SigninFailure.id.in_(ids)))
    db.commit()


def clear(db: Session, *keys: str) -> None:
    """Forget every failure under ``keys``."""
    db.execute(delete(SigninFailure).where(SigninFailure.key.in_(keys)))
    db.commit()
