"""Every table, one module per noun. Importing this package registers them all
on ``Base.metadata`` (migrations and tests rely on that)."""

from __future__ import annotations

from visualbox.db.tables import accounts as accounts
from visualbox.db.tables import alerts as alerts
from visualbox.db.tables import dashboard_versions as dashboard_versions
from visualbox.db.tables import dashboards as dashboards
from visualbox.db.tables import history as history
from visualbox.db.tables import leases as leases
from visualbox.db.tables import live as live
from visualbox.db.tables import modules as modules
from visualbox.db.tables import quotas as quotas
from visualbox.db.tables import snapshots as snapshots
from visualbox.db.tables import teams as teams
from visualbox.db.tables import working_copies as working_copies

__all__ = [
    "accounts",
    "alerts",
    "dashboard_versions",
    "dashboards",
    "history",
    "leases",
    "live",
    "modules",
    "quotas",
    "snapshots",
    "teams",
    "working_copies",
]
