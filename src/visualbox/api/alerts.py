"""HTTP routes for alert rules on a dashboard (docs/api/alerts.md).

Mounted with ``prefix="/api"``. Only the dashboard's owner sees or changes its rules
(anyone else gets 404). After every change the live service reloads the dashboard's
rules where it runs.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from visualbox.api.deps import CurrentUser, LiveDep, SecretBoxDep, SessionDep, SettingsDep
from visualbox.schemas.alerts import (
    AlertEventPublic,
    AlertRuleCreate,
    AlertRulePublic,
    AlertRuleUpdate,
    AlertSilence,
    AlertTestResult,
)
from visualbox.services import alerts

router = APIRouter(tags=["alerts"])

_RULES = "/dashboards/{dashboard_id}/alerts"
_RULE = _RULES + "/{rule_id}"


@router.get(_RULES)
def list_alert_rules(dashboard_id: str, db: SessionDep, user: CurrentUser) -> list[AlertRulePublic]:
    """The dashboard's alert rules with their state, oldest first."""
    return alerts.list_rules(db, user, dashboard_id)


@router.post(_RULES, status_code=201)
def create_alert_rule(
    dashboard_id: str,
    body: AlertRuleCreate,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    settings: SettingsDep,
    live: LiveDep,
) -> AlertRulePublic:
    """Add a rule (at most ``ALERTS__RULES_PER_DASHBOARD``)."""
    rule = alerts.create_rule(db, box, settings.alerts, user, dashboard_id, body)
    live.alerts.rules_changed(rule.dashboard_id)
    return rule


@router.get(_RULE)
def get_alert_rule(
    dashboard_id: str, rule_id: str, db: SessionDep, user: CurrentUser
) -> AlertRulePublic:
    return alerts.get_rule(db, user, dashboard_id, rule_id)


@router.patch(_RULE)
def update_alert_rule(
    dashboard_id: str,
    rule_id: str,
    body: AlertRuleUpdate,
    db: SessionDep,
    user: CurrentUser,
    box: SecretBoxDep,
    live: LiveDep,
) -> AlertRulePublic:
    """Change the fields given. A rule that watches something else starts again from ok."""
    rule = alerts.update_rule(db, box, user, dashboard_id, rule_id, body)
    live.alerts.rules_changed(rule.dashboard_id)
    return rule


@router.delete(_RULE, status_code=204)
def delete_alert_rule(
    dashboard_id: str, rule_id: str, db: SessionDep, user: CurrentUser, live: LiveDep
) -> Response:
    """Delete a rule, its history and its notifications not sent yet."""
    alerts.delete_rule(db, user, dashboard_id, rule_id)
    live.alerts.rules_changed(dashboard_id)
    return Response(status_code=204)


@router.get(_RULE + "/history")
def alert_rule_history(
    dashboard_id: str, rule_id: str, db: SessionDep, user: CurrentUser
) -> list[AlertEventPublic]:
    """What the rule did (fired, resolved, silenced, unsilenced), newest first (at most 200)."""
    return alerts.rule_history(db, user, dashboard_id, rule_id)


@router.post(_RULE + "/silence")
def silence_alert_rule(
    dashboard_id: str, rule_id: str, body: AlertSilence, db: SessionDep, user: CurrentUser
) -> AlertRulePublic:
    """No notifications for ``minutes`` (the rule still changes state and records it)."""
    return alerts.silence(db, user, dashboard_id, rule_id, body.minutes)


@router.delete(_RULE + "/silence")
def unsilence_alert_rule(
    dashboard_id: str, rule_id: str, db: SessionDep, user: CurrentUser
) -> AlertRulePublic:
    """End the rule's silence now."""
    return alerts.silence(db, user, dashboard_id, rule_id, None)


@router.post(_RULE + "/test")
def test_alert_rule(
    dashboard_id: str,
    rule_id: str,
    db: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    live: LiveDep,
) -> AlertTestResult:
    """Send a test notification to each of the rule's addresses and its webhook (through
    the outbox, as a real one)."""
    queued = alerts.send_test(db, user, dashboard_id, rule_id, settings.public_url)
    live.alerts.wake_delivery()
    return AlertTestResult(queued=queued)
