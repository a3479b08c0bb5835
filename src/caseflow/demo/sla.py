"""Due dates from ``caseflow:sla`` for the demo's tasks, in Vietnamese working time.

The engine reads ``caseflow:sla`` into the model and checks it at deploy, but does not
(yet) turn it into a task's due date. The demo wants due dates people can see run out,
so while it drives its cases it registers this listener: a task of a demo process that
opens without a due date gets its step's SLA counted from its creation in the business
calendar. Tasks the engine already dated are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from caseflow.model import parse_bpmn
from caseflow.model.elements import UserTask
from caseflow.runtime.ports import TaskChanges, TaskListener, Transaction
from caseflow.time.calendar import BusinessCalendar
from caseflow.time.sla import SlaSpec, parse_sla


def step_slas(sources: Iterable[bytes]) -> dict[tuple[str, str], SlaSpec]:
    """(process key, user task id) -> its SLA, for every user task that declares one."""
    found: dict[tuple[str, str], SlaSpec] = {}
    for source in sources:
        definitions = parse_bpmn(source).definitions
        for process in definitions.executable_processes:
            for node in process.all_nodes.values():
                if isinstance(node, UserTask):
                    spec = parse_sla(node.sla, "task")
                    if spec is not None:
                        found[(process.id, node.id)] = spec
    return found


class SlaDueDates(TaskListener):
    """Sets ``due_at`` on new tasks of the given steps that have none."""

    def __init__(self, slas: dict[tuple[str, str], SlaSpec], calendar: BusinessCalendar) -> None:
        self.slas = slas
        self.calendar = calendar

    def tasks_changed(self, tx: Transaction, changes: TaskChanges, now: datetime) -> None:
        for task in changes.created:
            if task.due_at is not None:
                continue
            spec = self.slas.get((task.process_key, task.element_id))
            if spec is not None:
                task.due_at = spec.due(task.created_at, self.calendar)
