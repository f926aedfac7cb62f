"""The module format: what a VisualBox module is, and the one validator of it.

Shared by the CLI (``visualbox module init/check/run``), the runtime and the
server. ``README.md`` in this folder states the package's rule; the format is
documented in ``docs/modules.md``.

* :mod:`~visualbox.modules.config_schema`: ``config.json`` schemas and config values;
* :mod:`~visualbox.modules.tree`: a module's files in memory, limits, safe paths;
* :mod:`~visualbox.modules.archive`: hostile ZIP uploads in, deterministic ZIPs out;
* :mod:`~visualbox.modules.manifest`: ``visualbox.json`` and kind/runtime inference;
* :mod:`~visualbox.modules.check`: the whole-module check (every problem at once);
* :mod:`~visualbox.modules.scaffold`: new modules from ``templates/``.
"""

from __future__ import annotations
