"""The registry key and signed manifests (``services/signing.py``): key storage, and the
signing of versions published without the key at hand (older servers, start-up)."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select

from visualbox.app import create_app
from visualbox.db.tables.accounts import User
from visualbox.db.tables.modules import ModuleVersion
from visualbox.services import accounts, modules, registry, signing
from visualbox.services.builtin import builtin_id
from visualbox.services.signing import RegistryKey
from visualbox.settings import Settings


def _versions(app: FastAPI) -> list[ModuleVersion]:
    with app.state.db.session() as db:
        rows = list(db.scalars(select(ModuleVersion)))
        db.expunge_all()
        return rows


def test_the_key_is_generated_once_privately_and_kept(settings: Settings) -> None:
    first = RegistryKey.from_settings(settings)
    path = settings.data_dir / signing.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert RegistryKey.from_settings(settings).public_key == first.public_key
    other = Settings(data_dir=settings.data_dir / "other")
    assert RegistryKey.from_settings(other).public_key != first.public_key


def test_built_in_modules_are_signed_at_start(app: FastAPI) -> None:
    key: RegistryKey = app.state.registry_key
    rows = _versions(app)
    assert any(r.module_id == builtin_id("counter") for r in rows)
    for row in rows:
        assert row.files_manifest["module_id"] == row.module_id
        assert key.verifies(row.files_manifest, row.signature), row.module_id


def test_versions_from_before_signing_are_signed_at_the_next_start(
    app: FastAPI, settings: Settings
) -> None:
    with app.state.db.session() as db:
        user = accounts.create_user(
            db, name="Ada", email="ada@example.test", password="correct horse battery"
        )
        module = modules.create_module(db, user, name="Old", kind="integration", runtime="python")
        row = registry.publish(db, module, "1.0.0")  # the service layer, without the key
        assert row.signature is None and row.files_manifest["files"]
        row.files_manifest = {}  # as the migration leaves a version published before it
        db.commit()
        module_id = module.id
    app.state.db.dispose()
    again = create_app(settings)
    try:
        key: RegistryKey = again.state.registry_key
        with again.state.db.session() as db:
            signed = db.scalar(select(ModuleVersion).where(ModuleVersion.module_id == module_id))
            assert signed is not None and key.verifies(signed.files_manifest, signed.signature)
            tree = registry.version_tree(db, signed)
            assert signing.mismatch(signed.files_manifest, tree) is None
            assert signed.files_manifest["capabilities"] == {
                "network": "outbound",
                "runtime": "python",
            }
            assert db.get(User, user.id) is not None
    finally:
        again.state.db.dispose()


def test_a_widget_declares_no_network(tmp_path: Path) -> None:
    manifest = signing.manifest_of("m", "Gauge", "1.0.0", None, {}, {"index.html": b"<p>"})
    assert manifest["capabilities"] == {"network": "none", "runtime": None}
    declared = signing.manifest_of("m", "N", "1.0.0", "python", {"network": "none"}, {})
    assert declared["capabilities"]["network"] == "none"
