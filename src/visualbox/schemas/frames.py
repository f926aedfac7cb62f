"""Response models of frame tickets (docs/api/frames.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FramePublic(BaseModel):
    url: str = Field(
        description="Where the sandboxed iframe loads from, on the frames origin: "
        "http(s)://<frames origin>/frames/<ticket>/"
    )
