"""Alert notifications: the outbox, and delivering it by email and signed webhook.

A change of an alert's state and the notifications it owes are written in one transaction
(:func:`enqueue`, called by ``services/alerts.py``); :class:`Delivery` drains the
``alert_outbox`` table in the background, so a notification survives a restart and is
sent by whichever node gets to it first: a row is *claimed* by moving its
``next_attempt_at`` forward with a compare-and-set, then sent, then deleted. A failed
send is tried again after ``alerts.retry_s``, doubling up to an hour, at most
``alerts.delivery_attempts`` times (then it is logged and dropped).

**Email** goes through :class:`~visualbox.services.mail.Mailer`. **Webhooks** are a JSON
``POST`` signed with the rule's secret: ``X-VisualBox-Timestamp: <unix seconds>`` and
``X-VisualBox-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``.

**Server-side request forgery.** A webhook URL is the user's, the request is the
server's: the host is resolved at send time and every address it has is checked; loopback,
private, link-local (cloud metadata), multicast and reserved addresses are refused
(private and loopback are allowed with ``alerts.webhook_allow_private``; link-local and
metadata never). The request then goes to the checked address itself (the name is kept
for ``Host`` and TLS), without proxies or redirects, so a second lookup cannot point it
elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import httpx2
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc, utcnow
from visualbox.db.engine import Database
from visualbox.db.tables.alerts import AlertOutbox, AlertRule
from visualbox.errors import Unavailable
from visualbox.services.mail import Mailer
from visualbox.services.secrets import SecretBox
from visualbox.settings import AlertSettings

log = logging.getLogger(__name__)

CLAIM_S = 120.0
"""A claimed row is not taken by another sender for this long (a send's deadline is less)."""
MAX_RETRY_S = 3600.0
BATCH = 50

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class WebhookRefused(Exception):
    """The webhook's address may not be reached from this server."""


def address_refused(address: str, allow_private: bool) -> str | None:
    """Why the server must not send to ``address`` (an IP), or ``None``."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA or ip.is_link_local:
        return "a link-local or cloud metadata address"
    if ip.is_multicast or ip.is_unspecified:
        return "not an address a webhook can have"
    if ip.is_loopback or ip.is_private:
        return None if allow_private else "a loopback or private network address"
    if ip.is_reserved or not ip.is_global:
        return "not an address a webhook can have"
    return None


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook URL (in words), or ``None``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "must not carry a user name or password"
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    return None


def resolve(url: str, allow_private: bool) -> tuple[str, str, int]:
    """``(host, checked address, port)`` of a webhook URL; :class:`WebhookRefused` when a
    name resolves to any refused address (or to none)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise WebhookRefused(f"the host {host} cannot be resolved") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise WebhookRefused(f"the host {host} has no address")
    for address in addresses:
        reason = address_refused(address, allow_private)
        if reason is not None:
            raise WebhookRefused(f"{host} resolves to {address}, {reason}")
    return host, addresses[0], port


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-VisualBox-Signature`` header's value."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def enqueue(db: Session, rule: AlertRule, payload: dict[str, Any]) -> int:
    """Add the notifications of ``payload`` for each of the rule's channels (not committed);
    how many."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    now = utcnow()
    targets = [("email", address) for address in rule.emails]
    if rule.webhook_url:
        targets.append(("webhook", rule.webhook_url))
    for channel, target in targets:
        db.add(
            AlertOutbox(
                rule_id=rule.id,
                channel=channel,
                target=target,
                payload=text,
                attempts=0,
                next_attempt_at=now,
            )
        )
    return len(targets)


def email_text(payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of a notification mail."""
    kind = payload["event"]
    word = {"fired": "Firing", "resolved": "Resolved", "test": "Test"}.get(kind, kind)
    rule, dashboard = payload["rule"], payload["dashboard"]
    subject = f"[VisualBox] {word}: {rule['name']} ({dashboard['name']})"
    value = json.dumps(payload.get("value"), ensure_ascii=False)
    lines = [
        f"Alert {rule['name']!r} on the dashboard {dashboard['name']!r}: {word.lower()}.",
        "",
        f"Source: {payload['source']}",
        f"Condition: {payload['condition']}",
        f"Value: {value}",
        f"At: {payload['at']}",
        "",
        f"Open the dashboard: {dashboard['url']}",
    ]
    if kind == "test":
        lines[0] = f"This is a test notification of the alert {rule['name']!r}."
    return subject, "\n".join(lines) + "\n"


class Delivery:
    """Drains the outbox: every ``alerts.interval_s`` and whenever :meth:`wake` is called."""

    def __init__(
        self, settings: AlertSettings, database: Database, box: SecretBox, mailer: Mailer
    ) -> None:
        self.settings = settings
        self.database = database
        self.box = box
        self.mailer = mailer
        self.delivered = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now (call on the event loop)."""
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            try:
                while await self.drain():
                    pass
            except Exception:
                log.exception("delivering alert notifications failed; trying again")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.interval_s)
            except TimeoutError:
                pass

    async def drain(self) -> int:
        """Send what is due now; how many rows were tried."""
        claimed = await self.database.call(self._claim)
        if not claimed:
            return 0
        try:
            results = await asyncio.gather(*(self._send(row) for row in claimed))
        except asyncio.CancelledError:
            # Stopping: hand the rows back at once rather than after the claim expires.
            await asyncio.shield(self.database.call(self._release, claimed))
            raise
        await self.database.call(self._finish, list(zip(claimed, results, strict=True)))
        return len(claimed)

    def _release(self, db: Session, claimed: list[dict[str, Any]]) -> None:
        ids = [row["id"] for row in claimed]
        db.execute(
            update(AlertOutbox).where(AlertOutbox.id.in_(ids)).values(next_attempt_at=utcnow())
        )
        db.commit()

    def _claim(self, db: Session) -> list[dict[str, Any]]:
        now = utcnow()
        query = (
            select(AlertOutbox, AlertRule.webhook_secret)
            .join(AlertRule, AlertRule.id == AlertOutbox.rule_id)
            .where(AlertOutbox.next_attempt_at <= now)
            .order_by(AlertOutbox.id)
            .limit(BATCH)
        )
        claimed = []
        until = now + timedelta(seconds=CLAIM_S)
        for row, secret in db.execute(query).all():
            result = db.execute(
                update(AlertOutbox)
                .where(AlertOutbox.id == row.id, AlertOutbox.attempts == row.attempts)
                .values(next_attempt_at=until, attempts=row.attempts + 1)
            )
            won = cast(CursorResult[Any], result).rowcount
            if won == 1:
                claimed.append(
                    {
                        "id": row.id,
                        "channel": row.channel,
                        "target": row.target,
                        "payload": row.payload,
                        "attempts": row.attempts + 1,
                        "secret": secret,
                    }
                )
        db.commit()
        return claimed

    async def _send(self, row: dict[str, Any]) -> str | None:
        """``None`` when delivered, else why not."""
        try:
            if row["channel"] == "email":
                subject, text = email_text(json.loads(row["payload"]))
                await asyncio.to_thread(self.mailer.send, row["target"], subject, text)
            else:
                await self._post(row["target"], row["payload"].encode(), row["secret"])
        except Unavailable as exc:
            return exc.message
        except WebhookRefused as exc:
            return f"refused: {exc}"
        except httpx2.HTTPError as exc:
            return f"the request failed ({type(exc).__name__})"
        except Exception as exc:  # a bug must not stop the other deliveries
            log.exception("delivering an alert notification failed")
            return type(exc).__name__
        return None

    async def _post(self, url: str, body: bytes, secret_token: str | None) -> None:
        allow = self.settings.webhook_allow_private
        host, address, _port = await asyncio.to_thread(resolve, url, allow)
        parts = urlsplit(url)
        literal = f"[{address}]" if ":" in address else address
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "VisualBox-Alerts",
            "Host": parts.netloc.rpartition("@")[2],
            "X-VisualBox-Timestamp": timestamp,
        }
        if secret_token:
            headers["X-VisualBox-Signature"] = sign(self.box.decrypt(secret_token), timestamp, body)
        timeout = self.settings.webhook_timeout_s
        async with httpx2.AsyncClient(
            timeout=timeout, trust_env=False, follow_redirects=False
        ) as client:
            response = await asyncio.wait_for(
                client.post(
                    target, content=body, headers=headers, extensions={"sni_hostname": host}
                ),
                timeout,
            )
        if response.status_code >= 300:
            raise httpx2.HTTPStatusError(
                f"answered {response.status_code}", request=response.request, response=response
            )

    def _finish(self, db: Session, results: list[tuple[dict[str, Any], str | None]]) -> None:
        now = utcnow()
        for row, problem in results:
            if problem is None:
                self.delivered += 1
                db.execute(delete(AlertOutbox).where(AlertOutbox.id == row["id"]))
                continue
            if row["attempts"] >= self.settings.delivery_attempts:
                log.warning(
                    "alert notification %s to %s given up after %d tries: %s",
                    row["channel"],
                    row["target"],
                    row["attempts"],
                    problem,
                )
                db.execute(delete(AlertOutbox).where(AlertOutbox.id == row["id"]))
                continue
            wait = min(MAX_RETRY_S, self.settings.retry_s * 2 ** (row["attempts"] - 1))
            db.execute(
                update(AlertOutbox)
                .where(AlertOutbox.id == row["id"])
                .values(next_attempt_at=now + timedelta(seconds=wait), last_error=problem[:500])
            )
        db.commit()


def pending(db: Session, rule_id: str) -> list[AlertOutbox]:
    """The rule's notifications not delivered yet (oldest first)."""
    rows = db.scalars(select(AlertOutbox).where(AlertOutbox.rule_id == rule_id))
    return sorted(rows, key=lambda r: r.id)


def due_in_s(row: AlertOutbox) -> float:
    return (as_utc(row.next_attempt_at) - utcnow()).total_seconds()
