from __future__ import annotations

import click


@click.command()
def init() -> None:
    """Scaffold a new module (placeholder)."""
    raise click.ClickException("not implemented yet")


@click.command()
def check() -> None:
    """Validate a module folder (placeholder)."""
    raise click.ClickException("not implemented yet")
