"""Webhooks: subscriptions, their delivery log, the signature, and one HTTP attempt.

Signature (receivers check it with :func:`verify_signature`): each POST carries
``X-Caseflow-Timestamp`` (Unix seconds) and ``X-Caseflow-Signature: v1=<hex>``, the
HMAC-SHA256 with the webhook's secret over ``<timestamp>.`` followed by the raw body.
Covering the timestamp lets a receiver refuse replays of an old, captured request.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, insert, select, update

from caseflow.errors import NotFound, Problem, ValidationFailed
from caseflow.events.names import EVENT_TYPES, new_event_id
from caseflow.store import schema as s
from caseflow.store.sql import SqlStore, SqlTransaction

W = s.webhook
D = s.webhook_delivery

SIGNATURE_HEADER = "X-Caseflow-Signature"
TIMESTAMP_HEADER = "X-Caseflow-Timestamp"
DEFAULT_MAX_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    name: str
    url: str
    event_types: tuple[str, ...] | None  # None: every type
    active: bool
    max_attempts: int
    created_at: datetime
    updated_at: datetime
    tenant_id: str | None = None
    description: str | None = None
    created_by: str | None = None

    def wants(self, type_: str, tenant_id: str) -> bool:
        return (self.event_types is None or type_ in self.event_types) and (
            self.tenant_id is None or self.tenant_id == tenant_id
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one webhook, as the delivery log shows it."""

    seq: int
    webhook_id: str
    event_id: str
    event_type: str
    instance_id: str | None
    status: str  # PENDING | DELIVERED | DEAD
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str | None, body: bytes, signature: str | None, *,
    tolerance_s: int = 300, now: float | None = None,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    if not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    status_code: int | None
    error: str | None


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Attempt:
    """One POST; 2xx is success, anything else (or no answer) a failure to retry."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked on registration
        url, data=body, method="POST", headers=dict(headers)
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(65536)
            code = int(response.status)
            return Attempt(200 <= code < 300, code, None if code < 300 else f"HTTP {code}")
    except urllib.error.HTTPError as error:
        return Attempt(False, error.code, f"HTTP {error.code}")
    except (OSError, http.client.HTTPException) as error:
        return Attempt(False, None, f"{type(error).__name__}: {error}"[:500])


def headers_for(secret: str, body: bytes, *, event_id: str, event_type: str, delivery: int,
                attempt: int, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": "caseflow-webhooks/1",
        "X-Caseflow-Event": event_type,
        "X-Caseflow-Event-Id": event_id,
        "X-Caseflow-Delivery": str(delivery),
        "X-Caseflow-Attempt": str(attempt),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


# --- the subscriptions -------------------------------------------------------------------


def _check(url: str, event_types: Collection[str] | None, max_attempts: int) -> None:
    errors = []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append("url: an absolute http(s) URL is needed")
    unknown = sorted(set(event_types or ()) - EVENT_TYPES)
    if unknown:
        errors.append(f"eventTypes: unknown event types {unknown}")
    if max_attempts < 1 or max_attempts > 100:
        errors.append("maxAttempts: between 1 and 100")
    if errors:
        raise ValidationFailed(
            "the webhook is not valid: " + "; ".join(errors),
            [Problem("error", "invalid_webhook", e) for e in errors],
        )


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id, name=row.name, url=row.url,
        event_types=None if row.event_types is None else tuple(row.event_types),
        active=bool(row.active), max_attempts=int(row.max_attempts),
        created_at=row.created_at, updated_at=row.updated_at, tenant_id=row.tenant_id,
        description=row.description, created_by=row.created_by,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        seq=int(row.seq), webhook_id=row.webhook_id, event_id=row.event_id,
        event_type=row.event_type, instance_id=row.instance_id, status=row.status,
        attempts=int(row.attempts), next_attempt_at=row.next_attempt_at,
        created_at=row.created_at, last_status_code=row.last_status_code,
        last_error=row.last_error, delivered_at=row.delivered_at,
    )


class Webhooks:
    """Administration of webhooks and their delivery log (the API's /webhooks)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def _tx(self, *, read_only: bool = False) -> Any:
        return self.store.transaction(read_only=read_only)

    def create(
        self, *, name: str, url: str, now: datetime, secret: str | None = None,
        event_types: Sequence[str] | None = None, active: bool = True,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS, tenant_id: str | None = None,
        description: str | None = None, created_by: str | None = None,
    ) -> tuple[Webhook, str]:
        """A new webhook and its secret (generated unless given; shown once)."""
        _check(url, event_types, max_attempts)
        secret = secret or "whsec_" + secrets.token_urlsafe(32)
        webhook_id = new_event_id()
        with self._tx() as tx:
            tx.conn.execute(insert(W).values(
                id=webhook_id, tenant_id=tenant_id, name=name, url=url, secret=secret,
                event_types=None if event_types is None else list(event_types), active=active,
                max_attempts=max_attempts, description=description, created_at=now,
                created_by=created_by, updated_at=now,
            ))
        return self.get(webhook_id), secret

    def get(self, webhook_id: str) -> Webhook:
        with self._tx(read_only=True) as tx:
            row = tx.conn.execute(select(W).where(W.c.id == webhook_id)).first()
        if row is None:
            raise NotFound("webhook", webhook_id)
        return _webhook(row)

    def all(self) -> list[Webhook]:
        with self._tx(read_only=True) as tx:
            rows = tx.conn.execute(select(W).order_by(W.c.created_at, W.c.id)).all()
        return [_webhook(r) for r in rows]

    def update(self, webhook_id: str, now: datetime, **changes: Any) -> Webhook:
        """Change url, name, event_types, active, max_attempts, description or secret."""
        allowed = {"url", "name", "event_types", "active", "max_attempts", "description",
                   "secret"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValidationFailed(
                f"cannot change {sorted(unknown)}",
                [Problem("error", "invalid_webhook", f"cannot change {sorted(unknown)}")],
            )
        current = self.get(webhook_id)
        _check(changes.get("url", current.url),
               changes.get("event_types", current.event_types),
               changes.get("max_attempts", current.max_attempts))
        if "event_types" in changes and changes["event_types"] is not None:
            changes["event_types"] = list(changes["event_types"])
        with self._tx() as tx:
            tx.conn.execute(update(W).where(W.c.id == webhook_id).values(updated_at=now,
                                                                          **changes))
        return self.get(webhook_id)

    def delete(self, webhook_id: str) -> None:
        with self._tx() as tx:
            tx.conn.execute(delete(D).where(D.c.webhook_id == webhook_id))
            if not tx.conn.execute(delete(W).where(W.c.id == webhook_id)).rowcount:
                raise NotFound("webhook", webhook_id)

    def deliveries(
        self, webhook_id: str, *, status: str | None = None, limit: int = 50, offset: int = 0,
    ) -> tuple[list[Delivery], int]:
        """The delivery log, newest first, and how many match."""
        self.get(webhook_id)
        where = [D.c.webhook_id == webhook_id]
        if status is not None:
            where.append(D.c.status == status)
        with self._tx(read_only=True) as tx:
            rows = tx.conn.execute(
                select(D).where(*where).order_by(D.c.seq.desc()).limit(limit).offset(offset)
            ).all()
            total = tx.conn.execute(select(func.count()).select_from(D).where(*where)).scalar()
        return [_delivery(r) for r in rows], int(total or 0)

    def delivery(self, webhook_id: str, seq: int) -> tuple[Delivery, dict[str, Any]]:
        """One delivery and the envelope it sends."""
        with self._tx(read_only=True) as tx:
            row = tx.conn.execute(
                select(D).where(D.c.webhook_id == webhook_id, D.c.seq == seq)
            ).first()
        if row is None:
            raise NotFound("webhook delivery", str(seq))
        body: dict[str, Any] = json.loads(row.body)
        return _delivery(row), body

    def delivery_body(self, webhook_id: str, seq: int) -> dict[str, Any]:
        with self._tx(read_only=True) as tx:
            row = tx.conn.execute(
                select(D.c.body).where(D.c.webhook_id == webhook_id, D.c.seq == seq)
            ).first()
        if row is None:
            raise NotFound("webhook delivery", str(seq))
        found: dict[str, Any] = json.loads(row[0])
        return found

    def redeliver(self, webhook_id: str, seq: int, now: datetime) -> Delivery:
        """Try a delivery again from its first attempt (a DEAD one, after the receiver
        was fixed). It goes out once no earlier delivery of its instance is pending."""
        with self._tx() as tx:
            count = tx.conn.execute(
                update(D).where(D.c.webhook_id == webhook_id, D.c.seq == seq)
                .values(status="PENDING", attempts=0, next_attempt_at=now, lease_owner=None,
                        lease_expires_at=None)
            ).rowcount
            if not count:
                raise NotFound("webhook delivery", str(seq))
            row = tx.conn.execute(select(D).where(D.c.seq == seq)).first()
        return _delivery(row)


def secret_of(tx: SqlTransaction, webhook_id: str) -> str | None:
    row = tx.conn.execute(select(W.c.secret).where(W.c.id == webhook_id)).first()
    return None if row is None else str(row[0])


__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Attempt",
    "Delivery",
    "Webhook",
    "Webhooks",
    "headers_for",
    "post",
    "sign",
    "verify_signature",
]
