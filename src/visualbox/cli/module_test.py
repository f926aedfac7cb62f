"""``visualbox module test DIR``: run a module's own test cases (``DIR/tests/*.json``).

An integration's cases run in the sandbox like ``module run`` and compare the outputs
with what each case expects (``modules/cases.py``); a widget's cases draw it with their
config and data in headless Chromium, fail on any error it raises or logs, and save a
screenshot of each. Exit codes: ``0`` every case passed; ``1`` a case failed; ``2``
the module or a case is not valid; ``3`` no sandbox or no browser is available.
"""

from __future__ import annotations

import asyncio
import mimetypes
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import click

from visualbox.cli.module_run import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NO_SANDBOX,
    fail,
    ready_sandbox,
)
from visualbox.errors import InvalidInput
from visualbox.modules.cases import (
    Case,
    IntegrationCase,
    WidgetCase,
    case_files,
    compare_outputs,
    load_cases,
)
from visualbox.modules.check import CheckedModule, check_dir
from visualbox.modules.tree import FileTree

SCREENSHOTS = Path(".visualbox") / "screenshots"
"""Where widget screenshots go by default, under the module's folder (never published:
``.visualbox`` is left out when a folder is read)."""
READY_TIMEOUT_S = 15.0

Network = Literal["none", "outbound"]


@click.command("test")
@click.argument(
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    required=False,
    metavar="[DIR]",
)
@click.option("--case", "only", multiple=True, metavar="NAME", help="Run only this case.")
@click.option(
    "--network",
    type=click.Choice(["none", "outbound"]),
    help="Network of an integration's runs (default: the sandbox setting).",
)
@click.option(
    "--screenshots",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Folder for a widget's screenshots (default: DIR/{SCREENSHOTS}).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory (holds the prepare cache); default: the VISUALBOX_DATA_DIR setting.",
)
@click.option(
    "--browser",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="VISUALBOX_CHROMIUM",
    help="Chromium to draw widgets with (default: $VISUALBOX_CHROMIUM, chromium on the "
    "PATH, or Playwright's own).",
)
def test(
    directory: Path,
    only: tuple[str, ...],
    network: Network | None,
    screenshots: Path | None,
    data_dir: Path | None,
    browser: Path | None,
) -> None:
    """Run the test cases in DIR/tests/ (default: the current folder)."""
    checked, problems = check_dir(directory)
    if checked is None:
        fail([str(p) for p in problems], EXIT_INVALID)
    manifest = checked.manifest
    try:
        cases = load_cases(checked.tree, manifest.kind, checked.schema, manifest.output)
    except InvalidInput as exc:
        fail([str(f) for f in exc.fields] or [exc.message], EXIT_INVALID)
    unknown = sorted(set(only) - {c.name for c in cases})
    if unknown:
        fail([f"no test case named {name} in tests/" for name in unknown], EXIT_INVALID)
    cases = [c for c in cases if not only or c.name in only]
    if not cases:
        hint = "tests/<name>.json" if not case_files(checked.tree) else "the --case names"
        fail([f"{manifest.name} has no test cases to run: add {hint} (docs/modules.md)"], 2)
    noun = "case" if len(cases) == 1 else "cases"
    click.echo(f"Testing {manifest.name} ({manifest.kind}, {len(cases)} {noun})")
    if manifest.kind == "integration":
        results = _integration_cases(directory, str(manifest.runtime), cases, network, data_dir)
    else:
        folder = screenshots or directory / SCREENSHOTS
        results = _widget_cases(checked, cases, folder, browser)
    failed = sum(1 for ok in results if not ok)
    click.echo(f"{len(cases)} {noun}: {len(cases) - failed} passed, {failed} failed")
    sys.exit(EXIT_FAILED if failed else 0)


def _report(name: str, problems: list[str], passed_note: str, seconds: float) -> bool:
    if problems:
        click.echo(f"  ✗ {name}: {problems[0]}")
        for problem in problems[1:]:
            click.echo(f"      {problem}")
        return False
    click.echo(f"  ✓ {name}: {passed_note} ({seconds:.1f} s)")
    return True


# -- integrations: in the sandbox ----------------------------------------------------


def _integration_cases(
    directory: Path,
    runtime: str,
    cases: list[Case],
    network: Network | None,
    data_dir: Path | None,
) -> list[bool]:
    from visualbox.runtime.layout import ModuleSource
    from visualbox.settings import Settings

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    sandbox = ready_sandbox(settings)
    module = ModuleSource.from_dir(directory, runtime)
    results = []
    for case in cases:
        assert isinstance(case, IntegrationCase)
        started = time.monotonic()
        outputs, failure = asyncio.run(_collect(sandbox, settings, module, case, network))
        problems = ([failure] if failure else []) + compare_outputs(case, outputs)
        note = f"{len(outputs)} output{'s' if len(outputs) != 1 else ''} as expected"
        results.append(_report(case.name, problems, note, time.monotonic() - started))
    return results


async def _collect(
    sandbox: Any, settings: Any, module: Any, case: IntegrationCase, network: Network | None
) -> tuple[list[Any], str | None]:
    """The first outputs of one run of ``case``, and why the run failed (or ``None``)."""
    from visualbox.runtime.messages import Output, Status
    from visualbox.runtime.sandbox.base import ExitReason
    from visualbox.runtime.supervisor import Supervisor

    outputs: list[Any] = []
    errors: list[str] = []
    enough = asyncio.Event()

    def on_message(message: Any) -> None:
        if isinstance(message, Output) and not enough.is_set():
            outputs.append(message.data)
            if len(outputs) >= case.outputs:
                enough.set()
        elif isinstance(message, Status) and message.status.endswith("ERROR"):
            errors.append(str(message.data))

    supervisor = Supervisor(sandbox, settings.sandbox, settings.cache_dir)
    try:
        run = await supervisor.start(
            "test", module, case.config, on_message=on_message, network=network
        )
        ended = asyncio.ensure_future(run.wait())
        waiting = asyncio.ensure_future(enough.wait())
        await asyncio.wait([ended, waiting], timeout=case.timeout, return_when="FIRST_COMPLETED")
        waiting.cancel()
        if not ended.done():
            await run.terminate()
            return outputs, None
        result = ended.result()
        if enough.is_set() or result.reason is ExitReason.EXITED and len(outputs) >= case.outputs:
            return outputs, None
        why = errors[-1] if errors else str(getattr(result, "detail", "") or result.reason)
        return outputs, f"the integration stopped before it was done: {why}"
    finally:
        await supervisor.close()


# -- widgets: in headless Chromium ---------------------------------------------------

HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>visualbox module test</title>
<link rel="icon" href="data:,">
<style>html, body { margin: 0; } iframe { display: block; border: 0; }</style></head>
<body><script>
// A minimal host (the app's is frontend/src/widgets/host.ts): one sandboxed frame, the
// handshake on its hello, then one update with the case's theme, config and data.
window.__logs = [];
window.startWidget = function (c) {
  return new Promise(function (resolve, reject) {
    var frame = document.createElement('iframe');
    frame.setAttribute('sandbox', 'allow-scripts');
    frame.setAttribute('title', 'Widget');
    frame.width = c.width; frame.height = c.height;
    frame.style.background = c.theme === 'dark' ? '#111827' : '#ffffff';
    window.addEventListener('message', function (event) {
      var hello = event.data && event.data.visualbox === 'hello';
      if (event.source !== frame.contentWindow || !hello) return;
      var channel = new MessageChannel();
      channel.port1.onmessage = function (m) {
        var msg = m.data || {};
        if (msg.type === 'ready') resolve(true);
        else if (msg.type === 'log') window.__logs.push([msg.level, String(msg.message)]);
        else if (msg.type === 'history') channel.port1.postMessage(
          {type: 'history', id: msg.id, error: 'Nothing is recorded in a module test.'});
        else if (msg.type === 'libraries')
          channel.port1.postMessage({type: 'libraries', files: {}});
      };
      frame.contentWindow.postMessage({visualbox: 'connect'}, '*', [channel.port2]);
      channel.port1.postMessage(
        {type: 'update', theme: c.theme, config: c.config, data: c.data});
    });
    setTimeout(function () {
      reject(new Error('the widget did not start (no ready)'));
    }, c.timeout);
    frame.src = '/widget/index.html';
    document.body.appendChild(frame);
  });
};
</script></body></html>
"""


def _widget_cases(
    checked: CheckedModule, cases: list[Case], folder: Path, browser: Path | None
) -> list[bool]:
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail(
            ["drawing widgets needs Playwright: pip install playwright (and a Chromium)"],
            EXIT_NO_SANDBOX,
        )
    folder.mkdir(parents=True, exist_ok=True)
    executable = browser or _chromium()
    results = []
    with _serve(checked.tree) as url, sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=str(executable) if executable else None
            )
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0]
            fail([f"cannot start Chromium ({first}); pass --browser PATH"], 3)
        try:
            for case in cases:
                assert isinstance(case, WidgetCase)
                started = time.monotonic()
                shot = folder / f"{case.name}.png"
                problems = _draw(chromium, url, case, shot)
                results.append(
                    _report(case.name, problems, f"drawn, {shot}", time.monotonic() - started)
                )
        finally:
            chromium.close()
    return results


def _chromium() -> Path | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _draw(chromium: Any, url: str, case: WidgetCase, shot: Path) -> list[str]:
    """Draw ``case`` in a fresh page; every error it raised or logged, in words."""
    problems: list[str] = []
    page = chromium.new_page(viewport={"width": case.width, "height": case.height})
    page.on("pageerror", lambda error: problems.append(f"uncaught error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(f"console error: {m.text}") if m.type == "error" else None,
    )
    try:
        page.goto(url)
        options = {
            "config": case.config,
            "data": case.data,
            "theme": case.theme,
            "width": case.width,
            "height": case.height,
            "timeout": READY_TIMEOUT_S * 1000,
        }
        try:
            page.evaluate("c => window.startWidget(c)", options)
        except Exception as exc:  # the promise's rejection, in the page's words
            problems.append(str(exc).splitlines()[0].removeprefix("Error: "))
            return problems
        frame = next(f for f in page.frames if f.url.endswith("/widget/index.html"))
        # Two animation frames after ready: what the data made the widget draw is painted.
        frame.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        page.wait_for_load_state("networkidle")
        page.locator("iframe").screenshot(path=str(shot))
        for level, message in page.evaluate("window.__logs"):
            if level == "error":
                # The first line (an error's stack follows it) says what went wrong.
                problems.append(f"the widget logged an error: {message.splitlines()[0]}")
        return problems
    finally:
        page.close()


@contextmanager
def _serve(tree: FileTree) -> Iterator[str]:
    """A loopback HTTP server for the host page, the widget's files (its page with the
    SDK in it) and the libraries VisualBox serves; yields the host page's URL."""
    from visualbox.api.frames import LIB_DIR
    from visualbox.services.frames import inject_sdk, sdk_script

    sdk = (Path(__file__).resolve().parent.parent / "frames" / "sdk.js").read_bytes()
    script = sdk_script(sdk)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            path = self.path.split("?", 1)[0]
            body: bytes | None = None
            if path == "/":
                body, kind = HOST_PAGE.encode(), "text/html; charset=utf-8"
            elif path.startswith("/widget/"):
                name = path[len("/widget/") :]
                body = tree.get(name)
                if body is not None and name == "index.html":
                    body = inject_sdk(body, script)
                kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            elif path.startswith("/frames/lib/") and "/" not in path[len("/frames/lib/") :]:
                file = LIB_DIR / path[len("/frames/lib/") :]
                body = file.read_bytes() if file.is_file() else None
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
