"""Browser journeys: Playwright (Python) driving Debian's Chromium against a live server.

* ``live_server``: a real VisualBox (``create_app`` on a temporary SQLite data dir, a
  loopback SMTP server for its mail) run by uvicorn in a thread on a free 127.0.0.1
  port, and its frames origin on another; yields a :class:`LiveServer` (``.url``,
  ``.frames_url``, ``.smtp``, ``.app``, ``.create_user()``, ``.sign_in(page, user)``).
* ``page``, ``context`` and ``new_context()`` (another visitor) are pytest-playwright's,
  with the app's service worker blocked (a test marked
  ``@pytest.mark.browser_context_args(service_workers="allow")`` lets it run), and
  watched: any console error, uncaught page error or 5xx answer
  during the test fails it (``console_errors``). The browser's own "Failed to load
  resource: ... 4xx" lines are the log of answers the app handles (a wrong
  password, a signed-out visitor) and are not errors.

Every test here is marked ``e2e`` (select with ``-m e2e``, leave out with
``-m "not e2e"``).
"""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import (
    APIRequestContext,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    WebError,
    expect,
)

from tests.fixtures.smtp import SmtpServer, running_smtp
from visualbox.app import create_app
from visualbox.cli.serve import uvicorn_options
from visualbox.settings import (
    DatabaseSettings,
    FrameSettings,
    MailSettings,
    SandboxSettings,
    ServerSettings,
    Settings,
)

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
# Generous waits: the suite shares two cores with sandboxed integrations and a database.
expect.set_options(timeout=10_000)
_RESOURCE_4XX = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # The app's service worker stays out of the way of tests (it would answer page
    # loads itself); the PWA test allows it with the browser_context_args marker.
    return {**browser_context_args, "service_workers": "block"}


@pytest.fixture(scope="session")
def base_url() -> None:
    """No fixed base URL (each test has its own live server). Replaces pytest-playwright's
    fallback fixture, a method that pytest 9 warns about (warnings are errors here)."""
    return None


@dataclass
class User:
    name: str
    email: str
    password: str = PASSWORD


class LiveServer:
    """A running VisualBox and its mailbox."""

    def __init__(self, app: FastAPI, url: str, smtp: SmtpServer) -> None:
        self.app = app
        self.url = url
        self.frames_url: str = app.state.settings.frames_origin
        self.smtp = smtp
        self._numbers = itertools.count(1)

    def new_user_details(self, name: str | None = None) -> User:
        n = next(self._numbers)
        return User(name=name or f"User {n}", email=f"user{n}@example.com")

    def create_user(self, name: str | None = None, *, verified: bool = True) -> User:
        """An account made directly through the service (fast; no mail)."""
        from visualbox.services import accounts

        user = self.new_user_details(name)
        with self.app.state.db.session() as db:
            accounts.create_user(
                db, name=user.name, email=user.email, password=user.password, verified=verified
            )
        return user

    def sign_in(self, page: Page, user: User) -> None:
        """Sign ``page``'s browser context in as ``user`` (through the API, no form)."""
        answer = page.request.post(
            f"{self.url}/api/auth/signin", data={"email": user.email, "password": user.password}
        )
        assert answer.ok, answer.text()

    def publish_integration(
        self, request: APIRequestContext, name: str, files: dict[str, str]
    ) -> str:
        """A new developer publishes a Python integration made of ``files`` as 1.0.0
        through the API (``request``: a fresh context's); returns the module id."""
        developer = self.create_user("Module Developer")
        signed_in = request.post(
            f"{self.url}/api/auth/signin",
            data={"email": developer.email, "password": developer.password},
        )
        assert signed_in.ok, signed_in.text()
        created = request.post(
            f"{self.url}/api/modules",
            data={"name": name, "kind": "integration", "runtime": "python"},
        )
        assert created.status == 201, created.text()
        module_id: str = created.json()["id"]
        for path, text in files.items():
            written = request.put(
                f"{self.url}/api/modules/{module_id}/files/{path}",
                data=text.encode(),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert written.ok, written.text()
        published = request.post(
            f"{self.url}/api/modules/{module_id}/versions", data={"version": "1.0.0"}
        )
        assert published.status == 201, published.text()
        return module_id

    def mail_link(self, to: str, count: int = 1) -> str:
        """The link of the ``count``-th mail sent to ``to`` (waits for it, up to 10 s)."""
        seen = 0
        total = 0
        while True:
            total += 1
            message = self.smtp.wait_for(total, timeout=10)[total - 1]
            if to in str(message["To"]):
                seen += 1
                if seen == count:
                    return self.smtp.link(total - 1)


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    with serve(tmp_path, sqlite_template) as server:
        yield server


@pytest.fixture
def live_server_without_mail(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    """``live_server`` with no mail server configured, as a new install has it: links
    only reach the log (``.smtp`` runs but the app never uses it)."""
    with serve(tmp_path, sqlite_template, mail=False) as server:
        yield server


@contextmanager
def serve(tmp_path: Path, sqlite_template: Path, *, mail: bool = True) -> Iterator[LiveServer]:
    """Run a VisualBox on a copy of the empty database template (``mail``: with the
    loopback SMTP server as its mail server)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sqlite_template, data / "visualbox.db")
    # The sockets listen before uvicorn runs: early connections wait in their backlog,
    # so nothing has to poll for the server to be up. The second is the frames origin.
    sockets = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sockets.append(sock)
    port, frames_port = (int(s.getsockname()[1]) for s in sockets)
    with running_smtp() as smtp:
        settings = Settings(
            data_dir=data,
            database=DatabaseSettings(url=f"sqlite:///{data / 'visualbox.db'}"),
            sandbox=SandboxSettings(),
            mail=(
                MailSettings(smtp_host=smtp.host, smtp_port=smtp.port, smtp_starttls=False)
                if mail
                else MailSettings()
            ),
            server=ServerSettings(host="127.0.0.1", port=port),
            frames=FrameSettings(port=frames_port),
        )
        app = create_app(settings)
        config = uvicorn.Config(
            app, lifespan="on", log_level="warning", **uvicorn_options(app.state.settings)
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
        thread.start()
        try:
            yield LiveServer(app, f"http://127.0.0.1:{port}", smtp)
        finally:
            server.should_exit = True
            thread.join(10)
            for sock in sockets:
                sock.close()
            app.state.db.dispose()


@pytest.fixture
def console_errors() -> Iterator[list[str]]:
    """Errors seen in watched browser contexts; the test fails if any are left."""
    errors: list[str] = []
    yield errors
    assert errors == [], "the browser reported errors:\n" + "\n".join(errors)


def watch(context: BrowserContext, errors: list[str]) -> None:
    """Collect console errors, uncaught page errors and 5xx answers of ``context``."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _RESOURCE_4XX.match(message.text):
            errors.append(f"console error: {message.text} at {message.location}")

    def on_error(error: WebError) -> None:
        errors.append(f"uncaught error: {error.error}")

    def on_response(response: Response) -> None:
        if response.status >= 500:
            errors.append(f"{response.status} from {response.request.method} {response.url}")

    context.on("console", on_console)
    context.on("weberror", on_error)
    context.on("response", on_response)


@pytest.fixture
def new_context(
    new_context: Callable[..., BrowserContext], console_errors: list[str]
) -> Callable[..., BrowserContext]:
    """pytest-playwright's ``new_context(**options)`` (which ``context`` and ``page`` use),
    watched: another visitor's browser context for a test."""

    def make(**options: Any) -> BrowserContext:
        context = new_context(**options)
        context.set_default_timeout(10_000)
        watch(context, console_errors)
        return context

    return make


def wait_for_history(request: APIRequestContext, url: str, count: int) -> dict[str, Any]:
    """The history API's answer at ``url`` once it holds at least ``count`` points
    (polled: the recorder writes about once a second; 60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        answer = request.get(url)
        assert answer.ok, answer.text()
        body: dict[str, Any] = answer.json()
        if len(body["points"]) >= count:
            return body
        assert time.monotonic() < deadline, f"only {len(body['points'])} values recorded"
        time.sleep(0.2)
