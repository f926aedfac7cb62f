"""Migrations build, from an empty database, exactly the schema the tables declare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

import visualbox.db.tables  # noqa: F401  (registers every table)
from tests.fixtures.postgres import DatabaseFactory
from visualbox.db.base import Base
from visualbox.db.engine import create_db_engine
from visualbox.db.schema import alembic_config, migrate


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
