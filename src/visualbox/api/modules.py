"""HTTP routes for modules: the owner's working copies (see docs/api/modules.md).

Every route is for the module's owner; anyone else gets 404, as if the module
did not exist. Raw file contents travel as raw request/response bodies.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import UploadFile
from starlette.types import Message

from visualbox.api import openapi
from visualbox.api.deps import CurrentUser, LiveDep, SecretBoxDep, SessionDep, SettingsDep
from visualbox.db.base import as_utc
from visualbox.db.tables.modules import Module
from visualbox.errors import FieldError, InvalidInput, TooLarge
from visualbox.modules.tree import LIMITS
from visualbox.schemas.frames import FramePublic
from visualbox.schemas.modules import (
    CheckPublic,
    FilePublic,
    FolderCreate,
    ForkedFrom,
    ModuleCreate,
    ModulePublic,
    ModuleUpdate,
    ModuleUsage,
    PreviousWorkingCopyPublic,
    ProblemPublic,
    Rename,
    WorkingCopyComparison,
    WorkingCopyPublic,
    WorkingCopyReset,
)
from visualbox.services import frames, modules, registry, working_copies
from visualbox.services.modules import FileEntry, Usage

router = APIRouter(tags=["modules"])

ARCHIVE_MAX_BYTES = LIMITS.max_total_bytes + 1024 * 1024
"""Largest ZIP upload accepted: the module limit plus room for ZIP headers."""
_FORM_OVERHEAD = 64 * 1024
"""Room for the multipart boundaries and part headers around an uploaded ZIP."""
_TEXT_TYPES = {
    ".md": "text/markdown",
    ".go": "text/x-go",
    ".mod": "text/plain",
    ".ts": "text/plain",
}
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "application/ecmascript",
        "text/css",
    }
)


def file_response(path: str, content: bytes) -> Response:
    """Serve one module file safely on the app's origin: as data, never as active content.

    ``nosniff`` always, and a ``sandbox`` CSP so that nothing (SVG included) runs
    with our origin's rights. HTML, scripts and stylesheets are ``text/plain``: with
    ``nosniff`` a browser refuses to render, run or apply them, so no page of the app
    can load a user's file as code whatever its ``script-src``. Pages are served by
    the frames origin only (docs/web.md).
    """
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    media = _TEXT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if media in _ACTIVE_TYPES:
        media = "text/plain"
    if media.startswith("text/") or media == "application/json":
        media += "; charset=utf-8"
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
    return Response(content, media_type=media, headers=headers)


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The raw request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(what, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(what, limit)
    return bytes(body)


def _too_large(what: str, limit: int) -> TooLarge:
    return TooLarge(f"The {what} is too large.", [FieldError("body", f"over {limit} bytes")])


async def file_body(request: Request) -> bytes:
    return await read_body(request, LIMITS.max_file_bytes, "file")


async def archive_body(request: Request) -> bytes:
    """A ZIP as the raw body, or as the ``file`` field of a multipart form."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        # Read (bounded) before parsing: the form parser would spool any size to disk.
        raw = await read_body(request, ARCHIVE_MAX_BYTES + _FORM_OVERHEAD, "archive")

        async def replay() -> Message:
            return {"type": "http.request", "body": raw, "more_body": False}

        async with Request(request.scope, replay).form(max_files=1, max_fields=1) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("No archive.", [FieldError("file", "attach the ZIP as 'file'")])
            data = await upload.read(ARCHIVE_MAX_BYTES + 1)
        if len(data) > ARCHIVE_MAX_BYTES:
            raise _too_large("archive", ARCHIVE_MAX_BYTES)
        return data
    return await read_body(request, ARCHIVE_MAX_BYTES, "archive")


FileBody = Annotated[bytes, Depends(file_body)]
ArchiveBody = Annotated[bytes, Depends(archive_body)]


def module_public(module: Module) -> ModulePublic:
    return ModulePublic(
        id=module.id,
        name=module.name,
        kind=module.kind,
        runtime=module.runtime,
        description=module.description,
        tags=list(module.tags),
        cover=module.cover,
        owner_id=module.owner_id,
        team_id=module.team_id,
        forked_from=ForkedFrom.of(module),
        latest_version=module.latest_version,
        created_at=as_utc(module.created_at),
        updated_at=as_utc(module.updated_at),
    )


def _file_public(entry: FileEntry) -> FilePublic:
    return FilePublic(
        path=entry.path, size=entry.size, sha256=entry.sha256, is_folder=entry.is_folder
    )


@router.get("/modules")
def list_modules(
    db: SessionDep,
    user: CurrentUser,
    kind: Annotated[Literal["integration", "widget"] | None, Query()] = None,
) -> list[ModulePublic]:
    return [module_public(m) for m in modules.list_modules(db, user, kind=kind)]


@router.post("/modules", status_code=201)
def create_module(body: ModuleCreate, db: SessionDep, user: CurrentUser) -> ModulePublic:
    module = modules.create_module(
        db, user, name=body.name, kind=body.kind, runtime=body.runtime, template=body.template
    )
    return module_public(module)


@router.get("/modules/{module_id}")
def get_module(module_id: str, db: SessionDep, user: CurrentUser) -> ModulePublic:
    return module_public(modules.get_owned(db, module_id, user))


@router.patch("/modules/{module_id}")
def update_module(
    module_id: str, body: ModuleUpdate, db: SessionDep, user: CurrentUser
) -> ModulePublic:
    module = modules.get_owned(db, module_id, user)
    changes = body.model_dump(include=body.model_fields_set)
    if changes.get("name", "") is None:
        raise InvalidInput("A module needs a name.", [FieldError("name", "must not be null")])
    if changes.get("tags", []) is None:
        changes["tags"] = []
    if "team_id" in changes:
        modules.move_module(db, user, module, changes.pop("team_id"))
    return module_public(modules.update_module(db, module, changes))


def usage_public(found: Usage) -> ModuleUsage:
    return ModuleUsage(
        dashboards=found.dashboards,
        own_dashboards=found.own_dashboards,
        other_users=found.other_users,
    )


@router.get("/modules/{module_id}/usage")
def module_usage(
    module_id: str,
    db: SessionDep,
    user: CurrentUser,
    version: Annotated[str | None, Query(max_length=64)] = None,
) -> ModuleUsage:
    """The dashboards that use the module, or (``version``) that depend on that version."""
    module = modules.get_owned(db, module_id, user)
    if version is None:
        return usage_public(modules.usage(db, module))
    row = registry.get_version(db, module, version)
    return usage_public(registry.version_usage(db, module, row.version))


@router.delete("/modules/{module_id}", status_code=204)
def delete_module(
    module_id: str, db: SessionDep, user: CurrentUser, live: LiveDep, confirm: bool = False
) -> Response:
    """Delete the module; while dashboards use it, only with ``?confirm=true`` (409
    ``in_use`` otherwise). Those dashboards keep loading and show it as withdrawn."""
    module = modules.get_owned(db, module_id, user, need="admin")
    found = modules.delete_module(db, module, confirm=confirm)
    for dashboard_id in found.dashboard_ids:
        live.dashboard_changed(dashboard_id)  # its running instances stop, and say why
    return Response(status_code=204)


@router.get("/modules/{module_id}/files")
def list_files(module_id: str, db: SessionDep, user: CurrentUser) -> list[FilePublic]:
    module = modules.get_owned(db, module_id, user)
    return [_file_public(e) for e in modules.list_files(db, module)]


@router.get(
    "/modules/{module_id}/files/{path:path}", response_class=Response, responses=openapi.FILE
)
def read_file(module_id: str, path: str, db: SessionDep, user: CurrentUser) -> Response:
    module = modules.get_owned(db, module_id, user)
    return file_response(path, modules.read_file(db, module, path))


@router.put("/modules/{module_id}/files/{path:path}")
def write_file(
    module_id: str, path: str, db: SessionDep, user: CurrentUser, content: FileBody
) -> FilePublic:
    """Create or replace a file (the caller is authenticated before the body is read)."""
    module = modules.get_owned(db, module_id, user)
    return _file_public(modules.write_file(db, module, path, content))


@router.delete("/modules/{module_id}/files/{path:path}", status_code=204)
def delete_file(module_id: str, path: str, db: SessionDep, user: CurrentUser) -> Response:
    modules.delete_path(db, modules.get_owned(db, module_id, user), path)
    return Response(status_code=204)


@router.post("/modules/{module_id}/folders", status_code=201)
def make_folder(
    module_id: str, body: FolderCreate, db: SessionDep, user: CurrentUser
) -> FilePublic:
    module = modules.get_owned(db, module_id, user)
    return _file_public(modules.make_folder(db, module, body.path))


@router.post("/modules/{module_id}/rename")
def rename(module_id: str, body: Rename, db: SessionDep, user: CurrentUser) -> list[FilePublic]:
    module = modules.get_owned(db, module_id, user)
    modules.rename(db, module, body.from_, body.to)
    return [_file_public(e) for e in modules.list_files(db, module)]


@router.put("/modules/{module_id}/archive")
def import_archive(
    module_id: str, db: SessionDep, user: CurrentUser, data: ArchiveBody
) -> list[FilePublic]:
    """Replace the working copy by a ZIP of a valid module of the same kind (the caller is
    authenticated before the body is read). The replaced copy is kept for an undo."""
    module = modules.get_owned(db, module_id, user)
    working_copies.import_archive(db, module, data)
    return [_file_public(e) for e in modules.list_files(db, module)]


@router.get("/modules/{module_id}/archive", response_class=Response, responses=openapi.ZIP)
def export_archive(module_id: str, db: SessionDep, user: CurrentUser) -> Response:
    module = modules.get_owned(db, module_id, user)
    return Response(
        modules.export_archive(db, module),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{module.id}.zip"'},
    )


@router.post("/modules/{module_id}/frame")
def working_copy_frame(
    module_id: str, db: SessionDep, user: CurrentUser, box: SecretBoxDep, settings: SettingsDep
) -> FramePublic:
    """A frame URL for the studio preview of the working copy as it is now (widgets only)."""
    module = modules.get_owned(db, module_id, user)
    return FramePublic(url=frames.working_copy_frame(db, box, module, settings.frames_origin))


@router.get("/modules/{module_id}/check")
def check_module(module_id: str, db: SessionDep, user: CurrentUser) -> CheckPublic:
    problems = modules.check_module(db, modules.get_owned(db, module_id, user))
    return CheckPublic(
        ok=not problems,
        problems=[ProblemPublic(file=p.file, field=p.field, reason=p.reason) for p in problems],
    )


def _working_copy(db: SessionDep, module: Module) -> WorkingCopyPublic:
    kept = working_copies.previous(db, module)
    previous = None
    if kept is not None:
        previous = PreviousWorkingCopyPublic.model_validate(
            {
                "files": kept.files,
                "size": kept.size,
                "replaced_by": kept.replaced_by,
                "version": kept.version,
                "replaced_at": as_utc(kept.replaced_at),
            }
        )
    return WorkingCopyPublic(
        files=[_file_public(e) for e in modules.list_files(db, module)], previous=previous
    )


@router.get("/modules/{module_id}/working-copy")
def get_working_copy(module_id: str, db: SessionDep, user: CurrentUser) -> WorkingCopyPublic:
    """The files, and the previous working copy that an undo would bring back."""
    return _working_copy(db, modules.get_owned(db, module_id, user))


@router.get("/modules/{module_id}/working-copy/compare")
def compare_working_copy(
    module_id: str,
    db: SessionDep,
    user: CurrentUser,
    version: Annotated[str, Query(min_length=1, max_length=64)],
) -> WorkingCopyComparison:
    """What a reset to ``version`` would change: the files it changes, removes and adds."""
    module = modules.get_owned(db, module_id, user)
    found = working_copies.compare(db, module, version)
    return WorkingCopyComparison(
        version=version, changed=found.changed, removed=found.removed, added=found.added
    )


@router.post("/modules/{module_id}/working-copy/undo")
def undo_working_copy(module_id: str, db: SessionDep, user: CurrentUser) -> WorkingCopyPublic:
    """Go back to the working copy before the last replace (409 if there is none); the
    replaced one is kept in turn, so a second undo redoes."""
    module = modules.get_owned(db, module_id, user)
    working_copies.undo(db, module)
    return _working_copy(db, module)


@router.post("/modules/{module_id}/working-copy/reset")
def reset_working_copy(
    module_id: str, body: WorkingCopyReset, db: SessionDep, user: CurrentUser
) -> WorkingCopyPublic:
    """Replace the working copy by a published version's files (undoable)."""
    module = modules.get_owned(db, module_id, user)
    working_copies.reset(db, module, body.version)
    return _working_copy(db, module)
