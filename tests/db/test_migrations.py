"""Migrations build, from an empty database, exactly the schema the tables declare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

import visualbox.db.tables  # noqa: F401  (registers every table)
from tests.fixtures.postgres import DatabaseFactory
from visualbox.db.base import Base
from visualbox.db.engine import create_db_engine
from visualbox.db.schema import alembic_config, migrate
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.history import HistorySeries
from visualbox.services import accounts


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    factory: DatabaseFactory = request.getfixturevalue("postgres_databases")
    url = factory.create(empty=True)
    engine = create_db_engine(url)
    yield engine
    engine.dispose()
    factory.drop(url)


def test_migrations_from_empty_match_the_tables(empty_engine: Engine) -> None:
    assert inspect(empty_engine).get_table_names() == []
    migrate(empty_engine)
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # SQLite FTS5 shadow tables and PostgreSQL search indexes are created by hand
    # in migrations; they are not in the metadata, so ignore additions of them.
    diff = [
        d for d in diff if not (d[0] in ("remove_table", "remove_index") and "search" in d[1].name)
    ]
    assert diff == []
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrating_twice_is_harmless(empty_engine: Engine) -> None:
    migrate(empty_engine)
    migrate(empty_engine)
    assert "users" in inspect(empty_engine).get_table_names()


def test_migrations_have_one_head(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'heads.db'}")
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    engine.dispose()
    assert len(heads) == 1, f"merge the migration branches: {heads}"


def test_changing_a_table_keeps_the_rows_that_reference_it(empty_engine: Engine) -> None:
    """On SQLite a batch ALTER copies a table, drops the old one and renames the copy:
    with foreign keys enforced, the drop would cascade into every referencing table
    (migrations since 0018 change ``dashboards``, which history series reference)."""
    migrate(empty_engine)
    with Session(empty_engine) as db:
        user = accounts.create_user(
            db, name="Ada", email="ada@example.test", password="correct horse battery"
        )
        dashboard = Dashboard(owner_id=user.id, name="Kept", document={})
        db.add(dashboard)
        db.flush()
        db.add(HistorySeries(dashboard_id=dashboard.id, instance_id="i1", pointer="/n"))
        db.commit()

    def series() -> int:
        with empty_engine.connect() as conn:
            return int(conn.scalar(text("SELECT count(*) FROM history_series")) or 0)

    command.downgrade(alembic_config(empty_engine), "0017")
    assert series() == 1
    migrate(empty_engine)
    assert series() == 1
    with empty_engine.connect() as conn:  # and foreign keys are enforced again
        assert conn.dialect.name != "sqlite" or conn.scalar(text("PRAGMA foreign_keys")) == 1
