"""HTTP routes of the server itself: liveness and readiness (docs/api/server.md)."""

from __future__ import annotations

from fastapi import APIRouter

from visualbox import __version__
from visualbox.api.deps import DatabaseDep, LiveDep
from visualbox.errors import Unavailable
from visualbox.schemas.server import HealthPublic, ReadinessPublic
from visualbox.services import server

router = APIRouter(tags=["server"])


@router.get("/health")
def health(database: DatabaseDep) -> HealthPublic:
    """Liveness: the process answers. Checks nothing else, so it stays cheap."""
    return HealthPublic(ok=True, version=__version__, database=database.dialect)


@router.get("/health/ready")
async def ready(database: DatabaseDep, live: LiveDep) -> ReadinessPublic:
    """Readiness: the database and Redis (when configured) answer; 503 naming what does not."""
    problems = await server.readiness_problems(database, live.hub)
    if problems:
        raise Unavailable(server.describe(problems), problems)
    hub = "redis" if live.hub.shared else "memory"
    return ReadinessPublic(version=__version__, database=database.dialect, hub=hub)
