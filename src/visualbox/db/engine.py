"""Engine and session factory for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and ``synchronous=NORMAL``: a
crash or ``kill -9`` of the server loses no committed transaction (only a
power cut could lose the last ones). PostgreSQL is used through psycopg 3.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 10}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


T = TypeVar("T")


class Database:
    """One engine and its session factory; services receive a :class:`Session`."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = create_db_engine(url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(session, *args)`` in a worker thread, with a session of its own (the
        engine is synchronous; the event loop must not wait for the database)."""

        def run() -> T:
            with self.session() as db:
                return function(db, *args)

        return await asyncio.to_thread(run)

    @contextmanager
    def startup_lock(self) -> Iterator[None]:
        """Held while a server migrates the schema and publishes the built-in modules, so
        that nodes starting together on one PostgreSQL do it one at a time (a session
        advisory lock). SQLite serves one machine, where ``serve --workers`` starts
        its workers only after doing it once."""
        if self.dialect != "postgresql":
            yield
            return
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _STARTUP_LOCK})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _STARTUP_LOCK})
                connection.commit()

    def dispose(self) -> None:
        self.engine.dispose()


_STARTUP_LOCK = 0x5653_4258  # "VSBX": any constant the whole cluster agrees on
