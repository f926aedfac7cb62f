"""Registry: publish immutable versions, yank them, fork modules, and resolve versions.

Visibility: a module appears in the registry once it has a published version;
its versions are public (anonymous readers too). Yanked versions are hidden
from search and from ``latest`` but a pinned yanked version still resolves, so
dashboards using it keep working; its number can never be published again.

Withdrawn versions (:func:`withdraw`) are yanked and more: their files are purged
and never served again (archive, files, frames, runner sources: :class:`Gone`
with the reason), dashboards pinned to them show why, and it cannot be undone.
A deleted module leaves a :class:`WithdrawnModule` row so that the dashboards
that used it can say it was withdrawn (:func:`withdrawn_note`).

Every version gets a files manifest signed by the server's registry key at publication
(``services/signing.py``); :func:`verified_archive` checks it before a runner gets
the files. An administrator can :func:`block` a version (and :func:`unblock` it):
while blocked it is served and run like a withdrawn one is not, with the reason.

Dashboards and the runtime go through :func:`resolve` and :func:`module_tree`;
the dashboards service records which modules a dashboard uses with
:func:`set_dashboard_uses` / :func:`clear_dashboard_uses` (popularity).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import semver
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc, utcnow
from visualbox.db.tables.accounts import User
from visualbox.db.tables.modules import (
    Blob,
    Module,
    ModuleFile,
    ModuleUse,
    ModuleVersion,
    WithdrawnModule,
)
from visualbox.errors import Conflict, Forbidden, Gone, InUse, InvalidInput, NotFound, plural
from visualbox.errors import FieldError as FE
from visualbox.modules.archive import make_zip
from visualbox.modules.check import Problem, check_tree
from visualbox.modules.config_schema import ConfigSchema, parse_config_schema
from visualbox.modules.secrets_scan import SecretWarning, scan
from visualbox.modules.tree import FileTree, content_hash, normalize_path
from visualbox.services import blobs, modules, policy, quotas, search, signing
from visualbox.services.modules import Usage
from visualbox.services.signing import RegistryKey

LATEST = "latest"
WORKING = "working"


@dataclass(frozen=True)
class ResolvedModule:
    """One exact version (or the owner's working copy) of a module."""

    module_id: str
    name: str
    kind: str
    runtime: str | None
    version: str | None
    """``None`` means the owner's working copy."""
    yanked: bool
    schema: ConfigSchema
    content_hash: str


# -- reading ----------------------------------------------------------------------------


def listed_module(db: Session, module_id: str) -> Module:
    """A module with at least one published version; ``NotFound`` otherwise."""
    module = db.get(Module, module_id)
    if module is None or not versions_of(db, module):
        raise NotFound("No such module in the registry.", [FE("module_id", "no such module")])
    return module


def versions_of(db: Session, module: Module, *, yanked: bool = True) -> list[ModuleVersion]:
    """The module's versions, highest first; without yanked (and blocked) ones unless
    ``yanked``."""
    query = select(ModuleVersion).where(ModuleVersion.module_id == module.id)
    if not yanked:
        query = query.where(ModuleVersion.yanked.is_(False), ModuleVersion.blocked_at.is_(None))
    rows = list(db.scalars(query))
    return sorted(rows, key=lambda v: semver.Version.parse(v.version), reverse=True)


def can_manage(module: Module, user: User | None) -> bool:
    return user is not None and (user.id == module.owner_id or user.is_admin)


def use_count(db: Session, module_id: str) -> int:
    query = select(func.count()).select_from(ModuleUse).where(ModuleUse.module_id == module_id)
    return db.scalar(query) or 0


def owner_name(db: Session, module: Module) -> str:
    owner = db.get(User, module.owner_id)
    return owner.name if owner is not None else ""


def get_version(db: Session, module: Module, spec: str) -> ModuleVersion:
    """``latest`` (highest neither yanked nor blocked) or an exact version, yanked or not."""
    if spec == LATEST:
        found = versions_of(db, module, yanked=False)
        if not found:
            raise NotFound("Every version is yanked.", [FE("version", "no version to use")])
        return found[0]
    row = db.scalar(
        select(ModuleVersion).where(
            ModuleVersion.module_id == module.id, ModuleVersion.version == spec
        )
    )
    if row is None:
        raise NotFound("No such version.", [FE("version", f"no version {spec}")])
    return row


def version_archive(db: Session, version: ModuleVersion) -> bytes:
    """The version's ZIP; :class:`Gone` (with the reason) once it is withdrawn."""
    check_served(db, version)
    return blobs.get_blob(db, version.archive_sha)


def check_served(db: Session, version: ModuleVersion) -> None:
    """Raise :class:`Gone` if the version's files may not be served (withdrawn, blocked)."""
    if version.withdrawn_at is None and version.blocked_at is not None:
        module = db.get(Module, version.module_id)
        raise Gone(
            f'Version {version.version} of "{module.name if module else ""}" is blocked. '
            + blocked_note(version),
            [FE("version", f"version {version.version} is blocked")],
        )
    if version.withdrawn_at is not None:
        module = db.get(Module, version.module_id)
        raise Gone(
            _version_note(version, module.name if module else "", module),
            [FE("version", f"version {version.version} was withdrawn")],
        )


def _version_note(version: ModuleVersion, name: str, module: Module | None) -> str:
    author = module is not None and version.withdrawn_by == module.owner_id
    by = "its author" if author else "an administrator"
    return (
        f'Version {version.version} of "{name}" was withdrawn by {by}: '
        f"{version.withdrawn_reason or 'no reason given'}"
    )


def blocked_note(version: ModuleVersion) -> str:
    return f"Blocked by an administrator: {version.blocked_reason or 'no reason given'}"


def withdrawn_note(db: Session, module_id: str) -> str | None:
    """Why ``module_id`` is gone if its owner deleted it (withdrew it), else ``None``."""
    row = db.get(WithdrawnModule, module_id) if "\x00" not in module_id else None
    if row is None:
        return None
    return f'The module "{row.name}" was withdrawn: its author deleted it.'


def version_tree(db: Session, version: ModuleVersion) -> FileTree:
    """The exact files of a version (our own archive, so it is read as it is)."""
    with zipfile.ZipFile(io.BytesIO(version_archive(db, version))) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def verified_archive(db: Session, version: ModuleVersion, key: RegistryKey) -> bytes:
    """The version's ZIP for a runner, once its files match the manifest signed at
    publication; :class:`Conflict` naming the first path that differs otherwise.

    A version published without the key at hand (the server's start-up code, a
    script on the service layer) has its manifest recorded but not signed yet: it
    is signed here, on its first start, against that manifest."""
    archive = version_archive(db, version)
    module = db.get(Module, version.module_id)
    title = f"{module.name if module else version.module_id} {version.version}"
    signed_manifest(db, version, key)
    if not key.verifies(version.files_manifest, version.signature):
        raise Conflict(
            f"The files of {title} cannot be trusted: their manifest does not carry this "
            "server's signature (changed after publication, or signed by another key: every "
            "node of a cluster needs the same SECURITY__REGISTRY_KEY).",
            [FE("version", "the signed manifest does not verify")],
        )
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        tree = {info.filename: opened.read(info) for info in opened.infolist()}
    path = signing.mismatch(version.files_manifest, tree)
    if path is not None:
        raise Conflict(
            f"files of {title} do not match what was published: {path}",
            [FE("version", f"{path} differs from the published file")],
        )
    return archive


def signed_manifest(
    db: Session, version: ModuleVersion, key: RegistryKey
) -> tuple[dict[str, Any], str] | None:
    """The version's files manifest and signature (:class:`Gone` once withdrawn; ``None``
    before the server's start gave one to a version older than signing). A manifest
    recorded at publication without the key is signed now (see :func:`verified_archive`)."""
    if version.withdrawn_at is not None:
        check_served(db, version)
    if not version.files_manifest:
        return None
    signature = version.signature
    if signature is None:
        signature = signing.sign_version(key, version, version.files_manifest)
        db.commit()
    return version.files_manifest, signature


def version_file(db: Session, version: ModuleVersion, path: str) -> bytes:
    path = normalize_path(path)
    with zipfile.ZipFile(io.BytesIO(version_archive(db, version))) as archive:
        try:
            return archive.read(path)
        except KeyError:
            raise NotFound("No such file.", [FE("path", "no such file")]) from None


# -- writing ----------------------------------------------------------------------------


def publish(
    db: Session,
    module: Module,
    version: str,
    changelog: str = "",
    *,
    key: RegistryKey | None = None,
) -> ModuleVersion:
    """Publish the working copy as ``version`` (see :func:`publish_scanned`)."""
    return publish_scanned(db, module, version, changelog, key=key)[0]


def publish_scanned(
    db: Session,
    module: Module,
    version: str,
    changelog: str = "",
    *,
    key: RegistryKey | None = None,
) -> tuple[ModuleVersion, list[SecretWarning]]:
    """Publish the working copy as ``version``: it must be valid semver, higher than every
    version ever published (yanked included), and the module must pass the check (which
    refuses files over the limits). Returns the version and the secrets that its files
    seem to hold (``modules/secrets_scan.py``): warnings, publishing goes on.

    The version's files manifest is recorded, and signed with ``key`` when given
    (without it, it is signed on its first start or at the server's next start)."""
    try:
        number = semver.Version.parse(version)
    except ValueError:
        raise InvalidInput(
            "Not a semantic version.", [FE("version", "must be a semantic version like 1.2.0")]
        ) from None
    existing = versions_of(db, module)
    if existing and number <= semver.Version.parse(existing[0].version):
        raise InvalidInput(
            "The version must increase.",
            [FE("version", f"must be greater than {existing[0].version}, the highest so far")],
        )
    tree = modules.working_tree(db, module)
    checked, problems = check_tree(tree, default_name=module.name)
    if checked is not None and checked.manifest.kind != module.kind:
        problems = [*problems, Problem("visualbox.json", "kind", f"must be {module.kind}")]
    if checked is None or problems:
        raise InvalidInput(
            f"The module is not valid ({plural(len(problems), 'problem')}): see the check.",
            [FE(f"{p.file}.{p.field}" if p.field else p.file, p.reason) for p in problems],
        )
    archive = make_zip(tree)
    quotas.check_module_bytes(db, module.owner_id, len(archive))
    row = ModuleVersion(
        module_id=module.id,
        version=str(number),
        runtime=checked.manifest.runtime,
        archive_sha=blobs.put_blob(db, archive),
        content_hash=content_hash(tree),
        size=sum(len(c) for c in tree.values()),
        manifest=checked.manifest.to_json(),
        config_schema=checked.schema.to_json(),
        readme=tree.get("README.md", b"").decode("utf-8", "replace"),
        changelog=changelog,
    )
    files = signing.manifest_of(
        module.id, checked.manifest.name, row.version, row.runtime, row.manifest, tree
    )
    if key is not None:
        signing.sign_version(key, row, files)
    else:
        row.files_manifest = files
    db.add(row)
    module.runtime = checked.manifest.runtime
    db.flush()
    _refresh_listing(db, module)
    db.commit()
    return row, scan(tree)


def withdraw(
    db: Session, module: Module, version: str, user: User, reason: str, *, confirm: bool = False
) -> ModuleVersion:
    """Withdraw a version for good (owner or admin): yank it, purge its files and cached
    README, manifest and config schema, and record who withdrew it and why (public).

    Refused with :class:`InUse` while dashboards depend on it unless ``confirm``: they
    keep loading and show the reason instead of the widget or integration. Withdrawing
    a withdrawn version changes nothing (the first reason stays). The number stays taken.
    """
    if not can_manage(module, user):
        raise Forbidden("Only the module's owner or an administrator may withdraw a version.")
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("Give a reason.", [FE("reason", "say why, for those who used it")])
    if version == LATEST:
        raise InvalidInput(
            "Name the exact version.", [FE("version", "must be an exact version like 1.2.0")]
        )
    row = get_version(db, module, version)
    if row.withdrawn_at is not None:
        return row
    found = version_usage(db, module, row.version)
    if found.dashboards and not confirm:
        raise InUse(
            f"{found.sentence('depends on it', 'depend on it')} Withdrawing version "
            f"{row.version} stops their integrations of it and shows your reason instead of "
            "its widgets. Send confirm=true to withdraw it anyway.",
            [
                FE(
                    "confirm",
                    found.count("depends on this version", "depend on this version"),
                    "Confirmation",
                )
            ],
        )
    now = utcnow()
    row.withdrawn_at, row.withdrawn_reason, row.withdrawn_by = now, reason, user.id
    row.yanked, row.yanked_at = True, row.yanked_at or now
    row.readme, row.manifest, row.config_schema = "", {}, []
    _purge_archive(db, row)
    db.flush()
    _refresh_listing(db, module)
    db.commit()
    return row


def _purge_archive(db: Session, row: ModuleVersion) -> None:
    """Delete the version's archive blob unless something else refers to the same bytes
    (another module's identical version, a working-copy file)."""
    sha = row.archive_sha
    versions = select(func.count()).where(
        ModuleVersion.archive_sha == sha, ModuleVersion.id != row.id
    )
    files = select(func.count()).where(ModuleFile.blob_sha == sha)
    if not db.scalar(versions) and not db.scalar(files):
        db.execute(delete(Blob).where(Blob.sha256 == sha))


def block(db: Session, module: Module, version: str, admin: User, reason: str) -> ModuleVersion:
    """Block a version (administrators): its files are no longer served nor run, running
    instances stop and say why, ``latest`` skips it. Blocking again changes the reason."""
    if not admin.is_admin:
        raise Forbidden("Only an administrator may block a version.")
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("Give a reason.", [FE("reason", "say why, for its author and users")])
    if version == LATEST:
        raise InvalidInput(
            "Name the exact version.", [FE("version", "must be an exact version like 1.2.0")]
        )
    row = get_version(db, module, version)
    row.blocked_at = row.blocked_at or utcnow()
    row.blocked_reason, row.blocked_by = reason, admin.id
    db.flush()
    _refresh_listing(db, module)
    db.commit()
    return row


def unblock(db: Session, module: Module, version: str, admin: User) -> ModuleVersion:
    """Lift a block (administrators); idempotent."""
    if not admin.is_admin:
        raise Forbidden("Only an administrator may unblock a version.")
    row = get_version(db, module, version)
    if row.blocked_at is not None:
        row.blocked_at = row.blocked_reason = row.blocked_by = None
        db.flush()
        _refresh_listing(db, module)
        db.commit()
    return row


def block_mail(db: Session, module: Module, row: ModuleVersion) -> tuple[str, str, str] | None:
    """``(to, subject, text)`` telling the author that ``row`` was blocked, or ``None``
    for a module of a system account (the built-in library)."""
    owner = db.get(User, module.owner_id)
    if owner is None or owner.is_system:
        return None
    subject = f"{module.name} {row.version} was blocked by an administrator"
    text = (
        f"Hello {owner.name},\n\nAn administrator blocked version {row.version} of your "
        f'module "{module.name}".\n\nReason: {row.blocked_reason}\n\nDashboards that use '
        "it stop it and show this reason; publish a fixed version, or answer the "
        "administrator of this server.\n"
    )
    return owner.email, subject, text


def version_usage(db: Session, module: Module, version: str) -> Usage:
    """The dashboards that stop working if ``version`` goes: those pinned to it, and
    those on ``latest`` when it is the only version left to use."""
    others = [v for v in versions_of(db, module, yanked=False) if v.version != version]
    rows = modules.using_dashboards(db, module.id)
    hit = [
        (dashboard_id, owner_id)
        for dashboard_id, owner_id, document in rows
        if any(
            item.get("module_id") == module.id
            and (item.get("version") == version or (item.get("version") == LATEST and not others))
            for section in ("integrations", "widgets")
            for item in document.get(section, [])
        )
    ]
    return Usage.of(module, hit)


def yank(db: Session, module: Module, version: str, user: User) -> ModuleVersion:
    """Hide a version from search and ``latest`` (idempotent; owner or admin)."""
    if not can_manage(module, user):
        raise Forbidden("Only the module's owner or an administrator may yank a version.")
    row = get_version(db, module, version)
    if not row.yanked:
        row.yanked, row.yanked_at = True, utcnow()
        db.flush()
        _refresh_listing(db, module)
        db.commit()
    return row


def fork(
    db: Session, module: Module, user: User, *, version: str = LATEST, name: str | None = None
) -> Module:
    """A new working copy for ``user`` from a published version; records its parent."""
    source = get_version(db, module, version)
    db.execute(
        update(Module).where(Module.id == module.id).values(fork_count=Module.fork_count + 1)
    )
    copy = modules.create_module(
        db,
        user,
        name=name or module.name,
        kind=module.kind,
        runtime=source.runtime,
        tree=version_tree(db, source),
        forked_from=(module.id, source.version),
    )
    db.refresh(module)
    return copy


def _refresh_listing(db: Session, module: Module) -> None:
    """Recompute latest version and publication time, then the search index row."""
    live = versions_of(db, module, yanked=False)
    module.latest_version = live[0].version if live else None
    module.published_at = max((as_utc(v.created_at) for v in live), default=None)
    search.index_module(db, module)


# -- resolution (dashboards, runtime) ---------------------------------------------------


def resolve(db: Session, module_id: str, spec: str, *, user: User | None) -> ResolvedModule:
    """Resolve ``spec`` — ``latest``, an exact version or ``working`` (the owner's working
    copy, for its owner only) — to one exact version. ``NotFound`` names ``module_id``
    or ``version``."""
    module = db.get(Module, module_id)
    if module is None:
        note = withdrawn_note(db, module_id)
        if note is not None:
            raise Gone(note, [FE("module_id", "the module was withdrawn")])
        raise NotFound("No such module.", [FE("module_id", "no such module")])
    if spec == WORKING:
        if not policy.may_use_working_copy(db, user, module):  # its owner, its team
            raise NotFound("No such version.", [FE("version", "no such version")])
        tree = modules.working_tree(db, module)
        schema = parse_config_schema(tree.get("config.json", b"[]"))
        return ResolvedModule(
            module.id, module.name, module.kind, module.runtime, None, False, schema,
            content_hash(tree),
        )  # fmt: skip
    if spec != LATEST and not semver.Version.is_valid(spec):
        raise NotFound("No such version.", [FE("version", "must be latest, working or x.y.z")])
    try:
        row = get_version(db, module, spec)
    except NotFound:
        every = versions_of(db, module) if spec == LATEST else []
        if every:
            check_served(db, every[0])  # no version left because the newest was withdrawn
        raise
    check_served(db, row)
    return ResolvedModule(
        module.id, module.name, module.kind, row.runtime, row.version, row.yanked,
        parse_config_schema(row.config_schema), row.content_hash,
    )  # fmt: skip


def module_tree(db: Session, resolved: ResolvedModule) -> FileTree:
    """The files of exactly that version, or of the working copy."""
    module = db.get(Module, resolved.module_id)
    if module is None:
        raise NotFound("No such module.", [FE("module_id", "no such module")])
    if resolved.version is None:
        return modules.working_tree(db, module)
    return version_tree(db, get_version(db, module, resolved.version))


def withdrawn_items(db: Session, owner_id: str, items: list[dict[str, Any]]) -> dict[str, str]:
    """``{item id: why}`` for the dashboard items (widgets or integration instances of a
    dashboard of ``owner_id``) whose module or version was withdrawn."""
    module_ids = {str(item["module_id"]) for item in items}
    if not module_ids:
        return {}
    suspects = set(
        db.scalars(
            select(WithdrawnModule.module_id).where(WithdrawnModule.module_id.in_(module_ids))
        )
    ) | set(
        db.scalars(
            select(ModuleVersion.module_id).where(
                ModuleVersion.module_id.in_(module_ids),
                ModuleVersion.withdrawn_at.is_not(None) | ModuleVersion.blocked_at.is_not(None),
            )
        )
    )
    owner = db.get(User, owner_id)
    notes: dict[tuple[str, str], str | None] = {}
    found: dict[str, str] = {}
    for item in items:
        key = (str(item["module_id"]), str(item["version"]))
        if key[0] not in suspects:
            continue
        if key not in notes:
            try:
                resolve(db, *key, user=owner)
                notes[key] = None
            except Gone as gone:
                notes[key] = gone.message
            except (NotFound, InvalidInput):
                notes[key] = None
        note = notes[key]
        if note is not None:
            found[str(item["id"])] = note
    return found


# -- popularity -------------------------------------------------------------------------


def set_dashboard_uses(db: Session, dashboard_id: str, module_ids: set[str]) -> None:
    """Record the modules ``dashboard_id`` uses (no commit: the caller commits).

    Unknown module ids are ignored."""
    clear_dashboard_uses(db, dashboard_id)
    known = (
        set(db.scalars(select(Module.id).where(Module.id.in_(module_ids)))) if module_ids else set()
    )
    db.add_all(ModuleUse(dashboard_id=dashboard_id, module_id=m) for m in sorted(known))
    db.flush()


def clear_dashboard_uses(db: Session, dashboard_id: str) -> None:
    """Forget every module ``dashboard_id`` used (no commit)."""
    db.execute(delete(ModuleUse).where(ModuleUse.dashboard_id == dashboard_id))
