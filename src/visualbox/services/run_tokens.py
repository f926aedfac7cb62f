"""Run tokens: the right to fetch exactly a set of module sources, for a limited time.

What the thesis calls the instance session token and the container access record
(§6.4): the server issues a token naming each ``(module, version, content hash)``
a run may fetch; the runner presents it to ``GET /api/runner/modules/{id}/versions/{v}/archive``
and gets those sources and nothing else. Tokens are Fernet tokens (authenticated
encryption with a timestamp) under the server's secrets key, so they cannot be
forged, altered or read, and expire after ``live.run_token_ttl_s``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy.orm import Session

from visualbox.db.tables.modules import Module
from visualbox.errors import Conflict, NotFound, Unauthenticated
from visualbox.modules.archive import make_zip
from visualbox.modules.tree import content_hash
from visualbox.runtime.runners.base import SourceRef
from visualbox.services import modules, registry
from visualbox.services.secrets import SecretBox
from visualbox.services.signing import RegistryKey

PREFIX = "vbr_"
_PURPOSE = "run-source"


def issue(box: SecretBox, refs: Iterable[SourceRef]) -> str:
    """A token allowing exactly ``refs``."""
    scope = sorted({(r.module_id, r.version, r.content_hash) for r in refs})
    payload = {"purpose": _PURPOSE, "scope": scope}
    return PREFIX + box.encrypt(json.dumps(payload, separators=(",", ":")).encode())


def allowed(box: SecretBox, token: str, ttl_s: int) -> set[tuple[str, str, str]] | None:
    """The ``(module_id, version, content_hash)`` triples ``token`` allows; ``None`` if the
    token is not a valid, unexpired run token of this server."""
    if not token.startswith(PREFIX):
        return None
    raw = box.decrypt_fresh(token[len(PREFIX) :], ttl_s)
    if raw is None:
        return None
    try:
        payload = json.loads(raw)
        if payload.get("purpose") != _PURPOSE:
            return None
        return {(str(m), str(v), str(h)) for m, v, h in payload["scope"]}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def source_archive(
    db: Session,
    box: SecretBox,
    token: str,
    module_id: str,
    version: str,
    *,
    ttl_s: int,
    key: RegistryKey,
) -> bytes:
    """The ZIP of ``module_id`` at ``version`` if ``token`` allows it.

    :class:`Unauthenticated` for an invalid or expired token; :class:`NotFound` for
    anything outside its scope (we do not say whether it exists); :class:`Conflict`
    when a working copy changed since the token was issued, or a published version's
    files do not match its signed manifest (``registry.verified_archive``).
    """
    scope = allowed(box, token, ttl_s)
    if scope is None:
        raise Unauthenticated("The run token is invalid or expired.")
    expected = next((h for m, v, h in scope if m == module_id and v == version), None)
    module = db.get(Module, module_id) if expected is not None else None
    if expected is None or module is None:
        raise NotFound("No such module source for this run token.")
    if version == registry.WORKING:
        tree = modules.working_tree(db, module)
        if content_hash(tree) != expected:
            raise Conflict("The working copy changed since this run was requested.")
        return make_zip(tree)
    row = registry.get_version(db, module, version)
    if row.content_hash != expected:  # versions are immutable: a mismatch is a foreign token
        raise NotFound("No such module source for this run token.")
    return registry.verified_archive(db, row, key)
