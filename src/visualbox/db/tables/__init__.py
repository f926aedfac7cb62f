"""Every table, one module per noun. Importing this package registers them all
on ``Base.metadata`` (migrations and tests rely on that)."""

from __future__ import annotations

from visualbox.db.tables import accounts as accounts

__all__ = ["accounts"]
