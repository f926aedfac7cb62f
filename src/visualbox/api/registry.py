"""HTTP routes for the registry: publish, read, yank, fork, search (docs/api/registry.md).

Published versions are public: reading routes take an optional user. Publishing
is the owner's (a working copy is private: others get 404); yanking and
withdrawing are the owner's or an administrator's (others get 403, the module
being public). A withdrawn or blocked version's files answer 410 ``gone`` with the
reason. Blocking and unblocking are an administrator's; every version's signed
manifest and the key that verifies it are public.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import RedirectResponse

from visualbox.api import frames as frames_api
from visualbox.api import openapi
from visualbox.api.deps import (
    AdminUser,
    CurrentUser,
    LiveDep,
    MailerDep,
    OptionalUser,
    RegistryKeyDep,
    SecretBoxDep,
    SessionDep,
    SettingsDep,
)
from visualbox.api.modules import file_response, module_public
from visualbox.db.base import as_utc
from visualbox.db.tables.accounts import User
from visualbox.db.tables.modules import Module, ModuleVersion
from visualbox.errors import FieldError as FE
from visualbox.errors import NotFound, Unavailable
from visualbox.modules.manifest import MAX_TAG_CHARS
from visualbox.schemas.frames import FramePublic
from visualbox.schemas.modules import ForkedFrom, ModulePublic
from visualbox.schemas.registry import (
    BlockCreate,
    FilesManifest,
    ForkCreate,
    PublishWarning,
    RegistryKeyPublic,
    RegistryModulePublic,
    SearchItem,
    SearchPage,
    SignedManifestPublic,
    VersionCreate,
    VersionPublic,
    VersionPublished,
    VersionSummary,
    WithdrawCreate,
)
from visualbox.services import frames, modules, registry, search

router = APIRouter(tags=["registry"])


def _summary(row: ModuleVersion) -> VersionSummary:
    return VersionSummary(
        version=row.version,
        yanked=row.yanked,
        created_at=as_utc(row.created_at),
        changelog=row.changelog,
        withdrawn=row.withdrawn_at is not None,
        withdrawn_reason=row.withdrawn_reason,
        withdrawn_at=as_utc(row.withdrawn_at) if row.withdrawn_at else None,
        blocked=row.blocked_at is not None,
        blocked_reason=row.blocked_reason,
        blocked_at=as_utc(row.blocked_at) if row.blocked_at else None,
    )


def _version_public(row: ModuleVersion) -> VersionPublic:
    return VersionPublic(
        **_summary(row).model_dump(),
        module_id=row.module_id,
        runtime=row.runtime,
        content_hash=row.content_hash,
        size=row.size,
        readme=row.readme,
        config_schema=row.config_schema,
        manifest=row.manifest,
    )


def _registry_public(db: SessionDep, module: Module, user: User | None) -> RegistryModulePublic:
    manager = registry.can_manage(module, user)
    versions = [
        v
        for v in registry.versions_of(db, module)
        if manager or not v.yanked or v.withdrawn_at is not None
    ]
    return RegistryModulePublic(
        id=module.id,
        name=module.name,
        description=module.description,
        kind=module.kind,
        runtime=module.runtime,
        tags=list(module.tags),
        cover=module.cover,
        owner_name=registry.owner_name(db, module),
        latest_version=module.latest_version,
        published_at=as_utc(module.published_at) if module.published_at else None,
        versions=[_summary(v) for v in versions],
        forked_from=ForkedFrom.of(module),
        forks=module.fork_count,
        uses=registry.use_count(db, module.id),
    )


@router.post("/modules/{module_id}/versions", status_code=201)
def publish(
    module_id: str, body: VersionCreate, db: SessionDep, user: CurrentUser, key: RegistryKeyDep
) -> VersionPublished:
    """Publish the working copy; ``warnings`` lists what looks like a committed secret."""
    module = modules.get_owned(db, module_id, user)
    row, found = registry.publish_scanned(db, module, body.version, body.changelog, key=key)
    return VersionPublished(
        **_version_public(row).model_dump(),
        warnings=[PublishWarning(file=w.file, line=w.line, reason=w.reason) for w in found],
    )


@router.get("/registry/key")
def get_registry_key(key: RegistryKeyDep) -> RegistryKeyPublic:
    """The public key that verifies every version's signed manifest."""
    return RegistryKeyPublic(public_key=key.public_key, key_id=key.key_id)


@router.get("/registry/search")
def search_modules(
    db: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: Literal["integration", "widget"] | None = None,
    runtime: Literal["python", "node", "go"] | None = None,
    tag: Annotated[str | None, Query(max_length=MAX_TAG_CHARS)] = None,
    sort: search.Sort = "relevance",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchPage:
    hits, total = search.search(
        db, q=q, kind=kind, runtime=runtime, tag=tag, sort=sort, page=page, per_page=per_page
    )
    items = [
        SearchItem(
            id=h.module.id,
            name=h.module.name,
            description=h.module.description,
            kind=h.module.kind,
            runtime=h.module.runtime,
            tags=list(h.module.tags),
            cover=h.module.cover,
            owner_name=h.owner_name,
            latest_version=h.module.latest_version,
            published_at=as_utc(h.module.published_at) if h.module.published_at else None,
            forks=h.module.fork_count,
            uses=h.uses,
        )
        for h in hits
    ]
    return SearchPage(items=items, total=total, page=page, per_page=per_page)


@router.get("/registry/modules/{module_id}")
def get_registry_module(module_id: str, db: SessionDep, user: OptionalUser) -> RegistryModulePublic:
    return _registry_public(db, registry.listed_module(db, module_id), user)


@router.get("/registry/modules/{module_id}/versions/{version}")
def get_version(module_id: str, version: str, db: SessionDep) -> VersionPublic:
    module = registry.listed_module(db, module_id)
    return _version_public(registry.get_version(db, module, version))


@router.get(
    "/registry/modules/{module_id}/versions/{version}/archive",
    response_class=Response,
    responses=openapi.ZIP,
)
def get_version_archive(module_id: str, version: str, db: SessionDep) -> Response:
    row = registry.get_version(db, registry.listed_module(db, module_id), version)
    return Response(
        registry.version_archive(db, row),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{module_id}-{row.version}.zip"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/registry/modules/{module_id}/versions/{version}/files/{path:path}",
    response_class=Response,
    responses={
        **openapi.FILE,
        307: {"description": "An HTML file: a page, served by the frames origin only."},
    },
)
def get_version_file(
    module_id: str, version: str, path: str, db: SessionDep, settings: SettingsDep
) -> Response:
    """One file; an HTML file is a page, served only by the frames origin (a redirect)."""
    row = registry.get_version(db, registry.listed_module(db, module_id), version)
    content = registry.version_file(db, row, path)
    if frames_api.is_html(path):
        where = frames_api.registry_file_path(quote(module_id), quote(version), quote(path))
        return RedirectResponse(settings.frames_origin + where, status_code=307)
    return file_response(path, content)


@router.get("/registry/modules/{module_id}/versions/{version}/frame")
def get_version_frame(
    module_id: str, version: str, db: SessionDep, box: SecretBoxDep, settings: SettingsDep
) -> FramePublic:
    """A frame URL for a published version (``latest`` or exact) of a widget."""
    url = frames.registry_frame(db, box, module_id, version, settings.frames_origin)
    return FramePublic(url=url)


@router.get("/registry/modules/{module_id}/versions/{version}/manifest")
def get_version_manifest(
    module_id: str, version: str, db: SessionDep, key: RegistryKeyDep
) -> SignedManifestPublic:
    """The version's files manifest and the server's signature of it."""
    row = registry.get_version(db, registry.listed_module(db, module_id), version)
    signed = registry.signed_manifest(db, row, key)
    if signed is None:
        raise NotFound(
            "This version has no signed manifest yet: it gets one at the server's next start.",
            [FE("version", "not signed yet")],
        )
    manifest, signature = signed
    return SignedManifestPublic(
        manifest=FilesManifest.model_validate(manifest), signature=signature, key_id=key.key_id
    )


@router.post("/registry/modules/{module_id}/versions/{version}/block")
def block(
    module_id: str,
    version: str,
    body: BlockCreate,
    db: SessionDep,
    admin: AdminUser,
    live: LiveDep,
    mailer: MailerDep,
) -> VersionPublic:
    """Block a version (administrators): running instances of it stop and say why, new
    starts are refused, its files are not served; its author is told by mail."""
    module = registry.listed_module(db, module_id)
    row = registry.block(db, module, version, admin, body.reason)
    for dashboard_id, _, _ in modules.using_dashboards(db, module.id):
        live.dashboard_changed(dashboard_id)
    mail = registry.block_mail(db, module, row)
    if mail is not None:
        with contextlib.suppress(Unavailable):  # the block stands; send() logged why
            mailer.send(*mail)
    return _version_public(row)


@router.post("/registry/modules/{module_id}/versions/{version}/unblock")
def unblock(
    module_id: str, version: str, db: SessionDep, admin: AdminUser, live: LiveDep
) -> VersionPublic:
    """Lift a block (administrators): dashboards that use the version may start it again."""
    module = registry.listed_module(db, module_id)
    row = registry.unblock(db, module, version, admin)
    for dashboard_id, _, _ in modules.using_dashboards(db, module.id):
        live.dashboard_changed(dashboard_id)
    return _version_public(row)


@router.post("/registry/modules/{module_id}/versions/{version}/yank")
def yank(module_id: str, version: str, db: SessionDep, user: CurrentUser) -> VersionPublic:
    module = registry.listed_module(db, module_id)
    return _version_public(registry.yank(db, module, version, user))


@router.post("/registry/modules/{module_id}/versions/{version}/withdraw")
def withdraw(
    module_id: str,
    version: str,
    body: WithdrawCreate,
    db: SessionDep,
    user: CurrentUser,
    live: LiveDep,
) -> VersionPublic:
    """Withdraw a version for good (owner or administrator): its files are no longer
    served to anyone; 409 ``in_use`` while dashboards depend on it, unless ``confirm``."""
    module = registry.listed_module(db, module_id)
    row = registry.withdraw(db, module, version, user, body.reason, confirm=body.confirm)
    for dashboard_id, _, _ in modules.using_dashboards(db, module.id):
        live.dashboard_changed(dashboard_id)  # instances of that version stop, and say why
    return _version_public(row)


@router.post("/registry/modules/{module_id}/fork", status_code=201)
def fork(
    module_id: str,
    db: SessionDep,
    user: CurrentUser,
    body: Annotated[ForkCreate | None, Body()] = None,
) -> ModulePublic:
    body = body or ForkCreate()
    module = registry.listed_module(db, module_id)
    return module_public(registry.fork(db, module, user, version=body.version, name=body.name))
