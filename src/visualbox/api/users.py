"""HTTP routes for the administration of users: ``/api/users`` (docs/api/accounts.md).

Administrators only. An unknown id (or a system account's) is 404; an administrator
cannot remove their own role, disable or un-verify themselves (409).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from visualbox.api.deps import AdminUser, SessionDep, SettingsDep
from visualbox.schemas.users import ResetLinkPublic, UserPage, UserPublic, UserUpdate
from visualbox.services import users

router = APIRouter(tags=["users"])


@router.get("/users")
def list_users(
    _admin: AdminUser,
    db: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UserPage:
    """Every account, oldest first (administrators only)."""
    found, total = users.list_users(db, offset=offset, limit=limit)
    return UserPage(
        items=[UserPublic.model_validate(u) for u in found],
        total=total,
        offset=offset,
        limit=limit,
    )


@router.get("/users/{user_id}")
def get_user(user_id: str, _admin: AdminUser, db: SessionDep) -> UserPublic:
    return UserPublic.model_validate(users.get_user(db, user_id))


@router.patch("/users/{user_id}")
def update_user(user_id: str, body: UserUpdate, admin: AdminUser, db: SessionDep) -> UserPublic:
    """Verify (or un-verify) the address, disable or enable the account, give or remove
    the administrator role; a field left out stays as it is."""
    user = users.update_user(
        db,
        admin,
        user_id,
        verified=body.email_verified,
        disabled=body.disabled,
        is_admin=body.is_admin,
    )
    return UserPublic.model_validate(user)


@router.post("/users/{user_id}/reset-link", status_code=201)
def create_reset_link(
    user_id: str, _admin: AdminUser, db: SessionDep, settings: SettingsDep
) -> ResetLinkPublic:
    """A one-time link (one hour) to choose a new password, for the administrator to
    hand over: nothing is mailed."""
    found = users.reset_link(db, settings, user_id)
    return ResetLinkPublic(link=found.link, expires_at=found.expires_at)
