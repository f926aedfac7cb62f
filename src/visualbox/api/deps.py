"""Dependencies shared by every route: the database session, settings and the caller.

A route signature reads like a sentence::

    def update_dashboard(dashboard_id: str, body: DashboardUpdate, db: SessionDep,
                         user: CurrentUser) -> DashboardPublic: ...

The caller is identified by an ``Authorization: Bearer vbx_...`` API token or by
the ``visualbox_session`` cookie. Unsafe requests authenticated by cookie must
come from our own origin (``Origin``/``Referer`` check) so that other sites
cannot act for a signed-in user.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from visualbox.db.engine import Database
from visualbox.db.tables.accounts import User
from visualbox.errors import Forbidden, Unauthenticated
from visualbox.services import accounts, two_factor
from visualbox.services.live import Live
from visualbox.services.mail import Mailer
from visualbox.services.secrets import SecretBox
from visualbox.services.signing import RegistryKey
from visualbox.settings import Settings

SESSION_COOKIE = "visualbox_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def get_db(request: Request) -> Iterator[Session]:
    with get_database(request).session() as session:
        yield session


def get_secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


def get_registry_key(request: Request) -> RegistryKey:
    key: RegistryKey = request.app.state.registry_key
    return key


def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


def get_live(request: Request) -> Live:
    live: Live = request.app.state.live
    return live


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
RegistryKeyDep = Annotated[RegistryKey, Depends(get_registry_key)]
LiveDep = Annotated[Live, Depends(get_live)]


def check_same_origin(connection: HTTPConnection) -> None:
    """Refuse a browser request (or WebSocket) sent by another site's page."""
    source = connection.headers.get("origin") or connection.headers.get("referer")
    if source is None:
        return  # not a browser cross-site request (browsers send Origin on unsafe requests)
    parts = urlsplit(source)
    if parts.netloc != connection.headers.get("host", ""):
        raise Forbidden("Cross-site request refused.")


def user_from_credentials(db: Session, connection: HTTPConnection) -> User | None:
    """The user an ``Authorization: Bearer`` API token or the session cookie names;
    ``None`` without credentials or with an unknown cookie. A bad token is an error
    (:class:`Unauthenticated`): it never falls back to the cookie. A session of an
    administrator who must first set up two-factor sign-in is refused
    (:class:`~visualbox.services.two_factor.TwoFactorSetupRequired`)."""
    user = _user_from_credentials(db, connection)
    by_cookie = "authorization" not in connection.headers
    settings: Settings = connection.app.state.settings
    if user is not None and by_cookie and two_factor.setup_required(settings, user):
        raise two_factor.TwoFactorSetupRequired()
    return user


def _user_from_credentials(db: Session, connection: HTTPConnection) -> User | None:
    header = connection.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("The Authorization header must be 'Bearer <API token>'.")
        user = accounts.user_for_api_token(db, token.strip())
        if user is None:
            raise Unauthenticated("The API token is invalid, expired or revoked.")
        return user
    cookie = connection.cookies.get(SESSION_COOKIE)
    return accounts.user_for_session(db, cookie) if cookie is not None else None


def optional_user(request: Request, db: SessionDep) -> User | None:
    """The caller, or ``None`` when the request carries no credentials at all (also an
    administrator who must set up two-factor sign-in: see :func:`current_user`)."""
    user = _user_from_credentials(db, request)
    by_cookie = "authorization" not in request.headers
    if user is not None and by_cookie and request.method not in _SAFE_METHODS:
        check_same_origin(request)
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]


def signed_in_user(user: OptionalUser) -> User:
    """A signed-in user, verified or not (for the account's own pages)."""
    if user is None:
        raise Unauthenticated("Sign in first.")
    return user


SignedInUser = Annotated[User, Depends(signed_in_user)]


def current_user(user: SignedInUser, request: Request, settings: SettingsDep) -> User:
    """A signed-in user with a verified email address: what most routes need. An
    administrator signed in by cookie without the two-factor sign-in the server
    requires (ACCOUNTS__REQUIRE_2FA_FOR_ADMINS) gets only the account's own routes."""
    if not user.is_verified:
        if not get_mailer(request).configured:
            raise Forbidden("An administrator has not verified your account yet.")
        raise Forbidden("Verify your email address first: follow the link we sent you.")
    by_cookie = "authorization" not in request.headers
    if by_cookie and two_factor.setup_required(settings, user):
        raise two_factor.TwoFactorSetupRequired()
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("Only an administrator may do this.")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
