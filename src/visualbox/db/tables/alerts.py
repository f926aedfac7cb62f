"""Alerts: rules on a dashboard's data, their state, history and pending notifications
(docs/alerts.md). Written by ``services/alerts.py``, ``services/alert_evaluator.py`` and
``services/alert_delivery.py``.

* ``alert_rules``: what to watch (an instance and a JSON Pointer into its output), the
  condition, how long it must hold, and whom to tell. ``webhook_secret`` is encrypted with
  the app's :class:`~visualbox.services.secrets.SecretBox` and never sent to anyone;
* ``alert_states``: one row per rule, ``ok``, ``pending`` (the condition holds, not yet for
  the rule's ``for_s``) or ``firing``. ``version`` grows with every change: a change is a
  compare-and-set on it, so one crossing fires once even with two evaluators;
* ``alert_events``: the rule's history (fired, resolved, silenced, unsilenced);
* ``alert_outbox``: notifications not delivered yet, written in the same transaction as
  the change of state, delivered (with retries) by a background task, so none is lost
  across a restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from visualbox.db.base import Base, created_column, id_column, updated_column


class AlertRule(Base):
    __tablename__ = "alert_rules"

    id: Mapped[str] = id_column()
    dashboard_id: Mapped[str] = mapped_column(
        ForeignKey("dashboards.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    instance_id: Mapped[str] = mapped_column(String(32))
    pointer: Mapped[str] = mapped_column(String(1000))
    condition: Mapped[str] = mapped_column(String(16))
    """``above``, ``below``, ``equals``, ``changed`` or ``no_data``."""
    threshold: Mapped[str | None] = mapped_column(Text)
    """JSON text of the value compared with (``above``, ``below``, ``equals``)."""
    for_s: Mapped[float] = mapped_column(Float, default=0.0)
    no_data_s: Mapped[float | None] = mapped_column(Float)
    emails: Mapped[list[Any]] = mapped_column(JSON, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    silenced_until: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class AlertState(Base):
    __tablename__ = "alert_states"

    rule_id: Mapped[str] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16), default="ok")
    since: Mapped[datetime]
    value: Mapped[str | None] = mapped_column(Text)
    """JSON text of the value at the last change of state."""
    version: Mapped[int] = mapped_column(Integer, default=0)


class AlertEvent(Base):
    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    """``fired``, ``resolved``, ``silenced`` or ``unsilenced``."""
    at: Mapped[datetime]
    value: Mapped[str | None] = mapped_column(Text)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    """Notifications were queued for it (not silenced, under the hourly limit)."""


class AlertOutbox(Base):
    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    """``email`` or ``webhook``."""
    target: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(String(500))
