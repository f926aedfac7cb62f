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
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table in batch mode by copying it, dropping the old one and
        # renaming the copy; with foreign keys enforced, the drop would cascade into
        # every table that references it (a dashboards change would empty the history).
        # The pragma only takes effect outside a transaction, hence before it begins.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
                compare_type=True,
                include_object=include_object,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"a migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
