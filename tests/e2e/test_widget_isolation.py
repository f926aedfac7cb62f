"""Widget isolation in real Chromium: a hostile widget, served from its frame URL into the
real host code (frontend/src/widgets/host.ts), cannot read the page, its cookies or its
storage, cannot navigate the top page or call the API; config and data still reach it
through both SDK APIs, coalesced to one update per animation frame.

The host page is ours (a route added to the live server answers ``/host-test`` on the
app's origin, which is the frames' only allowed parent): it loads ``host.ts``
transpiled by the project's own TypeScript, nothing else. The frames come from the
frames origin, another port.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import HTMLResponse
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route, WebError
from sqlalchemy import select

from tests.e2e.conftest import LiveServer
from visualbox.db.tables.accounts import User as Account
from visualbox.services import frames, modules, registry

FRONTEND = Path(__file__).parents[2] / "frontend"

# What Chromium logs when it enforces the sandbox and the CSP: expected here, because
# the widget tries exactly these things. Any other console error fails the test.
EXPECTED_REFUSALS = re.compile(
    r"Refused to connect|Content Security Policy|Unsafe attempt to initiate navigation"
    r"|Blocked opening|sandboxed|Failed to fetch|Failed to load resource: net::ERR_BLOCKED"
    r"|widget boom"  # the hostile widget's own uncaught error, reported to the host
)

HOSTILE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hostile</title>
<script src="probe.js"></script>
<script type="module" src="module.js"></script>
<link rel="stylesheet" href="style.css">
</head><body><p id="out">waiting</p>
<script>
  var results = {origin: self.origin, externalScript: window.probeLoaded === true};
  function attempt(name, action) {
    try { results[name] = 'allowed: ' + String(action()); }
    catch (error) { results[name] = 'blocked: ' + error.name; }
  }
  attempt('parentDocument', function () { return parent.document.title; });
  attempt('parentStorage', function () { return parent.localStorage.getItem('secret'); });
  attempt('cookie', function () { return document.cookie; });
  attempt('localStorage', function () { return localStorage.getItem('secret'); });
  attempt('sessionStorage', function () { return sessionStorage.length; });
  attempt('indexedDB', function () { return indexedDB.open('spy'); });
  attempt('topNavigation', function () { top.location.href = '/hijacked'; return 'no error'; });
  attempt('popup', function () { return window.open('/hijacked-popup'); });
  results.stylesheet = getComputedStyle(document.getElementById('out')).color;
  var parsed = new Promise(function (resolve) {
    document.addEventListener('DOMContentLoaded', resolve);
  });
  var fetched = fetch('/api/health').then(
    function (answer) { return 'allowed: ' + answer.status; },
    function (error) { return 'blocked: ' + error.name; }
  );
  Promise.all([fetched, parsed]).then(function (outcomes) {
    results.fetch = outcomes[0];
    results.moduleScript = window.moduleLoaded === true;  // module scripts are CORS loads
    visualbox.log('probe ' + JSON.stringify(results));
    setTimeout(function () { throw new Error('widget boom'); });
  });

  // Config and data, through the new API and the thesis-era one.
  var seen = {configCalls: 0, dataCalls: 0, messages: []};
  function report() {
    visualbox.log('seen ' + JSON.stringify({
      seen: seen, config: visualbox.config, data: visualbox.data, CONFIG: CONFIG, DATA: DATA
    }));
  }
  visualbox.onConfigChanged(function (config) {
    seen.configCalls += 1;
    document.getElementById('out').textContent = config.label;
    report();
  });
  visualbox.onDataChanged(function (data) { seen.dataCalls += 1; report(); });
  function onMessage(message) { seen.messages.push([message.type, message.value]); report(); }
</script></body></html>
"""

HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Widget host test</title></head><body><div id="a"></div><div id="b"></div>
<script type="module">
{host}
localStorage.setItem('secret', 'top-secret-storage');
document.cookie = 'visible_cookie=top-secret-cookie; path=/';
window.logs = {{a: [], b: []}};
window.ready = {{a: 0, b: 0}};
window.errors = [];
window.makeHost = (name, url) => {{
  const host = new WidgetHost(document.getElementById(name), url, {{ title: 'Widget ' + name }});
  host.on('log', (entry) => {{
    window.logs[name].push(entry.message);
    if (entry.level === 'error') window.errors.push(entry.message);
  }});
  host.on('ready', () => {{ window.ready[name] += 1; }});
  return host;
}};
window.hostScriptLoaded = true;
</script></body></html>
"""


@pytest.fixture(scope="module")
def host_js() -> str:
    """``host.ts`` as JavaScript, transpiled by the front end's own TypeScript."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (the front-end build needs it too)"
    typescript = FRONTEND / "node_modules" / "typescript"
    assert typescript.is_dir(), "run `npm ci` in frontend/ (the package build does)"
    script = (
        "const ts = require(process.argv[1]); const fs = require('fs');"
        "const source = fs.readFileSync(process.argv[2], 'utf8');"
        "process.stdout.write(ts.transpileModule(source, {compilerOptions: "
        "{target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext}}).outputText);"
    )
    host = FRONTEND / "src" / "widgets" / "host.ts"
    done = subprocess.run(
        [node, "-e", script, str(typescript), str(host)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


def publish(live: LiveServer, files: dict[str, bytes]) -> tuple[str, str]:
    """A published widget of a new user: its id and its frame URL (what the registry
    page gets)."""
    owner = live.create_user()
    with live.app.state.db.session() as db:
        user = db.scalars(select(Account).where(Account.email == owner.email)).one()
        module = modules.create_module(db, user, name="Hostile", kind="widget", runtime=None)
        for path, content in files.items():
            modules.write_file(db, module, path, content)
        registry.publish(db, module, "1.0.0")
        box = live.app.state.secret_box
        return module.id, frames.registry_frame(db, box, module.id, "1.0.0", live.frames_url)


def publish_widget(live: LiveServer, files: dict[str, bytes]) -> str:
    return publish(live, files)[1]


@pytest.fixture
def watched(browser: Browser) -> Iterator[tuple[BrowserContext, list[str]]]:
    """A fresh context whose unexpected console errors fail the test."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    unexpected: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not EXPECTED_REFUSALS.search(message.text):
            unexpected.append(message.text)

    context.on("console", on_console)

    def on_error(error: WebError) -> None:
        if not EXPECTED_REFUSALS.search(str(error.error)):
            unexpected.append(f"uncaught: {error.error}")

    context.on("weberror", on_error)
    yield context, unexpected
    context.close()
    assert unexpected == [], "unexpected browser errors:\n" + "\n".join(unexpected)


def open_host(live: LiveServer, context: BrowserContext, host_js: str) -> tuple[Page, list[str]]:
    """The host page at ``<live server>/host-test`` and the list of requests that escaped.

    The server itself answers it (Chromium lets a page from a loopback address frame
    another loopback origin; a page made up by ``route.fulfill`` has no address)."""
    escaped: list[str] = []
    html = HOST_PAGE.format(host=host_js)

    def serve() -> HTMLResponse:
        return HTMLResponse(html)

    def record(route: Route) -> None:
        escaped.append(route.request.url)
        route.fulfill(status=204, body="")

    live.app.add_api_route("/host-test", serve, include_in_schema=False)
    context.route(re.compile(r".*/hijacked.*"), record)
    page = context.new_page()
    page.goto(f"{live.url}/host-test")
    page.wait_for_function("window.hostScriptLoaded === true")
    return page, escaped


def logged(page: Page, name: str, prefix: str, predicate: str = "true") -> Any:
    """The last log line of widget ``name`` starting with ``prefix`` for which the JS
    ``predicate`` (over ``value``) holds, parsed; waits for it."""
    handle = page.wait_for_function(
        """([name, prefix, predicate]) => {
             const test = new Function('value', 'return ' + predicate);
             const lines = window.logs[name].filter((l) => l.startsWith(prefix + ' '));
             for (const line of lines.reverse()) {
               const value = JSON.parse(line.slice(prefix.length + 1));
               if (test(value)) return value;
             }
             return null;
           }""",
        arg=[name, prefix, predicate],
    )
    return handle.json_value()


def test_a_hostile_widget_is_contained(
    live_server: LiveServer, watched: tuple[BrowserContext, list[str]], host_js: str
) -> None:
    context, _ = watched
    frame_url = publish_widget(
        live_server,
        {
            "index.html": HOSTILE.encode(),
            "probe.js": b"window.probeLoaded = true;",
            "style.css": b"#out { color: rgb(1, 2, 3); }",
            "module.js": b"window.moduleLoaded = true;",
        },
    )
    assert frame_url.startswith(live_server.frames_url + "/frames/")  # not the app's origin
    page, escaped = open_host(live_server, context, host_js)
    top_url = page.url
    page.evaluate("url => { window.hostA = window.makeHost('a', url); }", frame_url)

    probe = logged(page, "a", "probe")
    assert probe["origin"] == "null"
    assert probe["externalScript"] is True  # its own files load from 'self'
    assert probe["moduleScript"] is True
    assert probe["stylesheet"] == "rgb(1, 2, 3)"
    stores = ("cookie", "localStorage", "sessionStorage", "indexedDB")
    for name in ("parentDocument", "parentStorage", *stores):
        assert probe[name] == "blocked: SecurityError", (name, probe[name])
    assert probe["topNavigation"] == "blocked: SecurityError"
    assert probe["popup"] == "allowed: null"  # no allow-popups: window.open gives nothing
    assert probe["fetch"] == "blocked: TypeError"
    assert page.url == top_url and escaped == []
    assert page.evaluate("localStorage.getItem('secret')") == "top-secret-storage"
    assert page.get_by_title("Widget a").get_attribute("sandbox") == "allow-scripts"
    page.wait_for_function("window.errors.some((e) => e.includes('widget boom'))")


def test_config_and_data_reach_the_widget_once_per_frame_and_after_a_reload(
    live_server: LiveServer, watched: tuple[BrowserContext, list[str]], host_js: str
) -> None:
    context, _ = watched
    frame_url = publish_widget(
        live_server,
        {"index.html": HOSTILE.encode(), "probe.js": b"", "style.css": b"", "module.js": b""},
    )
    page, _ = open_host(live_server, context, host_js)
    page.evaluate(
        """url => {
             window.hostA = window.makeHost('a', url);
             window.hostB = window.makeHost('b', url);
             window.hostA.setConfig({label: 'first'});
             window.hostB.setConfig({label: 'other widget'});
           }""",
        frame_url,
    )
    first = logged(page, "a", "seen", "value.seen.messages.length === 1")
    assert first["seen"]["configCalls"] == 1 and first["seen"]["dataCalls"] == 0
    assert first["config"] == first["CONFIG"] == {"label": "first"}
    assert first["seen"]["messages"] == [["CONFIG_CHANGED", {"label": "first"}]]
    assert "data" not in first and "DATA" not in first  # undefined until the first value
    frame = page.frame_locator("#a iframe")
    assert frame.locator("#out").text_content() == "first"

    # A burst in one task: the widget gets one update, with the last values.
    page.evaluate(
        """() => {
             for (let i = 0; i < 100; i++) window.hostA.setData({n: i});
             window.hostA.setConfig({label: 'second'});
             window.hostA.setData({n: 'last', when: null});
           }"""
    )
    burst = logged(page, "a", "seen", "value.seen.messages.length >= 3")
    assert burst["seen"]["configCalls"] == 2 and burst["seen"]["dataCalls"] == 1
    assert burst["data"] == burst["DATA"] == {"n": "last", "when": None}
    assert burst["seen"]["messages"][1:] == [
        ["CONFIG_CHANGED", {"label": "second"}],
        ["DATA_CHANGED", {"n": "last", "when": None}],
    ]
    # Null is a value like any other; each widget has its own channel.
    page.evaluate("() => window.hostA.setData(null)")
    nulled = logged(page, "a", "seen", "value.seen.messages.length >= 4")
    assert nulled["seen"]["dataCalls"] == 2 and nulled["data"] is None
    assert nulled["seen"]["messages"][3] == ["DATA_CHANGED", None]
    other = logged(page, "b", "seen", "value.seen.messages.length === 1")
    assert other["config"] == {"label": "other widget"} and "data" not in other

    # A reloaded frame gets the current config and data again, without being asked.
    page.evaluate("url => window.hostA.navigate(url)", frame_url)
    page.wait_for_function("window.ready.a === 2")
    again = logged(page, "a", "seen", "value.seen.configCalls === 1 && value.seen.dataCalls === 1")
    assert again["config"] == {"label": "second"} and again["data"] is None
    assert again["seen"]["messages"] == [
        ["CONFIG_CHANGED", {"label": "second"}],
        ["DATA_CHANGED", None],
    ]


def test_a_published_html_file_never_opens_on_the_apps_origin(
    live_server: LiveServer, watched: tuple[BrowserContext, list[str]]
) -> None:
    """A fake sign-in page in a module: opened from its app URL, the browser ends up on
    the frames origin, in an opaque-origin sandbox, with the app's cookie out of reach."""
    context, _ = watched
    fake = (
        b"<!doctype html><title>Sign in</title><p id=o></p><script>"
        b"var r = {origin: self.origin};"
        b"try { r.cookie = document.cookie; } catch (e) { r.cookie = e.name; }"
        b"document.getElementById('o').textContent = JSON.stringify(r);</script>"
    )
    module_id, _ = publish(live_server, {"index.html": b"<p>w</p>", "login.html": fake})
    page = context.new_page()
    page.goto(f"{live_server.url}/")  # the app sets its own state on its origin
    page.evaluate("document.cookie = 'app_cookie=secret; path=/'")
    page.goto(f"{live_server.url}/api/registry/modules/{module_id}/versions/1.0.0/files/login.html")
    assert page.url.startswith(live_server.frames_url + "/registry/")
    seen = page.locator("#o")
    assert seen.text_content() == '{"origin":"null","cookie":"SecurityError"}'
