"""``visualbox module``: scaffold, check and run modules.

The commands live in ``module_format.py`` (``init``, ``check``) and
``module_run.py`` (``run``); this file only groups them.
"""

from __future__ import annotations

import click

from visualbox.cli.module_format import check, init
from visualbox.cli.module_run import run


@click.group()
def module() -> None:
    """Write, check and run modules (integrations and widgets)."""


module.add_command(init)
module.add_command(check)
module.add_command(run)
