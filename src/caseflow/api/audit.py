"""The append-only audit log: every state-changing call, who made it, from where, and how
it ended.

:class:`AuditTrail` wraps the app: for POST, PUT, PATCH and DELETE it notes the
principal the request authenticated as (or none, for refusals at the door), the route
template and the ids in the path, the client address and the status answered, and
appends one row as the response starts (off the event loop). Rows are never changed:
nothing here updates or deletes, and on PostgreSQL a trigger refuses it (migration 0007).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caseflow.api.observability import route_template
from caseflow.api.services import Services
from caseflow.store import schema

log = logging.getLogger("caseflow.api.audit")

A = schema.audit_log
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# read-only queries sent as POST (fetch-and-lock changes locks: it stays audited)
NOT_CHANGING = frozenset({"/api/v1/auth/dev-login"})
UNCHANGED = "audit_nothing_changed"  # request state: the call turned out to change nothing


def nothing_changed(request: Any) -> None:
    """Mark a state-changing call that changed nothing after all (a fetch-and-lock poll
    that found no work): it is not audited. Refusals and failures are, whatever the mark."""
    request.state.audit_nothing_changed = True


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: dt.datetime
    actor: str | None
    actor_kind: str | None
    method: str
    route: str
    path: str
    target_ids: dict[str, str]
    client_ip: str | None
    status: int
    request_id: str | None


def append(services: Services, entry: dict[str, Any]) -> None:
    with services.store.transaction() as tx:
        tx.conn.execute(A.insert().values(**entry))


def entries(
    services: Services,
    *,
    actor: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEntry], int]:
    """Entries newest first, and how many match."""
    where: list[Any] = [A.c.tenant_id == services.settings.tenant_id]
    if actor is not None:
        where.append(A.c.actor == actor)
    if since is not None:
        where.append(A.c.at >= since)
    if until is not None:
        where.append(A.c.at < until)
    with services.store.transaction(read_only=True) as tx:
        total = int(tx.conn.scalar(select(func.count()).select_from(A).where(*where)) or 0)
        rows = tx.conn.execute(
            select(A).where(*where).order_by(A.c.seq.desc()).offset(offset).limit(limit)
        ).all()
    found = [
        AuditEntry(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            actor_kind=row.actor_kind,
            method=row.method,
            route=row.route,
            path=row.path,
            target_ids=dict(row.target_ids or {}),
            client_ip=row.client_ip,
            status=row.status,
            request_id=row.request_id,
        )
        for row in rows
    ]
    return found, total


def _printable(text: str) -> str:
    """Text the database stores whatever the caller sent (PostgreSQL refuses NUL)."""
    return text.replace("\x00", "\ufffd")


class AuditTrail:
    """ASGI middleware appending one audit row per state-changing request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING:
            await self.app(scope, receive, send)
            return
        recorded = False

        async def noting(message: Message) -> None:
            # written before the client hears the answer: what it was told happened is in
            # the log by then
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                await self._record(scope, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            if not recorded:
                await self._record(scope, 500)

    async def _record(self, scope: Scope, status: int) -> None:
        path = _printable(str(scope.get("path", "")))
        if path in NOT_CHANGING:
            return
        app = scope.get("app")
        services = getattr(getattr(app, "state", None), "services", None)
        if not isinstance(services, Services):
            return
        state = scope.get("state") or {}
        if state.get(UNCHANGED) and 200 <= status < 300:
            return
        principal = state.get("principal")
        client = scope.get("client")
        entry = {
            "tenant_id": services.settings.tenant_id,
            "at": services.clock.now(),
            "actor": getattr(principal, "user_id", None),
            "actor_kind": getattr(principal, "kind", None),
            "method": str(scope["method"]),
            "route": _printable(route_template(scope) or path)[:512],
            "path": path[:2048],
            "target_ids": {
                k: _printable(str(v))[:255] for k, v in (scope.get("path_params") or {}).items()
            },
            "client_ip": client[0][:64] if client else None,
            "status": status,
            "request_id": state.get("request_id"),
        }
        try:
            await anyio.to_thread.run_sync(append, services, entry)
        except Exception:
            log.exception("the audit entry of %s %s could not be written", scope["method"], path)
