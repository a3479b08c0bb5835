"""caseflow.work: human work. Organisation, queues, routing, claiming and assignment.

A user task the engine opens becomes a work item: :class:`WorkRouter` (registered on the
engine by :class:`WorkService`) routes it to a queue as it is written, and the service's
operations (claim, claim-next, complete, delegate, escalate, ...) move it on, each
checked against the acting user's grants at that moment and recorded in task history.

Needs a SQL store (SQLite or PostgreSQL); the in-memory store has no organisation.
"""

from caseflow.work.model import (
    CaseRouting,
    Department,
    Grant,
    Queue,
    QueueAssignment,
    QueueStats,
    Role,
    RoutingRule,
    Skill,
    TaskHistoryEntry,
    User,
    WorkTask,
)
from caseflow.work.queries import TaskFilter, VariableFilter
from caseflow.work.routing import WorkRouter
from caseflow.work.service import WorkService

__all__ = [
    "CaseRouting",
    "Department",
    "Grant",
    "Queue",
    "QueueAssignment",
    "QueueStats",
    "Role",
    "RoutingRule",
    "Skill",
    "TaskFilter",
    "TaskHistoryEntry",
    "User",
    "VariableFilter",
    "WorkRouter",
    "WorkService",
    "WorkTask",
]
