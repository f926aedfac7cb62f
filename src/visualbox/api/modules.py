"""HTTP routes for modules (see docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
