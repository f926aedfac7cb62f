"""Request and response models of the modules (working copies) API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from visualbox.db.tables.modules import Module
from visualbox.modules.manifest import MAX_TAG_CHARS, MAX_TAGS, TAG_PATTERN
from visualbox.schemas.common import Name

Tag = Annotated[str, StringConstraints(max_length=MAX_TAG_CHARS, pattern=TAG_PATTERN)]
Kind = Literal["integration", "widget"]
Runtime = Literal["python", "node", "go"]


class ModuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: Kind
    runtime: Runtime | None = Field(None, validate_default=True)
    template: bool = True

    @field_validator("runtime")
    @classmethod
    def _runtime_fits_kind(cls, value: Runtime | None, info: ValidationInfo) -> Runtime | None:
        kind = info.data.get("kind")
        if kind == "integration" and value is None:
            raise ValueError("required for an integration: python, node or go")
        if kind == "widget" and value is not None:
            raise ValueError("widgets have no runtime; leave it out")
        return value


class ModuleUpdate(BaseModel):
    """Only the fields sent change; ``description: null`` follows README.md again."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: str | None = Field(None, max_length=500)
    tags: list[Tag] | None = Field(None, max_length=MAX_TAGS)
    cover: str | None = None
    team_id: str | None = Field(
        None,
        max_length=32,
        description="Move it into this team, or out of its team with null (admin role).",
    )


class ForkedFrom(BaseModel):
    module_id: str
    version: str

    @classmethod
    def of(cls, module: Module) -> ForkedFrom | None:
        """The published version ``module`` was forked from, if it was."""
        if module.forked_from_id and module.forked_from_version:
            return cls(module_id=module.forked_from_id, version=module.forked_from_version)
        return None


class ModulePublic(BaseModel):
    id: str
    name: str
    kind: Kind
    runtime: Runtime | None
    description: str
    tags: list[str]
    cover: str | None
    owner_id: str
    team_id: str | None = Field(description="The team it belongs to; null for a private one.")
    forked_from: ForkedFrom | None
    latest_version: str | None
    created_at: datetime
    updated_at: datetime


class ModuleUsage(BaseModel):
    """The dashboards that use a module (or depend on one version of it)."""

    dashboards: int
    own_dashboards: int
    """How many of them are the module owner's."""
    other_users: int
    """How many other users own the rest."""


class FilePublic(BaseModel):
    path: str
    size: int
    sha256: str | None
    is_folder: bool


class FolderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)


class ProblemPublic(BaseModel):
    file: str
    field: str
    reason: str


class CheckPublic(BaseModel):
    ok: bool
    problems: list[ProblemPublic]


class WorkingCopyReset(BaseModel):
    """Replace the working copy by the files of one published version."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)


class PreviousWorkingCopyPublic(BaseModel):
    """The working copy as it was before the last replace: what an undo brings back."""

    files: int
    size: int
    """Bytes of its files."""
    replaced_by: Literal["import", "reset", "undo"]
    """What replaced it: a ZIP import, a reset to ``version``, or an undo."""
    version: str | None
    """The published version a reset put in its place."""
    replaced_at: datetime


class WorkingCopyPublic(BaseModel):
    """The working copy's files, and the previous working copy an undo would restore."""

    files: list[FilePublic]
    previous: PreviousWorkingCopyPublic | None


class WorkingCopyComparison(BaseModel):
    """What a reset to ``version`` would change in the working copy, by path."""

    version: str
    changed: list[str]
    """Files in both, with other contents (the working copy's are lost on a reset)."""
    removed: list[str]
    """Files only in the working copy (lost on a reset)."""
    added: list[str]
    """Files only in the version."""
