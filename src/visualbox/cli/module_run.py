from __future__ import annotations

import click


@click.command()
def run() -> None:
    """Run an integration in the sandbox (placeholder)."""
    raise click.ClickException("not implemented yet")
