"""Automatic escalation: queue-level policies run by the SLA check jobs.

``Escalations(work)`` puts an :class:`~caseflow.work.sla.SlaTracker` on the engine (after
the work router: due dates need the queue) and runs the SLA check jobs
(:data:`~caseflow.work.sla.SLA_CHECK_KIND`) on a :class:`~caseflow.time.jobs.JobExecutor`
registered with :meth:`Escalations.register`.

**Policies** are rows per queue, trigger (``AT_RISK`` or ``BREACHED``) and level: "when a
task of this queue is at risk / late and at escalation level n-1, raise it to level n and
...". The row for level n is the one with the highest ``level`` <= n (so one row may
serve every level). Actions:

* ``REASSIGN``: to the ``target``: ``SUPERVISOR`` (an active user with a valid grant of a
  managing role of the queue: bound to it, assigned to it, or of its department),
  ``PARENT_DEPARTMENT`` (the same, for the parent of the queue's department) — or into
  the ``QUEUE`` ``target_queue_id`` (an escalation queue);
* ``ADD_CANDIDATES``: the target's users become candidate users; the task stays where it is;
* ``MOVE_TO_QUEUE``: into ``target_queue_id``;
* ``NONE``: only the level and the priority (``priority_step``) go up.

Every step raises the level by one and the priority by ``priority_step`` (the service's
default when unset), and never beyond ``max_level`` (3 by default): at the maximum a check
changes nothing. A ``BREACHED`` row with ``repeat_minutes`` schedules the next level that
many *business* minutes later, until the maximum. A breach is reported once (SLABreached)
whether or not a policy escalates. A task with no policy is left alone.

The escalation itself is :meth:`caseflow.work.WorkService.escalate_in`: the same path as a
user's manual ``escalate`` (history, claimable set, escalation log, EscalationTriggered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, or_, select

from caseflow.engine.state import Job
from caseflow.errors import NotFound
from caseflow.runtime.ports import Transaction
from caseflow.store import schema as s
from caseflow.time.jobs import JobExecutor
from caseflow.work import sql as w
from caseflow.work.escalation_log import sla_breached_event
from caseflow.work.model import OPEN_STATUSES
from caseflow.work.routing import new_history_id, work_sql
from caseflow.work.service import WorkService
from caseflow.work.sla import (
    SLA_CHECK_KIND,
    InstanceSla,
    SlaCalendars,
    SlaSettings,
    SlaTracker,
    TaskSla,
    instance_slas,
    repeat_job_id,
    task_slas,
)

DEFAULT_MAX_LEVEL: Final = 3
P = s.work_escalation_policy
S = s.work_task_sla


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    id: str
    queue_id: str
    trigger: str
    level: int
    action: str
    max_level: int
    active: bool
    created_at: datetime
    target: str | None = None
    target_queue_id: str | None = None
    priority_step: int | None = None
    repeat_minutes: int | None = None


def _policy(row: Any) -> EscalationPolicy:
    m = row._mapping
    return EscalationPolicy(**{k: m[k] for k in EscalationPolicy.__slots__})


class Escalations:
    """SLAs and automatic escalation over one :class:`WorkService` (module docstring)."""

    def __init__(self, work: WorkService, settings: SlaSettings | None = None) -> None:
        self.work = work
        self.settings = settings or SlaSettings()
        self.calendars = SlaCalendars(self.settings)
        engine = work.engine
        tracker = next(
            (
                t for t in engine.task_listeners
                if isinstance(t, SlaTracker) and t.tenant_id == work.tenant_id
            ),
            None,
        )
        if tracker is None:
            tracker = SlaTracker(engine, work.tenant_id, self.settings, self.calendars)
            engine.task_listeners.append(tracker)  # after the router: the queue is known
            engine.instance_listeners.append(tracker)  # instance SLAs, from their start
        self.tracker = tracker

    # ------------------------------------------------------------------ configuration

    def set_calendar(
        self, calendar_id: str, *, queue: str | None = None, department: str | None = None
    ) -> None:
        """Count the SLAs of a queue's (or a department's) tasks in a stored calendar."""
        if (queue is None) == (department is None):
            raise ValueError("set_calendar needs a queue or a department, not both")

        def body(work: w.WorkSql) -> None:
            key: dict[str, Any]
            if queue is not None:
                found = work.one(w.Q, name=queue)
                if found is None:
                    raise NotFound("queue", queue)
                key = {"queue_id": found.id, "department_id": None}
            else:
                dept = work.one(w.D, code=department)
                if dept is None:
                    raise NotFound("department", department or "")
                key = {"queue_id": None, "department_id": dept.id}
            if work.one(s.business_calendar, id=calendar_id) is None:
                raise NotFound("calendar", calendar_id)
            existing = work.one(s.work_sla_calendar, **key)
            if existing is not None:
                work.update_row(s.work_sla_calendar, {"id": existing.id},
                                {"calendar_id": calendar_id})
            else:
                work.insert(s.work_sla_calendar, {
                    "id": new_history_id(), "tenant_id": work.tenant, "calendar_id": calendar_id,
                    **key,
                })

        try:
            self.work._write(body)
        finally:
            self.calendars.invalidate()

    def set_policy(
        self,
        queue: str,
        trigger: str,
        *,
        level: int = 1,
        action: str = "NONE",
        target: str | None = None,
        target_queue: str | None = None,
        priority_step: int | None = None,
        repeat_minutes: int | None = None,
        max_level: int = DEFAULT_MAX_LEVEL,
    ) -> EscalationPolicy:
        """Create or replace the policy row of ``queue`` for ``trigger`` and ``level``."""
        if trigger not in s.SLA_TRIGGERS:
            raise ValueError(f"trigger must be one of {s.SLA_TRIGGERS}, not {trigger!r}")
        if action not in s.ESCALATION_ACTIONS:
            raise ValueError(f"action must be one of {s.ESCALATION_ACTIONS}, not {action!r}")
        if target is not None and target not in s.ESCALATION_TARGETS:
            raise ValueError(f"target must be one of {s.ESCALATION_TARGETS}, not {target!r}")
        if level < 1 or max_level < 1:
            raise ValueError("level and max_level start at 1")
        if repeat_minutes is not None and repeat_minutes < 1:
            raise ValueError("repeat_minutes must be positive")
        needs_queue = action == "MOVE_TO_QUEUE" or target == "QUEUE"
        if needs_queue and target_queue is None:
            raise ValueError(f"{action} to a queue needs target_queue")
        if action in ("REASSIGN", "ADD_CANDIDATES") and target is None:
            raise ValueError(f"{action} needs a target (SUPERVISOR, PARENT_DEPARTMENT, QUEUE)")

        def body(work: w.WorkSql) -> EscalationPolicy:
            found = work.one(w.Q, name=queue)
            if found is None:
                raise NotFound("queue", queue)
            target_id = None
            if target_queue is not None:
                other = work.one(w.Q, name=target_queue)
                if other is None:
                    raise NotFound("queue", target_queue)
                target_id = other.id
            row = {
                "queue_id": found.id, "trigger": trigger, "level": level, "action": action,
                "target": target, "target_queue_id": target_id, "priority_step": priority_step,
                "repeat_minutes": repeat_minutes, "max_level": max_level, "active": True,
            }
            existing = work.one(P, queue_id=found.id, trigger=trigger, level=level)
            if existing is not None:
                work.update_row(P, {"id": existing.id}, row)
                policy_id = existing.id
            else:
                policy_id = new_history_id()
                work.insert(P, {
                    **row, "id": policy_id, "tenant_id": work.tenant, "created_at": work.now,
                })
            return _policy(work.one(P, id=policy_id))

        return self.work._write(body)

    def policies(self, queue: str | None = None) -> list[EscalationPolicy]:
        def body(work: w.WorkSql) -> list[EscalationPolicy]:
            if queue is None:
                return [_policy(r) for r in work.all(P, P.c.queue_id, P.c.trigger, P.c.level)]
            found = work.one(w.Q, name=queue)
            if found is None:
                raise NotFound("queue", queue)
            return [
                _policy(r)
                for r in work.all(P, P.c.trigger, P.c.level, queue_id=found.id)
            ]

        return self.work._read(body)

    # ------------------------------------------------------------------ views

    def task_slas(self, task_ids: Sequence[str]) -> dict[str, TaskSla]:
        """The SLA (due, at-risk instant, source, calendar, status now) of each task."""
        return self.work._read(lambda work: task_slas(work, task_ids))

    def task_sla(self, task_id: str) -> TaskSla | None:
        return self.task_slas([task_id]).get(task_id)

    def instance_slas(
        self,
        instance_ids: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[InstanceSla]:
        """Instances' SLAs and their status now, by id and/or status (earliest due first)."""
        return self.work._read(
            lambda work: instance_slas(work, instance_ids, statuses, limit)
        )

    def instance_sla(self, instance_id: str) -> InstanceSla | None:
        found = self.instance_slas([instance_id])
        return found[0] if found else None

    # ------------------------------------------------------------------ the jobs

    def register(self, executor: JobExecutor) -> None:
        """Run the SLA check jobs on ``executor`` (one transaction each, job deleted)."""
        executor.register_in_transaction(SLA_CHECK_KIND, self.check)

    def check(self, tx: Transaction, job: Job) -> None:
        """One SLA check: report a breach, escalate by the queue's policy, schedule the
        next level. A task that ended, or has no SLA, is left alone."""
        now = self.work.engine.clock.now()
        work = work_sql(tx, self.work.tenant_id, now)
        task_id = str(job.payload.get("task_id"))
        check = str(job.payload.get("check"))
        sla = work.one(S, task_id=task_id)
        if sla is None or sla.ended_at is not None:
            return
        row = work.lock_task(task_id, None)
        if row is None or row.status not in OPEN_STATUSES:
            return
        if check == "BREACHED" and sla.breached_at is None:
            work.update_row(S, {"task_id": task_id}, {"breached_at": now})
            tx.add_events([sla_breached_event(work, row, sla.due_at, sla.source)])
        policy = self._policy_for(work, row.queue, check, row.escalation_level + 1)
        if policy is None or row.escalation_level >= policy.max_level:
            return
        level = row.escalation_level + 1
        to_user, to_queue = self._target(work, row, policy)
        what = "at risk" if check == "AT_RISK" else "past its due time"
        reason = f"SLA {what} (due {sla.due_at.isoformat()}): automatic escalation to level {level}"
        self.work.escalate_in(
            tx, task_id, reason=reason, to_queue=to_queue, to_user=to_user,
            priority_step=policy.priority_step, trigger=check,
        )
        if check == "BREACHED" and policy.repeat_minutes and level < policy.max_level:
            calendar = self.calendars.by_name(work, sla.calendar)
            due = calendar.add(now, timedelta(minutes=policy.repeat_minutes))
            tx.insert_jobs([Job(
                repeat_job_id(task_id, level), SLA_CHECK_KIND, due, now,  # type: ignore[arg-type]
                payload={"task_id": task_id, "check": "BREACHED"}, tenant_id=work.tenant,
            )])

    def _policy_for(
        self, work: w.WorkSql, queue_name: str | None, trigger: str, level: int
    ) -> EscalationPolicy | None:
        if queue_name is None:
            return None
        queue = work.one(w.Q, name=queue_name)
        if queue is None:
            return None
        rows = work.conn.execute(
            select(P)
            .where(
                P.c.tenant_id == work.tenant, P.c.queue_id == queue.id, P.c.trigger == trigger,
                P.c.active, P.c.level <= level,
            )
            .order_by(P.c.level.desc())
            .limit(1)
        ).all()
        return _policy(rows[0]) if rows else None

    def _target(
        self, work: w.WorkSql, row: Any, policy: EscalationPolicy
    ) -> tuple[str | None, str | None]:
        """(to_user, to_queue) of ``policy`` for task ``row``; adds candidates on the way."""
        target_queue = None
        if policy.target_queue_id is not None:
            found = work.one(w.Q, id=policy.target_queue_id)
            target_queue = found.name if found is not None else None
        if policy.action == "MOVE_TO_QUEUE" or policy.target == "QUEUE":
            return None, target_queue
        if policy.action not in ("REASSIGN", "ADD_CANDIDATES"):
            return None, None
        users = supervisors(work, row.queue, parent=policy.target == "PARENT_DEPARTMENT")
        users = [u for u in users if u != row.assignee]
        if not users:
            return None, None  # nobody to hand it to: the level and priority still go up
        if policy.action == "ADD_CANDIDATES":
            _add_candidate_users(work, row.id, users)
            return None, None
        _add_candidate_users(work, row.id, users[:1])  # so the new assignee may work it
        return users[0], None


def _add_candidate_users(work: w.WorkSql, task_id: str, users: list[str]) -> None:
    existing = {
        r.value for r in work.all(w.C, task_id=task_id, kind="user")
    }
    rows = [
        {"task_id": task_id, "tenant_id": work.tenant, "kind": "user", "value": u}
        for u in users if u not in existing
    ]
    if rows:
        work.conn.execute(w.C.insert(), rows)


def supervisors(work: w.WorkSql, queue_name: str | None, *, parent: bool = False) -> list[str]:
    """Active users with a valid grant, now, of an active managing role over the queue:
    bound to it, assigned to it, or of its department (``parent``: of the department's
    parent instead). Sorted by id, so the choice is stable."""
    if queue_name is None:
        return []
    queue = work.one(w.Q, name=queue_name)
    if queue is None:
        return []
    R, G, U, A = w.R, w.G, w.U, w.A
    covers: list[Any] = []
    department = queue.department_id
    if parent:
        dept = work.one(w.D, id=department) if department is not None else None
        department = dept.parent_id if dept is not None else None
        if department is None:
            return []
    else:
        covers.append(R.c.queue_id == queue.id)
        covers.append(
            select(A.c.id)
            .where(A.c.tenant_id == R.c.tenant_id, A.c.role_id == R.c.id, A.c.queue_id == queue.id)
            .exists()
        )
    if department is not None:
        covers.append(R.c.department_id == department)
    if not covers:
        return []
    statement = (
        select(U.c.id)
        .distinct()
        .select_from(
            U.join(G, and_(G.c.user_id == U.c.id, G.c.tenant_id == U.c.tenant_id)).join(
                R, and_(R.c.id == G.c.role_id, R.c.tenant_id == G.c.tenant_id)
            )
        )
        .where(
            U.c.tenant_id == work.tenant,
            U.c.active,
            R.c.active,
            R.c.can_manage,
            G.c.valid_from <= work.now,
            or_(G.c.valid_until.is_(None), G.c.valid_until > work.now),
            or_(*covers),
        )
        .order_by(U.c.id)
    )
    return [str(r[0]) for r in work.conn.execute(statement).all()]


__all__ = ["DEFAULT_MAX_LEVEL", "EscalationPolicy", "Escalations", "supervisors"]
