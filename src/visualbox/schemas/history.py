"""Response models of history (see docs/api/history.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, JsonValue

Level = Literal["raw", "minute", "hour"]


class HistoryPublic(BaseModel):
    """One series over a time range, at most about ``points`` points."""

    instance: str
    pointer: str = Field(description="JSON Pointer into the instance's output; '' is all of it.")
    start: int = Field(description="Start of the range (included), ms since the epoch.")
    end: int = Field(description="End of the range (excluded), ms since the epoch.")
    level: Level = Field(
        description="Where the points come from: every recorded value, or 1-minute or "
        "1-hour rollups."
    )
    step_ms: int = Field(
        description="Width of each point's bucket, ms; 0 when every recorded value is given "
        "as it is."
    )
    points: list[tuple[int, JsonValue]] = Field(
        description="[t_ms, value], oldest first: a bucket's mean where its values are "
        "numbers, else its last value; t is the bucket's start."
    )
    bands: list[tuple[int, float, float]] = Field(
        description="[t_ms, min, max] of each bucket of numbers (empty for raw values)."
    )
    last: tuple[int, JsonValue] | None = Field(
        description="The last recorded value in the range, [t_ms, value], or null."
    )
