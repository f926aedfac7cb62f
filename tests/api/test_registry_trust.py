"""A registry you can trust (issue 18): signed manifests, blocked versions, secret warnings.

The attack tests tamper with what the database stores, as someone with write access
to the blob storage would, and check that the runner API refuses the files.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.api.test_modules import new_module
from tests.api.test_registry import publish, published_module
from tests.conftest import Account
from visualbox.db.tables.modules import Blob, ModuleVersion
from visualbox.modules.archive import make_zip
from visualbox.modules.tree import content_hash
from visualbox.runtime.runners import SourceRef
from visualbox.services import run_tokens

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def _canonical(manifest: dict[str, Any]) -> bytes:
    """What docs/registry.md says is signed, written here independently of the server."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _verifies(public_key: str, manifest: dict[str, Any], signature: str) -> bool:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    try:
        key.verify(base64.b64decode(signature), _canonical(manifest))
    except InvalidSignature:
        return False
    return True


def _tamper(app: FastAPI, module_id: str, version: str, path: str, content: bytes) -> None:
    """Replace one file of a published version in storage (blob and content hash, so that
    nothing but the signature can tell)."""
    with app.state.db.session() as db:
        row = db.scalar(
            select(ModuleVersion).where(
                ModuleVersion.module_id == module_id, ModuleVersion.version == version
            )
        )
        assert row is not None
        blob = db.get(Blob, row.archive_sha)
        assert blob is not None
        with zipfile.ZipFile(io.BytesIO(blob.data)) as archive:
            tree = {i.filename: archive.read(i) for i in archive.infolist()}
        tree[path] = content
        data = make_zip(tree)
        db.execute(
            update(Blob).where(Blob.sha256 == row.archive_sha).values(data=data, size=len(data))
        )
        row.content_hash = content_hash(tree)
        db.commit()


def _runner_archive(app: FastAPI, client: TestClient, module_id: str, version: str) -> Any:
    with app.state.db.session() as db:
        row = db.scalar(
            select(ModuleVersion).where(
                ModuleVersion.module_id == module_id, ModuleVersion.version == version
            )
        )
        assert row is not None
        ref = SourceRef(module_id, version, row.content_hash, "python")
    token = run_tokens.issue(app.state.secret_box, [ref])
    return client.get(
        f"/api/runner/modules/{module_id}/versions/{version}/archive",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_signed_manifest_verifies_with_the_public_key_and_not_once_tampered(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account(name="Ada")
    module = published_module(ada.http)
    mid = module["id"]
    key = client.get("/api/registry/key").json()
    assert key["algorithm"] == "ed25519" and len(base64.b64decode(key["public_key"])) == 32
    signed = client.get(f"/api/registry/modules/{mid}/versions/1.0.0/manifest").json()
    assert signed["key_id"] == key["key_id"] and signed["algorithm"] == "ed25519"
    manifest = signed["manifest"]
    assert manifest["module_id"] == mid and manifest["version"] == "1.0.0"
    assert manifest["runtime"] == "python"
    assert manifest["capabilities"] == {"network": "outbound", "runtime": "python"}
    # Every digest is the SHA-256 of the file the registry serves.
    archive = client.get(f"/api/registry/modules/{mid}/versions/1.0.0/archive").content
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        files = {i.filename: hashlib.sha256(zf.read(i)).hexdigest() for i in zf.infolist()}
    assert manifest["files"] == files and "main.py" in files
    assert _verifies(key["public_key"], manifest, signed["signature"])
    # Any change to the manifest breaks the signature.
    forged = copy.deepcopy(manifest)
    forged["files"]["main.py"] = hashlib.sha256(b"print('evil')\n").hexdigest()
    assert not _verifies(key["public_key"], forged, signed["signature"])
    widened = copy.deepcopy(manifest)
    widened["capabilities"]["network"] = "none"
    assert not _verifies(key["public_key"], widened, signed["signature"])
    # The key is the server's own, kept with its secrets, readable by it alone.
    assert client.get("/api/registry/key").json() == key


def test_a_file_tampered_in_storage_is_not_handed_to_a_runner(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account(name="Ada")
    module = published_module(ada.http)
    mid = module["id"]
    assert _runner_archive(app, client, mid, "1.0.0").status_code == 200
    _tamper(app, mid, "1.0.0", "main.py", b"import os\nos.system('steal')\n")
    refused = _runner_archive(app, client, mid, "1.0.0")
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]["message"]
    name = module["name"]
    assert message == f"files of {name} 1.0.0 do not match what was published: main.py"


def test_a_file_added_in_storage_is_refused_too(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account(name="Ada")
    mid = published_module(ada.http)["id"]
    _tamper(app, mid, "1.0.0", "sitecustomize.py", b"import os\n")
    refused = _runner_archive(app, client, mid, "1.0.0")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"].endswith("published: sitecustomize.py")


def test_a_forged_manifest_is_refused(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    """Rewriting the stored manifest to match the tampered files does not help: the
    signature is over the manifest and the key is not in the database."""
    ada = make_account(name="Ada")
    mid = published_module(ada.http)["id"]
    evil = b"print('evil')\n"
    _tamper(app, mid, "1.0.0", "main.py", evil)
    with app.state.db.session() as db:
        row = db.scalar(select(ModuleVersion).where(ModuleVersion.module_id == mid))
        assert row is not None
        manifest = copy.deepcopy(row.files_manifest)
        manifest["files"]["main.py"] = hashlib.sha256(evil).hexdigest()
        row.files_manifest = manifest
        db.commit()
    refused = _runner_archive(app, client, mid, "1.0.0")
    assert refused.status_code == 409
    assert "does not carry this server's signature" in refused.json()["error"]["message"]


def test_only_administrators_block_and_the_author_sees_why(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada, bob = make_account(name="Ada"), make_account(name="Bob")
    admin = make_account(name="Root", admin=True)
    mid = published_module(ada.http)["id"]
    assert publish(ada.http, mid, "1.1.0").status_code == 201
    url = f"/api/registry/modules/{mid}/versions/1.1.0"
    body = {"reason": "It sends your readings to a third party."}
    assert client.post(f"{url}/block", json=body).status_code == 401
    for who in (ada, bob):
        refused = who.http.post(f"{url}/block", json=body)
        assert refused.status_code == 403, refused.text
        assert who.http.post(f"{url}/unblock").status_code == 403
    empty = admin.http.post(f"{url}/block", json={"reason": "  "})
    assert empty.status_code == 422 and empty.json()["error"]["fields"][0]["field"] == "reason"
    blocked = admin.http.post(f"{url}/block", json=body)
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["blocked"] is True
    # Its files are not served, `latest` skips it, and the author sees the reason.
    gone = client.get(f"{url}/archive")
    assert gone.status_code == 410
    assert "Blocked by an administrator: It sends your readings" in gone.json()["error"]["message"]
    assert client.get(f"{url}/files/main.py").status_code == 410
    page = ada.http.get(f"/api/registry/modules/{mid}").json()
    assert page["latest_version"] == "1.0.0"
    summary = next(v for v in page["versions"] if v["version"] == "1.1.0")
    assert summary["blocked"] and summary["blocked_reason"] == body["reason"]
    assert _runner_archive(app, client, mid, "1.1.0").status_code == 410
    # Unblocked: served and run again.
    lifted = admin.http.post(f"{url}/unblock")
    assert lifted.status_code == 200 and lifted.json()["blocked"] is False
    assert client.get(f"{url}/archive").status_code == 200
    assert _runner_archive(app, client, mid, "1.1.0").status_code == 200
    assert ada.http.get(f"/api/registry/modules/{mid}").json()["latest_version"] == "1.1.0"


def test_publishing_warns_of_a_committed_private_key(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ada = make_account(name="Ada")
    mid = new_module(ada.http)["id"]
    ada.http.put(f"/api/modules/{mid}/files/deploy/id_ed25519", content=PRIVATE_KEY.encode())
    created = publish(ada.http, mid, "1.0.0")
    assert created.status_code == 201, created.text  # a warning, not a refusal
    warnings = created.json()["warnings"]
    assert [(w["file"], w["line"]) for w in warnings] == [("deploy/id_ed25519", 1)]
    assert "private key block (OPENSSH)" in warnings[0]["reason"]
    assert "b3BlbnNzaC1rZXkt" not in json.dumps(warnings)  # never repeats the secret
    clean = publish(ada.http, published_module(ada.http)["id"], "2.0.0")
    assert clean.status_code == 201 and clean.json()["warnings"] == []


def test_publishing_still_refuses_a_version_that_does_not_increase(
    make_account: Callable[..., Account],
) -> None:
    ada = make_account(name="Ada")
    mid = published_module(ada.http, "1.2.0")["id"]
    refused = publish(ada.http, mid, "1.1.9")
    assert refused.status_code == 422
    assert "greater than 1.2.0" in refused.json()["error"]["fields"][0]["reason"]
