"""``visualbox login``, ``logout`` and ``module pull|push|publish|dev`` against a real server.

The server is real (uvicorn on a loopback port, ``tests/live/conftest.py``), on SQLite and
on PostgreSQL; the CLI speaks HTTP to it, in-process through click's runner, and as a
subprocess for ``module dev``. Credentials go to a temporary ``XDG_CONFIG_HOME``.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pyotp
import pytest
from click.testing import CliRunner, Result

from tests.fixtures.ports import free_port
from tests.live.conftest import Account, Server, live_settings
from visualbox.cli import main

PASSWORD = "correct horse battery"
BINARY = bytes(range(256)) * 40 + b"\x00\xff\r\n\r\x1a"
MAIN_PY = 'import visualbox\nvisualbox.output({"word": "first"})\n'


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    running = Server(live_settings(tmp_path, database_url, idle_timeout_s=5.0)).start()
    yield running
    running.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.mkdir()
    return path


def cli(home: Path, *args: str | Path, input: str | None = None, **env: str) -> Result:
    """``visualbox ARGS`` in-process, with credentials under ``home``."""
    environment = {"XDG_CONFIG_HOME": str(home), "VISUALBOX_TOKEN": "", "VISUALBOX_URL": ""}
    result = CliRunner().invoke(
        main, [str(a) for a in args], input=input, env={**environment, **env}
    )
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), result.output
    return result


def login(server: Server, home: Path, account: Account) -> None:
    email = _email(server, account)
    result = cli(home, "login", server.url, input=f"{email}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert f"Logged in to {server.url} as {email}" in result.output


def _email(server: Server, account: Account) -> str:
    with account.http() as http:
        email: str = http.get("/api/account").json()["email"]
        return email


def write_module(root: Path, files: dict[str, bytes]) -> None:
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)


def integration(**extra: bytes) -> dict[str, bytes]:
    return {
        "README.md": b"# Round trip\n\nA module that travels.\n",
        "config.json": b"[]\n",
        "visualbox.json": b'{"name": "Round trip", "kind": "integration", "runtime": "python"}',
        "main.py": MAIN_PY.encode(),
        **extra,
    }


def files_of(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".visualbox" not in p.relative_to(root).parts
    }


def server_files(account: Account, module_id: str) -> dict[str, str]:
    with account.http() as http:
        entries = http.get(f"/api/modules/{module_id}/files").json()
    return {e["path"]: e["sha256"] for e in entries if not e["is_folder"]}


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def link_of(root: Path) -> str:
    module: str = json.loads((root / ".visualbox" / "module.json").read_text())["module"]
    return module


# -- the round trip ------------------------------------------------------------------------


def test_login_push_pull_edit_push_publish_round_trip(
    server: Server, home: Path, tmp_path: Path
) -> None:
    owner = server.account("Ada")
    login(server, home, owner)
    credentials = home / "visualbox" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    stored = json.loads(credentials.read_text())
    assert stored["default"] == server.url and stored["servers"][server.url]["token"]

    # A first push creates the module from the folder.
    work = tmp_path / "work"
    write_module(work, integration(**{"img/logo.bin": BINARY, "lib/util.py": b"X = 1\r\n"}))
    (work / "empty").mkdir()
    pushed = cli(home, "module", "push", work)
    assert pushed.exit_code == 0, pushed.output
    assert "Created integration 'Round trip'" in pushed.output
    assert "added: img/logo.bin" in pushed.output and "6 added, 0 changed, 0 removed" in (
        pushed.output
    )
    module_id = link_of(work)
    assert server_files(owner, module_id) == {p: sha(c) for p, c in files_of(work).items()}

    # Pull it elsewhere: the same bytes, and the empty folder.
    copy = tmp_path / "copy"
    pulled = cli(home, "module", "pull", "Round trip", copy)
    assert pulled.exit_code == 0, pulled.output
    assert files_of(copy) == files_of(work)
    assert (copy / "empty").is_dir()
    assert link_of(copy) == module_id

    # Edit, add, remove: push says what changed and sends only that.
    (copy / "main.py").write_text(MAIN_PY.replace("first", "second"))
    (copy / "notes.txt").write_bytes(b"\xe2\x9c\x93 done\n")
    (copy / "lib" / "util.py").unlink()
    again = cli(home, "module", "push", copy)
    assert again.exit_code == 0, again.output
    lines = [line.strip() for line in again.output.splitlines()]
    assert "changed: main.py" in lines and "added: notes.txt" in lines
    assert "removed: lib/util.py" in lines and "img/logo.bin" not in again.output
    assert server_files(owner, module_id) == {p: sha(c) for p, c in files_of(copy).items()}
    assert "Nothing to push" in cli(home, "module", "push", copy).output

    # Publish, and pull the published version: still byte for byte.
    published = cli(home, "module", "publish", copy, "--version", "1.0.0", "--changelog", "First")
    assert published.exit_code == 0, published.output
    assert f"Published 'Round trip' 1.0.0 on {server.url}" in published.output
    release = tmp_path / "release"
    got = cli(home, "module", "pull", module_id, release, "--version", "1.0.0")
    assert got.exit_code == 0, got.output
    assert files_of(release) == files_of(copy)
    with owner.http() as http:
        version = http.get(f"/api/registry/modules/{module_id}/versions/1.0.0").json()
    assert version["changelog"] == "First"

    # A version that does not increase is refused before anything is uploaded.
    (copy / "main.py").write_text(MAIN_PY.replace("first", "third"))
    before = server_files(owner, module_id)
    for stale in ("1.0.0", "0.9.0"):
        refused = cli(home, "module", "publish", copy, "--version", stale)
        assert refused.exit_code == 2, refused.output
        assert f"version {stale} is not higher than 1.0.0" in refused.output
    assert server_files(owner, module_id) == before
    assert cli(home, "module", "publish", copy, "--version", "1.1.0").exit_code == 0

    # A folder that is not empty is never overwritten without --force.
    refused = cli(home, "module", "pull", module_id, copy)
    assert refused.exit_code == 2 and "not empty" in refused.output
    (copy / "stray.txt").write_text("not on the server")
    forced = cli(home, "module", "pull", module_id, copy, "--force")
    assert forced.exit_code == 0 and "removed: stray.txt" in forced.output
    assert not (copy / "stray.txt").exists()


def test_publish_runs_the_check_first(server: Server, home: Path, tmp_path: Path) -> None:
    owner = server.account()
    login(server, home, owner)
    work = tmp_path / "broken"
    files = integration()
    del files["README.md"]
    files["config.json"] = b'[{"type": "slider", "name": "x"}]'
    write_module(work, files)
    result = cli(home, "module", "publish", work, "--version", "1.0.0")
    assert result.exit_code == 1
    assert "README.md: missing" in result.output and "nothing was uploaded" in result.output
    with owner.http() as http:
        assert http.get("/api/modules").json() == []
    bad = cli(home, "module", "publish", work, "--version", "one")
    assert bad.exit_code == 2 and "not a version like 1.2.0" in bad.output


# -- CI ----------------------------------------------------------------------------------------


def test_a_token_from_ci_publishes_without_a_login(
    server: Server, home: Path, tmp_path: Path
) -> None:
    owner = server.account()
    work = tmp_path / "repo"
    write_module(work, integration())
    env = {"VISUALBOX_TOKEN": owner.token, "VISUALBOX_URL": server.url}
    result = cli(home, "module", "publish", work, "--version", "2.0.0", "--changelog", "CI", **env)
    assert result.exit_code == 0, result.output
    assert not (home / "visualbox").exists()  # nothing written for CI
    # The same on a fresh checkout whose link names a developer's own server: the module is
    # found by its name on VISUALBOX_URL.
    fresh = tmp_path / "checkout"
    write_module(fresh, integration())
    dev_server = f"http://127.0.0.1:{free_port()}"
    (fresh / ".visualbox").mkdir()
    (fresh / ".visualbox" / "module.json").write_text(
        json.dumps({"server": dev_server, "module": "elsewhere"})
    )
    again = cli(home, "module", "publish", fresh, "--version", "2.1.0", **env)
    assert again.exit_code == 0, again.output
    assert "Created" not in again.output
    with owner.http() as http:
        mine = http.get("/api/modules").json()
    assert [m["latest_version"] for m in mine] == ["2.1.0"]

    # login --token checks the token and keeps it.
    stored = cli(home, "login", server.url, "--token", owner.token)
    assert stored.exit_code == 0, stored.output
    credentials = home / "visualbox" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert json.loads(credentials.read_text())["servers"][server.url]["token"] == owner.token


# -- ignore rules ------------------------------------------------------------------------------


def test_ignore_rules_apply_to_push(server: Server, home: Path, tmp_path: Path) -> None:
    owner = server.account()
    login(server, home, owner)
    work = tmp_path / "ignored"
    write_module(
        work,
        integration(
            **{
                ".git/HEAD": b"ref: refs/heads/main\n",
                "node_modules/left-pad/index.js": b"module.exports = 1\n",
                ".venv/bin/python": b"#!",
                "__pycache__/main.cpython-311.pyc": b"\x00",
                "helpers.pyc": b"\x00",
                "build/out.txt": b"built",
                "dist/bundle.js": b"bundled",
                "secret.env": b"TOKEN=1",
                "data/keep.csv": b"a,b\n",
                "data/cache/tmp.csv": b"x",
                ".visualboxignore": b"# mine\n*.env\ndata/cache/\n!dist/\n",
            }
        ),
    )
    result = cli(home, "module", "push", work)
    assert result.exit_code == 0, result.output
    assert set(server_files(owner, link_of(work))) == {
        "README.md",
        "config.json",
        "visualbox.json",
        "main.py",
        "dist/bundle.js",
        "data/keep.csv",
        ".visualboxignore",
    }
    # An ignored file that is on the server stays there: push only removes what it manages.
    with owner.http() as http:
        http.put(f"/api/modules/{link_of(work)}/files/build/kept.txt", content=b"web")
    (work / "data" / "keep.csv").unlink()
    again = cli(home, "module", "push", work)
    assert "removed: data/keep.csv" in again.output and "build/kept.txt" not in again.output
    assert "build/kept.txt" in server_files(owner, link_of(work))


# -- errors --------------------------------------------------------------------------------------


def test_clear_errors_without_a_traceback(server: Server, home: Path, tmp_path: Path) -> None:
    work = tmp_path / "mod"
    write_module(work, integration())

    result = cli(home, "module", "push", work, "--server", server.url)
    assert result.exit_code == 2
    assert f"not logged in to {server.url}: run `visualbox login {server.url}`" in result.output

    wrong = cli(home, "module", "push", work, VISUALBOX_TOKEN="vbx_wrong", VISUALBOX_URL=server.url)
    assert wrong.exit_code == 1 and "refused the API token" in wrong.output

    bad = cli(home, "login", "ftp://example")
    assert bad.exit_code == 2 and "not a server URL" in bad.output

    down = f"http://127.0.0.1:{free_port()}"
    gone = cli(home, "login", down, "--token", "vbx_x")
    assert gone.exit_code == 1 and f"cannot reach {down}: is the server running?" in gone.output

    owner = server.account()
    wrong_password = cli(home, "login", server.url, input=f"{_email(server, owner)}\nnope-nope\n")
    assert wrong_password.exit_code == 1
    assert wrong_password.output.splitlines()[-1].startswith("Error: ")
    assert "token" not in wrong_password.output.splitlines()[-1]

    login(server, home, owner)
    unknown = cli(home, "module", "pull", "no-such-module", tmp_path / "x")
    assert unknown.exit_code == 2 and "has no module 'no-such-module' of yours" in unknown.output
    missing = cli(home, "module", "pull", "no-such-id", tmp_path / "y", "--version", "1.0.0")
    assert missing.exit_code == 1 and "Error:" in missing.output


def test_login_asks_for_the_second_factor(server: Server, home: Path) -> None:
    owner = server.account()
    with owner.http() as http:
        started = http.post("/api/account/2fa", json={"password": PASSWORD})
        code = pyotp.TOTP(started.json()["secret"]).now()
        confirmed = http.post("/api/account/2fa/confirm", json={"code": code})
        assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"][0]
    email = _email(server, owner)
    result = cli(home, "login", server.url, "--email", email, input=f"{PASSWORD}\n{recovery}\n")
    assert result.exit_code == 0, result.output
    assert "Two-factor code" in result.output and f"as {email}" in result.output
    token = json.loads((home / "visualbox" / "credentials.json").read_text())["servers"][
        server.url
    ]["token"]
    with httpx2.Client(base_url=server.url) as http:
        answer = http.get("/api/account", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


def test_logout_revokes_the_token_it_made(server: Server, home: Path) -> None:
    owner = server.account()
    login(server, home, owner)
    credentials = home / "visualbox" / "credentials.json"
    token = json.loads(credentials.read_text())["servers"][server.url]["token"]
    with httpx2.Client(base_url=server.url) as http:
        headers = {"Authorization": f"Bearer {token}"}
        assert http.get("/api/account", headers=headers).status_code == 200
        result = cli(home, "logout")
        assert result.exit_code == 0, result.output
        assert http.get("/api/account", headers=headers).status_code == 401
    assert json.loads(credentials.read_text())["servers"] == {}
    assert cli(home, "logout", server.url).exit_code == 2


# -- dev -------------------------------------------------------------------------------------------

LOOPING = """\
import time, visualbox
visualbox.output({"word": "WORD"})
print("said WORD", flush=True)
while True:
    time.sleep(3600)
"""


class Lines:
    """The stdout of a subprocess, read by a thread; :meth:`wait_for` has a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout

        def read() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, text: str, timeout: float) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout} s; got {self.seen}") from None
            if line is None:
                raise AssertionError(f"the process ended without {text!r}; got {self.seen}")
            self.seen.append(line)
            if text in line:
                return line, time.monotonic()


def test_dev_pushes_on_save_and_shows_the_new_output_within_2_s(
    server: Server, tmp_path: Path
) -> None:
    owner = server.account()
    work = tmp_path / "dev"
    write_module(work, integration(**{"main.py": LOOPING.replace("WORD", "first").encode()}))
    env = {
        **os.environ,
        "VISUALBOX_TOKEN": owner.token,
        "VISUALBOX_URL": server.url,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "visualbox", "module", "dev", str(work)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = Lines(process)
        lines.wait_for("Running 'Round trip'", 60)
        lines.wait_for('OUTPUT {"word":"first"}', 120)  # the first start prepares (cached next)
        lines.wait_for("said first", 30)
        timings: list[float] = []
        for word in ("second", "third"):
            (work / "main.py").write_text(LOOPING.replace("WORD", word))
            saved = time.monotonic()
            lines.wait_for("changed: main.py", 10)
            _line, seen = lines.wait_for(f'OUTPUT {{"word":"{word}"}}', 10)
            timings.append(seen - saved)
        assert max(timings) < 2.0, timings
        print(f"save → new output in the terminal: {', '.join(f'{t:.2f} s' for t in timings)}")
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130
        assert "Stopped" in "".join(lines.seen) or lines.wait_for("Stopped", 5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_dev_of_a_widget_prints_a_preview_url(server: Server, tmp_path: Path) -> None:
    owner = server.account()
    work = tmp_path / "gauge"
    init = cli(tmp_path / "config", "module", "init", work, "--kind", "widget")
    assert init.exit_code == 0, init.output
    env = {**os.environ, "VISUALBOX_TOKEN": owner.token, "VISUALBOX_URL": server.url}
    process = subprocess.Popen(
        [sys.executable, "-m", "visualbox", "module", "dev", str(work)],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = Lines(process)
        studio, _ = lines.wait_for("Studio: ", 60)
        assert studio.strip() == f"Studio: {server.url}/modules/{link_of(work)}"
        # The studio's preview follows pushes (tests/e2e/test_working_copy.py shows it).
        lines.wait_for(f"Preview: {server.url}/modules/{link_of(work)} (open it", 30)
        index = work / "index.html"
        index.write_text(index.read_text() + "<!-- edited -->\n")
        lines.wait_for("changed: index.html", 10)
        lines.wait_for("Pushed: the studio's preview reloads", 10)
        files = httpx2.get(
            f"{server.url}/api/modules/{link_of(work)}/files/index.html",
            headers={"Authorization": f"Bearer {owner.token}"},
        )
        assert files.text.endswith("<!-- edited -->\n")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
