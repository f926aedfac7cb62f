"""``visualbox module``: scaffold, check and run modules.

The commands live in ``module_format.py`` (``init``, ``check``) and
``module_run.py`` (``run``), ``module_test.py`` (``test``), ``module_remote.py``
(``pull``, ``push``, ``publish``) and ``module_dev.py`` (``dev``); this file only
groups them.
"""

from __future__ import annotations

import click

from visualbox.cli.module_dev import dev
from visualbox.cli.module_format import check, init
from visualbox.cli.module_remote import publish, pull, push
from visualbox.cli.module_run import run
from visualbox.cli.module_test import test


@click.group()
def module() -> None:
    """Write, check and run modules (integrations and widgets)."""


module.add_command(init)
module.add_command(check)
module.add_command(run)
module.add_command(test)
module.add_command(pull)
module.add_command(push)
module.add_command(publish)
module.add_command(dev)
