"""Sandboxed integrations and their prepare step trust the host's CA store and the
operator's CA bundle (``VISUALBOX_SANDBOX__CA_BUNDLE``).

A CA made here vouches for an HTTPS server on host loopback, which sandboxes reach
as ``10.0.2.2:PORT`` (``allow_host_ports``). The host's system store cannot be
given that CA, so the system-store path is checked by comparing what the sandboxed
runtimes trust with what the host trusts, and the operator bundle end to end.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import ssl
import zipfile
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import ValidationError

from tests.fixtures.tls import HttpsServer, LocalCA, Page, npm_registry
from tests.runtime.harness import HOST_ALIAS, SANDBOX, Collector, module, run_async, settings
from visualbox.runtime.layout import ModuleSource, base_env
from visualbox.runtime.messages import RunState, StatusLevel
from visualbox.runtime.sandbox import get_sandbox
from visualbox.runtime.sandbox.base import ExitReason, SandboxSpec
from visualbox.runtime.sandbox.certificates import CA_FILE, TrustStore
from visualbox.runtime.supervisor import Supervisor
from visualbox.settings import SandboxSettings

BODY = "fetched over TLS from the test CA's server"
VENDORED = ("requests", "urllib3", "idna", "certifi", "charset_normalizer")

FETCH = {
    "urllib": """
import urllib.request
import visualbox
try:
    with urllib.request.urlopen(visualbox.MODEL["url"], timeout=20) as reply:
        visualbox.output(reply.read().decode())
except Exception as exc:
    visualbox.output({"error": repr(exc)})
""",
    "requests": """
import requests  # vendored next to main.py: requests trusts certifi unless told otherwise
import visualbox
try:
    visualbox.output(requests.get(visualbox.MODEL["url"], timeout=20).text)
except Exception as exc:
    visualbox.output({"error": repr(exc)})
""",
    "node": """
const https = require('https');
const visualbox = require('visualbox');
https.get(visualbox.MODEL.url, (reply) => {
  let body = '';
  reply.on('data', (chunk) => { body += chunk; });
  reply.on('end', () => visualbox.output(body));
}).on('error', (err) => visualbox.output({ error: `${err.code}: ${err.message}` }));
""",
    "go": """package main

import (
\t"io"
\t"net/http"

\t"visualbox"
)

func main() {
\treply, err := http.Get(visualbox.MODEL["url"].(string))
\tif err != nil {
\t\tvisualbox.Output(map[string]string{"error": err.Error()})
\t\treturn
\t}
\tdefer reply.Body.Close()
\tbody, _ := io.ReadAll(reply.Body)
\tvisualbox.Output(string(body))
}
""",
}
RUNTIME = {"urllib": "python", "requests": "python", "node": "node", "go": "go"}
ENTRY = {"python": "main.py", "node": "index.js", "go": "main.go"}
REFUSED = {
    "urllib": "CERTIFICATE_VERIFY_FAILED",
    "requests": "CERTIFICATE_VERIFY_FAILED",
    "node": "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "go": "certificate signed by unknown authority",
}

TRUSTED = {
    # What each runtime's TLS stack loads: the fingerprints (SHA-256 of the DER) of
    # the certificates of the file its usual variable names.
    "python": """
import hashlib, os, ssl
import visualbox
context = ssl.create_default_context()  # what urllib, httpx and aiohttp use
visualbox.output({
    "env": {k: os.environ.get(k) for k in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")},
    "trusted": sorted(hashlib.sha256(c).hexdigest()
                      for c in context.get_ca_certs(binary_form=True)),
})
""",
    "node": """
const crypto = require('crypto');
const fs = require('fs');
const visualbox = require('visualbox');
// With --use-openssl-ca, Node's TLS trusts OpenSSL's store: the file SSL_CERT_FILE names.
const file = process.env.SSL_CERT_FILE;
const pems = fs.readFileSync(file, 'utf8').match(
  /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
visualbox.output({
  env: { SSL_CERT_FILE: file, NODE_OPTIONS: process.env.NODE_OPTIONS },
  trusted: pems.map((pem) => crypto.createHash('sha256')
    .update(new crypto.X509Certificate(pem).raw).digest('hex')).sort(),
});
""",
    "go": """package main

import (
\t"crypto/sha256"
\t"encoding/hex"
\t"encoding/pem"
\t"os"
\t"sort"

\t"visualbox"
)

func main() {
\tfile := os.Getenv("SSL_CERT_FILE")
\tdata, err := os.ReadFile(file)
\tif err != nil {
\t\tvisualbox.Output(map[string]string{"error": err.Error()})
\t\treturn
\t}
\ttrusted := []string{}
\tfor {
\t\tvar block *pem.Block
\t\tblock, data = pem.Decode(data)
\t\tif block == nil {
\t\t\tbreak
\t\t}
\t\tsum := sha256.Sum256(block.Bytes)
\t\ttrusted = append(trusted, hex.EncodeToString(sum[:]))
\t}
\tsort.Strings(trusted)
\tvisualbox.Output(map[string]interface{}{
\t\t"env":     map[string]string{"SSL_CERT_FILE": file},
\t\t"trusted": trusted,
\t})
}
""",
}


def _site_packages() -> Path:
    import requests

    return Path(requests.__file__).parent.parent


def _fetcher(kind: str, dest: Path) -> ModuleSource:
    runtime = RUNTIME[kind]
    source = module(runtime, dest, {ENTRY[runtime]: FETCH[kind]})
    if kind == "requests":  # what an integration that vendors requests ships
        for name in VENDORED:
            shutil.copytree(
                _site_packages() / name, dest / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        source = ModuleSource.from_dir(dest, runtime)
    return source


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _host_trusted() -> list[str]:
    """What the host trusts: OpenSSL's default CA file, as the server's Python loads it."""
    context = ssl.create_default_context()
    return sorted(_fingerprint(der) for der in context.get_ca_certs(binary_form=True))


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA.create()


@pytest.fixture
def bundle(ca: LocalCA, tmp_path: Path) -> Path:
    """The operator's CA bundle: just the test CA."""
    return ca.write(tmp_path / "operator-ca.pem")


@pytest.fixture(scope="module")
def server(ca: LocalCA) -> Iterator[HttpsServer]:
    with HttpsServer(ca, {"/hello": Page(BODY.encode())}) as https:
        yield https


async def _run(
    sandbox_settings: SandboxSettings,
    cache: Path,
    source: ModuleSource,
    config: dict[str, Any] | None = None,
) -> Collector:
    """Start ``source`` once (preparing it if needed) and collect until it ends."""
    supervisor = Supervisor(get_sandbox(sandbox_settings), sandbox_settings, cache)
    collector = Collector()
    try:
        run = await supervisor.start("cert", source, config or {}, on_message=collector)
        await run.wait()
    finally:
        await supervisor.close()
    return collector


def _settings(port: int | None = None, **changes: Any) -> SandboxSettings:
    backend = {"backend": SANDBOX, "allow_unsandboxed": SANDBOX == "none"}
    network = {} if port is None else {"network": "outbound", "allow_host_ports": [port]}
    return settings(**backend, **network, **changes)


# --- integrations' own HTTPS calls ---------------------------------------------------


@pytest.mark.parametrize("kind", list(FETCH))
def test_each_runtime_trusts_the_operator_ca_bundle(
    kind: str, tmp_path: Path, server: HttpsServer, bundle: Path
) -> None:
    source = _fetcher(kind, tmp_path / "m")
    config = {"url": f"https://{HOST_ALIAS}:{server.port}/hello"}
    cache = tmp_path / "cache"

    trusted = run_async(_run(_settings(server.port, ca_bundle=bundle), cache, source, config))
    assert trusted.outputs == [BODY], trusted.messages

    refused = run_async(_run(_settings(server.port), cache, source, config))
    (answer,) = refused.outputs
    assert REFUSED[kind] in answer["error"], answer


@pytest.mark.parametrize("runtime", list(TRUSTED))
def test_each_runtime_trusts_the_host_store_and_the_operator_bundle(
    runtime: str, tmp_path: Path, ca: LocalCA, bundle: Path
) -> None:
    host = _host_trusted()
    assert len(host) > 10  # the host has a CA store to compare with
    source = module(runtime, tmp_path / "m", {ENTRY[runtime]: TRUSTED[runtime]})
    cache = tmp_path / "cache"

    (seen,) = run_async(_run(_settings(), cache, source)).outputs
    if runtime == "node":
        assert seen["env"].pop("NODE_OPTIONS") == "--use-openssl-ca", seen
    # The unsandboxed development backend has no CA_FILE: it names the host file itself.
    where = CA_FILE if SANDBOX != "none" else str(TrustStore().bundle())
    assert set(seen["env"].values()) == {where}, seen
    assert seen["trusted"] == host

    (seen,) = run_async(_run(_settings(ca_bundle=bundle), cache, source)).outputs
    assert seen["trusted"] == sorted([*host, _fingerprint(ca.cert.public_bytes(Encoding.DER))])


# --- a prepare from an HTTPS package source --------------------------------------------

PY_USES_TINYDEP = "import tinydep\nimport visualbox\nvisualbox.output(tinydep.VALUE)\n"

NODE_MODULE = {
    "package.json": json.dumps({"name": "uses-tinydep", "dependencies": {"tinydep": "1.0.0"}}),
    "index.js": "const visualbox = require('visualbox');\nvisualbox.output(require('tinydep'));\n",
    # npm retries a refused certificate for about a minute (10 s, then 60 s backoff);
    # the module's own npm config makes the refused case quick.
    ".npmrc": "fetch-retries=0\n",
}


def test_npm_prepares_from_a_registry_the_operator_ca_vouches_for(
    tmp_path: Path, ca: LocalCA, bundle: Path
) -> None:
    with HttpsServer(ca, {}) as registry:
        url = f"https://{HOST_ALIAS}:{registry.port}/"
        registry.pages.update(npm_registry(url, {"tinydep": "module.exports = 7;\n"}))
        source = module("node", tmp_path / "m", NODE_MODULE)
        cache = tmp_path / "cache"
        sources = {"npm_registry": url, "prepare_timeout_s": 120}

        refused = run_async(_run(_settings(registry.port, **sources), cache, source))
        assert refused.outputs == []
        (end,) = refused.exits()
        assert end.reason == ExitReason.CRASHED, end
        assert "VISUALBOX_SANDBOX__CA_BUNDLE" in end.detail, end
        errors = refused.statuses(StatusLevel.ERROR)
        assert any("UNABLE_TO_VERIFY_LEAF_SIGNATURE" in line for line in errors), errors
        assert errors[-1].startswith("prepare failed: ") and "does not trust" in errors[-1]
        assert registry.requests == []  # no TLS handshake completed
        assert not (cache / "node").exists() or not any((cache / "node").iterdir())

        trusted = run_async(
            _run(_settings(registry.port, ca_bundle=bundle, **sources), cache, source)
        )
        assert trusted.outputs == [7], trusted.messages
        assert RunState.PREPARING in [s.state for s in trusted.states]
        assert "/tinydep" in registry.requests


def _wheel(value: int) -> bytes:
    """A pure-Python wheel of ``tinydep`` 1.0 whose ``VALUE`` is ``value``."""
    files = {
        "tinydep/__init__.py": f"VALUE = {value}\n".encode(),
        "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{name},sha256={urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}"
        for name, data in files.items()
    ]
    record.append("tinydep-1.0.dist-info/RECORD,,")
    files["tinydep-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_uv_prepares_from_an_index_the_operator_ca_vouches_for(
    tmp_path: Path, ca: LocalCA, bundle: Path
) -> None:
    wheel = "tinydep-1.0-py3-none-any.whl"
    pages = {
        "/simple/tinydep/": Page(f'<a href="/files/{wheel}">{wheel}</a>'.encode(), "text/html"),
        f"/files/{wheel}": Page(_wheel(42), "application/octet-stream"),
    }
    with HttpsServer(ca, pages) as index:
        source = module(
            "python",
            tmp_path / "m",
            {"main.py": PY_USES_TINYDEP, "requirements.txt": "tinydep==1.0\n"},
        )
        cache = tmp_path / "cache"
        url = f"https://{HOST_ALIAS}:{index.port}/simple"

        refused = run_async(_run(_settings(index.port, python_index_url=url), cache, source))
        assert refused.outputs == []
        (end,) = refused.exits()
        assert "VISUALBOX_SANDBOX__CA_BUNDLE" in end.detail, refused.messages
        assert index.requests == []

        trusted_settings = _settings(index.port, python_index_url=url, ca_bundle=bundle)
        trusted = run_async(_run(trusted_settings, cache, source))
        assert trusted.outputs == [42], trusted.messages
        assert f"/files/{wheel}" in index.requests


# --- the setting and the bundle file ---------------------------------------------------


def test_the_setting_refuses_a_missing_or_unusable_bundle(tmp_path: Path, ca: LocalCA) -> None:
    with pytest.raises(ValidationError, match="cannot read the CA bundle .*No such file"):
        SandboxSettings(ca_bundle=tmp_path / "missing.pem")
    der = tmp_path / "ca.der"
    der.write_bytes(ca.cert.public_bytes(Encoding.DER))
    with pytest.raises(ValidationError, match="holds no PEM certificate.*openssl x509 -inform der"):
        SandboxSettings(ca_bundle=der)
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValidationError, match="holds a broken certificate"):
        SandboxSettings(ca_bundle=broken)


def test_the_merged_bundle_follows_the_operator_file(tmp_path: Path) -> None:
    first, second = LocalCA.create("first CA"), LocalCA.create("second CA")
    operator = first.write(tmp_path / "operator.pem")
    store = TrustStore(operator)
    merged = store.bundle()
    assert merged is not None and first.pem in merged.read_bytes()
    assert merged.stat().st_mode & 0o777 == 0o644
    assert store.bundle() == merged  # unchanged: not rewritten
    operator.write_bytes(b"a comment an operator left\n" + second.pem)
    text = merged.read_bytes() if store.bundle() == merged else b""
    assert second.pem in text and first.pem not in text and b"comment" not in text
    folder = merged.parent
    del store
    assert not folder.exists()


def test_a_spawn_sees_the_bundle_at_ca_file_in_every_backend(tmp_path: Path, bundle: Path) -> None:
    """The file each backend binds at CA_FILE, read through base_env's SSL_CERT_FILE."""
    backends = [SandboxSettings(backend="bwrap", ca_bundle=bundle)]
    backends.append(SandboxSettings(backend="none", allow_unsandboxed=True, ca_bundle=bundle))
    if shutil.which("runsc") and SANDBOX != "none":
        backends.append(SandboxSettings(backend="runsc", ca_bundle=bundle))
    script = "import os, sys; sys.stdout.write(open(os.environ['SSL_CERT_FILE']).read())"

    async def read(backend: SandboxSettings) -> str:
        sandbox = get_sandbox(backend)
        sandbox.check()
        proc = await sandbox.spawn(
            SandboxSpec(argv=["/usr/bin/python3", "-c", script], env=base_env())
        )
        out, err = await asyncio.gather(proc.stdout.read(), proc.stderr.read())
        assert (await proc.wait()).reason is ExitReason.EXITED, err
        return bytes(out).decode()

    for backend in backends:
        seen = run_async(read(backend))
        assert seen.endswith(bundle.read_text()), backend.backend
        assert seen.count("BEGIN CERTIFICATE") == len(_host_trusted()) + 1, backend.backend
