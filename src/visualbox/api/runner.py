"""The runner API: what a runner (local or remote) calls to fetch the source it may run.

Authorised by a run token (``Authorization: Bearer vbr_...``), never by a user.
See docs/api/runner.md and ``services/run_tokens.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from visualbox.api import openapi
from visualbox.api.deps import RegistryKeyDep, SecretBoxDep, SessionDep, SettingsDep
from visualbox.errors import Unauthenticated
from visualbox.services import run_tokens

router = APIRouter(prefix="/runner", tags=["runner"])


@router.get(
    "/modules/{module_id}/versions/{version}/archive",
    response_class=Response,
    responses=openapi.ZIP,
)
def source_archive(
    module_id: str,
    version: str,
    request: Request,
    db: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    key: RegistryKeyDep,
) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Send the run token as 'Authorization: Bearer <token>'.")
    archive = run_tokens.source_archive(
        db, box, token.strip(), module_id, version, ttl_s=settings.live.run_token_ttl_s, key=key
    )
    return Response(
        archive,
        media_type="application/zip",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
