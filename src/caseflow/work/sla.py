"""Service levels of user tasks and process instances: due dates in business time, the
SLA check jobs that watch them, and their status in queries.

**A task's due date** is fixed when the task is routed (:class:`SlaTracker` is a task
listener that runs after the :class:`~caseflow.work.routing.WorkRouter`, so the queue is
known), from its start (``created_at``), as the tightest of:

* the step's ``caseflow:sla`` (``PT16H``, ``3d``: :mod:`caseflow.time.sla`),
* its queue's ``sla_minutes`` (working minutes),
* its definition's ``sla_target_hours`` (working hours),

counted in business time on the queue's calendar, else its department's (or the nearest
ancestor department's), else the default calendar (a stored calendar named by
:attr:`SlaSettings.default_calendar`, else the built-in Vietnam office calendar).

An explicit BPMN due date (``camunda:dueDate``) is a promise made by the model: it is
kept when it is tighter than every SLA (or when no SLA applies: then it is the SLA, source
``bpmn``); a looser one is replaced by the SLA's due date, because an SLA is a limit the
organisation committed to and a model may not relax it.

**An instance's due date** is its definition's ``sla_target_hours`` in business hours
from its start, on the default calendar, recorded in the command that starts it (the
tracker is an instance listener too).

**Status** (:class:`~caseflow.time.sla.SlaStatus`): ``MET`` / ``BREACHED`` once the work
ended (by / after its due time), else ``BREACHED`` after the due time, ``AT_RISK`` from
``at_risk_at`` (the instant :attr:`SlaSettings.at_risk_share` of the business time is
used, worked out in business time when the SLA is set), else ``ON_TRACK``. Stored instants
make it one SQL expression (:func:`task_status_sql`), so task lists filter on it.

**Checks.** Each task with an SLA gets two job rows of kind :data:`SLA_CHECK_KIND`, at its
AT_RISK instant and just after its due time; they are deleted when the task ends (and a
check that finds the task ended does nothing). :mod:`caseflow.work.escalation` runs them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import ColumnElement, case, delete, select, update
from sqlalchemy.sql.elements import BindParameter

from caseflow.engine.state import Job, UserTaskRecord
from caseflow.model.elements import UserTask
from caseflow.runtime.ports import (
    InstanceChanges,
    InstanceListener,
    TaskChanges,
    TaskListener,
    Transaction,
)
from caseflow.store import schema as s
from caseflow.time.calendar import BusinessCalendar
from caseflow.time.calendar_store import load_calendar
from caseflow.time.holidays_vn import vietnam_calendar
from caseflow.time.sla import (
    DEFAULT_AT_RISK_SHARE,
    SlaSpec,
    SlaStatus,
    at_risk_at,
    parse_sla,
    tightest,
)
from caseflow.work import sql as w
from caseflow.work.routing import work_sql

if TYPE_CHECKING:
    from caseflow.runtime.process_engine import ProcessEngine

SLA_CHECK_KIND: Final = "sla-check"
"""The job kind of SLA checks (payload: ``task_id``, ``check`` AT_RISK or BREACHED)."""
DEFAULT_CALENDAR_NAME: Final = "vietnam (built in)"
BREACH_CHECK_DELAY: Final = timedelta(seconds=1)
"""A breach check runs this long after the due time: at the due time itself work is not
late yet (:func:`caseflow.time.sla.sla_status`)."""

S = s.work_task_sla
IS = s.work_instance_sla
CAL = s.work_sla_calendar


@dataclass(frozen=True, slots=True)
class SlaSettings:
    at_risk_share: float = DEFAULT_AT_RISK_SHARE
    default_calendar: str | None = None  # a stored calendar's name; None: built-in Vietnam
    config_ttl: float = 30.0  # seconds the queue calendars are cached

    def __post_init__(self) -> None:
        if not 0 < self.at_risk_share <= 1:
            raise ValueError(f"at_risk_share must be in (0, 1]: {self.at_risk_share}")


@dataclass(frozen=True, slots=True)
class TaskSla:
    """A task's service level as task views show it."""

    task_id: str
    started_at: datetime
    due_at: datetime
    at_risk_at: datetime
    source: str
    calendar: str
    status: SlaStatus
    ended_at: datetime | None = None
    breached_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InstanceSla:
    instance_id: str
    started_at: datetime
    due_at: datetime
    at_risk_at: datetime
    calendar: str
    status: SlaStatus


def check_job_ids(task_id: str) -> list[str]:
    """The ids of a task's first two check jobs (repeat checks: :func:`repeat_job_id`)."""
    return [f"sla-{task_id}-r", f"sla-{task_id}-b"]


def repeat_job_id(task_id: str, level: int) -> str:
    return f"sla-{task_id}-l{level}"


MAX_DELETED_LEVEL: Final = 10
"""Repeat checks of levels above this are not deleted when the task ends; they run once
and find the task ended, which changes nothing."""


def all_job_ids(task_id: str) -> list[str]:
    return [
        *check_job_ids(task_id),
        *(repeat_job_id(task_id, n) for n in range(1, MAX_DELETED_LEVEL + 1)),
    ]


def _status_sql(
    due: Any, risk: Any, ended: Any, now: BindParameter[Any] | datetime
) -> ColumnElement[str]:
    return case(
        (ended.is_not(None), case((ended <= due, "MET"), else_="BREACHED")),
        (due < now, "BREACHED"),
        (risk <= now, "AT_RISK"),
        else_="ON_TRACK",
    )


def task_status_sql(now: BindParameter[Any] | datetime) -> ColumnElement[str]:
    """The SLA status of a ``work_task_sla`` row at ``now`` (a value or a bound ``now``)."""
    return _status_sql(S.c.due_at, S.c.at_risk_at, S.c.ended_at, now)


def instance_status_sql(now: BindParameter[Any] | datetime) -> ColumnElement[str]:
    """The SLA status of a ``work_instance_sla`` row joined to its ``process_instance``."""
    return _status_sql(IS.c.due_at, IS.c.at_risk_at, s.process_instance.c.ended_at, now)


def task_sla_condition(
    statuses: Sequence[str], now: BindParameter[Any] | datetime
) -> ColumnElement[bool]:
    """``EXISTS``: the user task in the statement has an SLA in one of ``statuses``."""
    wanted = sorted({SlaStatus(v).value for v in statuses})
    return (
        select(S.c.task_id)
        .where(
            S.c.task_id == s.user_task.c.id,
            S.c.tenant_id == s.user_task.c.tenant_id,
            task_status_sql(now).in_(wanted),
        )
        .exists()
    )


class SlaCalendars:
    """Which calendar a queue's SLAs count in; calendars cached for ``config_ttl``."""

    def __init__(self, settings: SlaSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._by_queue: dict[str, tuple[str, BusinessCalendar]] = {}
        self._default: tuple[str, BusinessCalendar] | None = None
        self._builtin = vietnam_calendar()

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = 0.0
            self._by_queue = {}
            self._default = None

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self.settings.config_ttl:
            self._by_queue = {}
            self._default = None
            self._loaded_at = time.monotonic()

    def default(self, work: w.WorkSql) -> tuple[str, BusinessCalendar]:
        with self._lock:
            self._fresh()
            if self._default is None:
                name = self.settings.default_calendar
                found = load_calendar(work.tx, name=name, tenant_id=work.tenant) if name else None
                self._default = (
                    (name or DEFAULT_CALENDAR_NAME, found)
                    if found is not None
                    else (DEFAULT_CALENDAR_NAME, self._builtin)
                )
            return self._default

    def by_name(self, work: w.WorkSql, name: str) -> BusinessCalendar:
        if name == DEFAULT_CALENDAR_NAME:
            return self._builtin
        found = load_calendar(work.tx, name=name, tenant_id=work.tenant)
        return found if found is not None else self.default(work)[1]

    def for_queue(self, work: w.WorkSql, queue_name: str | None) -> tuple[str, BusinessCalendar]:
        if queue_name is None:
            return self.default(work)
        with self._lock:
            self._fresh()
            found = self._by_queue.get(queue_name)
        if found is not None:
            return found
        found = self._look_up(work, queue_name) or self.default(work)
        with self._lock:
            self._by_queue[queue_name] = found
        return found

    def _look_up(self, work: w.WorkSql, queue_name: str) -> tuple[str, BusinessCalendar] | None:
        queue = work.one(w.Q, name=queue_name)
        if queue is None:
            return None
        bound = work.one(CAL, queue_id=queue.id)
        department = queue.department_id
        seen: set[str] = set()
        while bound is None and department is not None and department not in seen:
            seen.add(department)
            bound = work.one(CAL, department_id=department)
            if bound is None:
                row = work.one(w.D, id=department)
                department = row.parent_id if row is not None else None
        if bound is None:
            return None
        record = work.one(s.business_calendar, id=bound.calendar_id)
        calendar = load_calendar(work.tx, bound.calendar_id, work.tenant)
        if record is None or calendar is None:
            return None
        return str(record.name), calendar


class SlaTracker(TaskListener, InstanceListener):
    """Sets each new task's due date and SLA row and schedules its checks; closes the
    SLA of tasks that end; records each new instance's SLA (see the module docstring).
    Register it as a task listener after the router, and as an instance listener."""

    def __init__(
        self, engine: ProcessEngine, tenant_id: str, settings: SlaSettings, calendars: SlaCalendars
    ) -> None:
        self.engine = engine
        self.tenant_id = tenant_id
        self.settings = settings
        self.calendars = calendars
        self._definition_hours: dict[str, float | None] = {}
        self._queue_minutes: dict[str, tuple[float, int | None]] = {}

    def tasks_changed(self, tx: Transaction, changes: TaskChanges, now: datetime) -> None:
        tenant = self.tenant_id
        created = [t for t in changes.created if t.tenant_id == tenant]
        ended = [t.id for t in (*changes.completed, *changes.cancelled) if t.tenant_id == tenant]
        if not (created or ended):
            return
        work = work_sql(tx, tenant, now)
        if ended:
            self._ended(work, ended)
        for task in created:
            self._track(tx, work, task)

    def instances_changed(self, tx: Transaction, changes: InstanceChanges, now: datetime) -> None:
        started = [
            state.instance
            for state, before in changes.instances
            if before is None
            and state.instance.tenant_id == self.tenant_id
            and self._target_hours(tx, state.instance.definition_id)
        ]
        if not started:
            return
        work = work_sql(tx, self.tenant_id, now)
        name, calendar = self.calendars.default(work)
        share = self.settings.at_risk_share
        rows = []
        for instance in started:
            hours = self._target_hours(tx, instance.definition_id) or 0.0
            start = instance.started_at
            due = SlaSpec.hours(hours).due(start, calendar)
            rows.append({
                "instance_id": instance.id, "tenant_id": work.tenant, "started_at": start,
                "due_at": due,
                "at_risk_at": at_risk_at(start, due, calendar, share) if due > start else due,
                "calendar": name,
            })
        work.conn.execute(IS.insert(), rows)

    def _ended(self, work: w.WorkSql, task_ids: list[str]) -> None:
        work.conn.execute(
            update(S)
            .where(S.c.tenant_id == work.tenant, S.c.task_id.in_(task_ids), S.c.ended_at.is_(None))
            .values(ended_at=work.now)
        )
        j = s.job
        ids = [job_id for task_id in task_ids for job_id in all_job_ids(task_id)]
        work.conn.execute(  # by primary key: no scan of a large job table
            delete(j).where(
                j.c.tenant_id == work.tenant, j.c.kind == SLA_CHECK_KIND, j.c.id.in_(ids)
            )
        )

    def _target_hours(self, tx: Transaction, definition_id: str) -> float | None:
        if definition_id not in self._definition_hours:
            record = tx.get_definition(definition_id)
            self._definition_hours[definition_id] = (
                record.sla_target_hours if record is not None else None
            )
        return self._definition_hours[definition_id]

    def _step_sla(self, tx: Transaction, task: UserTaskRecord) -> SlaSpec | None:
        process = self.engine._executable(tx, task.definition_id).process
        node = process.all_nodes.get(task.element_id)
        if isinstance(node, UserTask):
            return parse_sla(node.sla, "task")
        return None

    def _queue_sla(self, work: w.WorkSql, queue_name: str | None) -> SlaSpec | None:
        if queue_name is None:
            return None
        cached = self._queue_minutes.get(queue_name)
        if cached is None or time.monotonic() - cached[0] > self.settings.config_ttl:
            row = work.one(w.Q, name=queue_name)
            cached = (time.monotonic(), row.sla_minutes if row is not None else None)
            self._queue_minutes[queue_name] = cached
        minutes = cached[1]
        return SlaSpec.minutes(minutes, "queue") if minutes else None

    def _track(self, tx: Transaction, work: w.WorkSql, task: UserTaskRecord) -> None:
        hours = self._target_hours(tx, task.definition_id)
        specs = [
            self._step_sla(tx, task),
            self._queue_sla(work, task.queue),
            SlaSpec.hours(hours, "definition") if hours else None,
        ]
        calendar_name, calendar = self.calendars.for_queue(work, task.queue)
        start = task.created_at
        deadline = tightest(specs, start, calendar)
        if deadline is None and task.due_at is None:
            return
        if deadline is None or (task.due_at is not None and task.due_at < deadline.due_at):
            due, source = task.due_at, "bpmn"
        else:
            due, source = deadline.due_at, deadline.spec.source
        if due is None:
            return
        task.due_at = due
        risk = (
            at_risk_at(start, due, calendar, self.settings.at_risk_share) if due > start else due
        )
        work.insert(S, {
            "task_id": task.id, "tenant_id": work.tenant, "instance_id": task.instance_id,
            "started_at": start, "due_at": due, "at_risk_at": risk, "source": source,
            "calendar": calendar_name, "ended_at": None, "breached_at": None,
        })
        at_risk_id, breach_id = check_job_ids(task.id)
        jobs = [
            self._job(at_risk_id, task, risk, "AT_RISK", work.now),
            self._job(breach_id, task, due + BREACH_CHECK_DELAY, "BREACHED", work.now),
        ]
        work.tx.insert_jobs(jobs)

    @staticmethod
    def _job(job_id: str, task: UserTaskRecord, due: datetime, check: str, now: datetime) -> Job:
        # no instance id: the instance row may not be written yet in this command, and the
        # check is a job of the work layer, not a step of the instance
        return Job(
            job_id, SLA_CHECK_KIND, due, now,  # type: ignore[arg-type]
            payload={"task_id": task.id, "check": check}, tenant_id=task.tenant_id,
        )


def task_slas(work: w.WorkSql, task_ids: Sequence[str]) -> dict[str, TaskSla]:
    """The SLA of each of ``task_ids`` that has one, with its status at ``work.now``."""
    if not task_ids:
        return {}
    rows = work.conn.execute(
        select(S, task_status_sql(work.now).label("status")).where(
            S.c.tenant_id == work.tenant, S.c.task_id.in_(list(task_ids))
        )
    ).all()
    return {
        r.task_id: TaskSla(
            r.task_id, r.started_at, r.due_at, r.at_risk_at, r.source, r.calendar,
            SlaStatus(r.status), r.ended_at, r.breached_at,
        )
        for r in rows
    }


def instance_slas(
    work: w.WorkSql,
    instance_ids: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 100,
) -> list[InstanceSla]:
    """Instances' SLAs with their status at ``work.now``: of ``instance_ids``, and/or
    in ``statuses`` (earliest due first)."""
    pi = s.process_instance
    status = instance_status_sql(work.now)
    statement = (
        select(IS, status.label("status"))
        .select_from(
            IS.join(pi, (pi.c.id == IS.c.instance_id) & (pi.c.tenant_id == IS.c.tenant_id))
        )
        .where(IS.c.tenant_id == work.tenant)
        .order_by(IS.c.due_at, IS.c.instance_id)
        .limit(limit)
    )
    if instance_ids is not None:
        statement = statement.where(IS.c.instance_id.in_(list(instance_ids)))
    if statuses is not None:
        statement = statement.where(status.in_(sorted({SlaStatus(v).value for v in statuses})))
    return [
        InstanceSla(r.instance_id, r.started_at, r.due_at, r.at_risk_at, r.calendar,
                    SlaStatus(r.status))
        for r in work.conn.execute(statement).all()
    ]


__all__ = [
    "BREACH_CHECK_DELAY",
    "DEFAULT_CALENDAR_NAME",
    "SLA_CHECK_KIND",
    "InstanceSla",
    "SlaCalendars",
    "SlaSettings",
    "SlaTracker",
    "TaskSla",
    "check_job_ids",
    "instance_slas",
    "repeat_job_id",
    "task_sla_condition",
    "task_slas",
    "task_status_sql",
]
