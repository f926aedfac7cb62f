"""Modules: content-addressed blobs, working copies, published versions, tags and uses,
and what remains of withdrawn ones.

A module's *working copy* is a set of :class:`ModuleFile` rows (path → blob) plus
explicit empty folders; a *published version* is an immutable ZIP blob with its
content hash and the cached manifest, config schema and README. Blobs live in the
database itself, so a multi-node deployment needs nothing but PostgreSQL.

The full-text index (``module_search``) is dialect specific (an FTS5 virtual table
on SQLite, a ``tsvector`` table with a GIN index on PostgreSQL): it is created by
migration ``0003`` and maintained by ``visualbox.services.search``, not declared here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, created_column, id_column, updated_column

PATH_LENGTH = 512
"""Column size of a module path (the format allows 255 UTF-8 bytes)."""


class Blob(Base):
    """File content, stored once per distinct SHA-256."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_column()


class Module(Base):
    """A module owned by one user: its working copy's metadata and registry listing."""

    __tablename__ = "modules"

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The team it belongs to (``db/tables/teams.py``, no foreign key: see there); ``None``
    for a private one."""
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    runtime: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    description_set: Mapped[bool] = mapped_column(Boolean, default=False)
    """True once the owner wrote a description; otherwise it follows README.md."""
    tags: Mapped[list[Any]] = mapped_column(default=list)
    cover: Mapped[str | None] = mapped_column(String(PATH_LENGTH))
    forked_from_id: Mapped[str | None] = mapped_column(String(32))
    forked_from_version: Mapped[str | None] = mapped_column(String(64))
    fork_count: Mapped[int] = mapped_column(Integer, default=0)
    latest_version: Mapped[str | None] = mapped_column(String(64))
    """Highest non-yanked version; ``None`` keeps the module out of search."""
    published_at: Mapped[datetime | None]
    """When the newest non-yanked version was published (sort=recent)."""
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class ModuleFile(Base):
    """One file (``blob_sha`` set) or explicit empty folder (``blob_sha`` null)."""

    __tablename__ = "module_files"

    module_id: Mapped[str] = mapped_column(
        ForeignKey("modules.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    blob_sha: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = updated_column()

    @property
    def is_folder(self) -> bool:
        return self.blob_sha is None


class ModuleVersion(Base):
    """An immutable published snapshot of a module."""

    __tablename__ = "module_versions"
    __table_args__ = (UniqueConstraint("module_id", "version"),)

    id: Mapped[str] = id_column()
    module_id: Mapped[str] = mapped_column(ForeignKey("modules.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    runtime: Mapped[str | None] = mapped_column(String(20))
    archive_sha: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[dict[str, Any]]
    config_schema: Mapped[list[Any]]
    readme: Mapped[str] = mapped_column(Text, default="")
    changelog: Mapped[str] = mapped_column(Text, default="")
    yanked: Mapped[bool] = mapped_column(Boolean, default=False)
    yanked_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    """Set once the version is withdrawn: its files are gone for good (never unset)."""
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    """Why it was withdrawn, in its withdrawer's words (public)."""
    withdrawn_by: Mapped[str | None] = mapped_column(String(32))
    """The user who withdrew it: the owner or an administrator."""
    files_manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What was published: each file's SHA-256, module id, name, version, runtime and
    capabilities (``services/signing.py``); empty only for versions not signed yet."""
    signature: Mapped[str | None] = mapped_column(Text)
    """Ed25519 signature (base64) of ``files_manifest`` by the server's registry key."""
    blocked_at: Mapped[datetime | None]
    """Set while an administrator blocks the version: it is not served nor run."""
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    blocked_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_column()


class WithdrawnModule(Base):
    """What remains of a module its owner deleted: enough for the dashboards that used
    it to say that it was withdrawn (its files, versions and listing are gone)."""

    __tablename__ = "withdrawn_modules"

    module_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    withdrawn_at: Mapped[datetime] = created_column()


class ModuleTag(Base):
    """One tag of a module (the search filter ``tag=``)."""

    __tablename__ = "module_tags"

    module_id: Mapped[str] = mapped_column(
        ForeignKey("modules.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class ModuleUse(Base):
    """A dashboard that uses a module (popularity). Maintained by the dashboards service."""

    __tablename__ = "module_uses"
    __table_args__ = (Index("ix_module_uses_module_id", "module_id"),)

    dashboard_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    module_id: Mapped[str] = mapped_column(
        ForeignKey("modules.id", ondelete="CASCADE"), primary_key=True
    )
