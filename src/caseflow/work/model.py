"""The human-work domain as plain records: organisation, queues, tasks, history.

Each class is one row of one ``work_*`` table (or, for :class:`WorkTask`, a ``user_task``
row with its candidates), named like its columns. They are values: the service returns
them, nothing writes through them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from caseflow.engine.state import DEFAULT_TENANT, TaskStatus

RoleType = Literal["SYSTEM", "DEPARTMENT", "CUSTOM"]
QueueType = Literal["STANDARD", "PRIORITY", "SPECIALIZED", "OVERFLOW"]
Strategy = Literal["ROUND_ROBIN", "LEAST_LOADED", "SKILL_BASED", "PRIORITY_WEIGHTED"]
TaskAction = Literal[
    "CREATE", "ASSIGN", "OVERFLOW", "CLAIM", "UNCLAIM", "COMPLETE", "DELEGATE", "RESOLVE",
    "REASSIGN", "ESCALATE", "CANCEL", "COMMENT", "UPDATE",
]

ROLE_TYPES: tuple[RoleType, ...] = ("SYSTEM", "DEPARTMENT", "CUSTOM")
QUEUE_TYPES: tuple[QueueType, ...] = ("STANDARD", "PRIORITY", "SPECIALIZED", "OVERFLOW")
STRATEGIES: tuple[Strategy, ...] = (
    "ROUND_ROBIN", "LEAST_LOADED", "SKILL_BASED", "PRIORITY_WEIGHTED",
)
SYSTEM_USER = "SYSTEM"
"""Who history names when caseflow itself acted (routing, auto-assignment, the engine)."""

OPEN_STATUSES: tuple[TaskStatus, ...] = ("OPEN", "CLAIMED", "DELEGATED", "ESCALATED")
CLAIMABLE_STATUSES: tuple[TaskStatus, ...] = ("OPEN", "ESCALATED")  # and no assignee
HELD_STATUSES: tuple[TaskStatus, ...] = ("CLAIMED", "ESCALATED")  # with an assignee


@dataclass(frozen=True, slots=True)
class Department:
    id: str
    code: str
    name: str
    active: bool
    created_at: datetime
    parent_id: str | None = None
    description: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    experience_level: int  # 1 junior, 2 intermediate, 3 senior, 4 expert
    active: bool
    created_at: datetime
    email: str | None = None
    department_id: str | None = None
    deactivated_at: datetime | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class Role:
    """What a user may do, through grants: work the role's queues, manage them too.

    ``code`` is what BPMN candidate groups name. A role covers a queue when it is bound
    to it (``queue_id``) or assigned to it (:class:`QueueAssignment`).
    """

    id: str
    code: str
    name: str
    type: RoleType
    can_manage: bool
    active: bool
    created_at: datetime
    department_id: str | None = None
    queue_id: str | None = None
    description: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class Grant:
    """A role held by a user from ``valid_from`` until (not including) ``valid_until``."""

    id: str
    user_id: str
    role_id: str
    granted_by: str
    granted_at: datetime
    valid_from: datetime
    valid_until: datetime | None = None
    is_primary: bool = False
    tenant_id: str = DEFAULT_TENANT

    def valid_at(self, when: datetime) -> bool:
        return self.valid_from <= when and (self.valid_until is None or when < self.valid_until)


@dataclass(frozen=True, slots=True)
class Skill:
    id: str
    code: str
    name: str
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class Queue:
    """Where open tasks wait. Its load is counted from the tasks, never kept as a number."""

    id: str
    name: str
    type: QueueType
    active: bool
    created_at: datetime
    department_id: str | None = None
    description: str | None = None
    max_capacity: int | None = None  # open tasks; None: unbounded
    sla_minutes: int | None = None
    priority_weights: dict[str, float] | None = None  # {"<min priority>": weight}
    overflow_queue_id: str | None = None
    min_experience: int | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class QueueAssignment:
    """A role working a queue: how its tasks are handed out to the role's holders."""

    id: str
    queue_id: str
    role_id: str
    strategy: Strategy
    auto_assign: bool
    max_tasks_per_user: int
    priority_level: int
    active: bool
    created_at: datetime
    last_assigned_user: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Tasks of ``process_key``/``element_id`` whose ``condition`` holds go to ``queue_id``.

    Rules are tried by ``position``; the first that matches wins. ``None`` matches any.
    """

    id: str
    name: str
    position: int
    queue_id: str
    active: bool
    created_at: datetime
    process_key: str | None = None
    element_id: str | None = None
    condition: str | None = None
    priority: int | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class WorkTask:
    """A user task as a work item: the engine's row with what human work keeps on it."""

    id: str
    instance_id: str
    element_id: str  # the task definition key
    process_key: str
    name: str | None
    task_type: str
    status: TaskStatus
    priority: int
    created_at: datetime
    queue: str | None = None
    assignee: str | None = None
    owner: str | None = None  # a delegated task's owner; the delegate is the assignee
    candidate_users: tuple[str, ...] = ()
    candidate_groups: tuple[str, ...] = ()
    form_key: str | None = None
    claimed_at: datetime | None = None
    claimed_by: str | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    due_at: datetime | None = None
    follow_up_at: datetime | None = None
    escalation_level: int = 0
    escalated_at: datetime | None = None
    task_data: dict[str, Any] | None = None
    form_data: dict[str, Any] | None = None
    outcome: str | None = None
    outcome_reason: str | None = None
    business_key: str | None = None
    case_id: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class TaskHistoryEntry:
    id: str
    task_id: str
    instance_id: str
    action: TaskAction
    action_by: str
    action_at: datetime
    old_status: str | None = None
    new_status: str | None = None
    old_assignee: str | None = None
    new_assignee: str | None = None
    queue: str | None = None
    comment: str | None = None
    data: dict[str, Any] | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class CaseRouting:
    """Where a case's workflow stands: which department holds it now, and which before."""

    id: str
    case_id: str
    instance_id: str
    process_key: str
    initiated_at: datetime
    updated_at: datetime
    business_key: str | None = None
    initiated_by: str | None = None
    current_department_id: str | None = None
    previous_department_id: str | None = None
    current_queue: str | None = None
    routing_history: list[dict[str, Any]] = field(default_factory=list)
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    open: int  # waiting, unclaimed (status OPEN)
    claimed: int
    delegated: int
    escalated: int
    load: int  # every unfinished task in the queue
    overdue: int  # unfinished and past its due date
    oldest_created_at: datetime | None
    oldest_age_seconds: float | None
    max_capacity: int | None
    utilisation: float | None  # load / max_capacity; None when unbounded


__all__ = [
    "CLAIMABLE_STATUSES",
    "HELD_STATUSES",
    "OPEN_STATUSES",
    "QUEUE_TYPES",
    "ROLE_TYPES",
    "STRATEGIES",
    "SYSTEM_USER",
    "CaseRouting",
    "Department",
    "Grant",
    "Queue",
    "QueueAssignment",
    "QueueStats",
    "QueueType",
    "Role",
    "RoleType",
    "RoutingRule",
    "Skill",
    "Strategy",
    "TaskAction",
    "TaskHistoryEntry",
    "User",
    "WorkTask",
]
