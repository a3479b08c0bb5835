"""The events caseflow tells the world about: their names, payload shapes, constructors.

Every event is an :class:`~caseflow.runtime.ports.OutboxEvent`: ``type`` is one of the
names below, ``payload`` a JSON object with camelCase keys (the shapes are listed in
``docs/events.md``). The constructors are the one place a payload is built, so every
writer (the recorder, the SLA and escalation jobs) produces the same shape.

Process level, after seed 000: WorkflowStarted, WorkflowCompleted, WorkflowFailed (the
instance reached ERROR), WorkflowTerminated, StepAssigned (a user task was placed in a
queue or with an assignee by routing, auto-assignment, a reassignment or an escalation),
StepCompleted (a user task or an external worker's task was completed), SLABreached,
EscalationTriggered, QualityCheckFailed (a review step was completed with a failing
verdict: ``reject`` / ``return``). Task level: the lifecycle of one user task
(TaskCreated ... TaskCancelled), one event per change a human or the system made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import uuid_utils

from caseflow.engine.state import DEFAULT_TENANT, InstanceRecord, UserTaskRecord
from caseflow.runtime.ports import OutboxEvent

WORKFLOW_STARTED: Final = "WorkflowStarted"
WORKFLOW_COMPLETED: Final = "WorkflowCompleted"
WORKFLOW_FAILED: Final = "WorkflowFailed"
WORKFLOW_TERMINATED: Final = "WorkflowTerminated"
STEP_ASSIGNED: Final = "StepAssigned"
STEP_COMPLETED: Final = "StepCompleted"
SLA_BREACHED: Final = "SLABreached"
ESCALATION_TRIGGERED: Final = "EscalationTriggered"
QUALITY_CHECK_FAILED: Final = "QualityCheckFailed"

TASK_CREATED: Final = "TaskCreated"
TASK_CLAIMED: Final = "TaskClaimed"
TASK_UNCLAIMED: Final = "TaskUnclaimed"
TASK_ASSIGNED: Final = "TaskAssigned"
TASK_COMPLETED: Final = "TaskCompleted"
TASK_DELEGATED: Final = "TaskDelegated"
TASK_RESOLVED: Final = "TaskResolved"
TASK_REASSIGNED: Final = "TaskReassigned"
TASK_ESCALATED: Final = "TaskEscalated"
TASK_CANCELLED: Final = "TaskCancelled"

WORKFLOW_EVENTS: Final = (
    WORKFLOW_STARTED, WORKFLOW_COMPLETED, WORKFLOW_FAILED, WORKFLOW_TERMINATED,
)
STEP_EVENTS: Final = (
    STEP_ASSIGNED, STEP_COMPLETED, SLA_BREACHED, ESCALATION_TRIGGERED, QUALITY_CHECK_FAILED,
)
TASK_EVENTS: Final = (
    TASK_CREATED, TASK_CLAIMED, TASK_UNCLAIMED, TASK_ASSIGNED, TASK_COMPLETED, TASK_DELEGATED,
    TASK_RESOLVED, TASK_REASSIGNED, TASK_ESCALATED, TASK_CANCELLED,
)
EVENT_TYPES: Final = frozenset((*WORKFLOW_EVENTS, *STEP_EVENTS, *TASK_EVENTS))

# the work layer's history actions that are events of their own; CREATE, COMPLETE and
# CANCEL come from the engine's command (every store, with or without the work layer),
# OVERFLOW, COMMENT and UPDATE are bookkeeping, not lifecycle
HISTORY_EVENTS: Final[Mapping[str, str]] = {
    "CLAIM": TASK_CLAIMED,
    "UNCLAIM": TASK_UNCLAIMED,
    "ASSIGN": TASK_ASSIGNED,
    "DELEGATE": TASK_DELEGATED,
    "RESOLVE": TASK_RESOLVED,
    "REASSIGN": TASK_REASSIGNED,
    "ESCALATE": TASK_ESCALATED,
}
# ... of which these also place the step somewhere new: StepAssigned follows them
ASSIGNING_ACTIONS: Final = frozenset({"ASSIGN", "REASSIGN", "ESCALATE"})

# the outcomes of a review step that mean its quality check failed (seed 000: a step
# instance's Decision Reject/Return with ValidationStatus Failed)
FAILING_OUTCOMES: Final = frozenset({"reject", "rejected", "return", "returned"})


def new_event_id() -> str:
    """UUID v7, as every caseflow id: consumers deduplicate on it."""
    return str(uuid_utils.uuid7())


def event(
    type_: str,
    occurred_at: datetime,
    payload: Mapping[str, Any],
    *,
    instance_id: str | None = None,
    task_id: str | None = None,
    tenant_id: str = DEFAULT_TENANT,
    event_id: str | None = None,
) -> OutboxEvent:
    """Any event, keys with a ``None`` value left out of the payload."""
    return OutboxEvent(
        id=event_id or new_event_id(),
        type=type_,
        occurred_at=occurred_at,
        payload={k: v for k, v in payload.items() if v is not None},
        instance_id=instance_id,
        task_id=task_id,
        tenant_id=tenant_id,
    )


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --- process level ------------------------------------------------------------------------


def _instance_payload(instance: InstanceRecord) -> dict[str, Any]:
    return {
        "processKey": instance.process_key,
        "definitionId": instance.definition_id,
        "businessKey": instance.business_key,
        "caseId": instance.case_id,
    }


def workflow_started(instance: InstanceRecord, now: datetime) -> OutboxEvent:
    return event(
        WORKFLOW_STARTED,
        now,
        {
            **_instance_payload(instance),
            "startedBy": instance.started_by,
            "startedAt": iso(instance.started_at),
            "parentInstanceId": instance.parent_instance_id,
        },
        instance_id=instance.id,
        tenant_id=instance.tenant_id,
    )


_ENDED = {
    "COMPLETED": WORKFLOW_COMPLETED,
    "ERROR": WORKFLOW_FAILED,
    "TERMINATED": WORKFLOW_TERMINATED,
}


def workflow_ended(instance: InstanceRecord, now: datetime) -> OutboxEvent | None:
    """WorkflowCompleted / WorkflowFailed / WorkflowTerminated, by the instance's status;
    None for a status that is no end."""
    type_ = _ENDED.get(instance.status)
    if type_ is None:
        return None
    return event(
        type_,
        now,
        {
            **_instance_payload(instance),
            "status": instance.status,
            "startedAt": iso(instance.started_at),
            "endedAt": iso(instance.ended_at or now),
            "reason": instance.end_reason,
        },
        instance_id=instance.id,
        tenant_id=instance.tenant_id,
    )


# --- tasks and steps --------------------------------------------------------------------


def task_payload(task: UserTaskRecord) -> dict[str, Any]:
    return {
        "taskId": task.id,
        "elementId": task.element_id,
        "name": task.name,
        "processKey": task.process_key,
        "businessKey": task.business_key,
        "caseId": task.case_id,
        "status": task.status,
        "queue": task.queue,
        "assignee": task.assignee,
        "candidateGroups": list(task.candidate_groups) or None,
        "candidateUsers": list(task.candidate_users) or None,
        "priority": task.priority,
        "dueAt": iso(task.due_at),
    }


def task_event(type_: str, task: UserTaskRecord, now: datetime, **extra: Any) -> OutboxEvent:
    return event(
        type_,
        now,
        {**task_payload(task), **extra},
        instance_id=task.instance_id,
        task_id=task.id,
        tenant_id=task.tenant_id,
    )


def task_created(task: UserTaskRecord, now: datetime) -> OutboxEvent:
    return task_event(TASK_CREATED, task, now)


def step_assigned(task: UserTaskRecord, now: datetime, *, by: str | None = None) -> OutboxEvent:
    return task_event(STEP_ASSIGNED, task, now, by=by)


def task_completed(task: UserTaskRecord, now: datetime) -> OutboxEvent:
    return task_event(
        TASK_COMPLETED, task, now, completedBy=task.completed_by, outcome=task.outcome
    )


def step_completed(task: UserTaskRecord, now: datetime) -> OutboxEvent:
    return task_event(
        STEP_COMPLETED, task, now, kind="userTask", completedBy=task.completed_by,
        outcome=task.outcome,
    )


def task_cancelled(
    task: UserTaskRecord, now: datetime, *, reason: str | None = None
) -> OutboxEvent:
    return task_event(TASK_CANCELLED, task, now, reason=reason)


def quality_check_failed(task: UserTaskRecord, now: datetime) -> OutboxEvent:
    return task_event(
        QUALITY_CHECK_FAILED, task, now, completedBy=task.completed_by, outcome=task.outcome
    )


def external_step_completed(
    *,
    instance_id: str,
    external_task_id: str,
    element_id: str,
    process_key: str,
    topic: str,
    worker_id: str | None,
    business_key: str | None,
    now: datetime,
    tenant_id: str = DEFAULT_TENANT,
) -> OutboxEvent:
    return event(
        STEP_COMPLETED,
        now,
        {
            "externalTaskId": external_task_id,
            "elementId": element_id,
            "processKey": process_key,
            "businessKey": business_key,
            "kind": "externalTask",
            "topic": topic,
            "completedBy": worker_id,
        },
        instance_id=instance_id,
        tenant_id=tenant_id,
    )


def task_history_event(
    action: str,
    *,
    task_id: str,
    instance_id: str,
    by: str,
    now: datetime,
    old_status: str | None = None,
    new_status: str | None = None,
    old_assignee: str | None = None,
    new_assignee: str | None = None,
    queue: str | None = None,
    comment: str | None = None,
    tenant_id: str = DEFAULT_TENANT,
    event_id: str | None = None,
    type_: str | None = None,
) -> OutboxEvent | None:
    """The event of one work-layer history row (a claim, a delegation...); None for an
    action that is no lifecycle event (see :data:`HISTORY_EVENTS`)."""
    found = type_ or HISTORY_EVENTS.get(action)
    if found is None:
        return None
    return event(
        found,
        now,
        {
            "taskId": task_id,
            "action": action,
            "by": by,
            "oldStatus": old_status,
            "status": new_status,
            "oldAssignee": old_assignee,
            "assignee": new_assignee,
            "queue": queue,
            "comment": comment,
        },
        instance_id=instance_id,
        task_id=task_id,
        tenant_id=tenant_id,
        event_id=event_id,
    )


def history_events(rows: Sequence[Mapping[str, Any]]) -> list[OutboxEvent]:
    """The events of work-layer history rows (``work_task_history`` columns): one per
    lifecycle action, and StepAssigned after those that place the step anew."""
    found: list[OutboxEvent] = []
    for row in rows:
        action = row["action"]
        common: dict[str, Any] = {
            "task_id": row["task_id"],
            "instance_id": row["instance_id"],
            "by": row["action_by"],
            "now": row["action_at"],
            "old_status": row.get("old_status"),
            "new_status": row.get("new_status"),
            "old_assignee": row.get("old_assignee"),
            "new_assignee": row.get("new_assignee"),
            "queue": row.get("queue"),
            "comment": row.get("comment"),
            "tenant_id": row.get("tenant_id") or DEFAULT_TENANT,
        }
        lifecycle = task_history_event(action, **common)
        if lifecycle is None:
            continue
        found.append(lifecycle)
        if action in ASSIGNING_ACTIONS:
            placed = task_history_event(action, type_=STEP_ASSIGNED, **common)
            if placed is not None:
                found.append(placed)
    return found


# --- for the SLA and escalation jobs ----------------------------------------------------


def sla_breached(
    *,
    instance_id: str,
    due_at: datetime,
    now: datetime,
    task_id: str | None = None,
    element_id: str | None = None,
    scope: str = "task",
    overdue_hours: float | None = None,
    business_key: str | None = None,
    case_id: str | None = None,
    queue: str | None = None,
    assignee: str | None = None,
    tenant_id: str = DEFAULT_TENANT,
    **extra: Any,
) -> OutboxEvent:
    """An SLA passed its due time: of a task (``scope="task"``) or a whole instance
    (``scope="instance"``). ``extra`` keys (camelCase) are added to the payload."""
    return event(
        SLA_BREACHED,
        now,
        {
            "scope": scope,
            "taskId": task_id,
            "elementId": element_id,
            "dueAt": iso(due_at),
            "breachedAt": iso(now),
            "overdueHours": overdue_hours,
            "businessKey": business_key,
            "caseId": case_id,
            "queue": queue,
            "assignee": assignee,
            **extra,
        },
        instance_id=instance_id,
        task_id=task_id,
        tenant_id=tenant_id,
    )


def escalation_triggered(
    *,
    instance_id: str,
    now: datetime,
    level: int,
    reason: str,
    task_id: str | None = None,
    element_id: str | None = None,
    escalation_type: str = "Time",
    by: str | None = None,
    to_user: str | None = None,
    to_queue: str | None = None,
    from_queue: str | None = None,
    tenant_id: str = DEFAULT_TENANT,
    **extra: Any,
) -> OutboxEvent:
    """An escalation fired (seed 000's escalation log: type Time / Quality / Manual /
    System / Exception, a level, a reason, whom it went to)."""
    return event(
        ESCALATION_TRIGGERED,
        now,
        {
            "taskId": task_id,
            "elementId": element_id,
            "escalationType": escalation_type,
            "level": level,
            "reason": reason,
            "by": by,
            "toUser": to_user,
            "toQueue": to_queue,
            "fromQueue": from_queue,
            **extra,
        },
        instance_id=instance_id,
        task_id=task_id,
        tenant_id=tenant_id,
    )
