"""Blobs: file contents stored once per SHA-256, inside the database.

Working copies and published versions only refer to blobs by hash, so equal
files (a fork, an unchanged file across versions) cost nothing extra. Writing a
blob is idempotent and safe under concurrency (``INSERT ... ON CONFLICT DO
NOTHING``). Blobs nobody refers to any more stay until :func:`collect_garbage`
removes them; it spares recent blobs so that a write in flight in another
transaction never loses its content.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from visualbox.db.base import utcnow
from visualbox.db.tables.modules import Blob, ModuleFile, ModuleVersion

GARBAGE_GRACE = timedelta(hours=1)


def blob_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_blob(db: Session, data: bytes) -> str:
    """Store ``data`` (no commit) and return its SHA-256 hex."""
    sha = blob_hash(data)
    values = {"sha256": sha, "size": len(data), "data": data, "created_at": utcnow()}
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        db.execute(postgresql.insert(Blob).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        db.execute(sqlite.insert(Blob).values(values).on_conflict_do_nothing())
    elif db.get(Blob, sha) is None:  # pragma: no cover - only the two dialects above exist
        db.add(Blob(**values))
    return sha


def get_blob(db: Session, sha: str) -> bytes:
    """The content of blob ``sha``; a missing blob is a server bug (``LookupError``)."""
    data = db.scalar(select(Blob.data).where(Blob.sha256 == sha))
    if data is None:
        raise LookupError(f"blob {sha} is missing")
    return bytes(data)


def get_blobs(db: Session, shas: set[str]) -> dict[str, bytes]:
    """Several blobs at once, by hash."""
    if not shas:
        return {}
    rows = db.execute(select(Blob.sha256, Blob.data).where(Blob.sha256.in_(shas))).all()
    found = {sha: bytes(data) for sha, data in rows}
    missing = shas - found.keys()
    if missing:
        raise LookupError(f"blobs missing: {sorted(missing)}")
    return found


def collect_garbage(db: Session, *, grace: timedelta = GARBAGE_GRACE) -> int:
    """Delete blobs older than ``grace`` that no file or version refers to; commits.

    Returns how many were removed.
    """
    used_by_files = select(ModuleFile.blob_sha).where(ModuleFile.blob_sha.is_not(None))
    used_by_versions = select(ModuleVersion.archive_sha)
    result = db.execute(
        delete(Blob)
        .where(Blob.created_at < utcnow() - grace)
        .where(Blob.sha256.not_in(used_by_files))
        .where(Blob.sha256.not_in(used_by_versions))
    )
    db.commit()
    return int(getattr(result, "rowcount", 0) or 0)
