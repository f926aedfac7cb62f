"""Compression: the build's precompressed copies, chosen by ``Accept-Encoding``, with
the caching headers intact; the frames origin's other answers gzipped on the fly; the
app's API answers never compressed (BREACH)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_frames import FRAMES, INDEX, registry_frame, widget
from tests.conftest import Account
from visualbox.api import compression, web
from visualbox.api import frames as frames_api

SCRIPT = b"console.log('a fairly repetitive script');\n" * 200


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build as the front end's precompress plugin leaves it (brotli stands for
    itself here: only its file is compared)."""
    root = tmp_path / "web"
    (root / "assets").mkdir(parents=True)
    page = b"<!doctype html><title>app</title>" + b"<!-- padding -->" * 100
    for path, content in {"index.html": page, "assets/app-abc123.js": SCRIPT}.items():
        (root / path).write_bytes(content)
        (root / f"{path}.gz").write_bytes(gzip.compress(content))
        (root / f"{path}.br").write_bytes(b"brotli of " + path.encode())
    (root / "manifest.webmanifest").write_text("{}")  # too small: no copies
    return root


def _client(web_dir: Path, accept_encoding: str | None) -> TestClient:
    app = FastAPI()
    web.install(app, web_dir, frames_origin=FRAMES)
    client = TestClient(app)
    del client.headers["accept-encoding"]
    if accept_encoding is not None:
        client.headers["accept-encoding"] = accept_encoding
    return client


def _raw(client: TestClient, url: str, **headers: str) -> tuple[bytes, dict[str, str]]:
    """The bytes on the wire (not decoded) and the headers."""
    with client.stream("GET", url, headers=headers) as answer:
        assert answer.status_code == 200, url
        return b"".join(answer.iter_raw()), dict(answer.headers)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", set()),
        ("gzip", {"gzip"}),
        ("gzip, deflate, br, zstd", {"gzip", "deflate", "br", "zstd"}),
        ("br;q=0, gzip;q=0.5", {"gzip"}),
        ("*", {"br", "gzip"}),
        ("*;q=1, br;q=0", {"gzip"}),
        ("identity", {"identity"}),
        ("gzip;q=nonsense", set()),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str, expected: set[str]) -> None:
    assert compression.accepted(header) == expected


@pytest.mark.parametrize("path", ["/assets/app-abc123.js", "/", "/signin"])
def test_gzip_is_the_build_copy_and_decompresses_to_the_file(build: Path, path: str) -> None:
    client = _client(build, "gzip, deflate")
    name = "assets/app-abc123.js" if path.startswith("/assets") else "index.html"
    body, headers = _raw(client, path)
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert body == (build / f"{name}.gz").read_bytes()
    assert gzip.decompress(body) == (build / name).read_bytes()
    assert int(headers["content-length"]) == len(body)
    assert headers["content-type"].startswith(("text/javascript", "text/html"))


def test_brotli_is_preferred_when_accepted(build: Path) -> None:
    body, headers = _raw(_client(build, "gzip, br"), "/assets/app-abc123.js")
    assert headers["content-encoding"] == "br"
    assert body == b"brotli of assets/app-abc123.js"


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0, br;q=0", "deflate"])
def test_without_an_accepted_coding_the_file_is_sent_as_is(build: Path, accept: str | None) -> None:
    body, headers = _raw(_client(build, accept), "/assets/app-abc123.js")
    assert "content-encoding" not in headers
    assert body == SCRIPT
    assert headers["vary"] == "Accept-Encoding"  # a cache must not give it to gzip clients


def test_caching_headers_hold_for_each_copy_and_etags_differ(build: Path) -> None:
    plain = _client(build, None).get("/assets/app-abc123.js")
    zipped = _client(build, "gzip").get("/assets/app-abc123.js")
    for answer in (plain, zipped):
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["etag"]
    assert plain.headers["etag"] != zipped.headers["etag"]  # two representations
    page = _client(build, "gzip").get("/")
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["content-security-policy"] == web.content_security_policy(FRAMES)
    small = _client(build, "gzip").get("/manifest.webmanifest")
    assert "content-encoding" not in small.headers and "vary" not in small.headers


def test_a_current_etag_gets_304_for_its_own_copy_only(build: Path) -> None:
    client = _client(build, "gzip")
    first = client.get("/")
    again = client.get("/", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == "no-cache"
    assert again.headers["vary"] == "Accept-Encoding"
    # The gzip copy's ETag does not validate the plain file.
    other = _client(build, None).get("/", headers={"if-none-match": first.headers["etag"]})
    assert other.status_code == 200 and b"<title>app</title>" in other.content


def test_the_built_libraries_are_precompressed(client: TestClient) -> None:
    """The real build (``frontend/vite.config.ts``): echarts through the frames origin."""
    original = (frames_api.LIB_DIR / "echarts.min.js").read_bytes()
    del client.headers["accept-encoding"]
    body, headers = _raw(
        client, f"{FRAMES}/frames/lib/echarts.min.js", **{"accept-encoding": "gzip"}
    )
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == original
    assert len(body) < len(original) / 2
    assert headers["cache-control"] == "public, max-age=86400"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["content-security-policy"].startswith("sandbox allow-scripts")
    plain, headers = _raw(client, f"{FRAMES}/frames/lib/echarts.min.js")
    assert plain == original and "content-encoding" not in headers
    for copy in ("echarts.min.js.gz", "echarts.min.js.br"):
        assert client.get(f"{FRAMES}/frames/lib/{copy}").status_code == 404, copy


def test_the_sdk_and_widget_files_are_gzipped_on_the_fly(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    script = b"visualbox.onDataChanged(function (d) { document.title = d; });\n" * 40
    files = {"index.html": INDEX, "app.js": script}
    url = registry_frame(client, widget(app, make_account(), files, publish="1.0.0"))
    del client.headers["accept-encoding"]
    for path, original in (("app.js", script), ("/frames/sdk.js", None)):
        full = f"{FRAMES}{path}" if path.startswith("/") else url + path
        body, headers = _raw(client, full, **{"accept-encoding": "gzip"})
        assert headers["content-encoding"] == "gzip", path
        assert headers["content-security-policy"].startswith("sandbox allow-scripts")
        if original is not None:
            assert gzip.decompress(body) == original
        plain, headers = _raw(client, full)
        assert "content-encoding" not in headers
        assert plain == gzip.decompress(body)


def test_api_answers_are_never_compressed(make_account: Callable[..., Account]) -> None:
    """They carry secrets next to text others chose (BREACH): identity, even when large."""
    account = make_account()
    for index in range(30):
        made = account.http.post("/api/dashboards", json={"name": f"Dashboard number {index}"})
        assert made.status_code in (200, 201), made.text
    answer = account.http.get("/api/dashboards", headers={"accept-encoding": "gzip"})
    assert answer.status_code == 200 and len(answer.content) > 1024
    assert "content-encoding" not in answer.headers
