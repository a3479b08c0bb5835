"""The event recorder: what a command did, as outbox events in the command's transaction.

It is the engine's default :class:`~caseflow.runtime.ports.InstanceListener`. It runs
after the task listeners (so a task is reported where routing put it) and before
storage writes, adding the events with ``tx.add_events``: they commit with the change or
roll back with it, never one without the other.

Order within a command, which delivery keeps per instance: instances started; tasks
completed (TaskCompleted, StepCompleted, QualityCheckFailed); external steps completed;
tasks cancelled; tasks created (TaskCreated, StepAssigned); instances ended
(WorkflowCompleted / WorkflowFailed / WorkflowTerminated).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from caseflow.engine.state import ENDED_STATUSES, InstanceState
from caseflow.events import names
from caseflow.runtime.ports import InstanceChanges, InstanceListener, OutboxEvent, Transaction


class EventRecorder(InstanceListener):
    """Writes the events of each command (see the module docstring).

    ``failing_outcomes``: the task outcomes that report QualityCheckFailed.
    """

    def __init__(self, *, failing_outcomes: Collection[str] = names.FAILING_OUTCOMES) -> None:
        self.failing_outcomes = frozenset(o.lower() for o in failing_outcomes)

    def instances_changed(self, tx: Transaction, changes: InstanceChanges, now: datetime) -> None:
        events = self.events(changes, now)
        if events:
            tx.add_events(events)

    def events(self, changes: InstanceChanges, now: datetime) -> list[OutboxEvent]:
        found: list[OutboxEvent] = []
        ended: list[OutboxEvent] = []
        for state, before in changes.instances:
            instance = state.instance
            if before is None:
                found.append(names.workflow_started(instance, now))
            if instance.status != before and instance.status in ENDED_STATUSES:
                end = names.workflow_ended(instance, now)
                if end is not None:
                    ended.append(end)
        tasks = changes.tasks
        for task in tasks.completed:
            found.append(names.task_completed(task, now))
            found.append(names.step_completed(task, now))
            if task.outcome is not None and task.outcome.lower() in self.failing_outcomes:
                found.append(names.quality_check_failed(task, now))
        for state, _ in changes.instances:
            found.extend(_external_steps_completed(state, now))
        for task in tasks.cancelled:
            owner = next(
                (s for s, _ in changes.instances if s.instance.id == task.instance_id), None
            )
            reason = owner.instance.end_reason if owner is not None else None
            found.append(names.task_cancelled(task, now, reason=reason))
        for task in tasks.created:
            found.append(names.task_created(task, now))
            if task.queue or task.assignee or task.candidate_groups or task.candidate_users:
                found.append(names.step_assigned(task, now, by="system"))
        found.extend(ended)
        return found


def _external_steps_completed(state: InstanceState, now: datetime) -> list[OutboxEvent]:
    """External tasks the command removed because their worker completed them (a removed
    task whose activity ended ``completed``; one cancelled by a boundary event or a
    termination ended ``cancelled``)."""
    table = state.external_tasks
    if not table.loaded:
        return []
    _, _, deleted = table.changes()
    if not deleted:
        return []
    completed = {
        (record.execution_id, record.element_id)
        for record in (*state.history_updates.values(), *state.history)
        if record.outcome == "completed"
    }
    instance = state.instance
    return [
        names.external_step_completed(
            instance_id=instance.id,
            external_task_id=task.id,
            element_id=task.element_id,
            process_key=task.process_key,
            topic=task.topic,
            worker_id=task.lock_owner,
            business_key=task.business_key,
            now=now,
            tenant_id=task.tenant_id,
        )
        for task in deleted
        if (task.execution_id, task.element_id) in completed
    ]
