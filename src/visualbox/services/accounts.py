"""Accounts: sign-up, email links, passwords, sign-in sessions and API tokens.

Services are the only layer that touches the database; each write commits.

One-time email links (:class:`EmailToken`, only the SHA-256 stored) have a purpose:
``verify`` (48 h), ``change_email`` (48 h, carries the new address) and ``reset``
(1 h). Using one marks it used in the same transaction as its effect, with a
conditional UPDATE, so a link works exactly once even under concurrent clicks.

Following any link, a password reset or change, and a new address change void every
other pending link of the account: a link mailed before the account changed hands
(a squatter's address change, say) must not outlive the owner reclaiming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar, cast
from urllib.parse import urlencode

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc, utcnow
from visualbox.db.tables.accounts import ApiToken, EmailToken, User, UserSession
from visualbox.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
    VisualBoxError,
)
from visualbox.services import ratelimit
from visualbox.services.mail import LinkPurpose, Mailer
from visualbox.services.tokens import new_token, token_hash
from visualbox.settings import Settings

API_TOKEN_PREFIX = "vbx_"
MIN_PASSWORD = 8
LINK_LIFETIME = {
    "verify": timedelta(hours=48),
    "change_email": timedelta(hours=48),
    "reset": timedelta(hours=1),
}
LINKS_PER_HOUR = 5
"""Link mails of one purpose a user may be sent per hour (no inbox flooding)."""
LINK_PAGE = {"verify": "verify-email", "change_email": "verify-email", "reset": "reset-password"}


class InvalidLink(VisualBoxError):
    """A one-time link's token is unknown, expired, already used or for another purpose."""

    code: ClassVar[str] = "invalid_token"
    status: ClassVar[int] = 400

    def __init__(self) -> None:
        super().__init__(
            "This link is invalid, has expired or was already used.",
            [FieldError("token", "is invalid, expired or already used")],
        )


_hasher = PasswordHasher()
# A real hash to verify against when the email is unknown, so that timing does not
# tell which addresses have accounts.
_DUMMY_HASH = _hasher.hash("not a real password")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            "The password is too short.",
            [FieldError(field, f"must be at least {MIN_PASSWORD} characters")],
        )


def verify_password(user: User | None, password: str) -> bool:
    """Check a password in constant-ish time, also when there is no such user."""
    stored = user.password_hash if user is not None else None
    try:
        ok = _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


def _rehash_if_needed(db: Session, user: User, password: str) -> None:
    """After a successful check: store a new hash if the argon2 parameters changed."""
    if user.password_hash and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.commit()


def user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == normalize_email(email)))


def count_users(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User).where(User.is_system.is_(False))) or 0


def create_user(
    db: Session,
    *,
    name: str,
    email: str,
    password: str | None,
    is_admin: bool = False,
    verified: bool = False,
    is_system: bool = False,
) -> User:
    email = normalize_email(email)
    if user_by_email(db, email) is not None:
        raise Conflict(
            "An account with this email already exists.",
            [FieldError("email", "is already registered")],
        )
    if password is not None:
        check_password_strength(password)
    user = User(
        name=name.strip(),
        email=email,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
        is_system=is_system,
        email_verified_at=utcnow() if verified else None,
    )
    db.add(user)
    db.commit()
    return user


# -- sessions ---------------------------------------------------------------------------


def create_session(db: Session, user: User, *, days: int) -> str:
    """Start a sign-in session; returns the cookie value (only its hash is stored)."""
    token = new_token()
    db.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    db.commit()
    return token


def user_for_session(db: Session, token: str) -> User | None:
    row = db.get(UserSession, token_hash(token))
    if row is None or as_utc(row.expires_at) <= utcnow():
        return None
    user = db.get(User, row.user_id)
    return None if user is None or user.is_disabled else user


def end_session(db: Session, token: str) -> None:
    row = db.get(UserSession, token_hash(token))
    if row is not None:
        db.delete(row)
        db.commit()


def end_sessions(db: Session, user: User, *, keep: str | None = None) -> None:
    """End every session of ``user`` but ``keep`` (a cookie value); not committed."""
    sessions = delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        sessions = sessions.where(UserSession.token_hash != token_hash(keep))
    db.execute(sessions)


# -- API tokens -------------------------------------------------------------------------


def create_api_token(
    db: Session, user: User, name: str, *, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a personal API token; returns the row and the token (shown once)."""
    token = new_token(API_TOKEN_PREFIX)
    row = ApiToken(
        user_id=user.id,
        name=name.strip() or "token",
        token_hash=token_hash(token),
        prefix=token[: len(API_TOKEN_PREFIX) + 4],
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.add(row)
    db.commit()
    return row, token


def user_for_api_token(db: Session, token: str) -> User | None:
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= utcnow()):
        return None
    now = utcnow()
    if row.last_used_at is None or now - as_utc(row.last_used_at) > timedelta(minutes=1):
        row.last_used_at = now
        db.commit()
    user = db.get(User, row.user_id)
    return None if user is None or user.is_disabled else user


def list_api_tokens(db: Session, user: User) -> Sequence[ApiToken]:
    return db.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    ).all()


def delete_api_token(db: Session, user: User, token_id: str) -> None:
    """Revoke one of ``user``'s tokens; another user's token is :class:`NotFound`."""
    row = db.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such API token.")
    db.delete(row)
    db.commit()


# -- sign-up and sign-in ----------------------------------------------------------------


def sign_up(
    db: Session, mailer: Mailer, settings: Settings, *, name: str, email: str, password: str
) -> tuple[User, str]:
    """Create an account and sign it in; returns the user and the session cookie value.

    The first (non-system) account becomes the administrator, and when no SMTP
    server is configured it is verified at once. Every other account gets a
    verification link by mail (or in the log without SMTP); a failed delivery
    does not undo the sign-up (the user can ask for the link again).
    """
    first = count_users(db) == 0
    if not first and not settings.accounts.signup_open:
        raise Forbidden("Sign-up is closed on this server; ask an administrator.")
    user = create_user(
        db,
        name=name,
        email=email,
        password=password,
        is_admin=first,
        verified=first and not mailer.configured,
    )
    if first and _earliest_user_id(db) != user.id:
        # Another sign-up raced this one and came first: only that one is the first.
        user.is_admin = False
        user.email_verified_at = None
        db.commit()
    if not user.is_verified:
        try:
            _send_link(db, mailer, settings, user, "verify")
        except Unavailable:
            pass  # logged by the mailer; POST /api/auth/verify/resend tries again
    return user, create_session(db, user, days=settings.accounts.session_days)


def _earliest_user_id(db: Session) -> str | None:
    return db.scalar(
        select(User.id).where(User.is_system.is_(False)).order_by(User.created_at, User.id).limit(1)
    )


def signin_budgets(settings: Settings, email: str, client: str | None) -> list[ratelimit.Budget]:
    """The throttle's keys for a password tried for ``email`` from ``client``: the pair
    (tight), the client across accounts, and the account across clients (loose)."""
    limits = settings.accounts
    budget = ratelimit.signin_budget
    account = budget(limits, ratelimit.key("account", email), limits.signin_account_attempts)
    if not client:
        return [account]
    return [
        budget(limits, ratelimit.key("pair", client, email), limits.signin_attempts),
        budget(limits, ratelimit.key("client", client), limits.signin_client_attempts),
        account,
    ]


def sign_in(
    db: Session, settings: Settings, *, email: str, password: str, client: str | None
) -> tuple[User, str | None]:
    """Check a password; returns the user and a new session's cookie value, or ``None``
    instead of the cookie when the account has two-factor sign-in (the caller then
    hands out a :func:`~visualbox.services.two_factor.new_challenge`).

    Raises :class:`~visualbox.services.ratelimit.TooManyAttempts` while this client
    must wait before trying this account again (see :func:`signin_budgets`), and
    :class:`Unauthenticated` with one message for an unknown address or a wrong
    password. Success forgets this client's failures for the account.
    """
    email = normalize_email(email)
    budgets = signin_budgets(settings, email, client)
    attempt = ratelimit.begin(db, budgets)
    user = user_by_email(db, email)
    if user is None or not verify_password(user, password):
        raise Unauthenticated("The email address or the password is wrong.")
    ratelimit.succeeded(db, attempt)
    if client:
        ratelimit.clear(db, budgets[0].key)
    _rehash_if_needed(db, user, password)
    if user.is_disabled:
        raise Forbidden("This account is disabled; ask an administrator.")
    if user.two_factor_enabled:
        return user, None
    return user, create_session(db, user, days=settings.accounts.session_days)


def confirm_password(
    db: Session, settings: Settings, user: User, password: str, field: str
) -> None:
    """Confirm a signed-in user's password (throttled like sign-in, under a key of its
    own: guesses here never slow down the account's sign-in)."""
    limits = settings.accounts
    key = ratelimit.key("confirm", user.id)
    budget = ratelimit.signin_budget(limits, key, limits.signin_attempts)
    attempt = ratelimit.begin(db, [budget])
    if not verify_password(user, password):
        raise Forbidden("The password is wrong.", [FieldError(field, "is wrong")])
    ratelimit.succeeded(db, attempt)
    _rehash_if_needed(db, user, password)


# -- one-time email links ---------------------------------------------------------------


def _send_link(
    db: Session,
    mailer: Mailer,
    settings: Settings,
    user: User,
    purpose: LinkPurpose,
    *,
    new_email: str | None = None,
    later: bool = False,
) -> None:
    link = new_link(db, settings, user, purpose, new_email=new_email)
    send = mailer.send_link_later if later else mailer.send_link
    send(new_email or user.email, purpose, user.name, link)


def new_link(
    db: Session,
    settings: Settings,
    user: User,
    purpose: LinkPurpose,
    *,
    new_email: str | None = None,
) -> str:
    """A new one-time link of ``purpose`` for ``user`` (stored hashed, committed): the
    address to mail, or, for a reset link an administrator makes, to hand over."""
    token = new_token()
    db.add(
        EmailToken(
            token_hash=token_hash(token),
            user_id=user.id,
            purpose=purpose,
            new_email=new_email,
            expires_at=utcnow() + LINK_LIFETIME[purpose],
        )
    )
    db.commit()
    return f"{settings.public_url}/{LINK_PAGE[purpose]}?{urlencode({'token': token})}"


def _use_link(db: Session, token: str, purposes: tuple[str, ...]) -> EmailToken:
    """Mark a link used (not committed: the caller commits it with its effect)."""
    now = utcnow()
    hashed = token_hash(token)
    result = db.execute(
        update(EmailToken)
        .where(
            EmailToken.token_hash == hashed,
            EmailToken.purpose.in_(purposes),
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        db.rollback()
        raise InvalidLink()
    row = db.get(EmailToken, hashed)
    assert row is not None
    _void_links(db, row.user_id)
    return row


def _void_links(db: Session, user_id: str) -> None:
    """Mark every pending link of the user used (not committed)."""
    db.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user_id, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _links_sent_recently(db: Session, user: User, purpose: str) -> int:
    since = utcnow() - timedelta(hours=1)
    query = select(func.count()).where(
        EmailToken.user_id == user.id,
        EmailToken.purpose == purpose,
        EmailToken.created_at > since,
    )
    return db.scalar(query) or 0


def resend_verification(db: Session, mailer: Mailer, settings: Settings, user: User) -> None:
    if user.is_verified:
        raise Conflict("Your email address is already verified.")
    if _links_sent_recently(db, user, "verify") >= LINKS_PER_HOUR:
        error = RateLimited("We sent several links in the last hour; check your inbox first.")
        error.retry_after = 3600
        raise error
    _send_link(db, mailer, settings, user, "verify")


def confirm_email(db: Session, token: str) -> User:
    """Follow a ``verify`` or ``change_email`` link: the address is now verified."""
    row = _use_link(db, token, ("verify", "change_email"))
    user = db.get(User, row.user_id)
    if user is None:  # pragma: no cover - rows cascade with the user
        raise InvalidLink()
    if row.purpose == "change_email" and row.new_email:
        if user_by_email(db, row.new_email) is not None:
            db.rollback()
            raise Conflict(
                "Another account uses this email address now.",
                [FieldError("email", "is already registered")],
            )
        user.email = row.new_email
    if row.purpose == "change_email" or user.email_verified_at is None:
        user.email_verified_at = utcnow()
    db.commit()
    return user


def request_password_reset(db: Session, mailer: Mailer, settings: Settings, email: str) -> None:
    """Mail a reset link when the address has an account; silent either way."""
    user = user_by_email(db, email)
    if user is None or user.is_system:
        return
    if _links_sent_recently(db, user, "reset") >= LINKS_PER_HOUR:
        return  # no inbox flooding; the answer stays the same
    # Sent in the background: the answer must not take longer for a real account.
    _send_link(db, mailer, settings, user, "reset", later=True)


def check_reset_link(db: Session, token: str) -> None:
    """Raise :class:`InvalidLink` unless ``token`` is a usable reset link (not used)."""
    row = db.get(EmailToken, token_hash(token))
    if (
        row is None
        or row.purpose != "reset"
        or row.used_at is not None
        or as_utc(row.expires_at) <= utcnow()
    ):
        raise InvalidLink()


def reset_password(db: Session, token: str, password: str, *, revoke_tokens: bool = True) -> User:
    """Follow a reset link: set the password, end every session of the user, void their
    other links and (unless asked not to) revoke their API tokens."""
    check_password_strength(password)
    row = _use_link(db, token, ("reset",))
    user = db.get(User, row.user_id)
    if user is None:  # pragma: no cover - rows cascade with the user
        raise InvalidLink()
    user.password_hash = hash_password(password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the link proved the address
    end_sessions(db, user)
    if revoke_tokens:
        db.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    db.commit()
    ratelimit.clear(db, ratelimit.key("account", user.email))
    return user


# -- account settings -------------------------------------------------------------------


def rename(db: Session, user: User, name: str) -> User:
    user.name = name.strip()
    db.commit()
    return user


def request_email_change(
    db: Session, mailer: Mailer, settings: Settings, user: User, *, email: str, password: str
) -> None:
    """Mail a confirmation link to the new address; the change happens when it is followed."""
    confirm_password(db, settings, user, password, "password")
    email = normalize_email(email)
    if email == user.email:
        raise InvalidInput(
            "This is already your email address.", [FieldError("email", "is your current address")]
        )
    if user_by_email(db, email) is not None:
        raise Conflict(
            "An account with this email already exists.",
            [FieldError("email", "is already registered")],
        )
    _void_links(db, user.id)  # one pending address change at a time
    _send_link(db, mailer, settings, user, "change_email", new_email=email)


def change_password(
    db: Session,
    settings: Settings,
    user: User,
    *,
    current_password: str,
    new_password: str,
    keep_session: str | None,
) -> None:
    """Set a new password, end every session except ``keep_session`` (the caller's) and
    void every pending link."""
    confirm_password(db, settings, user, current_password, "current_password")
    check_password_strength(new_password, "new_password")
    user.password_hash = hash_password(new_password)
    end_sessions(db, user, keep=keep_session)
    _void_links(db, user.id)
    db.commit()
