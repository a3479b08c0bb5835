"""Subprocesses, call activities, BPMN errors and multi-instance, on every backend."""

from __future__ import annotations

import pytest

from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import InstanceQuery, TaskQuery, TopicRequest
from tests.bpmn import chain, definitions, flow, process

ERRORS = '<error id="err_docs" errorCode="MISSING_DOCS" name="Missing documents"/>'


def open_tasks(engine: ProcessEngine, instance_id: str) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(TaskQuery(instance_id=instance_id)))


def complete(engine: ProcessEngine, instance_id: str, element_id: str, **variables: object) -> None:
    [task] = [
        t for t in engine.tasks(TaskQuery(instance_id=instance_id)) if t.element_id == element_id
    ][:1]
    engine.complete_task(task.id, variables)


def test_embedded_subprocess_runs_inside_its_scope(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <subProcess id="sub">
          <startEvent id="sub_s"/><userTask id="inner"/><endEvent id="sub_e"/>
          <sequenceFlow id="i1" sourceRef="sub_s" targetRef="inner"/>
          <sequenceFlow id="i2" sourceRef="inner" targetRef="sub_e"/>
        </subProcess>
        <userTask id="after"/><endEvent id="e"/>
        """
        + chain("s", "sub", "after", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    assert engine.instance(inst.id).active_elements == ["inner", "sub"]
    complete(engine, inst.id, "inner", result="done")
    assert open_tasks(engine, inst.id) == ["after"]
    assert engine.variables(inst.id)["result"] == "done"


def test_error_end_event_in_subprocess_is_caught_on_its_boundary(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <subProcess id="check">
          <startEvent id="cs"/><parallelGateway id="fork"/>
          <userTask id="other"/><exclusiveGateway id="ok" default="fine"/>
          <endEvent id="fail"><errorEventDefinition errorRef="err_docs"/></endEvent>
          <endEvent id="ce"/><endEvent id="ce2"/>
          <sequenceFlow id="c1" sourceRef="cs" targetRef="fork"/>
          <sequenceFlow id="c2" sourceRef="fork" targetRef="other"/>
          <sequenceFlow id="c3" sourceRef="fork" targetRef="ok"/>
          <sequenceFlow id="c4" sourceRef="ok" targetRef="fail">
            <conditionExpression>${!complete}</conditionExpression></sequenceFlow>
          <sequenceFlow id="fine" sourceRef="ok" targetRef="ce"/>
          <sequenceFlow id="c5" sourceRef="other" targetRef="ce2"/>
        </subProcess>
        <boundaryEvent id="onMissing" attachedToRef="check">
          <errorEventDefinition errorRef="err_docs" camunda:errorCodeVariable="code"/>
        </boundaryEvent>
        <userTask id="requestDocs"/><userTask id="decide"/><endEvent id="e"/><endEvent id="e2"/>
        """
        + chain("s", "check", "decide", "e")
        + chain("onMissing", "requestDocs", "e2"),
        roots=ERRORS,
    )
    engine.deploy(doc)
    failing = engine.start("p", variables={"complete": False})
    assert open_tasks(engine, failing.id) == ["requestDocs"]  # "other" was cancelled
    assert engine.variables(failing.id)["code"] == "MISSING_DOCS"
    cancelled = engine.tasks(TaskQuery(instance_id=failing.id, include_closed=True))
    assert {(t.element_id, t.status) for t in cancelled} >= {("other", "CANCELLED")}
    passing = engine.start("p", variables={"complete": True})
    assert open_tasks(engine, passing.id) == ["other"]
    complete(engine, passing.id, "other")
    assert open_tasks(engine, passing.id) == ["decide"]


EXTERNAL_WITH_BOUNDARY = process(
    """
    <startEvent id="s"/>
    <serviceTask id="verify" camunda:type="external" camunda:topic="verify-identity"/>
    <boundaryEvent id="rejected" attachedToRef="verify">
      <errorEventDefinition errorRef="err_docs"/>
    </boundaryEvent>
    <userTask id="manual"/><userTask id="next"/><endEvent id="e"/><endEvent id="e2"/>
    """
    + chain("s", "verify", "next", "e")
    + chain("rejected", "manual", "e2"),
    roots=ERRORS,
)


def test_external_task_fetch_lock_and_complete(engine: ProcessEngine) -> None:
    engine.deploy(EXTERNAL_WITH_BOUNDARY)
    inst = engine.start("p", business_key="BK-1", variables={"citizenId": "0123"})
    [locked] = engine.fetch_and_lock("w1", [TopicRequest("verify-identity", 60_000)])
    assert locked.task.topic == "verify-identity"
    assert locked.task.business_key == "BK-1"
    assert locked.variables == {"citizenId": "0123"}
    assert engine.fetch_and_lock("w2", [TopicRequest("verify-identity", 60_000)]) == []
    engine.complete_external_task(locked.task.id, "w1", {"verified": True})
    assert open_tasks(engine, inst.id) == ["next"]
    assert engine.variables(inst.id)["verified"] is True


def test_external_task_bpmn_error_is_caught_by_boundary(engine: ProcessEngine) -> None:
    engine.deploy(EXTERNAL_WITH_BOUNDARY)
    inst = engine.start("p")
    [locked] = engine.fetch_and_lock("w1", [TopicRequest("verify-identity", 60_000)])
    engine.handle_bpmn_error(locked.task.id, "w1", error_code="MISSING_DOCS")
    assert open_tasks(engine, inst.id) == ["manual"]
    assert engine.instance(inst.id).external_tasks == []


def test_external_task_failures_count_down_to_an_incident(engine: ProcessEngine) -> None:
    engine.deploy(EXTERNAL_WITH_BOUNDARY)
    inst = engine.start("p")
    [locked] = engine.fetch_and_lock("w1", [TopicRequest("verify-identity", 60_000)])
    engine.handle_failure(locked.task.id, "w1", error_message="timeout", retries=1)
    [again] = engine.fetch_and_lock("w1", [TopicRequest("verify-identity", 60_000)])
    assert again.task.retries == 1
    engine.handle_failure(again.task.id, "w1", error_message="timeout again", retries=0)
    assert engine.fetch_and_lock("w1", [TopicRequest("verify-identity", 60_000)]) == []
    [incident] = engine.incidents(inst.id)
    assert (incident.kind, incident.message, incident.element_id) == (
        "failedExternalTask",
        "timeout again",
        "verify",
    )
    engine.set_external_task_retries(locked.task.id, 2)
    assert engine.incidents(inst.id) == []
    [retried] = engine.fetch_and_lock("w1", [TopicRequest("verify-identity", 60_000)])
    engine.complete_external_task(retried.task.id, "w1")
    assert open_tasks(engine, inst.id) == ["next"]


def test_uncaught_bpmn_error_puts_the_instance_in_error(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><serviceTask id="t" camunda:type="external" camunda:topic="x"/>'
        '<endEvent id="e"/>' + chain("s", "t", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    [locked] = engine.fetch_and_lock("w", [TopicRequest("x", 1000)])
    engine.handle_bpmn_error(locked.task.id, "w", error_code="BOOM", error_message="bad")
    record = engine.instance_record(inst.id)
    assert record.status == "ERROR"
    assert "BOOM" in (record.end_reason or "")
    [incident] = engine.incidents(inst.id)
    assert incident.kind == "unhandledError"


CHILD = process(
    """
    <startEvent id="cs"/><userTask id="childTask"/>
    <exclusiveGateway id="cg" default="cok"/>
    <endEvent id="cfail"><errorEventDefinition errorRef="err_docs"/></endEvent>
    <endEvent id="ce"/>
    """
    + chain("cs", "childTask", "cg")
    + flow("cg", "cfail", "${fail}")
    + flow("cg", "ce", id="cok"),
    id="child",
    roots=ERRORS,
)

PARENT = process(
    """
    <startEvent id="s"/>
    <callActivity id="call" calledElement="child">
      <extensionElements>
        <camunda:in source="amount" target="childAmount"/>
        <camunda:in sourceExpression="${amount * 2}" target="doubled"/>
        <camunda:in businessKey="#{execution.processBusinessKey}"/>
        <camunda:out source="childResult" target="result"/>
      </extensionElements>
    </callActivity>
    <boundaryEvent id="caught" attachedToRef="call"><errorEventDefinition/></boundaryEvent>
    <userTask id="after"/><userTask id="handle"/><endEvent id="e"/><endEvent id="e2"/>
    """
    + chain("s", "call", "after", "e")
    + chain("caught", "handle", "e2"),
    id="parent",
)


def test_call_activity_maps_variables_both_ways(engine: ProcessEngine) -> None:
    engine.deploy(CHILD, resource_name="child.bpmn")
    engine.deploy(PARENT, resource_name="parent.bpmn")
    parent = engine.start("parent", business_key="CASE-7", variables={"amount": 21})
    [child] = engine.instances(InstanceQuery(parent_instance_id=parent.id))
    assert child.business_key == "CASE-7"
    assert child.process_key == "child"
    assert engine.variables(child.id) == {"childAmount": 21, "doubled": 42}
    complete(engine, child.id, "childTask", childResult="approved", fail=False)
    assert engine.instance_record(child.id).status == "COMPLETED"
    assert open_tasks(engine, parent.id) == ["after"]
    assert engine.variables(parent.id) == {"amount": 21, "result": "approved"}


def test_error_in_called_process_reaches_the_call_activity_boundary(
    engine: ProcessEngine,
) -> None:
    engine.deploy(CHILD, resource_name="child.bpmn")
    engine.deploy(PARENT, resource_name="parent.bpmn")
    parent = engine.start("parent", variables={"amount": 1})
    [child] = engine.instances(InstanceQuery(parent_instance_id=parent.id))
    complete(engine, child.id, "childTask", fail=True)
    assert engine.instance_record(child.id).status == "TERMINATED"
    assert open_tasks(engine, parent.id) == ["handle"]


def test_terminating_the_caller_terminates_the_called_process(engine: ProcessEngine) -> None:
    engine.deploy(CHILD, resource_name="child.bpmn")
    engine.deploy(PARENT, resource_name="parent.bpmn")
    parent = engine.start("parent", variables={"amount": 1})
    [child] = engine.instances(InstanceQuery(parent_instance_id=parent.id))
    engine.terminate(parent.id, "withdrawn")
    assert engine.instance_record(child.id).status == "TERMINATED"
    assert open_tasks(engine, child.id) == []


def test_multi_instance_parallel_over_a_collection(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <userTask id="sign" camunda:assignee="${signer}">
          <multiInstanceLoopCharacteristics camunda:collection="${signers}"
              camunda:elementVariable="signer"/>
        </userTask>
        <userTask id="after"/><endEvent id="e"/>
        """
        + chain("s", "sign", "after", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"signers": ["an", "binh", "chi"]})
    tasks = engine.tasks(TaskQuery(instance_id=inst.id))
    assert sorted(t.assignee or "" for t in tasks) == ["an", "binh", "chi"]
    for task in tasks:
        engine.complete_task(task.id)
    assert open_tasks(engine, inst.id) == ["after"]
    assert "signer" not in engine.variables(inst.id)  # loop variables stay local


def test_multi_instance_sequential_with_cardinality(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <userTask id="round">
          <multiInstanceLoopCharacteristics isSequential="true">
            <loopCardinality>${rounds}</loopCardinality>
          </multiInstanceLoopCharacteristics>
        </userTask>
        <endEvent id="e"/>
        """
        + chain("s", "round", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"rounds": 3})
    for _ in range(3):
        [task] = engine.tasks(TaskQuery(instance_id=inst.id))
        engine.complete_task(task.id)
    assert engine.instance_record(inst.id).status == "COMPLETED"
    rounds = [
        h
        for h in engine.history(inst.id)
        if h.element_id == "round" and h.element_type == "userTask"
    ]
    assert len(rounds) == 3


def test_multi_instance_completion_condition_cancels_the_rest(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <userTask id="vote">
          <multiInstanceLoopCharacteristics>
            <loopCardinality>5</loopCardinality>
            <completionCondition>${nrOfCompletedInstances >= 3}</completionCondition>
          </multiInstanceLoopCharacteristics>
        </userTask>
        <userTask id="count"/><endEvent id="e"/>
        """
        + chain("s", "vote", "count", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    votes = engine.tasks(TaskQuery(instance_id=inst.id))
    assert len(votes) == 5
    for task in votes[:3]:
        engine.complete_task(task.id)
    assert open_tasks(engine, inst.id) == ["count"]
    closed = engine.tasks(TaskQuery(instance_id=inst.id, include_closed=True))
    statuses = sorted(t.status for t in closed if t.element_id == "vote")
    assert statuses == ["CANCELLED", "CANCELLED", "COMPLETED", "COMPLETED", "COMPLETED"]


def test_multi_instance_subprocess_collects_output(engine: ProcessEngine) -> None:
    doc = definitions(
        """
        <process id="p" isExecutable="true">
        <startEvent id="s"/>
        <subProcess id="each">
          <multiInstanceLoopCharacteristics>
            <extensionElements>
              <zeebe:loopCharacteristics inputCollection="=items" inputElement="item"
                  outputCollection="results" outputElement="=item * 10"/>
            </extensionElements>
          </multiInstanceLoopCharacteristics>
          <startEvent id="es"/><endEvent id="ee"/>
          <sequenceFlow id="x1" sourceRef="es" targetRef="ee"/>
        </subProcess>
        <userTask id="after"/><endEvent id="e"/>
        <sequenceFlow id="f1" sourceRef="s" targetRef="each"/>
        <sequenceFlow id="f2" sourceRef="each" targetRef="after"/>
        <sequenceFlow id="f3" sourceRef="after" targetRef="e"/>
        </process>
        """
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"items": [1, 2, 3]})
    assert open_tasks(engine, inst.id) == ["after"]
    assert engine.variables(inst.id)["results"] == [10, 20, 30]


@pytest.mark.parametrize("count", [0])
def test_multi_instance_over_nothing_moves_on(engine: ProcessEngine, count: int) -> None:
    doc = process(
        '<startEvent id="s"/><userTask id="t"><multiInstanceLoopCharacteristics>'
        f"<loopCardinality>{count}</loopCardinality></multiInstanceLoopCharacteristics>"
        '</userTask><userTask id="after"/><endEvent id="e"/>' + chain("s", "t", "after", "e")
    )
    engine.deploy(doc)
    assert open_tasks(engine, engine.start("p").id) == ["after"]


def test_input_and_output_mappings_keep_locals_local(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <userTask id="t">
          <extensionElements><camunda:inputOutput>
            <camunda:inputParameter name="fee">${amount * 2}</camunda:inputParameter>
            <camunda:outputParameter name="total">${fee + extra}</camunda:outputParameter>
          </camunda:inputOutput></extensionElements>
        </userTask>
        <userTask id="after"/><endEvent id="e"/>
        """
        + chain("s", "t", "after", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"amount": 10})
    assert "fee" not in engine.variables(inst.id)  # an input parameter is local to the task
    complete(engine, inst.id, "t", extra=1)
    variables = engine.variables(inst.id)
    assert variables["total"] == 21
    assert "fee" not in variables


def test_zeebe_file_with_feel_conditions_and_io_mappings(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <serviceTask id="score">
          <extensionElements>
            <zeebe:taskDefinition type="credit-score" retries="3"/>
            <zeebe:ioMapping><zeebe:output source="=result.score" target="score"/></zeebe:ioMapping>
          </extensionElements>
        </serviceTask>
        <exclusiveGateway id="g" default="low"/>
        <userTask id="review"/><userTask id="fast"/><endEvent id="e1"/><endEvent id="e2"/>
        """
        + chain("s", "score", "g")
        + flow("g", "fast", "=score >= 700 and not(blocked)")
        + flow("g", "review", id="low")
        + chain("review", "e1")
        + chain("fast", "e2")
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"blocked": False})
    [locked] = engine.fetch_and_lock("w", [TopicRequest("credit-score", 1000)])
    engine.complete_external_task(locked.task.id, "w", {"result": {"score": 720}})
    assert open_tasks(engine, inst.id) == ["fast"]
    assert engine.variables(inst.id)["score"] == 720


def test_uncaught_error_in_called_process_fails_the_caller(engine: ProcessEngine) -> None:
    parent = process(
        '<startEvent id="s"/><callActivity id="call" calledElement="child"/><endEvent id="e"/>'
        + chain("s", "call", "e"),
        id="plain_parent",
    )
    engine.deploy(CHILD, resource_name="child.bpmn")
    engine.deploy(parent, resource_name="parent.bpmn")
    caller = engine.start("plain_parent")
    [child] = engine.instances(InstanceQuery(parent_instance_id=caller.id))
    complete(engine, child.id, "childTask", fail=True)
    assert engine.instance_record(caller.id).status == "ERROR"
    assert engine.instance_record(child.id).status == "TERMINATED"
    [incident] = engine.incidents(caller.id)
    assert "MISSING_DOCS" in incident.message


def test_error_boundary_on_a_multi_instance_activity_cancels_every_instance(
    engine: ProcessEngine,
) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <serviceTask id="check" camunda:type="external" camunda:topic="check">
          <multiInstanceLoopCharacteristics><loopCardinality>3</loopCardinality>
          </multiInstanceLoopCharacteristics>
        </serviceTask>
        <boundaryEvent id="failed" attachedToRef="check"><errorEventDefinition/></boundaryEvent>
        <userTask id="ok"/><userTask id="handle"/><endEvent id="e1"/><endEvent id="e2"/>
        """
        + chain("s", "check", "ok", "e1")
        + chain("failed", "handle", "e2")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    locked = engine.fetch_and_lock("w", [TopicRequest("check", 1000)], max_tasks=5)
    assert len(locked) == 3
    engine.complete_external_task(locked[0].task.id, "w")
    engine.handle_bpmn_error(locked[1].task.id, "w", error_code="ANY")
    assert open_tasks(engine, inst.id) == ["handle"]
    view = engine.instance(inst.id)
    assert view.external_tasks == []
    assert view.active_elements == ["handle"]
