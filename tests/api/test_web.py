"""The web app route: built files, history fallback, caching, CSP, server paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from visualbox.api import frames, web

FRAMES = "https://widgets.example.net"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>app</title>")
    (root / "assets" / "index-abc123.js").write_text("console.log(1)")
    (root / "manifest.webmanifest").write_text("{}")
    (root / "sw.js").write_text("self")
    (tmp_path / "secret.txt").write_text("outside")
    return root


def _client(web_dir: Path) -> TestClient:
    app = FastAPI()

    @app.get("/api/thing")
    def thing() -> dict[str, bool]:
        return {"ok": True}

    web.install(app, web_dir, frames_origin=FRAMES)
    return TestClient(app)


def test_pages_get_index_html_with_csp_and_no_cache(build: Path) -> None:
    client = _client(build)
    for path in ("/", "/signin", "/d/123", "/modules/abc/files", "/index.html"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.text == "<!doctype html><title>app</title>"
        assert answer.headers["content-security-policy"] == web.content_security_policy(FRAMES)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-cache"


def test_hashed_assets_are_cached_for_a_year_other_files_revalidated(build: Path) -> None:
    client = _client(build)
    asset = client.get("/assets/index-abc123.js")
    assert asset.text == "console.log(1)"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    manifest = client.get("/manifest.webmanifest")
    assert manifest.text == "{}"
    assert manifest.headers["cache-control"] == "no-cache"
    assert client.get("/sw.js").headers["service-worker-allowed"] == "/"


def test_server_paths_stay_json_404s(build: Path) -> None:
    client = _client(build)
    assert client.get("/api/thing").json() == {"ok": True}
    for path in ("/api/nothing", "/api", "/frames/x", "/ws/x", "/verify-email", "/assets/none.js"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "text/html" not in answer.headers["content-type"]
    # Other methods never reach the web app: an unknown POST stays a 404.
    assert client.post("/api/nothing").status_code == 404
    assert client.post("/signin").status_code == 404


def test_no_file_outside_the_build_is_served(build: Path) -> None:
    client = _client(build)
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"):
        assert "outside" not in client.get(path).text


def test_without_a_build_pages_explain_how_to_build(tmp_path: Path) -> None:
    client = _client(tmp_path / "missing")
    answer = client.get("/")
    assert answer.status_code == 200
    assert "VISUALBOX_SKIP_FRONTEND=1" in answer.text
    assert answer.headers["content-security-policy"] == web.content_security_policy(FRAMES)
    assert client.get("/api/nothing").status_code == 404


def test_the_app_page_frames_the_frames_origin_only(build: Path) -> None:
    """No path of the app's own origin may be framed or be a worker other than its own."""
    policy = _client(build).get("/").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-src"] == FRAMES and directives["child-src"] == FRAMES
    assert directives["script-src"] == "'self'" and directives["worker-src"] == "'self'"
    assert directives["object-src"] == "'none'" and "/frames" not in policy


def test_the_server_serves_the_web_app_after_its_routes(client: TestClient) -> None:
    assert client.get("/api/health").json()["ok"] is True
    answer = client.get("/explore")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "frame-src http://127.0.0.1:8001;" in policy and "frame-src 'self'" not in policy
    missing = client.get("/api/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_widget_libraries_are_cached_for_a_year_under_their_content_hash(build: Path) -> None:
    """The widget host's ``/lib/<name>?v=<hash>`` (docs/widgets.md): immutable only when
    the hash is the file's; a missing library is a 404, never the app's page."""
    (build / "lib").mkdir()
    (build / "lib" / "chart.js").write_text("var chart = 1;")
    version = frames.content_version(build / "lib" / "chart.js")
    client = _client(build)
    right = client.get(f"/lib/chart.js?v={version}")
    assert right.text == "var chart = 1;"
    assert right.headers["cache-control"] == "public, max-age=31536000, immutable"
    for query in ("", "?v=0123456789abcdef", f"?v={version}&x=1"):
        assert client.get(f"/lib/chart.js{query}").headers["cache-control"] == "no-cache"
    missing = client.get("/lib/none.js")
    assert missing.status_code == 404 and "text/html" not in missing.headers["content-type"]
