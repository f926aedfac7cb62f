"""HTTP routes for accounts: ``/api/auth/*`` and ``/api/account*`` (users: api/users.py).

See docs/api/accounts.md. Browser sign-in uses the ``visualbox_session`` cookie
(HttpOnly, SameSite=Lax, Secure when the public URL is https); scripts use API
tokens. Sign-up and sign-in refuse cross-site browser requests (no login CSRF).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from visualbox.api.deps import (
    SESSION_COOKIE,
    CurrentUser,
    MailerDep,
    OptionalUser,
    SecretBoxDep,
    SessionDep,
    SettingsDep,
    SignedInUser,
    check_same_origin,
)
from visualbox.db.tables.accounts import User
from visualbox.schemas.accounts import (
    AccountCreate,
    AccountCreated,
    AccountPublic,
    AccountUpdate,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    EmailChange,
    EmailTokenUse,
    Notice,
    PasswordChange,
    PasswordForgot,
    PasswordReset,
    RecoveryCodes,
    SessionPublic,
    Signin,
    SigninTwoFactor,
    TwoFactorChallenge,
    TwoFactorConfirm,
    TwoFactorDisable,
    TwoFactorEnrol,
    TwoFactorEnrolment,
    TwoFactorStatus,
)
from visualbox.services import accounts, samples, two_factor
from visualbox.services.mail import Mailer
from visualbox.settings import Settings

router = APIRouter(tags=["accounts"])


SameSite = Depends(check_same_origin)


def _set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.accounts.session_days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )


# -- /api/auth --------------------------------------------------------------------------


NO_MAIL_VERIFY = (
    "This server sends no mail: an administrator will verify your account and let you in."
)
NO_MAIL_RESET = (
    "This server sends no mail: ask an administrator for a link to choose a new password."
)


def _signup_message(user: User, mailer: Mailer) -> str:
    if user.is_verified:
        if user.is_admin:
            return "Your account is ready: it is the administrator of this server."
        return "Your account is ready."
    if not mailer.configured:
        return NO_MAIL_VERIFY
    return f"We sent a link to {user.email}: follow it to verify your address."


@router.post(
    "/auth/signup", status_code=201, response_model=AccountCreated, dependencies=[SameSite]
)
def signup(
    body: AccountCreate,
    response: Response,
    db: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    box: SecretBoxDep,
) -> AccountCreated:
    """Create an account and sign it in (the first account becomes administrator and,
    unless ACCOUNTS__SAMPLE_DASHBOARD is off, gets the live sample dashboard); ``message``
    says what comes next (the mailed link, or an administrator when there is no mail)."""
    user, token = accounts.sign_up(
        db, mailer, settings, name=body.name, email=body.email, password=body.password
    )
    samples.welcome(db, box, settings, user)
    _set_session_cookie(response, token, settings)
    public = AccountPublic.model_validate(user)
    return AccountCreated(**public.model_dump(), message=_signup_message(user, mailer))


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post(
    "/auth/signin",
    response_model=AccountPublic | TwoFactorChallenge,
    dependencies=[SameSite],
)
def signin(
    body: Signin,
    request: Request,
    response: Response,
    db: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> AccountPublic | TwoFactorChallenge:
    """Sign in with email and password; sets the session cookie, or answers a
    two-factor challenge for ``/api/auth/signin/2fa``. 429 while this client must wait."""
    user, token = accounts.sign_in(
        db, settings, email=body.email, password=body.password, client=_client(request)
    )
    if token is None:
        return TwoFactorChallenge(challenge=two_factor.new_challenge(box, user))
    _set_session_cookie(response, token, settings)
    return AccountPublic.model_validate(user)


@router.post("/auth/signin/2fa", dependencies=[SameSite])
def signin_two_factor(
    body: SigninTwoFactor,
    request: Request,
    response: Response,
    db: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> AccountPublic:
    """Finish a two-factor sign-in with the challenge and a code or a recovery code;
    sets the session cookie. 429 while this client must wait."""
    user, token = two_factor.complete_sign_in(
        db, settings, box, challenge=body.challenge, code=body.code, client=_client(request)
    )
    _set_session_cookie(response, token, settings)
    return AccountPublic.model_validate(user)


@router.post("/auth/signout", status_code=204)
def signout(
    request: Request, db: SessionDep, settings: SettingsDep, _user: OptionalUser
) -> Response:
    """End this browser's session (if any) and clear the cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        accounts.end_session(db, cookie)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )
    return response


@router.post("/auth/verify")
def verify(body: EmailTokenUse, db: SessionDep) -> AccountPublic:
    """Use a verification (or change-email) link's token."""
    return AccountPublic.model_validate(accounts.confirm_email(db, body.token))


@router.post("/auth/verify/resend", status_code=202)
def resend_verification(
    user: SignedInUser, db: SessionDep, settings: SettingsDep, mailer: MailerDep
) -> Notice:
    """Mail a new verification link to a signed-in, unverified account (without mail:
    says that an administrator verifies accounts)."""
    if not mailer.configured and not user.is_verified:
        return Notice(message=NO_MAIL_VERIFY)
    accounts.resend_verification(db, mailer, settings, user)
    return Notice(message=f"We sent a new verification link to {user.email}.")


@router.post("/auth/forgot", status_code=202)
def forgot(
    body: PasswordForgot, db: SessionDep, settings: SettingsDep, mailer: MailerDep
) -> Notice:
    """Mail a password-reset link; answers the same whether or not the account exists
    (without mail: to ask an administrator for a link)."""
    accounts.request_password_reset(db, mailer, settings, body.email)
    if not mailer.configured:
        return Notice(message=NO_MAIL_RESET)
    return Notice(message="If an account uses this address, we sent it a reset link.")


@router.post("/auth/reset")
def reset(body: PasswordReset, db: SessionDep) -> Notice:
    """Set a new password with a reset link's token; ends every session of the user,
    voids their other links and, unless ``revoke_tokens`` is false, revokes their API tokens."""
    accounts.reset_password(db, body.token, body.password, revoke_tokens=body.revoke_tokens)
    return Notice(message="Your password was changed. Sign in with the new password.")


# -- /api/account -----------------------------------------------------------------------


@router.get("/auth/session")
def get_session(
    user: OptionalUser, db: SessionDep, settings: SettingsDep, mailer: MailerDep
) -> SessionPublic:
    """Who is signed in, if anyone: a page's first question, answered without an error;
    also whether the server sends mail and whether it has no account yet."""
    if user is None:
        return SessionPublic(
            user=None, mail=mailer.configured, first_account=accounts.count_users(db) == 0
        )
    return SessionPublic(
        user=AccountPublic.model_validate(user),
        two_factor_setup_required=two_factor.setup_required(settings, user),
        mail=mailer.configured,
    )


@router.get("/account")
def get_account(user: SignedInUser) -> AccountPublic:
    """The signed-in account (verified or not)."""
    return AccountPublic.model_validate(user)


@router.patch("/account")
def update_account(body: AccountUpdate, user: SignedInUser, db: SessionDep) -> AccountPublic:
    return AccountPublic.model_validate(accounts.rename(db, user, body.name))


@router.post("/account/email", status_code=202, response_model=Notice)
def change_email(
    body: EmailChange, user: SignedInUser, db: SessionDep, settings: SettingsDep, mailer: MailerDep
) -> Notice:
    """Mail a confirmation link to the new address; it takes effect when followed."""
    accounts.request_email_change(
        db, mailer, settings, user, email=body.email, password=body.password
    )
    return Notice(message=f"We sent a confirmation link to {body.email}.")


@router.post("/account/password", status_code=204, response_model=None)
def change_password(
    body: PasswordChange,
    request: Request,
    user: SignedInUser,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Set a new password; every other session of the account ends."""
    accounts.change_password(
        db,
        settings,
        user,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session=request.cookies.get(SESSION_COOKIE),
    )
    return Response(status_code=204)


@router.get("/account/2fa")
def get_two_factor(user: SignedInUser, db: SessionDep, settings: SettingsDep) -> TwoFactorStatus:
    """Whether two-factor sign-in is on, and how many recovery codes are unused."""
    return TwoFactorStatus(
        enabled=user.two_factor_enabled,
        recovery_codes_left=two_factor.recovery_codes_left(db, user),
        required=settings.accounts.require_2fa_for_admins and user.is_admin,
    )


@router.post("/account/2fa")
def enrol_two_factor(
    body: TwoFactorEnrol,
    user: SignedInUser,
    db: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> TwoFactorEnrolment:
    """Start setting up two-factor sign-in: a new secret for the authenticator app.
    Nothing changes until a code from the app confirms it."""
    enrolment = two_factor.begin_enrolment(db, settings, box, user, password=body.password)
    return TwoFactorEnrolment(secret=enrolment.secret, uri=enrolment.uri, qr_svg=enrolment.qr_svg)


@router.post("/account/2fa/confirm")
def confirm_two_factor(
    body: TwoFactorConfirm,
    request: Request,
    user: SignedInUser,
    db: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> RecoveryCodes:
    """Turn two-factor sign-in on with a current code; answers the recovery codes
    (the only time they are shown)."""
    codes = two_factor.confirm_enrolment(
        db, settings, box, user, code=body.code, client=_client(request)
    )
    return RecoveryCodes(recovery_codes=codes)


@router.post("/account/2fa/disable", status_code=204, response_model=None)
def disable_two_factor(
    body: TwoFactorDisable,
    request: Request,
    user: SignedInUser,
    db: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> Response:
    """Turn two-factor sign-in off (the password and a code or a recovery code)."""
    two_factor.disable(
        db, settings, box, user, password=body.password, code=body.code, client=_client(request)
    )
    return Response(status_code=204)


@router.get("/account/tokens")
def list_tokens(user: CurrentUser, db: SessionDep) -> list[ApiTokenPublic]:
    return [ApiTokenPublic.model_validate(t) for t in accounts.list_api_tokens(db, user)]


@router.post("/account/tokens", status_code=201)
def create_token(body: ApiTokenCreate, user: CurrentUser, db: SessionDep) -> ApiTokenCreated:
    """Create an API token; the answer is the only time the token is shown."""
    row, token = accounts.create_api_token(
        db, user, body.name, expires_in_days=body.expires_in_days
    )
    return ApiTokenCreated(**ApiTokenPublic.model_validate(row).model_dump(), token=token)


@router.delete("/account/tokens/{token_id}", status_code=204)
def delete_token(token_id: str, user: CurrentUser, db: SessionDep) -> None:
    accounts.delete_api_token(db, user, token_id)
