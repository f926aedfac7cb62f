from __future__ import annotations

import click


@click.command()
def serve() -> None:
    """Run the VisualBox server (placeholder)."""
    raise click.ClickException("not implemented yet")
