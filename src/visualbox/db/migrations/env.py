"""Alembic environment: runs on the engine handed over by ``visualbox.db.schema``."""

from __future__ import annotations

from alembic import context

import visualbox.db.tables  # noqa: F401  (registers every table)
from visualbox.db.base import Base


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave out the hand-made full-text search tables (FTS5 on SQLite, tsvector on PostgreSQL)."""
    return not (reflected and name is not None and name.startswith("module_search"))


engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
