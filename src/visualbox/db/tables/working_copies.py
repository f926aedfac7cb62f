"""Working copies: the previous working copy of each module, kept so that a replace
(a ZIP import, a reset to a published version, an undo) can be undone.

One row per module at most: each replace overwrites it. The files are kept as a ZIP
in the row itself (not as shared blobs, so blob garbage collection needs to know
nothing about it), with the explicit empty folders and the cover beside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, created_column
from visualbox.db.tables.modules import PATH_LENGTH


class PreviousWorkingCopy(Base):
    """A module's working copy as it was before its last replace."""

    __tablename__ = "previous_working_copies"

    module_id: Mapped[str] = mapped_column(
        ForeignKey("modules.id", ondelete="CASCADE"), primary_key=True
    )
    archive: Mapped[bytes] = mapped_column(LargeBinary)
    """The files, as a deterministic ZIP (``modules.archive.make_zip``)."""
    folders: Mapped[list[Any]]
    """Explicit empty folders (a ZIP of files cannot hold them)."""
    cover: Mapped[str | None] = mapped_column(String(PATH_LENGTH))
    files: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    """Bytes of the files, unpacked."""
    replaced_by: Mapped[str] = mapped_column(String(20))
    """What replaced it: ``import``, ``reset`` or ``undo``."""
    version: Mapped[str | None] = mapped_column(String(64))
    """The version a ``reset`` put in its place."""
    replaced_at: Mapped[datetime] = created_column()
