"""The escalation log (seed 000): one row per escalation, automatic or manual, with its
later resolution, and the EscalationTriggered / SLABreached outbox events.

Every escalation goes through :meth:`caseflow.work.WorkService._escalate` (a user's
``escalate``, the SLA jobs' ``escalate_in``), which calls :func:`record_escalation`, so
the log and the events cannot miss one. Events are added to the same transaction
(``tx.add_events``): they commit or roll back with the escalation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from caseflow.errors import IllegalState, NotFound
from caseflow.events.names import ESCALATION_TRIGGERED, SLA_BREACHED, event, iso
from caseflow.runtime.ports import OutboxEvent
from caseflow.store import schema as s
from caseflow.work import sql as w

E = s.work_escalation


@dataclass(frozen=True, slots=True)
class EscalationEntry:
    id: str
    task_id: str
    instance_id: str
    kind: str  # AUTOMATIC, MANUAL
    trigger: str  # AT_RISK, BREACHED, MANUAL
    level: int
    escalated_by: str
    escalated_at: datetime
    reason: str | None = None
    from_user: str | None = None
    to_user: str | None = None
    from_queue: str | None = None
    to_queue: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None


def _entry(row: Any) -> EscalationEntry:
    m = row._mapping
    return EscalationEntry(**{k: m[k] for k in EscalationEntry.__slots__})


def _new_id() -> str:
    from caseflow.runtime.process_engine import new_id

    return new_id()


def record_escalation(
    work: w.WorkSql,
    row: Any,
    *,
    by: str,
    kind: str,
    trigger: str,
    reason: str | None,
    level: int,
    to_user: str | None,
    to_queue: str | None,
) -> EscalationEntry:
    """Log the escalation of task ``row`` (as it was before it) and add its event."""
    entry = EscalationEntry(
        id=_new_id(), task_id=row.id, instance_id=row.instance_id, kind=kind, trigger=trigger,
        level=level, escalated_by=by, escalated_at=work.now, reason=reason,
        from_user=row.assignee, to_user=to_user, from_queue=row.queue, to_queue=to_queue,
    )
    values = {k: getattr(entry, k) for k in EscalationEntry.__slots__}
    work.insert(E, {**values, "tenant_id": work.tenant})
    work.tx.add_events([event(
        ESCALATION_TRIGGERED, work.now,
        {
            "escalationId": entry.id, "taskId": row.id, "instanceId": row.instance_id,
            "processKey": row.process_key, "elementId": row.element_id, "kind": kind,
            "trigger": trigger, "level": level, "reason": reason, "fromUser": row.assignee,
            "toUser": to_user, "fromQueue": row.queue, "toQueue": to_queue, "by": by,
            "at": iso(work.now),
        },
        instance_id=row.instance_id, task_id=row.id, tenant_id=work.tenant,
    )])
    return entry


def sla_breached_event(
    work: w.WorkSql, row: Any, due_at: datetime, source: str
) -> OutboxEvent:
    return event(
        SLA_BREACHED, work.now,
        {
            "taskId": row.id, "instanceId": row.instance_id, "processKey": row.process_key,
            "elementId": row.element_id, "queue": row.queue, "assignee": row.assignee,
            "dueAt": iso(due_at), "slaSource": source, "at": iso(work.now),
        },
        instance_id=row.instance_id, task_id=row.id, tenant_id=work.tenant,
    )


def escalations(
    work: w.WorkSql, *, task_id: str | None = None, unresolved: bool = False, limit: int = 200
) -> list[EscalationEntry]:
    """The log, oldest first: of one task, and/or only what is not resolved yet."""
    statement = select(E).where(E.c.tenant_id == work.tenant)
    if task_id is not None:
        statement = statement.where(E.c.task_id == task_id)
    if unresolved:
        statement = statement.where(E.c.resolved_at.is_(None))
    statement = statement.order_by(E.c.escalated_at, E.c.id).limit(limit)
    return [_entry(r) for r in work.conn.execute(statement).all()]


def get_escalation(work: w.WorkSql, escalation_id: str) -> EscalationEntry:
    rows = work.conn.execute(
        select(E).where(E.c.tenant_id == work.tenant, E.c.id == escalation_id)
    ).all()
    if not rows:
        raise NotFound("escalation", escalation_id)
    return _entry(rows[0])


def resolve_escalation(
    work: w.WorkSql, escalation_id: str, by: str, resolution: str | None
) -> EscalationEntry:
    """Mark one escalation resolved by ``by`` now. A resolved one stays as it was."""
    statement = select(E).where(E.c.tenant_id == work.tenant, E.c.id == escalation_id)
    if work.pg:
        statement = statement.with_for_update()
    rows = work.conn.execute(statement).all()
    if not rows:
        raise NotFound("escalation", escalation_id)
    if rows[0].resolved_at is not None:
        raise IllegalState(
            f"escalation '{escalation_id}' was resolved by '{rows[0].resolved_by}' already"
        )
    work.update_row(E, {"id": escalation_id}, {
        "resolved_by": by, "resolved_at": work.now, "resolution": resolution,
    })
    return get_escalation(work, escalation_id)


__all__ = [
    "ESCALATION_TRIGGERED",
    "SLA_BREACHED",
    "EscalationEntry",
    "escalations",
    "get_escalation",
    "record_escalation",
    "resolve_escalation",
    "sla_breached_event",
]
