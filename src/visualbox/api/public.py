"""Public HTML pages at the site root: the targets of mailed one-time links.

``GET /verify-email?token=`` confirms an address; ``GET /reset-password?token=``
shows a form that posts (form-encoded) to ``POST /reset-password``. The form
needs no CSRF token: the one-time token it carries is itself the credential.
Pages are small, self-contained and strict: every value is HTML-escaped, no
external assets, a restrictive Content-Security-Policy, no Referer (the URL
holds a token) and no caching.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse

from visualbox.api.deps import SessionDep
from visualbox.errors import Conflict, InvalidInput
from visualbox.services import accounts

router = APIRouter(include_in_schema=False)

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;font:inherit}"
    ".check{display:flex;gap:.5rem;align-items:baseline}.check input{width:auto}"
    "button{margin-top:1rem;padding:.5rem 1rem;font:inherit}.error{color:#b00020}"
)
_BAD_LINK = (
    "This link is invalid, has expired or was already used. Ask for a new one from the "
    "VisualBox sign-in page."
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A complete page; ``body`` is HTML the caller has already escaped."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{escape(title)} · '
        f"VisualBox</title><style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f'{body}<p><a href="/">Go to VisualBox</a></p></body></html>'
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _reset_form(token: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f'{problem}<form method="post" action="/reset-password">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        '<label for="password">New password</label>'
        f'<input id="password" name="password" type="password" required '
        f'minlength="{accounts.MIN_PASSWORD}" autocomplete="new-password">'
        '<label for="confirm">Repeat the new password</label>'
        f'<input id="confirm" name="confirm" type="password" required '
        f'minlength="{accounts.MIN_PASSWORD}" autocomplete="new-password">'
        '<label class="check"><input type="checkbox" name="revoke_tokens" value="yes" checked> '
        "Also revoke every API token (recommended if someone else may have used the account)"
        "</label>"
        '<button type="submit">Set the new password</button></form>'
    )
    return _page("Choose a new password", body, status)


@router.get("/verify-email")
def verify_email(db: SessionDep, token: str = "") -> HTMLResponse:
    """Follow a verification or change-email link."""
    try:
        user = accounts.confirm_email(db, token)
    except accounts.InvalidLink:
        return _page("Link not valid", f"<p>{escape(_BAD_LINK)}</p>", 400)
    except Conflict:
        text = "Another account uses this email address now, so it cannot be yours as well."
        return _page("Address already taken", f"<p>{escape(text)}</p>", 409)
    text = f"Thank you! {user.email} is confirmed as the address of your account."
    return _page("Email address confirmed", f"<p>{escape(text)}</p>")


@router.get("/reset-password")
def reset_password_form(db: SessionDep, token: str = "") -> HTMLResponse:
    """Show the new-password form for a valid, unused reset link."""
    try:
        accounts.check_reset_link(db, token)
    except accounts.InvalidLink:
        return _page("Link not valid", f"<p>{escape(_BAD_LINK)}</p>", 400)
    return _reset_form(token)


@router.post("/reset-password")
def reset_password(
    db: SessionDep,
    token: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
    revoke_tokens: Annotated[str, Form(max_length=8)] = "",
) -> HTMLResponse:
    """Set the new password from the form; every session of the account ends."""
    if password != confirm:
        return _reset_form(token, "The two passwords differ; type the same one twice.", 400)
    try:
        accounts.reset_password(db, token, password, revoke_tokens=revoke_tokens == "yes")
    except accounts.InvalidLink:
        return _page("Link not valid", f"<p>{escape(_BAD_LINK)}</p>", 400)
    except InvalidInput as exc:
        reason = exc.fields[0].reason if exc.fields else exc.message
        return _reset_form(token, f"The password {reason}.", 400)
    text = "Your password was changed and every session was signed out"
    text += ", and your API tokens were revoked. " if revoke_tokens == "yes" else ". "
    text += "Sign in again."
    return _page("Password changed", f"<p>{escape(text)}</p>")
