"""``visualbox login`` and ``visualbox logout``: an API token per server, kept for the user.

``login URL`` signs in with email and password (and a two-factor code when the account
has one) through the REST API, creates an API token named after this machine, ends
the sign-in session and keeps only the token (see ``remote.py`` for where). ``--token``
(or ``VISUALBOX_TOKEN``) stores a token made elsewhere after checking it.
"""

from __future__ import annotations

import os
import socket

import click

from visualbox.cli.remote import (
    TOKEN_ENV,
    BadInput,
    Login,
    Remote,
    RemoteError,
    credentials_path,
    default_url,
    forget_login,
    normalize_url,
    save_login,
)

SESSION_COOKIE = "visualbox_session"


@click.command()
@click.argument("url", required=False)
@click.option("--token", help=f"An API token to store (default: ${TOKEN_ENV}); for CI.")
@click.option("--email", help="The account's email (asked when missing).")
def login(url: str | None, token: str | None, email: str | None) -> None:
    """Log in to the server at URL (default: the last one, or http://127.0.0.1:8000).

    Without --token, asks for the email and password (and a two-factor code when
    needed) and creates an API token for this machine.
    """
    target = normalize_url(url) if url else default_url()
    token = token or os.environ.get(TOKEN_ENV) or None
    if token:
        with Remote(target, token.strip()) as remote:
            account = remote.json("GET", "/api/account")
        saved = Login(target, token.strip(), None, account.get("email"))
    else:
        saved = _sign_in(target, email)
    path = save_login(saved)
    click.echo(f"Logged in to {target} as {saved.email}; token kept in {path}")


def _sign_in(url: str, email: str | None) -> Login:
    email = email or click.prompt("Email")
    password = click.prompt("Password", hide_input=True)
    with Remote(url) as remote:
        response = remote.request(
            "POST", "/api/auth/signin", json_body={"email": email, "password": password}
        )
        body = response.json()
        if body.get("two_factor_required"):
            code = click.prompt("Two-factor code (or a recovery code)")
            response = remote.request(
                "POST",
                "/api/auth/signin/2fa",
                json_body={"challenge": body["challenge"], "code": code.strip()},
            )
        session = response.cookies.get(SESSION_COOKIE)
        if not session:
            raise RemoteError(f"{url} signed in but gave no session: is it a VisualBox server?")
        cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
        name = f"visualbox CLI on {socket.gethostname()}"[:100]
        created = remote.json(
            "POST", "/api/account/tokens", json_body={"name": name}, headers=cookie
        )
        remote.request("POST", "/api/auth/signout", headers=cookie)
    return Login(url, created["token"], created["id"], email)


@click.command()
@click.argument("url", required=False)
def logout(url: str | None) -> None:
    """Forget the token of the server at URL (default: the last one) and revoke it."""
    target = normalize_url(url) if url else default_url()
    entry = forget_login(target)
    if entry is None:
        raise BadInput(f"not logged in to {target}")
    if entry.token_id:
        try:
            with Remote(target, entry.token) as remote:
                remote.request(
                    "DELETE", f"/api/account/tokens/{entry.token_id}", expect=(204, 401, 404)
                )
        except RemoteError as exc:
            click.echo(f"Warning: the token could not be revoked on the server: {exc}", err=True)
    click.echo(f"Logged out of {target} (removed from {credentials_path()})")
