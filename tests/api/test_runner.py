"""The runner API: a run token fetches exactly the sources it names, nothing else."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable

from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Account
from visualbox.db.tables.accounts import User
from visualbox.runtime.runners import SourceRef
from visualbox.services import modules, registry, run_tokens
from visualbox.services.secrets import SecretBox, load_or_create_key

URL = "/api/runner/modules/{}/versions/{}/archive"


def _module(app: FastAPI, account: Account, code: str, publish: str | None = "1.0.0") -> str:
    with app.state.db.session() as db:
        module = modules.create_module(
            db, db.get(User, account.id), name="R", kind="integration", runtime="python"
        )
        modules.write_file(db, module, "main.py", code.encode())
        if publish:
            registry.publish(db, module, publish)
        module_id: str = module.id
        return module_id


def _ref(app: FastAPI, account: Account, module_id: str, spec: str) -> SourceRef:
    with app.state.db.session() as db:
        resolved = registry.resolve(db, module_id, spec, user=db.get(User, account.id))
    assert resolved.runtime is not None
    return SourceRef(module_id, resolved.version or "working", resolved.content_hash, "python")


def _box(app: FastAPI) -> SecretBox:
    box: SecretBox = app.state.secret_box
    return box


def _get(client: TestClient, ref: SourceRef, token: str) -> tuple[int, bytes]:
    response = client.get(
        URL.format(ref.module_id, ref.version), headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.content


def test_a_token_fetches_exactly_its_sources(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    a = _module(app, owner, "print('a')")
    b = _module(app, owner, "print('b')")
    ref_a = _ref(app, owner, a, "1.0.0")
    token = run_tokens.issue(_box(app), [ref_a])

    status, body = _get(client, ref_a, token)
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.read("main.py") == b"print('a')"

    # Another module, another version of the same module, its working copy: all refused
    # alike, without saying whether they exist.
    for other in (_ref(app, owner, b, "1.0.0"), SourceRef(a, "2.0.0", "x", "python")):
        assert _get(client, other, token)[0] == 404
    assert _get(client, SourceRef(a, "working", ref_a.content_hash, "python"), token)[0] == 404


def test_tokens_must_be_genuine_fresh_run_tokens(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    ref = _ref(app, owner, _module(app, owner, "print(1)"), "1.0.0")
    good = run_tokens.issue(_box(app), [ref])
    tampered = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    key = load_or_create_key(app.state.settings.data_dir)
    payload = json.dumps(
        {"purpose": "run-source", "scope": [[ref.module_id, ref.version, ref.content_hash]]}
    ).encode()
    expired = "vbr_" + Fernet(key).encrypt_at_time(payload, int(time.time()) - 3600).decode()
    secrets_blob = "vbr_" + _box(app).encrypt_json({"scope": [[ref.module_id, "1.0.0", "x"]]})
    for token in (tampered, expired, secrets_blob, owner.token, "vbr_", "nonsense"):
        status, _ = _get(client, ref, token)
        assert status == 401, token
    response = client.get(URL.format(ref.module_id, ref.version))
    assert response.status_code == 401
    assert _get(client, ref, good)[0] == 200


def test_a_changed_working_copy_is_not_served_under_an_old_token(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    module_id = _module(app, owner, "print('v1')", publish=None)
    ref = _ref(app, owner, module_id, "working")
    token = run_tokens.issue(_box(app), [ref])
    assert _get(client, ref, token)[0] == 200
    with app.state.db.session() as db:
        module = modules.get_owned(db, module_id, db.get(User, owner.id))
        modules.write_file(db, module, "main.py", b"print('v2')")
    status, body = _get(client, ref, token)
    assert status == 409 and b"changed" in body
