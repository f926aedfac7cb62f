"""The whole HTTP API tested the way an attacker would: schemathesis generates requests
for every operation in ``/api/openapi.json``, valid and invalid, signed in as an
ordinary user, and every answer must hold the contract:

* never a server error (5xx);
* the status code, the content type and the body are the ones the schema declares
  (errors included: every operation declares the error shape);
* nothing of another user's private objects ever comes back, whatever the request.

The run is bounded (``EXAMPLES`` per operation, derandomised so that CI is stable)
and runs on SQLite only: the database is not what is tested here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visualbox.app import create_app
from visualbox.schemas.dashboards import DashboardContent
from visualbox.services import accounts, dashboards, modules, registry
from visualbox.settings import DatabaseSettings, Settings

EXAMPLES = 15
"""Generated requests per operation (and method): about 70 operations, so ~1,500 in all."""

VICTIM_MARK = "victim-private-4f1c"
"""In the name of every private object of the other user: it must never come back."""


SEMANTIC = [schemathesis.checks.positive_data_acceptance]
"""Left out: a request the schema allows may still be refused for what it means (an
expired link, a module that does not exist, a reserved mail domain), with 4xx."""


class World:
    def __init__(self, app: FastAPI, token: str, known: dict[str, list[str]]) -> None:
        self.app = app
        self.headers = {"Authorization": f"Bearer {token}"}
        self.known = known
        """Real values for path parameters: the tester's own objects and the victim's."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("openapi")
    app = create_app(
        Settings(
            data_dir=data,
            database=DatabaseSettings(url=f"sqlite:///{Path(data) / 'visualbox.db'}"),
        )
    )
    with app.state.db.session() as db:
        admin = accounts.create_user(
            db, name="Admin", email="admin@example.test", password="x" * 12, verified=True
        )
        admin.is_admin = True
        victim = accounts.create_user(
            db, name="Victim", email="victim@example.test", password="x" * 12, verified=True
        )
        tester = accounts.create_user(
            db, name="Tester", email="tester@example.test", password="x" * 12, verified=True
        )
        db.commit()
        module = modules.create_module(
            db, victim, name=f"{VICTIM_MARK} module", kind="integration", runtime="python"
        )
        modules.write_file(db, module, "main.py", f"# {VICTIM_MARK}\n".encode())
        content = DashboardContent(name=f"{VICTIM_MARK} board")
        board = dashboards.create_dashboard(db, app.state.secret_box, victim, content)
        own = modules.create_module(
            db, tester, name="Tester's module", kind="integration", runtime="python"
        )
        registry.publish(db, own, "1.0.0")
        widget = modules.create_module(
            db, tester, name="Tester's widget", kind="widget", runtime=None
        )
        own_board = dashboards.create_dashboard(
            db, app.state.secret_box, tester, DashboardContent(name="Tester's board")
        )
        _row, token = accounts.create_api_token(db, tester, "schemathesis")
        known = {
            "module_id": [own.id, widget.id, module.id],
            "dashboard_id": [own_board.id, board.id],
            "version": ["1.0.0"],
            "path": ["main.py", "config.json", "README.md"],
        }
    yield World(app, token, known)
    app.state.db.dispose()


@dataclass
class Tally:
    cases: int = 0
    succeeded: set[str] = field(default_factory=set)
    """Operations that answered 2xx at least once: the run reached past validation."""


def _attack(operation: Any, world: World, tally: Tally) -> None:
    """Up to ``EXAMPLES`` generated requests against one operation; raises on the first
    contract violation (hypothesis shrinks it to a small reproducible case)."""

    @given(case=operation.as_strategy(), aim=st.randoms(use_true_random=False))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def attack(case: Any, aim: Any) -> None:
        tally.cases += 1
        for name in case.path_parameters or {}:
            if name in world.known and aim.random() < 0.7:  # mostly at real objects
                case.path_parameters[name] = aim.choice(world.known[name])
        response = case.call(headers=world.headers)
        if response.status_code < 300:
            tally.succeeded.add(operation.label)
        case.validate_response(response, excluded_checks=SEMANTIC)
        assert VICTIM_MARK.encode() not in response.content, "another user's object came back"

    attack()


def test_every_operation_holds_its_contract(world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")  # deletes last
    failures: dict[str, str] = {}
    tally = Tally()
    for operation in operations:
        try:
            _attack(operation, world, tally)
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried
            failures[operation.label] = str(exc)[:2000]
    print(
        f"schemathesis: {len(operations)} operations, {tally.cases} cases, "
        f"{len(tally.succeeded)} answered 2xx at least once, {len(failures)} failing"
    )
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
