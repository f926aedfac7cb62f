"""VisualBox: self-hostable live dashboards built from reusable, sandboxed modules."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
