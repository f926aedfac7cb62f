"""Quotas: an administrator's per-account overrides of the quota settings.

One row per account that has any override; a ``NULL`` column means "the default
of ``VISUALBOX_QUOTAS__<NAME>``". ``services/quotas.py`` reads and writes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, updated_column


class QuotaOverride(Base):
    __tablename__ = "quota_overrides"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    dashboards: Mapped[int | None] = mapped_column(BigInteger)
    modules: Mapped[int | None] = mapped_column(BigInteger)
    instances_per_dashboard: Mapped[int | None] = mapped_column(BigInteger)
    keep_running: Mapped[int | None] = mapped_column(BigInteger)
    sandboxes: Mapped[int | None] = mapped_column(BigInteger)
    output_bytes_per_s: Mapped[int | None] = mapped_column(BigInteger)
    module_bytes: Mapped[int | None] = mapped_column(BigInteger)
    snapshots: Mapped[int | None] = mapped_column(BigInteger)
    snapshot_bytes: Mapped[int | None] = mapped_column(BigInteger)
    history_bytes: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = updated_column()
