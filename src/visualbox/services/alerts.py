"""Alert rules on a dashboard's data: managing them, and recording what they do
(docs/alerts.md).

**Rules** belong to a dashboard and are managed by its owner (:func:`create_rule` ...).
A rule watches one source (``/<instance>/<JSON Pointer>``, as a widget's source) for a
condition (``above``, ``below``, ``equals`` a threshold, ``changed``, or ``no_data`` for
``no_data_s`` seconds) that must hold for ``for_s`` seconds before it fires; it tells its
email addresses and its webhook when it fires and when it resolves. The webhook's signing
secret is encrypted with the app's :class:`~visualbox.services.secrets.SecretBox` and
never returned.

**Evaluating** happens where the instance runs (``services/alert_evaluator.py``); every
change of a rule's state comes here, to :func:`change_state`: a compare-and-set on the
state's ``version``, and, only when it wins, the event and the notifications it owes
(``services/alert_delivery.py``'s outbox), all in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc, utcnow
from visualbox.db.tables.accounts import User
from visualbox.db.tables.alerts import AlertEvent, AlertRule, AlertState
from visualbox.db.tables.dashboards import Dashboard
from visualbox.errors import FieldError, InvalidInput, NotFound
from visualbox.schemas.alerts import (
    AlertEventPublic,
    AlertRuleCreate,
    AlertRulePublic,
    AlertRuleUpdate,
)
from visualbox.services import alert_delivery, dashboards
from visualbox.services.history import split_source
from visualbox.services.quotas import QuotaExceeded
from visualbox.services.secrets import SecretBox
from visualbox.settings import AlertSettings

HISTORY_LIMIT = 200
"""Events a rule's history answers (newest first)."""
_NUMERIC = ("above", "below")


# --- rules -----------------------------------------------------------------------------


def list_rules(db: Session, user: User, dashboard_id: str) -> list[AlertRulePublic]:
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    query = (
        select(AlertRule, AlertState)
        .join(AlertState, AlertState.rule_id == AlertRule.id)
        .where(AlertRule.dashboard_id == dashboard.id)
        .order_by(AlertRule.created_at, AlertRule.id)
    )
    return [public(rule, state) for rule, state in db.execute(query).all()]


def get_rule(db: Session, user: User, dashboard_id: str, rule_id: str) -> AlertRulePublic:
    rule, state = _rule(db, user, dashboard_id, rule_id)
    return public(rule, state)


def _rule(db: Session, user: User, dashboard_id: str, rule_id: str) -> tuple[AlertRule, AlertState]:
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    rule = db.get(AlertRule, rule_id) if "\x00" not in rule_id else None
    if rule is None or rule.dashboard_id != dashboard.id:
        raise NotFound("No such alert rule on this dashboard.")
    state = db.get(AlertState, rule.id)
    assert state is not None
    return rule, state


def create_rule(
    db: Session,
    box: SecretBox,
    settings: AlertSettings,
    user: User,
    dashboard_id: str,
    body: AlertRuleCreate,
) -> AlertRulePublic:
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    used = db.scalar(select(func.count()).where(AlertRule.dashboard_id == dashboard.id)) or 0
    limit = settings.rules_per_dashboard
    if used >= limit:
        raise QuotaExceeded(
            f"This dashboard has {used} of {limit} alert rules allowed. To add one, delete "
            "one or ask an administrator for a higher limit (ALERTS__RULES_PER_DASHBOARD).",
            [FieldError("quotas.alert_rules", f"{used} of {limit} used")],
        )
    values = body.model_dump()
    _check(dashboard, values, has_secret=False)
    instance_id, pointer = _source(values["source"])
    rule = AlertRule(
        dashboard_id=dashboard.id,
        name=values["name"],
        instance_id=instance_id,
        pointer=pointer,
        condition=values["condition"],
        threshold=_threshold_text(values),
        for_s=values["for_s"],
        no_data_s=values["no_data_s"],
        emails=[str(e) for e in values["emails"]],
        webhook_url=values["webhook_url"] or None,
        webhook_secret=box.encrypt(values["webhook_secret"].encode())
        if values["webhook_url"]
        else None,
        enabled=values["enabled"],
    )
    db.add(rule)
    db.flush()
    state = AlertState(rule_id=rule.id, state="ok", since=utcnow(), version=0)
    db.add(state)
    db.commit()
    return public(rule, state)


def update_rule(
    db: Session, box: SecretBox, user: User, dashboard_id: str, rule_id: str, body: AlertRuleUpdate
) -> AlertRulePublic:
    rule, state = _rule(db, user, dashboard_id, rule_id)
    given = body.model_dump(exclude_unset=True)
    current = public(rule, state).model_dump()
    values = {**current, **{k: v for k, v in given.items() if v is not None or k == "threshold"}}
    if given.get("webhook_url") == "":
        values["webhook_url"] = None
    secret = given.get("webhook_secret")
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    _check(dashboard, values, has_secret=rule.webhook_secret is not None)
    watched = (rule.instance_id, rule.pointer, rule.condition, rule.threshold, rule.enabled)
    rule.name = values["name"]
    rule.instance_id, rule.pointer = _source(values["source"])
    rule.condition = values["condition"]
    rule.threshold = _threshold_text(values)
    rule.for_s = values["for_s"]
    rule.no_data_s = values["no_data_s"]
    rule.emails = [str(e) for e in values["emails"]]
    rule.webhook_url = values["webhook_url"] or None
    if rule.webhook_url is None:
        rule.webhook_secret = None
    elif secret:
        rule.webhook_secret = box.encrypt(secret.encode())
    rule.enabled = values["enabled"]
    rule.updated_at = utcnow()
    if watched != (rule.instance_id, rule.pointer, rule.condition, rule.threshold, rule.enabled):
        # It watches something else now: it starts again from ok, quietly.
        state.state, state.since, state.value = "ok", utcnow(), None
        state.version += 1
    db.commit()
    return public(rule, state)


def delete_rule(db: Session, user: User, dashboard_id: str, rule_id: str) -> None:
    rule, _state = _rule(db, user, dashboard_id, rule_id)
    db.delete(rule)
    db.commit()


def _source(source: str) -> tuple[str, str]:
    parts = split_source(source)
    assert parts is not None
    return parts


def _threshold_text(values: dict[str, Any]) -> str | None:
    if values["condition"] in ("changed", "no_data"):
        return None
    return json.dumps(values["threshold"], separators=(",", ":"))


def _check(dashboard: Dashboard, values: dict[str, Any], *, has_secret: bool) -> None:
    """Every problem of a rule at once, in words."""
    errors: list[FieldError] = []
    source = values["source"]
    parts = split_source(source) if "\x00" not in source else None
    instances = {item["id"] for item in dashboard.document.get("integrations", [])}
    if parts is None:
        errors.append(FieldError("source", "must start with / and name an instance: /i1/battery"))
    elif parts[0] not in instances:
        known = ", ".join(sorted(instances)) or "none yet"
        errors.append(
            FieldError(
                "source", f"names no integration instance of this dashboard (it has: {known})"
            )
        )
    condition = values["condition"]
    threshold = values["threshold"]
    if condition in _NUMERIC and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float)
    ):
        errors.append(FieldError("threshold", f"must be a number for the condition {condition}"))
    if condition == "no_data" and not values["no_data_s"]:
        errors.append(
            FieldError("no_data_s", "is required for no_data: how long without a value, seconds")
        )
    url = values["webhook_url"]
    if url:
        reason = alert_delivery.check_url(url)
        if reason is not None:
            errors.append(FieldError("webhook_url", reason))
        if not values.get("webhook_secret") and not has_secret:
            errors.append(
                FieldError(
                    "webhook_secret",
                    "is required with a webhook: at least 16 characters, to sign its requests",
                )
            )
    if errors:
        raise InvalidInput("The alert rule is not valid.", errors)


def public(rule: AlertRule, state: AlertState) -> AlertRulePublic:
    source = "/" + rule.instance_id.replace("~", "~0").replace("/", "~1") + rule.pointer
    return AlertRulePublic(
        id=rule.id,
        dashboard_id=rule.dashboard_id,
        name=rule.name,
        source=source,
        condition=rule.condition,
        threshold=json.loads(rule.threshold) if rule.threshold is not None else None,
        for_s=rule.for_s,
        no_data_s=rule.no_data_s,
        emails=list(rule.emails),
        webhook_url=rule.webhook_url,
        webhook_secret_set=rule.webhook_secret is not None,
        enabled=rule.enabled,
        silenced_until=silenced_until(rule),
        state=state.state,
        state_since=state.since,
        value=json.loads(state.value) if state.value is not None else None,
    )


def silenced_until(rule: AlertRule, now: datetime | None = None) -> datetime | None:
    """When the rule's silence ends, if it is silenced now."""
    if rule.silenced_until is None:
        return None
    until = as_utc(rule.silenced_until)
    return until if until > (now or utcnow()) else None


# --- history, silence, test --------------------------------------------------------------


def rule_history(
    db: Session, user: User, dashboard_id: str, rule_id: str
) -> list[AlertEventPublic]:
    rule, _state = _rule(db, user, dashboard_id, rule_id)
    query = (
        select(AlertEvent)
        .where(AlertEvent.rule_id == rule.id)
        .order_by(AlertEvent.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return [
        AlertEventPublic(
            kind=e.kind,
            at=e.at,
            value=json.loads(e.value) if e.value is not None else None,
            notified=e.notified,
        )
        for e in db.scalars(query)
    ]


def silence(
    db: Session, user: User, dashboard_id: str, rule_id: str, minutes: float | None
) -> AlertRulePublic:
    """Silence the rule's notifications for ``minutes`` (``None``: end the silence)."""
    rule, state = _rule(db, user, dashboard_id, rule_id)
    now = utcnow()
    was = silenced_until(rule, now)
    rule.silenced_until = now + timedelta(minutes=minutes) if minutes is not None else None
    if minutes is not None or was is not None:
        kind = "silenced" if minutes is not None else "unsilenced"
        db.add(AlertEvent(rule_id=rule.id, kind=kind, at=now, value=None, notified=False))
    db.commit()
    return public(rule, state)


def send_test(db: Session, user: User, dashboard_id: str, rule_id: str, public_url: str) -> int:
    """Queue a test notification on each of the rule's channels; how many."""
    rule, state = _rule(db, user, dashboard_id, rule_id)
    if not rule.emails and not rule.webhook_url:
        raise InvalidInput(
            "This rule tells nobody: add an email address or a webhook first.",
            [FieldError("emails", "add an address or a webhook to test")],
        )
    value = json.loads(state.value) if state.value is not None else None
    dashboard = dashboards.get_dashboard(db, user, dashboard_id)
    message = payload(rule, dashboard, "test", value, utcnow(), public_url)
    count = alert_delivery.enqueue(db, rule, message)
    db.commit()
    return count


def payload(
    rule: AlertRule, dashboard: Dashboard, event: str, value: Any, at: datetime, public_url: str
) -> dict[str, Any]:
    """What a notification says (the webhook's JSON body; the mail's text is made of it)."""
    return {
        "event": event,
        "rule": {"id": rule.id, "name": rule.name},
        "dashboard": {
            "id": dashboard.id,
            "name": dashboard.name,
            "url": f"{public_url}/d/{dashboard.id}",
        },
        "source": public(rule, AlertState(state="ok", since=at, version=0)).source,
        "condition": rule.condition,
        "threshold": json.loads(rule.threshold) if rule.threshold is not None else None,
        "value": value,
        "at": as_utc(at).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


# --- evaluation: what the evaluator reads and writes -----------------------------------


@dataclass
class Watched:
    """A rule as the evaluator holds it (plain values, no session)."""

    id: str
    dashboard_id: str
    name: str
    instance_id: str
    pointer: str
    condition: str
    threshold: Any
    for_s: float
    no_data_s: float | None
    state: str
    since: float
    """Unix seconds."""
    version: int
    value: Any


def watched_rules(db: Session, dashboard_ids: list[str]) -> list[Watched]:
    """The enabled rules of these dashboards with their stored state."""
    if not dashboard_ids:
        return []
    query = (
        select(AlertRule, AlertState)
        .join(AlertState, AlertState.rule_id == AlertRule.id)
        .where(AlertRule.dashboard_id.in_(dashboard_ids), AlertRule.enabled.is_(True))
    )
    return [
        Watched(
            id=rule.id,
            dashboard_id=rule.dashboard_id,
            name=rule.name,
            instance_id=rule.instance_id,
            pointer=rule.pointer,
            condition=rule.condition,
            threshold=json.loads(rule.threshold) if rule.threshold is not None else None,
            for_s=rule.for_s,
            no_data_s=rule.no_data_s,
            state=state.state,
            since=as_utc(state.since).timestamp(),
            version=state.version,
            value=json.loads(state.value) if state.value is not None else None,
        )
        for rule, state in db.execute(query).all()
    ]


def change_state(
    db: Session,
    settings: AlertSettings,
    public_url: str,
    rule_id: str,
    version: int,
    new_state: str,
    value: Any,
    at: datetime,
) -> bool:
    """Move the rule to ``new_state`` if its state is still at ``version``; then record the
    event and queue its notifications, in the same transaction. False: another evaluator
    (or an edit of the rule) changed it first, and nothing was written."""
    old = db.scalar(select(AlertState.state).where(AlertState.rule_id == rule_id))
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    result = db.execute(
        update(AlertState)
        .where(AlertState.rule_id == rule_id, AlertState.version == version)
        .values(state=new_state, since=at, value=text, version=version + 1)
    )
    won = cast(CursorResult[Any], result).rowcount
    if won != 1:
        db.rollback()
        return False
    kind = "fired" if new_state == "firing" else "resolved" if old == "firing" else None
    if kind is not None:
        rule = db.get(AlertRule, rule_id)
        assert rule is not None
        notify = silenced_until(rule, at) is None and _under_hourly_limit(db, settings, rule, at)
        db.add(AlertEvent(rule_id=rule_id, kind=kind, at=at, value=text, notified=notify))
        if notify:
            dashboard = db.get(Dashboard, rule.dashboard_id)
            assert dashboard is not None
            alert_delivery.enqueue(db, rule, payload(rule, dashboard, kind, value, at, public_url))
    db.commit()
    return True


def _under_hourly_limit(
    db: Session, settings: AlertSettings, rule: AlertRule, at: datetime
) -> bool:
    """Fewer than ``notifications_per_hour`` of the rule's events notified in the last hour."""
    recent = db.scalar(
        select(func.count()).where(
            AlertEvent.rule_id == rule.id,
            AlertEvent.notified.is_(True),
            AlertEvent.at > at - timedelta(hours=1),
        )
    )
    return (recent or 0) < settings.notifications_per_hour
