"""``visualbox module run DIR``: run an integration in the sandbox and print its messages.

Every protocol message (see ``docs/sdk.md``) is printed as one JSON line on
stdout, in the order the integration wrote its lines and outputs. ``--max-outputs N``
prints the first ``N`` outputs, then stops the run: the lines it wrote until it
stopped and the final STATE still follow. Exit codes:

* ``0``: ``--max-outputs`` outputs arrived, ``--timeout`` ran out, or the
  integration ended by itself with exit code 0;
* ``1``: the integration failed (prepare failed, crashed, killed by a limit);
* ``2``: the module or a config value is invalid (problems on stderr);
* ``3``: no sandbox is available (install advice on stderr);
* ``130``: interrupted (Ctrl-C); the run was terminated cleanly.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from visualbox.errors import FieldError, InvalidInput, VisualBoxError

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_NO_SANDBOX = 3
EXIT_INTERRUPTED = 130


def fail(problems: list[FieldError] | list[str], code: int) -> NoReturn:
    """Print each problem on standard error and exit with ``code``."""
    for problem in problems:
        click.echo(str(problem), err=True)
    sys.exit(code)


def ready_sandbox(settings: Any) -> Any:
    """The configured sandbox, checked to work (or exit 3 saying why not)."""
    from visualbox.runtime.sandbox import get_sandbox
    from visualbox.runtime.sandbox.base import SandboxUnavailable

    try:
        sandbox = get_sandbox(settings.sandbox)
        sandbox.check()
    except SandboxUnavailable as exc:
        fail([f"no sandbox available: {exc}"], EXIT_NO_SANDBOX)
    return sandbox


@click.command()
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--config",
    "assignments",
    multiple=True,
    metavar="NAME=VALUE",
    help="A config value, typed by config.json (repeatable).",
)
@click.option(
    "--config-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON object of config values; --config values override it.",
)
@click.option("--max-outputs", type=click.IntRange(min=1), help="Stop after N outputs.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Stop after S s.")
@click.option(
    "--network",
    type=click.Choice(["none", "outbound"]),
    help="Network of the run (default: the sandbox setting).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory (holds the prepare cache); default: the VISUALBOX_DATA_DIR setting.",
)
def run(
    directory: Path,
    assignments: tuple[str, ...],
    config_file: Path | None,
    max_outputs: int | None,
    timeout: float | None,
    network: str | None,
    data_dir: Path | None,
) -> None:
    """Run the integration in DIR in the sandbox; print every message as a JSON line."""
    from visualbox.runtime.source import load_module
    from visualbox.settings import Settings

    try:
        module, schema = load_module(directory)
    except InvalidInput as exc:
        fail(exc.fields or [exc.message], EXIT_INVALID)
        return
    values: dict[str, Any] = {}
    try:
        if config_file is not None:
            loaded = json.loads(config_file.read_text("utf-8"))
            if not isinstance(loaded, dict):
                raise InvalidInput(
                    "config file", [FieldError(str(config_file), "must be a JSON object")]
                )
            values.update(loaded)
        for assignment in assignments:
            name, sep, raw = assignment.partition("=")
            if not sep:
                raise InvalidInput(
                    "--config", [FieldError(f"--config {assignment}", "use NAME=VALUE")]
                )
            values[name] = schema.parse_cli_value(name, raw)
        config = schema.validate_values(values)
    except ValueError as exc:  # JSON syntax of --config-file
        fail([f"{config_file}: not valid JSON: {exc}"], EXIT_INVALID)
        return
    except VisualBoxError as exc:
        fail(exc.fields or [exc.message], EXIT_INVALID)
        return

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    sandbox = ready_sandbox(settings)
    try:
        code = asyncio.run(_run(sandbox, settings, module, config, max_outputs, timeout, network))
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    sys.exit(code)


async def _run(
    sandbox: Any,
    settings: Any,
    module: Any,
    config: dict[str, Any],
    max_outputs: int | None,
    timeout: float | None,
    network: Any,
) -> int:
    from visualbox.runtime.messages import Output
    from visualbox.runtime.sandbox.base import ExitReason
    from visualbox.runtime.supervisor import Supervisor

    enough = asyncio.Event()
    stop = asyncio.Event()
    outputs = 0

    def on_message(message: Any) -> None:
        nonlocal outputs
        if enough.is_set() and isinstance(message, Output):
            return  # stopping after --max-outputs: its log lines and final STATE follow
        sys.stdout.write(json.dumps(message.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if isinstance(message, Output):
            outputs += 1
            if max_outputs is not None and outputs >= max_outputs:
                enough.set()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    supervisor = Supervisor(sandbox, settings.sandbox, settings.cache_dir)
    try:
        run = await supervisor.start("cli", module, config, on_message=on_message, network=network)
        ended = asyncio.ensure_future(run.wait())
        watchers = [ended, asyncio.ensure_future(enough.wait())]
        watchers.append(asyncio.ensure_future(stop.wait()))
        _, pending = await asyncio.wait(watchers, timeout=timeout, return_when="FIRST_COMPLETED")
        for task in pending:
            if task is not ended:
                task.cancel()
        if stop.is_set():
            await run.terminate()
            return EXIT_INTERRUPTED
        if not ended.done():  # enough outputs, or the timeout: a success
            await run.terminate()
            return 0
        return 0 if ended.result().reason is ExitReason.EXITED else EXIT_FAILED
    finally:
        await supervisor.close()
        loop.remove_signal_handler(signal.SIGTERM)
