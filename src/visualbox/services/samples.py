"""Sample dashboards: ready-made dashboards of built-in modules, in the export format.

``samples/<name>.json`` holds a dashboard as ``GET /api/dashboards/{id}/export``
writes it (docs/dashboards.md), so a sample is made, changed and checked like any
export. :func:`welcome` gives the first account of a server the live sample
(``ACCOUNTS__SAMPLE_DASHBOARD``), so a newcomer's first page shows live data.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.errors import FieldError, NotFound, VisualBoxError
from visualbox.schemas.dashboards import DashboardExport
from visualbox.services import dashboards
from visualbox.services.secrets import SecretBox
from visualbox.settings import Settings

log = logging.getLogger("visualbox.samples")

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
FIRST_RUN = "live-device"
"""The sample the first account gets."""


def sample_names() -> list[str]:
    return sorted(p.stem for p in SAMPLES_DIR.glob("*.json"))


def load_sample(name: str) -> DashboardExport:
    """The sample ``name`` (``samples/<name>.json``), validated as an export."""
    if name not in sample_names():
        raise NotFound("No such sample dashboard.", [FieldError("name", "no such sample")])
    return DashboardExport.model_validate(json.loads((SAMPLES_DIR / f"{name}.json").read_text()))


def create_sample(db: Session, box: SecretBox, user: User, name: str) -> Dashboard:
    """A new dashboard of ``user`` made from sample ``name``."""
    return dashboards.import_dashboard(db, box, user, load_sample(name))


def welcome(db: Session, box: SecretBox, settings: Settings, user: User) -> Dashboard | None:
    """Give the server's first account (its administrator) the live sample dashboard.

    Does nothing for later accounts or when ``ACCOUNTS__SAMPLE_DASHBOARD`` is off.
    A sample that cannot be made is logged, never a failed sign-up.
    """
    if not (user.is_admin and settings.accounts.sample_dashboard):
        return None
    try:
        return create_sample(db, box, user, FIRST_RUN)
    except VisualBoxError as error:
        db.rollback()
        log.warning("the sample dashboard could not be made: %s", error)
        return None
