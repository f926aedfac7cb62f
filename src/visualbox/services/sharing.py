"""Sharing: public links to dashboards, the public read model and the explorer.

A public dashboard has an unguessable token (``secrets.token_urlsafe(32)``, 256
bits); its link is ``PUBLIC_URL/p/<token>``, and ``PUBLIC_URL/embed/<token>`` is the
same view without chrome, which only the pages of its listed ``embed_origins`` may
frame (``frame-ancestors``, docs/dashboards.md#embedding). Making it private deletes the token
and regenerating replaces it, so an old link is dead at once. A public dashboard
may also be ``listed`` in the explorer.

The public read model shows what a visitor's browser needs to draw the dashboard
and nothing more: never an integration's module or config, never a secret, never
the owner's email.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.errors import Conflict, FieldError, InvalidInput, NotFound
from visualbox.services.dashboard_secrets import is_secret_marker
from visualbox.services.dashboards import get_dashboard

TOKEN_BYTES = 32
_ORIGIN = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)


def share_path(token: str) -> str:
    return f"/p/{token}"


def embed_path(token: str) -> str:
    return f"/embed/{token}"


def check_origins(given: list[str]) -> list[str]:
    """``given`` as origins (``https://intranet.example.org[:port]``, lower case, no
    trailing slash, no duplicates); :class:`InvalidInput` naming each one that is not an
    origin (a path, a wildcard, another scheme)."""
    errors: list[FieldError] = []
    origins: list[str] = []
    for i, raw in enumerate(given):
        origin = raw.strip().lower().removesuffix("/")
        matched = _ORIGIN.fullmatch(origin)
        reason = None
        if "*" in origin:
            reason = "wildcards are not allowed: list each origin"
        elif matched is None:
            reason = (
                "must be an origin such as https://intranet.example.org: http or https, a "
                "host and maybe a port, without a path"
            )
        elif matched["port"] and not 0 < int(matched["port"]) < 65536:
            reason = "the port must be between 1 and 65535"
        if reason:
            errors.append(FieldError(f"embed_origins[{i}]", reason, f"Origin {i + 1}"))
        elif origin not in origins:
            origins.append(origin)
    if errors:
        raise InvalidInput("The sharing settings were not saved.", errors)
    return origins


def update_sharing(
    db: Session,
    user: User,
    dashboard_id: str,
    *,
    public: bool,
    listed: bool,
    embed_origins: list[str] | None = None,
) -> Dashboard:
    """Make a dashboard public (with a new token if it had none) or private (token gone).

    ``listed`` only counts for a public dashboard; a private one is never listed.
    ``embed_origins`` (``None``: unchanged) may frame it while it is public.
    Sharing does not change the dashboard's revision. Its owner or a team admin only.
    """
    dashboard = get_dashboard(db, user, dashboard_id, need="admin")
    if embed_origins is not None:
        dashboard.embed_origins = check_origins(embed_origins)
    dashboard.public = public
    dashboard.listed = public and listed
    if not public:
        dashboard.share_token = None
    elif dashboard.share_token is None:
        dashboard.share_token = secrets.token_urlsafe(TOKEN_BYTES)
    db.commit()
    return dashboard


def regenerate_token(db: Session, user: User, dashboard_id: str) -> Dashboard:
    """Replace the public link; the old one stops working at once."""
    dashboard = get_dashboard(db, user, dashboard_id, need="admin")
    if not dashboard.public:
        raise Conflict("The dashboard is not public: share it first.")
    dashboard.share_token = secrets.token_urlsafe(TOKEN_BYTES)
    db.commit()
    return dashboard


def shared_dashboard(db: Session, token: str) -> Dashboard:
    """The public dashboard with this token; :class:`NotFound` for any other token."""
    dashboard = None
    if "\x00" not in token:  # no token has one, and PostgreSQL refuses NUL in a query
        dashboard = db.scalar(
            select(Dashboard).where(Dashboard.share_token == token, Dashboard.public.is_(True))
        )
    if dashboard is None:
        raise NotFound("No such public dashboard (the link may have been disabled).")
    return dashboard


def frame_ancestors(db: Session, token: str) -> str:
    """The ``frame-ancestors`` sources of the embed page of ``token``: the origins its
    public dashboard lists, or ``'none'`` (no such dashboard, none listed)."""
    try:
        origins = shared_dashboard(db, token).embed_origins
    except NotFound:
        origins = []
    return " ".join(origins) if origins else "'none'"


def public_view(dashboard: Dashboard, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a visitor may see: layout and widget configs without secrets; instances as
    labels; ``data``, the last output of each instance (``{instance id: value}``)."""
    document = dashboard.document
    widgets = []
    for w in document["widgets"]:
        config = {k: v for k, v in w["config"].items() if not is_secret_marker(v)}
        widgets.append(
            {
                "id": w["id"],
                "module_id": w["module_id"],
                "version": w["version"],
                "x": w["x"],
                "y": w["y"],
                "w": w["w"],
                "h": w["h"],
                "config": config,
                "source": w.get("source"),
                "background": w.get("background"),
                "hide_until_data": w.get("hide_until_data", False),
                "title": w.get("title"),
            }
        )
    return {
        "name": dashboard.name,
        "settings": document["settings"],
        "variables": document.get("variables", []),
        "integrations": [{"id": i["id"], "label": i["label"]} for i in document["integrations"]],
        "widgets": widgets,
        "data": data or {},
        "updated_at": dashboard.updated_at,
    }


def explore(db: Session, *, page: int, per_page: int) -> tuple[list[Dashboard], int]:
    """Public, listed dashboards, newest first: one page and the total count."""
    where = (Dashboard.public.is_(True), Dashboard.listed.is_(True))
    total = db.scalar(select(func.count()).select_from(Dashboard).where(*where)) or 0
    items = db.scalars(
        select(Dashboard)
        .where(*where)
        .order_by(Dashboard.created_at.desc(), Dashboard.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(items), total
