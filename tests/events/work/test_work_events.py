"""The human-work operations report the task's lifecycle, in the operation's transaction."""

from __future__ import annotations

import pytest

from caseflow.errors import Forbidden
from caseflow.runtime.ports import OutboxEvent, Store
from caseflow.work import WorkService
from tests.work.conftest import Org


def events_of(store: Store, task_id: str) -> list[OutboxEvent]:
    with store.transaction() as tx:
        return [e for _, e in tx.events_after(0, 10_000) if e.task_id == task_id]


def test_each_operation_on_a_task_is_an_event(org: Org) -> None:
    work: WorkService = org.work
    task = org.start()
    work.claim("lan", task)
    work.delegate("lan", task, "binh")
    work.resolve("binh", task)
    work.unclaim("lan", task)
    work.claim_next("binh")
    work.reassign("sup", task, "lan")
    work.escalate("sup", task, comment="late")
    work.complete("lan", task, outcome="return")
    # EscalationTriggered is the escalation service's own event (caseflow.time)
    found = [e for e in events_of(org.engine.store, task) if e.type != "EscalationTriggered"]
    assert [e.type for e in found] == [
        "TaskCreated", "StepAssigned",
        "TaskClaimed", "TaskDelegated", "TaskResolved", "TaskUnclaimed", "TaskClaimed",
        "TaskReassigned", "StepAssigned", "TaskEscalated", "StepAssigned",
        "TaskCompleted", "StepCompleted", "QualityCheckFailed",
    ]
    claimed = found[2]
    assert claimed.payload["by"] == "lan"
    assert claimed.payload["assignee"] == "lan"
    assert claimed.payload["status"] == "CLAIMED"
    assert found[0].payload["queue"] == "intake"  # reported where routing put it
    assert found[6].payload["by"] == "binh"  # claim-next
    assert found[7].payload["assignee"] == "lan"


def test_a_refused_operation_leaves_no_event(org: Org) -> None:
    task = org.start()
    before = events_of(org.engine.store, task)
    with pytest.raises(Forbidden):
        org.work.claim("out", task)
    assert events_of(org.engine.store, task) == before
