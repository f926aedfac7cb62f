"""``visualbox module dev [DIR]``: push on save and show the development console.

Pushes the folder (see ``module_remote.py``), then watches it: every
:data:`POLL_S` it compares the files' modification times and sizes, and after a
change pushes what differs. For an integration it runs the working copy in the
server's development console (``DEV_START`` on the live WebSocket, as the studio
does; ``schemas/live.py`` is the protocol), prints each output, log line and state
change as one line, and restarts the run (``DEV_RESTART``) after each push. For a
widget it prints the studio's address: the studio follows changes made elsewhere, so its
preview reloads after each push.
Ctrl-C (or SIGTERM) stops the run and exits with 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from visualbox.cli.module_remote import (
    dir_argument,
    ignore_rules,
    module_option,
    print_changes,
    push_tree,
    read_local,
    resolve,
    server_option,
    write_link,
)
from visualbox.cli.remote import BadInput, Remote, RemoteError
from visualbox.errors import VisualBoxError
from visualbox.modules.config_schema import ConfigSchema, parse_config_schema
from visualbox.modules.ignore import IgnoreRules
from visualbox.modules.tree import FileTree
from visualbox.schemas.live import (
    LiveDevRestart,
    LiveDevStart,
    LiveDevStop,
    LiveTick,
    ServerMessage,
    server_message,
)

POLL_S = 0.2
"""How often the folder is scanned for a change."""
TICK_S = 15.0
"""How often the console tells the server it is still there (docs/live.md)."""
EXIT_INTERRUPTED = 130

Snapshot = dict[str, tuple[int, int]]


@click.command()
@dir_argument
@server_option
@module_option
@click.option(
    "--config",
    "assignments",
    multiple=True,
    metavar="NAME=VALUE",
    help="A test value, typed by config.json (repeatable; default: the defaults).",
)
@click.option(
    "--config-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON object of test values; --config values override it.",
)
def dev(
    directory: Path,
    server: str | None,
    module_ref: str | None,
    assignments: tuple[str, ...],
    config_file: Path | None,
) -> None:
    """Push DIR on every save and show the development console (outputs and logs)."""
    remote, module = resolve(directory, server, module_ref, create=True)
    with remote:
        # Taken before the first push, so a save made while it travels is pushed next.
        baseline = snapshot(directory, ignore_rules(directory))
        local = read_local(directory)
        print_changes(push_tree(remote, module["id"], local), remote, module)
        write_link(directory, remote.url, module["id"])
        session = DevSession(remote, module, directory, assignments, config_file, baseline)
        config = session.config(local.tree) if module["kind"] == "integration" else {}
        if config is None:
            raise BadInput("the test values do not fit config.json")
        try:
            code = asyncio.run(session.run(config))
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
    sys.exit(code)


def snapshot(root: Path, rules: IgnoreRules) -> Snapshot:
    """Modification time and size of every file the ignore rules let through."""
    seen: Snapshot = {}

    def walk(folder: Path, prefix: str) -> None:
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    if not rules.ignores(rel, is_folder=True):
                        seen[rel + "/"] = (0, 0)
                        walk(Path(entry.path), rel + "/")
                elif not rules.ignores(rel):
                    seen[rel] = (info.st_mtime_ns, info.st_size)

    walk(root, "")
    return seen


class DevSession:
    def __init__(
        self,
        remote: Remote,
        module: dict[str, Any],
        root: Path,
        assignments: tuple[str, ...],
        config_file: Path | None,
        baseline: Snapshot,
    ) -> None:
        self.remote = remote
        self.baseline = baseline
        self.module = module
        self.root = root
        self.assignments = assignments
        self.config_file = config_file
        self.widget = module["kind"] == "widget"
        self.stop = asyncio.Event()

    # -- test values ---------------------------------------------------------------------

    def config(self, tree: FileTree) -> dict[str, Any] | None:
        """The test values (``--config-file``, ``--config``, the defaults), checked
        against ``config.json``; ``None`` after printing why they do not fit."""
        try:
            schema: ConfigSchema = parse_config_schema(tree.get("config.json", b"[]"))
            values: dict[str, Any] = {}
            if self.config_file is not None:
                loaded = json.loads(self.config_file.read_text("utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError(f"{self.config_file}: must be a JSON object")
                values.update(loaded)
            for assignment in self.assignments:
                name, sep, raw = assignment.partition("=")
                if not sep:
                    raise ValueError(f"--config {assignment}: use NAME=VALUE")
                values[name] = schema.parse_cli_value(name, raw)
            return schema.validate_values(values)
        except VisualBoxError as exc:
            lines = [f"{f.field}: {f.reason}" for f in exc.fields] or [exc.message]
        except ValueError as exc:
            lines = [str(exc)]
        for line in lines:
            _say("ERROR", line)
        return None

    # -- the loop --------------------------------------------------------------------------

    async def run(self, config: dict[str, Any]) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        try:
            if self.widget:
                await self._widget()
                return EXIT_INTERRUPTED
            return await self._integration(config)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _widget(self) -> None:
        studio = f"{self.remote.url}/modules/{self.module['id']}"
        click.echo(f"Studio: {studio}")
        # The studio follows changes made elsewhere: its preview reloads after each push.
        click.echo(f"Preview: {studio} (open it: its preview reloads on each save)")
        async for _changed in self._saves():
            click.echo("Pushed: the studio's preview reloads")

    async def _integration(self, config: dict[str, Any]) -> int:
        url = "ws" + self.remote.url.removeprefix("http") + "/api/live"
        headers = {"Authorization": self.remote.authorization}
        try:
            socket = await connect(url, additional_headers=headers, max_size=None)
        except InvalidStatus as exc:
            code = exc.response.status_code
            raise RemoteError(f"{url} refused the console (HTTP {code}): log in again") from None
        except (OSError, InvalidHandshake) as exc:
            raise RemoteError(f"cannot open the console at {url}: {exc}") from None
        module_id = self.module["id"]
        async with socket:
            start = LiveDevStart(type="DEV_START", module=module_id, config=config)
            await socket.send(start.model_dump_json())
            click.echo(f"Running {self.module['name']!r} on {self.remote.url}; Ctrl-C stops it")
            reader = asyncio.create_task(self._read(socket))
            ticker = asyncio.create_task(self._tick(socket))
            watcher = asyncio.create_task(self._restart_on_save(socket))
            stopped = asyncio.create_task(self.stop.wait())
            done, _ = await asyncio.wait(
                {reader, watcher, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (reader, ticker, watcher, stopped):
                task.cancel()
            if reader in done and not reader.cancelled():
                raise RemoteError(f"the server closed the console: {reader.result()}")
            if watcher in done and not watcher.cancelled() and watcher.exception():
                raise watcher.exception()  # type: ignore[misc]
            with contextlib.suppress(ConnectionClosed):
                await socket.send(LiveDevStop(type="DEV_STOP", module=module_id).model_dump_json())
        click.echo("Stopped")
        return EXIT_INTERRUPTED

    async def _restart_on_save(self, socket: ClientConnection) -> None:
        async for tree in self._saves():
            config = self.config(tree)
            if config is None:
                continue
            restart = LiveDevRestart(type="DEV_RESTART", module=self.module["id"], config=config)
            await socket.send(restart.model_dump_json())

    async def _saves(self) -> AsyncIterator[FileTree]:
        """After each change in the folder that changed the working copy: its files."""
        rules = ignore_rules(self.root)
        before = self.baseline
        while not self.stop.is_set():
            await asyncio.sleep(POLL_S)  # polling the folder, not waiting for an event
            now = snapshot(self.root, rules)
            if now == before:
                continue
            before = now
            try:
                local = await asyncio.to_thread(read_local, self.root)
                rules = local.rules
                changes = await asyncio.to_thread(push_tree, self.remote, self.module["id"], local)
            except RemoteError as exc:
                _say("ERROR", f"not pushed: {exc.message}")
                continue
            print_changes(changes, self.remote, self.module)
            if changes:
                yield local.tree

    async def _tick(self, socket: ClientConnection) -> None:
        while True:
            await asyncio.sleep(TICK_S)  # the protocol's keep-alive period
            await socket.send(LiveTick(type="TICK").model_dump_json())

    async def _read(self, socket: ClientConnection) -> str:
        try:
            async for raw in socket:
                decoded = json.loads(raw)
                for item in decoded if isinstance(decoded, list) else [decoded]:
                    try:
                        message = server_message.validate_python(item)
                    except ValidationError:
                        continue  # a newer server's message: not for this console
                    _show(message)
        except ConnectionClosed as exc:
            return exc.rcvd.reason if exc.rcvd and exc.rcvd.reason else "connection lost"
        return "connection closed"


def _show(message: ServerMessage) -> None:
    match message.type:
        case "JOINED":
            for line in message.logs:
                _say(_LEVELS[line.status], line.data)
            for instance in message.instances.values():
                _say("STATE", instance.state.value)
        case "STATUS":
            _say(_LEVELS[message.status], message.data)
        case "OUTPUT":
            _say("OUTPUT", message.data_text, message.at)
        case "STATE":
            words = message.state.value
            if message.reason is not None:
                words += f" ({message.reason.value}"
                words += f", exit status {message.code})" if message.code is not None else ")"
            if message.detail:
                words += f": {message.detail}"
            if message.restart_in_s is not None:
                words += f"; restarting in {message.restart_in_s:g} s"
            _say("STATE", words)
        case "DROPPED":
            _say("STATE", f"{message.count} log line(s) skipped (the console fell behind)")
        case "ERROR":
            reasons = "; ".join(f"{f.field}: {f.reason}" for f in message.fields)
            _say("ERROR", f"{message.message} ({reasons})" if reasons else message.message)


_LEVELS = {"T_INFO": "INFO", "T_WARNING": "WARN", "T_ERROR": "ERROR"}


def _say(kind: str, text: str, at: str | None = None) -> None:
    when = datetime.fromisoformat(at).astimezone() if at else datetime.now()
    stamp = when.strftime("%H:%M:%S")
    for line in text.splitlines() or [""]:
        click.echo(f"{stamp} {kind:<6} {line}")
    sys.stdout.flush()
