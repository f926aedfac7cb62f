"""The server's own state: whether this process can serve now (``GET /api/health/ready``).

Liveness (``GET /api/health``) checks nothing: the process answers. Readiness asks
what a request needs: the database (a ``SELECT 1``) and, with a Redis hub, Redis (a
PING through the hub), both at once and each within ``timeout`` seconds, so a load
balancer or Kubernetes stops sending viewers to a node that cannot serve them while
the node itself keeps running (and recovers on its own when they are back).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text

from visualbox.db.engine import Database
from visualbox.errors import FieldError
from visualbox.hub import Hub

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 2.0
"""How long each part may take to answer the readiness check."""


def _select_one(database: Database) -> None:
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


async def _database_problem(database: Database, timeout: float) -> FieldError | None:
    # The engine is synchronous: the query runs in a thread. A database that hangs
    # keeps that thread until the driver gives up, but the answer never waits longer.
    try:
        await asyncio.wait_for(asyncio.to_thread(_select_one, database), timeout)
    except TimeoutError:
        log.warning("Readiness: the database did not answer SELECT 1 within %g s", timeout)
        return FieldError("database", f"did not answer within {timeout:g} s", "Database")
    except Exception as exc:  # the driver's error names hosts and users: logged only
        log.warning("Readiness: the database does not answer: %s", exc)
        return FieldError("database", "does not answer", "Database")
    return None


async def _hub_problem(hub: Hub, timeout: float) -> FieldError | None:
    try:
        await asyncio.wait_for(hub.ping(), timeout)
    except TimeoutError:
        log.warning("Readiness: Redis did not answer PING within %g s", timeout)
        return FieldError("hub", f"did not answer within {timeout:g} s", "Redis (live hub)")
    except Exception as exc:
        log.warning("Readiness: %s", exc)
        return FieldError("hub", "does not answer", "Redis (live hub)")
    return None


_NAMES = {"database": "the database", "hub": "Redis (the live hub)"}


def describe(problems: list[FieldError]) -> str:
    """One sentence for people: ``This server cannot serve now: the database …``."""
    parts = "; ".join(f"{_NAMES.get(p.field, p.field)} {p.reason}" for p in problems)
    return f"This server cannot serve now: {parts}."


async def readiness_problems(
    database: Database, hub: Hub, timeout: float = READY_TIMEOUT_S
) -> list[FieldError]:
    """What keeps this server from serving, one entry per failing part (``database``,
    ``hub``); empty when it is ready. Never raises; the details go to the log, the
    entries say only what failed (the route answers anyone)."""
    found = await asyncio.gather(_database_problem(database, timeout), _hub_problem(hub, timeout))
    return [problem for problem in found if problem is not None]
