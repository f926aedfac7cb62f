"""The certificate authorities sandboxed code trusts: the host's system store, plus the
operator's CA bundle (``VISUALBOX_SANDBOX__CA_BUNDLE``) when there is one.

Every backend shows one read-only PEM file at :data:`CA_FILE`, and
``runtime/layout.py`` points the variables the usual TLS clients read
(:data:`CA_ENV`) at it, so npm, Node's ``https``, Python's ``ssl``/``urllib``,
``requests`` and ``httpx`` (which would otherwise trust certifi's copy of the
Mozilla list only), uv and Go trust what the host trusts, and what the operator
added. Without an operator bundle the file *is* the host's system bundle, bound
as it is; with one, :class:`TrustStore` writes the two into one file in a private
temporary folder of the server and rewrites it when either changes.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import tempfile
import weakref
from dataclasses import replace
from pathlib import Path

from .base import Mount, SandboxSpec, SandboxUnavailable

__all__ = ["CA_ENV", "CA_FILE", "TrustStore", "read_bundle", "system_bundle"]

CA_FILE = "/etc/visualbox/ca-certificates.crt"
"""Where a sandbox sees the certificate authorities it trusts (PEM)."""
CA_ENV = {
    "SSL_CERT_FILE": CA_FILE,  # OpenSSL: Python ssl/urllib, httpx, aiohttp; Go; uv
    "REQUESTS_CA_BUNDLE": CA_FILE,  # requests (certifi otherwise)
    # Node's https and npm: OpenSSL's store (so SSL_CERT_FILE) instead of Node's own
    # copy of the Mozilla list. NODE_EXTRA_CA_CERTS would add ~40 ms to every start.
    "NODE_OPTIONS": "--use-openssl-ca",
}
"""The environment that points TLS clients at :data:`CA_FILE`."""
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Arch, Gentoo
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora, RHEL 7+
    "/etc/pki/tls/certs/ca-bundle.crt",  # older Fedora and RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # Alpine
)
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----")


def system_bundle() -> Path | None:
    """The host's system CA bundle: OpenSSL's default file (``SSL_CERT_FILE`` of the
    server's environment when set), else the first of :data:`SYSTEM_BUNDLES` there is."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *SYSTEM_BUNDLES):
        if candidate and os.path.isfile(candidate):
            return Path(candidate).resolve()
    return None


def read_bundle(path: Path) -> bytes:
    """The certificate blocks of the operator's PEM bundle ``path`` (nothing else of it);
    :class:`ValueError` saying what is wrong when it cannot be read or holds none
    that OpenSSL accepts."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the CA bundle {path}: {exc.strerror}") from None
    blocks = _PEM.findall(data)
    if not blocks:
        raise ValueError(
            f"the CA bundle {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
            "convert a DER file with `openssl x509 -inform der -in CA.crt -out CA.pem`"
        )
    pem = b"\n".join(block.replace(b"\r\n", b"\n") for block in blocks) + b"\n"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=pem.decode("ascii"))
    except ssl.SSLError as exc:
        raise ValueError(f"the CA bundle {path} holds a broken certificate ({exc})") from None
    return pem


def _version(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class TrustStore:
    """What a backend binds at :data:`CA_FILE`: the host's system bundle, or, with an
    operator bundle ``extra``, a merged copy of both kept up to date."""

    def __init__(self, extra: Path | None = None) -> None:
        self.extra = extra
        self._merged: Path | None = None
        self._merged_from: tuple[object, ...] | None = None

    def bundle(self) -> Path | None:
        """The host file to show at :data:`CA_FILE` (``None``: the host has no CA store
        and no operator bundle is set). Raises :class:`SandboxUnavailable` when the
        operator's bundle went missing or bad since the start."""
        system = system_bundle()
        if self.extra is None:
            return system
        try:
            versions = (system, _version(system), _version(self.extra))
        except OSError as exc:
            raise SandboxUnavailable(self._problem(str(exc.strerror))) from None
        if self._merged is None or versions != self._merged_from:
            self._merged = self._write(system)
            self._merged_from = versions
        return self._merged

    def _problem(self, reason: str) -> str:
        return f"{reason}; fix VISUALBOX_SANDBOX__CA_BUNDLE ({self.extra})"

    def _write(self, system: Path | None) -> Path:
        assert self.extra is not None
        try:
            extra = read_bundle(self.extra)
            base = b"" if system is None else system.read_bytes().rstrip(b"\n") + b"\n"
        except (ValueError, OSError) as exc:
            raise SandboxUnavailable(self._problem(str(exc))) from None
        if self._merged is None:
            folder = tempfile.mkdtemp(prefix="visualbox-ca-")  # 0700, ours
            weakref.finalize(self, shutil.rmtree, folder, True)
            target = Path(folder) / "ca-certificates.crt"
        else:
            target = self._merged
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(base + extra)
        os.chmod(tmp, 0o644)  # the sandbox's host uid reads it through the bind
        os.replace(tmp, target)  # running sandboxes keep the copy they bound
        return target

    def mount(self) -> Mount | None:
        bundle = self.bundle()
        return None if bundle is None else Mount(bundle, CA_FILE)

    def apply(self, spec: SandboxSpec) -> SandboxSpec:
        """``spec`` with the trusted bundle mounted at :data:`CA_FILE`."""
        mount = self.mount()
        if mount is None:
            return spec
        return replace(spec, mounts=[*spec.mounts, mount])
