"""The dashboards' numbers: each report is one SQL statement, aggregated in the database.

A report never loads task rows to count them in Python: the statements group, count and
average where the rows are, so they cost the same whatever the page of a dashboard shows.
Ages and durations are computed in SQL as seconds (``EXTRACT(EPOCH ...)`` on PostgreSQL,
``julianday`` on SQLite). The 95th percentile of completion times is PostgreSQL's
``percentile_disc(0.95)``; SQLite has no ordered-set aggregates, so there it is the same
nearest-rank value picked with window functions (the row whose rank is ``ceil(0.95 n)``).

Reports read what every user may not see (whole queues, every user's workload): the API
lets operators and admins read them, or a user their own queues (``queue_performance``'s
``actor``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
)

from caseflow.engine.state import DEFAULT_TENANT
from caseflow.store import schema as s
from caseflow.store.sql import SqlStore
from caseflow.work.sql import COVERED, NOW, TID

T = s.user_task
H = s.work_task_history
Q = s.work_queue
U = s.work_user
P = s.process_instance

_OPEN = text(f"user_task.{s.OPEN_TASK_PREDICATE}")


@dataclass(frozen=True, slots=True)
class QueuePerformance:
    queue: str
    open: int  # waiting, unclaimed
    claimed: int
    escalated: int
    load: int  # every unfinished task
    max_capacity: int | None
    utilisation: float | None  # load / max_capacity; None when unbounded
    average_age_seconds: float | None  # of the unfinished tasks
    oldest_age_seconds: float | None


@dataclass(frozen=True, slots=True)
class UserWorkload:
    user_id: str
    name: str
    assigned: int  # unfinished tasks assigned to the user (claimed, escalated, delegated to)
    claimed: int  # of those, status CLAIMED
    delegated_away: int  # unfinished tasks the user owns, delegated to someone else
    completed: int  # completed by the user in the window
    average_handle_seconds: float | None  # claim to completion, of those completed


@dataclass(frozen=True, slots=True)
class ProcessPerformance:
    process_key: str
    started: int  # instances started in the window
    completed: int  # instances completed in the window
    average_completion_seconds: float | None  # start to end, of those completed
    p95_completion_seconds: float | None
    tasks_completed_with_due: int  # user tasks completed in the window that had a due date
    tasks_completed_within_due: int
    sla_compliance: float | None  # within due / with due; None when no task had a due date


@dataclass(frozen=True, slots=True)
class EscalationCount:
    day: str  # YYYY-MM-DD (UTC)
    escalations: int
    tasks: int  # distinct tasks escalated that day


class WorkReports:
    """The reports of one tenant's human work (see the module docstring)."""

    def __init__(self, store: SqlStore, tenant_id: str = DEFAULT_TENANT) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.pg = store.is_postgres

    # --- SQL helpers that differ between the two databases ---

    def _epoch(self, value: Any) -> ColumnElement[float]:
        """Seconds since 1970 of a timestamp column or parameter."""
        if self.pg:
            return cast(func.extract("epoch", value), Float)
        return (func.julianday(value) - 2440587.5) * 86400.0

    def _seconds(self, start: Any, end: Any) -> ColumnElement[float]:
        return self._epoch(end) - self._epoch(start)

    def _day(self, value: Any) -> ColumnElement[str]:
        if self.pg:
            return func.to_char(func.timezone("UTC", value), literal_column("'YYYY-MM-DD'"))
        return func.strftime("%Y-%m-%d", value)

    def _rows(self, statement: Any, now: datetime, **params: Any) -> list[Any]:
        with self.store.transaction(read_only=True) as tx:
            if self.pg:
                tx.conn.exec_driver_sql("SET LOCAL jit = off")
            return list(tx.conn.execute(statement, {"tid": self.tenant_id, "now": now, **params}))

    # --- the reports ---

    def queue_performance(
        self, now: datetime, *, actor: str | None = None
    ) -> list[QueuePerformance]:
        """Per active queue (those ``actor``'s valid grants cover, when given): open,
        claimed, escalated, load, utilisation, average and oldest age of its tasks."""

        def count(condition: ColumnElement[bool]) -> Any:
            return func.sum(case((condition, 1), else_=0))

        age = self._seconds(T.c.created_at, NOW)
        per_queue = (
            select(
                T.c.queue.label("queue"),
                count(T.c.status == "OPEN").label("open"),
                count(T.c.status == "CLAIMED").label("claimed"),
                count(T.c.status == "ESCALATED").label("escalated"),
                func.count().label("load"),
                func.avg(age).label("average_age"),
                func.max(age).label("oldest_age"),
            )
            .where(T.c.tenant_id == TID, _OPEN)
            .group_by(T.c.queue)
            .subquery("per_queue")
        )
        statement = (
            select(
                Q.c.name,
                func.coalesce(per_queue.c.open, 0),
                func.coalesce(per_queue.c.claimed, 0),
                func.coalesce(per_queue.c.escalated, 0),
                func.coalesce(per_queue.c.load, 0),
                Q.c.max_capacity,
                per_queue.c.average_age,
                per_queue.c.oldest_age,
            )
            .select_from(Q.outerjoin(per_queue, per_queue.c.queue == Q.c.name))
            .where(Q.c.tenant_id == TID, Q.c.active)
            .order_by(Q.c.name)
        )
        if actor is not None:
            statement = statement.where(Q.c.name.in_(COVERED))
        result = []
        for name, open_, claimed, escalated, load, capacity, average, oldest in self._rows(
            statement, now, actor=actor
        ):
            result.append(QueuePerformance(
                queue=name, open=int(open_), claimed=int(claimed), escalated=int(escalated),
                load=int(load), max_capacity=capacity,
                utilisation=(int(load) / capacity) if capacity else None,
                average_age_seconds=_float(average), oldest_age_seconds=_float(oldest),
            ))
        return result

    def user_workload(
        self, now: datetime, since: datetime, until: datetime | None = None
    ) -> list[UserWorkload]:
        """Per active user: unfinished tasks assigned and claimed, delegated away, and
        tasks completed in ``[since, until)`` (until: ``now``)."""
        end = until or now
        held = (
            select(
                T.c.assignee.label("user_id"),
                func.count().label("assigned"),
                func.sum(case((T.c.status == "CLAIMED", 1), else_=0)).label("claimed"),
            )
            .where(T.c.tenant_id == TID, _OPEN, T.c.assignee.is_not(None))
            .group_by(T.c.assignee)
            .subquery("held")
        )
        owned = (
            select(T.c.owner.label("user_id"), func.count().label("delegated_away"))
            .where(T.c.tenant_id == TID, T.c.status == "DELEGATED", T.c.owner.is_not(None))
            .group_by(T.c.owner)
            .subquery("owned")
        )
        done = (
            select(
                T.c.completed_by.label("user_id"),
                func.count().label("completed"),
                func.avg(
                    case(
                        (T.c.claimed_at.is_not(None),
                         self._seconds(T.c.claimed_at, T.c.completed_at)),
                        else_=None,
                    )
                ).label("handle"),
            )
            .where(
                T.c.tenant_id == TID,
                T.c.status == "COMPLETED",
                T.c.completed_at >= since,
                T.c.completed_at < end,
                T.c.completed_by.is_not(None),
            )
            .group_by(T.c.completed_by)
            .subquery("done")
        )
        statement = (
            select(
                U.c.id,
                U.c.name,
                func.coalesce(held.c.assigned, 0),
                func.coalesce(held.c.claimed, 0),
                func.coalesce(owned.c.delegated_away, 0),
                func.coalesce(done.c.completed, 0),
                done.c.handle,
            )
            .select_from(
                U.outerjoin(held, held.c.user_id == U.c.id)
                .outerjoin(owned, owned.c.user_id == U.c.id)
                .outerjoin(done, done.c.user_id == U.c.id)
            )
            .where(U.c.tenant_id == TID, U.c.active)
            .order_by(U.c.id)
        )
        return [
            UserWorkload(
                user_id=user_id, name=name, assigned=int(assigned), claimed=int(claimed),
                delegated_away=int(delegated), completed=int(completed),
                average_handle_seconds=_float(handle),
            )
            for user_id, name, assigned, claimed, delegated, completed, handle in self._rows(
                statement, now
            )
        ]

    def process_performance(
        self, now: datetime, since: datetime, until: datetime | None = None
    ) -> list[ProcessPerformance]:
        """Per process key: instances started and completed in ``[since, until)``, the
        average and 95th percentile of start-to-end time of those completed, and the SLA
        compliance of its user tasks completed in the window (within their due date / with
        a due date)."""
        end = until or now
        duration = self._seconds(P.c.started_at, P.c.ended_at)
        in_window = and_(P.c.ended_at >= since, P.c.ended_at < end)
        finished = and_(P.c.status == "COMPLETED", in_window)
        keys = (
            select(P.c.process_key.label("process_key"))
            .where(P.c.tenant_id == TID, or_(and_(P.c.started_at >= since,
                                                  P.c.started_at < end), finished))
            .union(
                select(T.c.process_key).where(
                    T.c.tenant_id == TID, T.c.status == "COMPLETED",
                    T.c.completed_at >= since, T.c.completed_at < end,
                )
            )
            .subquery("keys")
        )
        started = (
            select(P.c.process_key.label("process_key"), func.count().label("n"))
            .where(P.c.tenant_id == TID, P.c.started_at >= since, P.c.started_at < end)
            .group_by(P.c.process_key)
            .subquery("started")
        )
        if self.pg:
            completed = (
                select(
                    P.c.process_key.label("process_key"),
                    func.count().label("n"),
                    func.avg(duration).label("average"),
                    func.percentile_disc(literal_column("0.95"))
                    .within_group(duration)
                    .label("p95"),
                )
                .where(P.c.tenant_id == TID, finished)
                .group_by(P.c.process_key)
                .subquery("completed")
            )
        else:
            # nearest rank: the duration ranked ceil(0.95 n) in its process key
            ranked = (
                select(
                    P.c.process_key.label("process_key"),
                    duration.label("seconds"),
                    func.row_number()
                    .over(partition_by=P.c.process_key, order_by=duration)
                    .label("rank"),
                    func.count().over(partition_by=P.c.process_key).label("n"),
                )
                .where(P.c.tenant_id == TID, finished)
                .subquery("ranked")
            )
            nearest = (ranked.c.n * 95 + 99) // 100  # ceil(0.95 n), in integers
            completed = (
                select(
                    ranked.c.process_key,
                    func.max(ranked.c.n).label("n"),
                    func.avg(ranked.c.seconds).label("average"),
                    func.max(
                        case((ranked.c.rank == nearest, ranked.c.seconds), else_=None)
                    ).label("p95"),
                )
                .group_by(ranked.c.process_key)
                .subquery("completed")
            )
        sla = (
            select(
                T.c.process_key.label("process_key"),
                func.count().label("with_due"),
                func.sum(case((T.c.completed_at <= T.c.due_at, 1), else_=0)).label("within"),
            )
            .where(
                T.c.tenant_id == TID, T.c.status == "COMPLETED", T.c.due_at.is_not(None),
                T.c.completed_at >= since, T.c.completed_at < end,
            )
            .group_by(T.c.process_key)
            .subquery("sla")
        )
        statement = (
            select(
                keys.c.process_key,
                func.coalesce(started.c.n, 0),
                func.coalesce(completed.c.n, 0),
                completed.c.average,
                completed.c.p95,
                func.coalesce(sla.c.with_due, 0),
                func.coalesce(sla.c.within, 0),
            )
            .select_from(
                keys.outerjoin(started, started.c.process_key == keys.c.process_key)
                .outerjoin(completed, completed.c.process_key == keys.c.process_key)
                .outerjoin(sla, sla.c.process_key == keys.c.process_key)
            )
            .order_by(keys.c.process_key)
        )
        return [
            ProcessPerformance(
                process_key=key, started=int(n_started), completed=int(n_completed),
                average_completion_seconds=_float(average), p95_completion_seconds=_float(p95),
                tasks_completed_with_due=int(with_due), tasks_completed_within_due=int(within),
                sla_compliance=(int(within) / int(with_due)) if with_due else None,
            )
            for key, n_started, n_completed, average, p95, with_due, within in self._rows(
                statement, now
            )
        ]

    def escalations(
        self, now: datetime, since: datetime, until: datetime | None = None
    ) -> list[EscalationCount]:
        """Escalations (manual and automatic) per UTC day in ``[since, until)``, from the
        task history (every escalation writes one ESCALATE row); days without any are
        left out."""
        end = until or now
        day = self._day(H.c.action_at).label("day")
        statement = (
            select(day, func.count(), func.count(H.c.task_id.distinct()))
            .where(
                H.c.tenant_id == TID, H.c.action == "ESCALATE",
                H.c.action_at >= since, H.c.action_at < end,
            )
            .group_by(day)
            .order_by(day)
        )
        return [
            EscalationCount(day=str(d), escalations=int(n), tasks=int(tasks))
            for d, n, tasks in self._rows(statement, now)
        ]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


__all__ = [
    "EscalationCount",
    "ProcessPerformance",
    "QueuePerformance",
    "UserWorkload",
    "WorkReports",
]
