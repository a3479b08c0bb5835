"""Events are written in the transaction of the change they report: all of them or none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseflow.errors import Forbidden
from caseflow.events import escalation_triggered, sla_breached
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import OutboxEvent, Store, TaskQuery, Transaction
from caseflow.store import open_store
from tests.bpmn import chain, process

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

TWO_STEPS = process(
    '<startEvent id="s"/>'
    '<userTask id="check" name="Check" camunda:candidateGroups="clerks"/>'
    '<userTask id="approve" name="Approve" camunda:assignee="boss"/>'
    '<endEvent id="e"/>' + chain("s", "check", "approve", "e")
)

FAILING = process(
    '<startEvent id="s"/><endEvent id="e"><errorEventDefinition errorRef="err"/></endEvent>'
    + chain("s", "e"),
    roots='<error id="err" errorCode="E_BAD"/>',
)


def events(store: Store) -> list[OutboxEvent]:
    with store.transaction() as tx:
        return [e for _, e in tx.events_after(0, 10_000)]


def types(store: Store, instance_id: str | None = None) -> list[str]:
    return [e.type for e in events(store) if instance_id is None or e.instance_id == instance_id]


def test_a_case_run_through_reports_each_step_in_order(engine: ProcessEngine) -> None:
    engine.deploy(TWO_STEPS)
    case = engine.start("p", business_key="HS-1", case_id="C-1", started_by="lan")
    [check] = engine.tasks(TaskQuery(instance_id=case.id))
    [approve] = engine.complete_task(check.id, {"ok": True}, user="lan", outcome="approve")
    engine.complete_task(approve.id, user="boss")

    found = [e for e in events(engine.store) if e.instance_id == case.id]
    assert [e.type for e in found] == [
        "WorkflowStarted", "TaskCreated", "StepAssigned",
        "TaskCompleted", "StepCompleted", "TaskCreated", "StepAssigned",
        "TaskCompleted", "StepCompleted", "WorkflowCompleted",
    ]
    started = found[0]
    assert started.payload["processKey"] == "p"
    assert started.payload["businessKey"] == "HS-1"
    assert started.payload["caseId"] == "C-1"
    assert started.payload["startedBy"] == "lan"
    assigned = found[2]
    assert assigned.task_id == check.id
    assert assigned.payload["candidateGroups"] == ["clerks"]
    assert found[6].payload["assignee"] == "boss"
    assert found[4].payload["completedBy"] == "lan"
    assert found[4].payload["outcome"] == "approve"
    assert len({e.id for e in found}) == len(found)  # ids are unique: consumers dedupe on them


def test_a_rejected_review_is_a_failed_quality_check(engine: ProcessEngine) -> None:
    engine.deploy(TWO_STEPS)
    case = engine.start("p")
    [check] = engine.tasks(TaskQuery(instance_id=case.id))
    engine.complete_task(check.id, user="lan", outcome="reject")
    found = [e for e in events(engine.store) if e.type == "QualityCheckFailed"]
    assert len(found) == 1
    assert found[0].payload["outcome"] == "reject"
    assert found[0].payload["elementId"] == "check"
    assert found[0].task_id == check.id


def test_an_approved_review_reports_no_failed_check(engine: ProcessEngine) -> None:
    engine.deploy(TWO_STEPS)
    case = engine.start("p")
    [check] = engine.tasks(TaskQuery(instance_id=case.id))
    engine.complete_task(check.id, user="lan", outcome="approve")
    assert "QualityCheckFailed" not in types(engine.store)


def test_termination_cancels_the_open_task_and_says_why(engine: ProcessEngine) -> None:
    engine.deploy(TWO_STEPS)
    case = engine.start("p")
    engine.terminate(case.id, reason="withdrawn by the applicant")
    assert types(engine.store, case.id)[-2:] == ["TaskCancelled", "WorkflowTerminated"]
    terminated = events(engine.store)[-1]
    assert terminated.payload["reason"] == "withdrawn by the applicant"
    assert terminated.payload["status"] == "TERMINATED"


def test_an_unhandled_error_is_a_failed_workflow(engine: ProcessEngine) -> None:
    engine.deploy(FAILING)
    case = engine.start("p")
    assert types(engine.store, case.id) == ["WorkflowStarted", "WorkflowFailed"]
    assert "E_BAD" in events(engine.store)[-1].payload["reason"]


def test_a_refused_command_leaves_no_event(engine: ProcessEngine) -> None:
    engine.deploy(TWO_STEPS)
    case = engine.start("p")
    [check] = engine.tasks(TaskQuery(instance_id=case.id))
    before = types(engine.store)

    def refuse(_tx: Transaction, _task: object) -> None:
        raise Forbidden("not yours")

    with pytest.raises(Forbidden):
        engine.complete_task(check.id, user="x", authorize=refuse)
    assert types(engine.store) == before


def test_a_command_that_fails_half_way_leaves_no_event(engine: ProcessEngine) -> None:
    engine.deploy(process(
        '<startEvent id="s"/><userTask id="a"/>'
        '<exclusiveGateway id="g"/><endEvent id="e"/>'
        + chain("s", "a", "g") + '<sequenceFlow id="f" sourceRef="g" targetRef="e">'
        '<conditionExpression xsi:type="tFormalExpression">${missing.name == 1}'
        "</conditionExpression></sequenceFlow>"
    ))
    case = engine.start("p")
    [task] = engine.tasks(TaskQuery(instance_id=case.id))
    before = types(engine.store)
    with pytest.raises(Exception):  # noqa: B017 - any failure: the point is what stays
        engine.complete_task(task.id, user="lan")
    assert types(engine.store) == before
    assert engine.task(task.id).status == "OPEN"


def test_events_are_written_only_when_the_transaction_commits(store: Store) -> None:
    made = sla_breached(instance_id="i1", due_at=NOW, now=NOW, task_id="t1")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.add_events([made])
        raise RuntimeError("rolled back")
    assert events(store) == []
    with store.transaction() as tx:
        tx.add_events([made, escalation_triggered(
            instance_id="i1", now=NOW, level=1, reason="late", to_queue="supervisors")])
    found = events(store)
    assert [e.type for e in found] == ["SLABreached", "EscalationTriggered"]
    assert found[0].payload["dueAt"] == NOW.isoformat()
    assert found[1].payload["toQueue"] == "supervisors"
    assert found[1].payload["level"] == 1


def test_the_recorder_can_be_left_out() -> None:
    engine = ProcessEngine(open_store("memory://"), instance_listeners=())
    engine.deploy(TWO_STEPS)
    engine.start("p")
    assert events(engine.store) == []


def test_an_external_worker_completing_its_task_is_a_completed_step(
    engine: ProcessEngine,
) -> None:
    from caseflow.runtime.ports import TopicRequest

    engine.deploy(process(
        '<startEvent id="s"/>'
        '<serviceTask id="verify" camunda:type="external" camunda:topic="verify-identity"/>'
        '<endEvent id="e"/>' + chain("s", "verify", "e")
    ))
    case = engine.start("p", business_key="HS-9")
    [locked] = engine.fetch_and_lock("worker-1", [TopicRequest("verify-identity", 60_000)])
    engine.complete_external_task(locked.task.id, "worker-1", {"verified": True})
    found = [e for e in events(engine.store) if e.instance_id == case.id]
    assert [e.type for e in found] == ["WorkflowStarted", "StepCompleted", "WorkflowCompleted"]
    step = found[1]
    assert step.payload["kind"] == "externalTask"
    assert step.payload["externalTaskId"] == locked.task.id
    assert step.payload["completedBy"] == "worker-1"
    assert step.payload["topic"] == "verify-identity"
    assert step.payload["businessKey"] == "HS-9"
