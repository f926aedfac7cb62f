"""The application factory: ``create_app(settings)`` builds one VisualBox server.

Nothing is created at import time; tests build apps on temporary data dirs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from visualbox import __version__
from visualbox.api import (
    accounts,
    dashboards,
    modules,
    openapi,
    public,
    registry,
    runner_channel,
    sharing,
    web,
)
from visualbox.api import alerts as alerts_api
from visualbox.api import dashboard_versions as dashboard_versions_api
from visualbox.api import frames as frames_api
from visualbox.api import history as history_api
from visualbox.api import live as live_api
from visualbox.api import quotas as quotas_api
from visualbox.api import runner as runner_api
from visualbox.api import server as server_api
from visualbox.api import snapshots as snapshots_api
from visualbox.api import teams as teams_api
from visualbox.api import users as users_api
from visualbox.api.limits import RequestLimits
from visualbox.db.engine import Database
from visualbox.db.schema import migrate
from visualbox.errors import (
    FieldError,
    Unavailable,
    VisualBoxError,
    from_validation,
    label_of,
    plural,
)
from visualbox.hub import Hub, MemoryHub, RedisHub
from visualbox.hub.redis import check_redis
from visualbox.runtime.runners import LocalRunner, Runner, SourceClient
from visualbox.runtime.sandbox import SandboxUnavailable, get_sandbox
from visualbox.runtime.supervisor import Supervisor
from visualbox.services import dashboard_versions
from visualbox.services import registry as registry_service
from visualbox.services.builtin import publish_builtins
from visualbox.services.live import Live
from visualbox.services.mail import mailer_for
from visualbox.services.quotas import configure as configure_quotas
from visualbox.services.secrets import SecretBox
from visualbox.services.signing import RegistryKey, sign_unsigned
from visualbox.settings import Settings

log = logging.getLogger("visualbox")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


_HTTP_WORDS = {
    404: "There is nothing at this address.",
    405: "This address does not take that kind of request.",
}
"""Sentences for the errors Starlette raises itself (its own are "Not Found" …)."""


def _error(
    status: int, code: str, message: str, fields: list[FieldError] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": {
            "code": code,
            "message": message,
            "fields": [f.as_dict() for f in fields or []],
        }
    }
    return JSONResponse(body, status_code=status)


def _summary(fields: list[FieldError]) -> str:
    if len(fields) == 1:
        return f"{fields[0].label or label_of(fields[0].field)} {fields[0].reason}."
    return f"Please correct {plural(len(fields), 'value')}."


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VisualBoxError)
    async def visualbox_error(_request: Request, exc: VisualBoxError) -> JSONResponse:
        return JSONResponse(exc.as_dict(), status_code=exc.status, headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = from_validation(exc.errors())
        return _error(422, "invalid", _summary(fields), fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return _error(exc.status_code, code, _HTTP_WORDS.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # Two requests raced to create the same thing (a unique email, version, ...):
        # the service's own check passed for both, the database let one win.
        return _error(409, "conflict", "That was just changed by another request; try again.")

    @app.exception_handler(DataError)
    async def data_error(_request: Request, _exc: DataError) -> JSONResponse:
        # The database refused a value that passed validation (for example a NUL
        # character in text on PostgreSQL): the client's input, not a server bug.
        return _error(
            422, "invalid", "A value is not accepted by the database (control characters?)."
        )

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, _exc: Exception) -> JSONResponse:
        # A bug or an operator problem: the client gets the error shape and nothing of
        # the exception (no SQL, no parameters, no traceback); the server re-raises it
        # afterwards, so the traceback reaches the server log.
        return _error(500, "internal", "Something went wrong on the server; it was logged.")


def check_production(settings: Settings) -> None:
    """Refuse insecure defaults when ``SERVER__ENVIRONMENT=production``."""
    if settings.server.environment != "production":
        return
    problems = []
    if settings.sandbox.backend == "none" or settings.sandbox.allow_unsandboxed:
        problems.append(
            FieldError(
                "VISUALBOX_SANDBOX__BACKEND", "integrations must run sandboxed in production"
            )
        )
    if settings.database.echo:
        problems.append(
            FieldError("VISUALBOX_DATABASE__ECHO", "logs every SQL parameter; not in production")
        )
    if not settings.public_url.startswith("https://"):
        problems.append(
            FieldError("VISUALBOX_SERVER__PUBLIC_URL", "must be an https:// URL in production")
        )
    if problems:
        raise Unavailable("Refusing insecure settings in production.", problems)


def _live_service(app: FastAPI, settings: Settings, database: Database, box: SecretBox) -> Live:
    """Live dashboards on the local sandbox and the hub (in memory, or Redis with HUB__URL).

    The local runner fetches sources through the runner API like a remote runner
    would, in-process (an ASGI transport to this very app).
    """
    sandbox = get_sandbox(settings.sandbox)
    try:
        sandbox.check()
    except SandboxUnavailable as exc:  # the server still serves everything else
        log.error("Integrations cannot run: %s", exc)
    supervisor = Supervisor(sandbox, settings.sandbox, settings.cache_dir)
    transport = httpx2.ASGITransport(app=app)
    sources = SourceClient("http://visualbox.internal", transport=transport)
    runner: Runner = LocalRunner(supervisor, sources, settings.data_dir / "sources")
    if settings.runner.backend == "kubernetes":  # pods; this node's sandbox only prepares
        if settings.server.workers > 1:
            raise ValueError(
                "RUNNER__BACKEND=kubernetes needs one worker per node: pods "
                "connect back to the process that runs them"
            )
        # Imported here: its client library takes half a second to load, for nothing
        # on the embedded default.
        from visualbox.runtime.runners.kubernetes import KubernetesRunner

        runner = KubernetesRunner(
            settings.runner,
            settings.sandbox,
            sources=sources,
            sources_dir=settings.data_dir / "sources",
            supervisor=supervisor,
            message_bytes=settings.live.client_message_bytes,
        )
    hub: Hub = RedisHub(settings.hub.url) if settings.hub.url else MemoryHub()
    return Live(settings, database, box, runner, hub)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    check_production(settings)
    frames_api.check_origins(settings)
    if settings.hub.url:
        check_redis(settings.hub.url)  # a clear error now rather than silent rooms later
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url, echo=settings.database.echo)
    configure_quotas(database, settings.quotas)
    dashboard_versions.configure(database, settings.dashboards.versions_kept)
    registry_key = RegistryKey.from_settings(settings)
    with database.startup_lock():  # nodes starting together take turns
        migrate(database.engine)
        with database.session() as db:
            publish_builtins(db)
            sign_unsigned(db, registry_key, registry_service.version_tree)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        live: Live = app.state.live
        await live.start()
        log.info("VisualBox %s ready at %s", __version__, settings.public_url)
        try:
            yield
        finally:
            await live.close()  # every integration stops: no orphan processes
            database.dispose()

    app = FastAPI(
        title="VisualBox",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.secret_box = SecretBox.from_settings(settings)
    app.state.registry_key = registry_key
    app.state.mailer = mailer_for(settings)
    app.state.live = _live_service(app, settings, database, app.state.secret_box)
    _install_error_handlers(app)
    app.add_middleware(
        frames_api.FramesOrigin, frames=_frames_app(app), origin=settings.frames_origin
    )
    app.add_middleware(RequestLimits)

    app.include_router(accounts.router, prefix="/api")
    app.include_router(users_api.router, prefix="/api")
    app.include_router(quotas_api.router, prefix="/api")
    app.include_router(modules.router, prefix="/api")
    app.include_router(registry.router, prefix="/api")
    changes_dashboards = [Depends(live_api.notify_live)]
    app.include_router(dashboards.router, prefix="/api", dependencies=changes_dashboards)
    app.include_router(
        dashboard_versions_api.router, prefix="/api", dependencies=changes_dashboards
    )
    app.include_router(sharing.router, prefix="/api", dependencies=changes_dashboards)
    app.include_router(live_api.router, prefix="/api")
    app.include_router(history_api.router, prefix="/api")
    app.include_router(alerts_api.router, prefix="/api")
    app.include_router(snapshots_api.router, prefix="/api")
    app.include_router(teams_api.router, prefix="/api")
    app.include_router(runner_api.router, prefix="/api")
    app.include_router(runner_channel.router, prefix="/api")
    app.include_router(server_api.router, prefix="/api")
    app.include_router(public.router)

    openapi.install(app)  # declares the error shape of every operation
    web.install(app, frames_origin=settings.frames_origin)  # every GET no route takes
    return app


def _frames_app(app: FastAPI) -> FastAPI:
    """The frames origin's app: widget frames and module files, nothing else; it shares
    the web app's state (docs/web.md).

    Its answers over 1 KB are gzipped unless already compressed (the libraries are,
    at build time): they are code and public files, never a secret next to text
    someone else chose, so compressing them leaks nothing (BREACH). The app's own API
    answers are not compressed for that reason (``api/compression.py``)."""
    frames = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    frames.state = app.state
    frames.add_middleware(GZipMiddleware, minimum_size=1024)
    _install_error_handlers(frames)
    frames.include_router(frames_api.router)
    return frames
