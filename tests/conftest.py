"""Shared fixtures.

Every test that uses ``settings``/``app``/``client`` runs twice: once on SQLite
and once on a real PostgreSQL server (``tests/fixtures/postgres.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.fixtures.postgres import DatabaseFactory, fill_template, postgres_server
from visualbox.app import create_app
from visualbox.settings import DatabaseSettings, SandboxSettings, Settings

pytest_plugins = ["tests.fixtures.smtp", "tests.fixtures.redis"]


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[DatabaseFactory]:
    with postgres_server() as admin_url:
        factory = DatabaseFactory(admin_url)
        yield factory
        factory.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    fill_template(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "data" / "visualbox.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    factory: DatabaseFactory = request.getfixturevalue("postgres_databases")
    url = factory.create()
    yield url
    factory.drop(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database=DatabaseSettings(url=database_url),
        sandbox=SandboxSettings(),
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


class Account:
    """A verified user and an API client signed in as them."""

    def __init__(self, app: FastAPI, user: Any, token: str) -> None:
        self.user = user
        self.id: str = user.id
        self.email: str = user.email
        self.token = token
        self.http = TestClient(
            app, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture
def make_account(app: FastAPI) -> Callable[..., Account]:
    """``make_account(name="Ada", admin=False, verified=True)`` → :class:`Account`."""
    from visualbox.services import accounts

    counter = iter(range(1, 10_000))

    def make(name: str | None = None, *, admin: bool = False, verified: bool = True) -> Account:
        n = next(counter)
        with app.state.db.session() as db:
            user = accounts.create_user(
                db,
                name=name or f"User {n}",
                email=f"user{n}@example.test",
                password="correct horse battery",
                is_admin=admin,
                verified=verified,
            )
            _row, token = accounts.create_api_token(db, user, "tests")
        return Account(app, user, token)

    return make


QUICK_LEAVES_OUT = (
    "tests/e2e/",  # Chromium
    "tests/live/",  # a real server running sandboxed integrations
    "tests/runtime/",  # sandboxes
    "tests/builtin/",  # the built-in integrations, sandboxed
    "tests/cli/test_module_run.py",  # sandboxes
    "tests/cli/test_module_test.py",  # sandboxes and Chromium
    "tests/cli/test_module_remote.py",  # real servers, a sandboxed `module dev` run
    "tests/cli/test_serve.py",  # `visualbox serve` in a subprocess
    "tests/test_durability.py",  # `visualbox serve` killed and restarted
    "tests/test_frontend_unit.py",  # npm and Vitest
    "tests/test_frontend_dev.py",  # `npm run dev` in front of `visualbox serve`
    "tests/api/test_openapi.py",  # the bounded schemathesis run (half a minute)
)
"""What ``--quick`` leaves out, besides every PostgreSQL run: the real-part suites."""
QUICK_KEEPS = ("tests/live/test_live_service.py",)  # the live service on a scripted runner


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help="the inner loop: unit and API tests on SQLite only, without PostgreSQL, "
        "browsers, sandboxes or server subprocesses (docs/development.md)",
    )


def _slow(item: pytest.Item) -> bool:
    path = item.path.relative_to(item.config.rootpath).as_posix()
    if path.startswith(QUICK_LEAVES_OUT) and not path.startswith(QUICK_KEEPS):
        return True
    params = getattr(item, "callspec", None)
    uses = getattr(item, "fixturenames", ())
    on_postgres = params is not None and "postgresql" in params.params.values()
    on_redis = params is not None and "redis" in params.params.values()  # a redis-server
    return on_postgres or on_redis or "postgres_databases" in uses or "redis_server" in uses


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--quick`` deselects (never skips) the slow suites. Browser tests run last:
    Playwright's sync API keeps an event loop running in the main thread for the rest
    of the session, and the asyncio tests need it free."""
    if config.getoption("--quick"):
        left_out = [item for item in items if _slow(item)]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if not _slow(item)]
    _deselect_with_reasons(config, items)
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path))


def _deselect_with_reasons(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test module may define ``deselect_reason(item) -> str | None``: every item of it
    with a reason is deselected (never skipped, so it cannot count as a pass) and the
    reason is printed once per module and reason. For cases a machine cannot run (a
    sandbox backend that is not installed, say)."""
    reasons: dict[tuple[str, str], int] = {}
    kept: list[pytest.Item] = []
    left_out: list[pytest.Item] = []
    for item in items:
        why: Callable[[pytest.Item], str | None] | None = getattr(
            getattr(item, "module", None), "deselect_reason", None
        )
        reason = why(item) if why is not None else None
        if reason is None:
            kept.append(item)
            continue
        left_out.append(item)
        key = (item.path.name, reason)
        reasons[key] = reasons.get(key, 0) + 1
    if not left_out:
        return
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for (module, reason), count in sorted(reasons.items()):
            reporter.write_line(f"{module}: deselected {count}: {reason}")
