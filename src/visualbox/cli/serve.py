"""``visualbox serve``: run the server on embedded defaults or configured settings."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from visualbox.errors import VisualBoxError

if TYPE_CHECKING:
    from visualbox.settings import Settings

SWITCH_INTERVAL_S = 0.001
"""How long a thread may hold the GIL while another waits (Python's default: 5 ms)."""


@click.command()
@click.option("--host", help="Interface to listen on (default 127.0.0.1; setting SERVER__HOST).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port (default 8000; setting SERVER__PORT)."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the database, keys and caches live (default ./.visualbox; setting DATA_DIR).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Server processes sharing the ports (default 1; setting SERVER__WORKERS). More than "
    "one needs a shared hub (HUB__URL).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def serve(
    host: str | None, port: int | None, data_dir: Path | None, workers: int | None, log_level: str
) -> None:
    """Run the VisualBox server and print the URL to open.

    It listens on two ports: SERVER__PORT for the app and FRAMES__PORT for the frames
    origin, where widgets and module files are served (docs/web.md). With several
    workers, each is a server process on the same ports (docs/deployment.md)."""
    import uvicorn
    from pydantic import ValidationError

    from visualbox.app import create_app
    from visualbox.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        # Name the variable and the rule, never the value: it may be a key or a password.
        problems = "\n".join(
            f"  {_variable(e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        )
        raise click.ClickException(f"Invalid setting(s):\n{problems}") from None
    if host is not None:
        settings.server.host = host
    if port is not None:
        settings.server.port = port
    if data_dir is not None:
        settings.data_dir = data_dir.resolve()
    if workers is not None:
        settings.server.workers = workers
    if settings.server.workers > 1 and not settings.hub.url:
        raise click.ClickException(
            f"{settings.server.workers} workers need a shared hub for their live rooms: set "
            "VISUALBOX_HUB__URL to a Redis URL (redis://127.0.0.1:6379/0), or run one worker "
            "(docs/deployment.md)."
        )

    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    try:
        app = create_app(settings)
    except VisualBoxError as exc:
        raise click.ClickException(str(exc)) from exc

    sockets = [
        _listen(settings.server.host, settings.server.port, "SERVER__PORT"),
        _listen(settings.server.host, settings.frames_port, "FRAMES__PORT"),
    ]
    click.echo(f"VisualBox is starting; data in {settings.data_dir}")
    click.echo(f"Widgets and module files are served from {settings.frames_origin}/")
    if settings.server.workers > 1:
        click.echo(f"{settings.server.workers} workers share the ports.")
    click.echo(f"Open {settings.public_url}/ in your browser (Ctrl-C stops the server).")

    def run(app: Any) -> None:
        # What start-up made (modules, the app, caches) lives as long as the process:
        # out of the collector's way, a full collection no longer walks hundreds of
        # thousands of objects while outputs are relayed (bench/history.py: it halves
        # what recording a value costs).
        gc.freeze()
        # The relay's event loop shares the GIL with worker threads (the recorder, the
        # database): a thread that holds it keeps the loop waiting up to this long.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        config = uvicorn.Config(
            app,
            log_level=log_level,
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
            **uvicorn_options(settings),
        )
        uvicorn.Server(config).run(sockets=sockets)

    if settings.server.workers == 1:
        run(app)
        return
    # The app above migrated the database and published the built-in modules once;
    # each worker builds its own (its own connections, live service and node).
    app.state.db.dispose()
    del app
    _prefork(settings.server.workers, lambda: run(create_app(settings)))


def _listen(host: str, port: int, setting: str) -> socket.socket:
    """A listening socket on ``host:port``; a clear error naming the setting if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise click.ClickException(
            f"Cannot listen on {host}:{port} ({setting}): {exc.strerror or exc}"
        ) from None


def _prefork(count: int, work: Any) -> None:
    """Run ``work`` in ``count`` forked processes until SIGINT or SIGTERM; a worker that
    dies is replaced (at most once a second)."""
    log = logging.getLogger("visualbox.workers")
    children: dict[int, int] = {}  # pid -> worker number
    stopping = False

    def start(number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 0
            try:
                work()
            except BaseException:
                log.exception("worker %d failed", number)
                code = 1
            finally:
                os._exit(code)
        children[pid] = number

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for number in range(count):
        start(number)
    last_restart = 0.0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        number = children.pop(pid)
        if stopping:
            continue
        log.error("worker %d (pid %d) ended (%s); starting another", number, pid, status)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - last_restart)))
        last_restart = time.monotonic()
        start(number)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the live WebSocket: the sans-I/O `websockets` implementation
    that also writes frames built once for many viewers (``api/live_transport.py``),
    client frames capped like client messages, and no per-message compression (it would
    compress every message once per viewer instead of encoding it once per room, and
    costs memory per connection)."""
    from visualbox.api.live_transport import LiveProtocol

    return {
        "ws": LiveProtocol,
        "ws_max_size": settings.live.client_message_bytes,
        "ws_per_message_deflate": False,
    }


def _variable(loc: tuple[int | str, ...]) -> str:
    """``("security", "old_secrets_keys", 0)`` → ``VISUALBOX_SECURITY__OLD_SECRETS_KEYS[0]``."""
    names = [str(p).upper() for p in loc if isinstance(p, str)]
    indexes = "".join(f"[{p}]" for p in loc if isinstance(p, int))
    return "VISUALBOX_" + "__".join(names) + indexes
