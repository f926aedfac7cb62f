"""Signed manifests: what the registry published, signed by the server's registry key.

Every published version gets a *files manifest* (:func:`manifest_of`): the SHA-256 of
each of its files (path → hex digest), its module id, name, version, runtime and the
capabilities it declares (``network``: ``none`` or ``outbound``; ``runtime``). The
server signs the manifest's canonical JSON (sorted keys, no spaces, UTF-8) with its
Ed25519 *registry key* (the well-kept ``cryptography`` package); anyone can check a
signature with the public key served at ``GET /api/registry/key`` (docs/registry.md).

Before the runner API hands a version's files to a runner, :func:`check_files` checks
the signature and every file against the manifest: a file changed in storage, added
or removed refuses the start with the path that differs.

The key comes from ``settings.security.registry_key`` (the 32-byte private seed in
base64) or, when that is empty, from ``DATA_DIR/registry.key``, generated with mode
0600 on first use, like the secrets key (``services/secrets.py``). Every node of a
multi-node deployment must be given the same key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from visualbox.db.tables.modules import Module, ModuleVersion
from visualbox.modules.tree import FileTree
from visualbox.services.secrets import key_file
from visualbox.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE = "registry.key"
ALGORITHM = "ed25519"
MANIFEST_FORMAT = 1
NETWORK = frozenset({"none", "outbound"})


class RegistryKeyError(RuntimeError):
    """The registry key is missing, unreadable or malformed (an operator problem)."""


class RegistryKey:
    """The server's Ed25519 key: signs manifests; its public half verifies them."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise RegistryKeyError("The registry key must be 32 bytes (base64 in settings).")
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = public_key_text(self._private.public_key())
        """The public key, raw 32 bytes in base64 (what ``GET /api/registry/key`` serves)."""
        self.key_id = hashlib.sha256(base64.b64decode(self.public_key)).hexdigest()[:16]

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryKey:
        text = settings.security.registry_key or load_or_create_key(settings.data_dir)
        try:
            seed = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise RegistryKeyError(
                "security.registry_key is not valid base64 (32 bytes: create one with `python "
                "-c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())'`)."
            ) from None
        return cls(seed)

    def sign(self, manifest: dict[str, Any]) -> str:
        return base64.b64encode(self._private.sign(canonical(manifest))).decode("ascii")

    def verifies(self, manifest: dict[str, Any], signature: str | None) -> bool:
        return verify(self.public_key, manifest, signature)


def public_key_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def canonical(manifest: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: JSON with sorted keys and no spaces, UTF-8."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify(public_key: str, manifest: dict[str, Any], signature: str | None) -> bool:
    """Does ``signature`` (base64) sign ``manifest`` under ``public_key`` (base64)?"""
    if not signature:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), canonical(manifest))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def manifest_of(
    module_id: str,
    name: str,
    version: str,
    runtime: str | None,
    declared: dict[str, Any],
    tree: FileTree,
) -> dict[str, Any]:
    """The files manifest of a version: ``declared`` is its ``visualbox.json`` as checked.

    ``network`` is what the module declares, ``outbound`` when it declares nothing
    (what the sandbox lets an integration do); widgets run in the browser: ``none``.
    """
    network = declared.get("network")
    if network not in NETWORK:
        network = "outbound" if runtime else "none"
    return {
        "format": MANIFEST_FORMAT,
        "module_id": module_id,
        "name": name,
        "version": version,
        "runtime": runtime,
        "capabilities": {"network": network, "runtime": runtime},
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(tree.items())},
    }


def mismatch(manifest: dict[str, Any], tree: FileTree) -> str | None:
    """The first path whose content differs from ``manifest`` (changed, added or
    missing), or ``None`` when every file is the published one."""
    files: dict[str, str] = manifest.get("files", {})
    for path in sorted(set(files) | set(tree)):
        data = tree.get(path)
        if data is None or files.get(path) != hashlib.sha256(data).hexdigest():
            return path
    return None


def sign_version(key: RegistryKey, row: ModuleVersion, manifest: dict[str, Any]) -> str:
    """Record ``manifest`` as the version's and sign it (no commit); the signature."""
    row.files_manifest = manifest
    row.signature = signature = key.sign(manifest)
    return signature


def sign_unsigned(
    db: Session, key: RegistryKey, tree_of: Callable[[Session, ModuleVersion], FileTree]
) -> int:
    """Sign every version that has no signature yet (published before signing existed,
    or by the server's own start-up code); ``tree_of(db, row)`` gives its files.

    A version whose manifest was recorded at publication keeps it (the files are
    checked against it at their next start); an older one gets one from its archive.
    Withdrawn versions have no files and are left alone. Returns how many it signed.
    """
    rows = db.scalars(
        select(ModuleVersion).where(
            ModuleVersion.signature.is_(None), ModuleVersion.withdrawn_at.is_(None)
        )
    )
    count = 0
    for row in rows:
        manifest = row.files_manifest
        if not manifest:
            module = db.get(Module, row.module_id)
            if module is None:
                continue
            manifest = manifest_of(
                row.module_id, module.name, row.version, row.runtime, row.manifest, tree_of(db, row)
            )
        sign_version(key, row, manifest)
        count += 1
    if count:
        db.commit()
        log.info("signed the manifests of %d published version(s)", count)
    return count


def new_key_text() -> str:
    """A new registry key as ``security.registry_key`` takes it (base64 of 32 bytes)."""
    return base64.b64encode(os.urandom(32)).decode()


def load_or_create_key(data_dir: Path) -> str:
    """Read ``DATA_DIR/registry.key``, creating it (mode 0600) if it does not exist."""
    return key_file(
        data_dir / KEY_FILE,
        lambda: new_key_text().encode() + b"\n",
        RegistryKeyError,
        "a new key makes every published version's signature fail",
    )
