"""Task queries as objects: what a task list asks for, turned into one SQL statement.

A :class:`TaskFilter` names a scope (whose tasks), filters, an order and a page. The
grant check is part of the statement (``EXISTS`` over the caller's valid grants, see
:mod:`caseflow.work.sql`), variables are matched in the ``variable`` table by ``EXISTS``
on their typed columns, so one query answers, whatever the page size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, or_, text

from caseflow.engine.state import TaskStatus
from caseflow.store.schema import TASK_STATUSES
from caseflow.work.model import CLAIMABLE_STATUSES, OPEN_STATUSES
from caseflow.work.sla import task_sla_condition
from caseflow.work.sql import (
    ACTOR,
    CAN_MANAGE,
    CAN_WORK,
    NOW,
    C,
    T,
    VariableOp,
    variable_condition,
)

Scope = Literal["mine", "available", "visible", "managed"]
"""Whose tasks: ``mine`` assigned to me or delegated by me; ``available`` unassigned
and claimable by me; ``visible`` everything my grants let me see; ``managed`` everything
in the queues I manage."""

SortField = Literal[
    "priority", "created_at", "due_at", "follow_up_at", "claimed_at", "name",
    "escalation_level", "queue",
]
_SORTABLE: frozenset[str] = frozenset(
    ("priority", "created_at", "due_at", "follow_up_at", "claimed_at", "name",
     "escalation_level", "queue")
)


@dataclass(frozen=True, slots=True)
class VariableFilter:
    """A process variable of the task's instance: ``name op value``."""

    name: str
    op: VariableOp
    value: Any


@dataclass(frozen=True, slots=True)
class TaskFilter:
    scope: Scope = "visible"
    queues: Sequence[str] | None = None
    statuses: Sequence[TaskStatus] | None = OPEN_STATUSES  # None: any status
    assignee: str | None = None
    candidate_group: str | None = None
    min_priority: int | None = None
    max_priority: int | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    follow_up_before: datetime | None = None
    follow_up_after: datetime | None = None
    created_before: datetime | None = None
    process_key: str | None = None
    element_id: str | None = None
    instance_id: str | None = None
    case_id: str | None = None
    business_key: str | None = None
    variables: Sequence[VariableFilter] = ()
    search: str | None = None
    """Text the task's name, business key or case id contains (case-insensitive)."""
    sla_statuses: Sequence[str] | None = None
    """ON_TRACK, AT_RISK, BREACHED, MET (:mod:`caseflow.work.sla`); tasks without an SLA
    match none."""
    sort: Sequence[tuple[SortField, bool]] = (("priority", True), ("created_at", False))
    """(field, descending) pairs; the task id breaks the last tie."""
    limit: int = 50
    offset: int = 0


def conditions(query: TaskFilter) -> list[ColumnElement[bool]]:
    """The WHERE of ``query``: run it with the ``actor``, ``now`` and ``tid`` parameters
    (see :class:`caseflow.work.sql.WorkSql`); grants are checked at ``now``."""
    where: list[ColumnElement[bool]] = []
    if query.scope == "mine":
        where.append(or_(T.c.assignee == ACTOR, T.c.owner == ACTOR))
        where.append(CAN_WORK)
    elif query.scope == "available":
        where.append(T.c.assignee.is_(None))
        where.append(status_in(CLAIMABLE_STATUSES))
        where.append(CAN_WORK)
    elif query.scope == "visible":
        where.append(or_(CAN_WORK, CAN_MANAGE))
    elif query.scope == "managed":
        where.append(CAN_MANAGE)
    else:
        raise ValueError(f"unknown scope {query.scope!r}")
    if query.statuses is not None:
        where.append(status_in(query.statuses))
    if query.queues is not None:
        where.append(T.c.queue.in_(list(query.queues)))
    for column, value in (
        (T.c.assignee, query.assignee),
        (T.c.process_key, query.process_key),
        (T.c.element_id, query.element_id),
        (T.c.instance_id, query.instance_id),
        (T.c.case_id, query.case_id),
        (T.c.business_key, query.business_key),
    ):
        if value is not None:
            where.append(column == value)
    if query.candidate_group is not None:
        where.append(
            C.select()
            .where(
                C.c.task_id == T.c.id,
                C.c.tenant_id == T.c.tenant_id,
                C.c.kind == "group",
                C.c.value == query.candidate_group,
            )
            .exists()
        )
    if query.min_priority is not None:
        where.append(T.c.priority >= query.min_priority)
    if query.max_priority is not None:
        where.append(T.c.priority <= query.max_priority)
    if query.due_before is not None:
        where.append(T.c.due_at < query.due_before)
    if query.due_after is not None:
        where.append(T.c.due_at >= query.due_after)
    if query.follow_up_before is not None:
        where.append(T.c.follow_up_at < query.follow_up_before)
    if query.follow_up_after is not None:
        where.append(T.c.follow_up_at >= query.follow_up_after)
    if query.created_before is not None:
        where.append(T.c.created_at < query.created_before)
    if query.search:
        wanted = query.search.lower()
        where.append(or_(*(
            func.lower(column).contains(wanted, autoescape=True)
            for column in (T.c.name, T.c.business_key, T.c.case_id)
        )))
    for v in query.variables:
        where.append(variable_condition(v.name, v.op, v.value))
    if query.sla_statuses is not None:
        where.append(task_sla_condition(query.sla_statuses, NOW))
    return where


def status_in(statuses: Sequence[str]) -> Any:
    """``status IN (...)`` with the values written out, not bound: a prepared statement's
    plan can then use the partial indexes whose predicates name the same statuses."""
    wanted = sorted(set(statuses))
    unknown = [v for v in wanted if v not in TASK_STATUSES]
    if unknown or not wanted:
        raise ValueError(f"unknown task status(es) {unknown or 'none given'}")
    return text(f"user_task.status IN ({', '.join(repr(v) for v in wanted)})")


def order(query: TaskFilter) -> list[Any]:
    clauses: list[Any] = []
    for name, descending in query.sort:
        if name not in _SORTABLE:
            raise ValueError(f"cannot sort tasks by {name!r}")
        column = T.c[name]
        ordered = column.desc() if descending else column.asc()
        # NULLS LAST only where a column can hold one: on NOT NULL columns the order must
        # stay the plain one the indexes have (DESC is NULLS FIRST to PostgreSQL)
        clauses.append(ordered.nulls_last() if column.nullable else ordered)
    clauses.append(T.c.id)
    return clauses


__all__ = ["Scope", "SortField", "TaskFilter", "VariableFilter", "conditions", "order"]
