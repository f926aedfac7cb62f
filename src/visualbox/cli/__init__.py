"""The ``visualbox`` command line: one file per noun (``serve``, ``login``, ``module``, …)."""

from __future__ import annotations

import click

from visualbox import __version__


@click.group()
@click.version_option(__version__, prog_name="visualbox")
def main() -> None:
    """VisualBox: live dashboards from reusable, sandboxed modules."""


def _register() -> None:
    from visualbox.cli.login import login, logout
    from visualbox.cli.module import module
    from visualbox.cli.openapi import openapi
    from visualbox.cli.serve import serve

    main.add_command(login)
    main.add_command(logout)
    main.add_command(module)
    main.add_command(openapi)
    main.add_command(serve)


_register()
