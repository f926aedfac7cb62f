"""Response models of the server's own routes (``GET /api/health``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HealthPublic(BaseModel):
    ok: bool = Field(description="Always true: the server answers and its database is open.")
    version: str = Field(description="The VisualBox version the server runs.")
    database: str = Field(description="The database dialect: sqlite or postgresql.")
