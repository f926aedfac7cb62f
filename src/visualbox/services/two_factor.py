"""Two-factor sign-in: time-based one-time codes (TOTP, RFC 6238, by ``pyotp``) and
one-time recovery codes.

Enrolment makes a secret (stored encrypted by the server's :class:`SecretBox`) and
shows it as an ``otpauth://`` URI and a QR code; it takes effect once a current code
confirms it, which also makes :data:`RECOVERY_CODES` recovery codes (shown once,
only their SHA-256 stored). A code is accepted for its 30-second step and one step
either side (clock drift), and only once: the step of the last accepted code is
stored and a code of that step or an earlier one is refused (no replay).

With two-factor on, a right password answers with a *challenge* instead of a
session: a SecretBox token naming the account (and a fingerprint of its password
hash, so a password change voids it) valid for :data:`CHALLENGE_TTL_S` seconds.
:func:`complete_sign_in` takes it with a code or a recovery code and starts the
session. Codes are throttled like passwords: per (client, account) pair as sign-in,
and per account across clients with waits growing up to 15 minutes inside a day.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import pyotp
import segno
from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from visualbox.db.base import utcnow
from visualbox.db.tables.accounts import RecoveryCode, User
from visualbox.errors import Conflict, FieldError, Forbidden, InvalidInput, Unauthenticated
from visualbox.services import accounts, ratelimit
from visualbox.services.secrets import SecretBox
from visualbox.services.tokens import token_hash
from visualbox.settings import Settings

ISSUER = "VisualBox"
STEP_S = 30
CHALLENGE_TTL_S = 300
RECOVERY_CODES = 10
CODE_WINDOW_S = 86400.0
CODE_ACCOUNT_MAX_DELAY_S = 900.0
_CHALLENGE = "signin-2fa"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class TwoFactorSetupRequired(Forbidden):
    """An administrator without two-factor sign-in where the server requires it."""

    code: ClassVar[str] = "two_factor_setup_required"

    def __init__(self) -> None:
        super().__init__(
            "This server requires two-factor sign-in for administrators: set it up on "
            "your account page (Account → Two-factor sign-in) to continue."
        )


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str
    """The URI as a QR code, an SVG ``data:`` URI for an ``<img>``."""


def setup_required(settings: Settings, user: User) -> bool:
    """Whether ``user`` must set up two-factor sign-in before doing anything else."""
    return (
        settings.accounts.require_2fa_for_admins and user.is_admin and not user.two_factor_enabled
    )


def recovery_codes_left(db: Session, user: User) -> int:
    query = select(func.count()).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return db.scalar(query) or 0


# -- enrolment --------------------------------------------------------------------------


def begin_enrolment(
    db: Session, settings: Settings, box: SecretBox, user: User, *, password: str
) -> Enrolment:
    """Make a new secret for ``user`` (replacing a pending one); not on until confirmed."""
    if user.two_factor_enabled:
        raise Conflict("Two-factor sign-in is already on. Turn it off first to use another app.")
    accounts.confirm_password(db, settings, user, password, "password")
    secret = pyotp.random_base32()
    user.totp_secret = box.encrypt(secret.encode("ascii"))
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    qr_svg = segno.make(uri, error="m").svg_data_uri(scale=5, dark="#000", light="#fff")
    return Enrolment(secret=secret, uri=uri, qr_svg=qr_svg)


def confirm_enrolment(
    db: Session, settings: Settings, box: SecretBox, user: User, *, code: str, client: str | None
) -> list[str]:
    """Turn two-factor sign-in on with a current code; returns the recovery codes
    (the only time they are shown)."""
    if user.two_factor_enabled:
        raise Conflict("Two-factor sign-in is already on.")
    if user.totp_secret is None:
        raise Conflict("Start the set-up first: there is no pending secret to confirm.")
    if not _use_code(db, settings, box, user, code, client, recovery=False):
        raise InvalidInput(
            "The code is wrong or was already used; enter the current one from your app.",
            [FieldError("code", "is wrong or already used")],
        )
    user.totp_enabled_at = utcnow()
    codes = _new_recovery_codes(db, user)
    db.commit()
    return codes


def disable(
    db: Session,
    settings: Settings,
    box: SecretBox,
    user: User,
    *,
    password: str,
    code: str,
    client: str | None,
) -> None:
    """Turn two-factor sign-in off (password and a code or a recovery code)."""
    if not user.two_factor_enabled:
        raise Conflict("Two-factor sign-in is not on.")
    if settings.accounts.require_2fa_for_admins and user.is_admin:
        raise Forbidden("This server requires two-factor sign-in for administrators.")
    accounts.confirm_password(db, settings, user, password, "password")
    if not _use_code(db, settings, box, user, code, client):
        raise Forbidden(
            "The code is wrong or was already used.",
            [FieldError("code", "is wrong or already used")],
        )
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.commit()


def _new_recovery_codes(db: Session, user: User) -> list[str]:
    """Replace the user's recovery codes (not committed); returns them in clear."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))  # ~49 bits
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(raw)))
    return codes


def _recovery_hash(raw: str) -> str:
    return token_hash(f"recovery:{raw}")


# -- sign-in's second step --------------------------------------------------------------


def new_challenge(box: SecretBox, user: User) -> str:
    """The token a right password earns when the account has two-factor sign-in."""
    return box.encrypt_json({"purpose": _CHALLENGE, "user": user.id, "pw": _fingerprint(user)})


def complete_sign_in(
    db: Session,
    settings: Settings,
    box: SecretBox,
    *,
    challenge: str,
    code: str,
    client: str | None,
) -> tuple[User, str]:
    """Finish a sign-in with the challenge and a code (or a recovery code); returns the
    user and the new session's cookie value."""
    user = _challenged_user(db, box, challenge)
    if not _use_code(db, settings, box, user, code, client):
        raise Unauthenticated(
            "The code is wrong or was already used; enter the current one from your app.",
            [FieldError("code", "is wrong or already used")],
        )
    return user, accounts.create_session(db, user, days=settings.accounts.session_days)


def _challenged_user(db: Session, box: SecretBox, challenge: str) -> User:
    expired = Unauthenticated(
        "This sign-in took too long or is no longer valid; enter your password again.",
        [FieldError("challenge", "is expired or invalid")],
    )
    raw = box.decrypt_fresh(challenge, CHALLENGE_TTL_S)
    if raw is None:
        raise expired
    try:
        payload = json.loads(raw)
    except ValueError:
        raise expired from None
    if not isinstance(payload, dict) or payload.get("purpose") != _CHALLENGE:
        raise expired
    user = db.get(User, str(payload.get("user")))
    if (
        user is None
        or not user.two_factor_enabled
        or not hmac.compare_digest(str(payload.get("pw")), _fingerprint(user))
    ):
        raise expired
    return user


def _fingerprint(user: User) -> str:
    return token_hash(f"pw:{user.password_hash or ''}")[:16]


# -- codes ------------------------------------------------------------------------------


def _code_budgets(settings: Settings, user: User, client: str | None) -> list[ratelimit.Budget]:
    limits = settings.accounts
    account = ratelimit.Budget(
        ratelimit.key("code-account", user.id),
        limits.signin_attempts * 2,
        limits.signin_delay_s,
        max(limits.signin_max_delay_s, CODE_ACCOUNT_MAX_DELAY_S),
        CODE_WINDOW_S,
    )
    if not client:
        return [account]
    pair_key = ratelimit.key("code-pair", client, user.id)
    pair = ratelimit.signin_budget(limits, pair_key, limits.signin_attempts)
    return [pair, account]


def _use_code(
    db: Session,
    settings: Settings,
    box: SecretBox,
    user: User,
    code: str,
    client: str | None,
    *,
    recovery: bool = True,
) -> bool:
    """Check and spend a code (counted by the throttle first); ``False`` when it is
    wrong, already used, or a recovery code where none is allowed."""
    attempt = ratelimit.begin(db, _code_budgets(settings, user, client))
    plain = "".join(code.split()).replace("-", "").lower()
    if plain.isdigit() and len(plain) == 6:
        ok = _use_totp(db, box, user, plain)
    elif recovery and len(plain) == 10 and user.two_factor_enabled:
        ok = _use_recovery_code(db, user, plain)
    else:
        ok = False
    if ok:
        ratelimit.succeeded(db, attempt)
    return ok


def _use_totp(db: Session, box: SecretBox, user: User, code: str) -> bool:
    if user.totp_secret is None:
        return False
    totp = pyotp.TOTP(box.decrypt(user.totp_secret).decode("ascii"))
    now = int(time.time()) // STEP_S
    step = next(
        (s for s in (now, now - 1, now + 1) if hmac.compare_digest(totp.at(s * STEP_S), code)),
        None,
    )
    if step is None:
        return False
    # Spend the step: only one request can move totp_last_step past it (no replay).
    result = db.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    db.refresh(user)
    return cast(CursorResult[Any], result).rowcount == 1


def _use_recovery_code(db: Session, user: User, raw: str) -> bool:
    result = db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _recovery_hash(raw),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.commit()
    return cast(CursorResult[Any], result).rowcount == 1
