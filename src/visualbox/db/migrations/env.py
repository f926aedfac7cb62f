"""Alembic environment: runs on the engine handed over by ``visualbox.db.schema``."""

from __future__ import annotations

from alembic import context

import visualbox.db.tables  # noqa: F401  (registers every table)
from visualbox.db.base import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
