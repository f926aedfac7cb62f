"""``visualbox serve``: run the server on embedded defaults or configured settings."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from visualbox.errors import VisualBoxError

if TYPE_CHECKING:
    from visualbox.settings import Settings


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
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def serve(host: str | None, port: int | None, data_dir: Path | None, log_level: str) -> None:
    """Run the VisualBox server and print the URL to open.

    It listens on two ports: SERVER__PORT for the app and FRAMES__PORT for the frames
    origin, where widgets and module files are served (docs/web.md)."""
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
    click.echo(f"Open {settings.public_url}/ in your browser (Ctrl-C stops the server).")
    config = uvicorn.Config(
        app,
        log_level=log_level,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        **uvicorn_options(settings),
    )
    uvicorn.Server(config).run(sockets=sockets)


def _listen(host: str, port: int, setting: str) -> socket.socket:
    """A listening socket on ``host:port``; a clear error naming the setting if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise click.ClickException(
            f"Cannot listen on {host}:{port} ({setting}): {exc.strerror or exc}"
        ) from None


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the live WebSocket: the sans-I/O `websockets` implementation,
    client frames capped like client messages, and no per-message compression (it would
    compress every message once per viewer instead of encoding it once per room, and
    costs memory per connection)."""
    return {
        "ws": "websockets-sansio",
        "ws_max_size": settings.live.client_message_bytes,
        "ws_per_message_deflate": False,
    }


def _variable(loc: tuple[int | str, ...]) -> str:
    """``("security", "old_secrets_keys", 0)`` → ``VISUALBOX_SECURITY__OLD_SECRETS_KEYS[0]``."""
    names = [str(p).upper() for p in loc if isinstance(p, str)]
    indexes = "".join(f"[{p}]" for p in loc if isinstance(p, int))
    return "VISUALBOX_" + "__".join(names) + indexes
