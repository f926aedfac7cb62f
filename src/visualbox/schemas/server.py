"""Response models of the server's own routes (``GET /api/health``, ``/api/health/ready``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HealthPublic(BaseModel):
    ok: bool = Field(
        description="Always true: the server process answers (liveness; it checks nothing "
        "else: `GET /api/health/ready` checks the database and Redis)."
    )
    version: str = Field(description="The VisualBox version the server runs.")
    database: str = Field(description="The database dialect: sqlite or postgresql.")


class ReadinessPublic(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    ready: bool = Field(
        default=True,
        description="Always true: the database answered `SELECT 1` and the hub (Redis, "
        "when configured) answered PING; otherwise the route answers 503.",
    )
    version: str = Field(description="The VisualBox version the server runs.")
    database: str = Field(description="The database dialect: sqlite or postgresql.")
    hub: Literal["memory", "redis"] = Field(
        description="Where live rooms are: in this process (memory) or shared (redis)."
    )
