"""HTTP routes for quotas: an administrator's per-account overrides (docs/api/quotas.md)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from visualbox.api.deps import AdminUser, LiveDep, SessionDep
from visualbox.schemas.quotas import QuotaPublic, QuotasPublic, QuotasUpdate
from visualbox.services import quotas
from visualbox.services.live import Live

router = APIRouter(tags=["quotas"])


def quotas_public(db: Session, live: Live, user_id: str) -> QuotasPublic:
    found = quotas.account_quotas(db, user_id, sandboxes=live.sandboxes_of(user_id))
    return QuotasPublic(
        user_id=user_id,
        exempt=all(q.limit is None for q in found.values()),
        quotas={
            name: QuotaPublic(limit=q.limit, default=q.default, override=q.override, used=q.used)
            for name, q in found.items()
        },
    )


@router.get("/users/{user_id}/quotas")
def get_quotas(user_id: str, _admin: AdminUser, db: SessionDep, live: LiveDep) -> QuotasPublic:
    """The account's quotas: limit, default, override and current use (administrators only)."""
    return quotas_public(db, live, user_id)


@router.put("/users/{user_id}/quotas")
def update_quotas(
    user_id: str, body: QuotasUpdate, _admin: AdminUser, db: SessionDep, live: LiveDep
) -> QuotasPublic:
    """Set the named overrides (null: back to the default); the others stay as they are."""
    quotas.set_overrides(db, user_id, body.model_dump(exclude_unset=True))
    live.quotas_changed(user_id)
    return quotas_public(db, live, user_id)
