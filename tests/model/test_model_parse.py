"""parse_bpmn builds the whole immutable model and reports what it leaves out."""

from __future__ import annotations

import time
from types import MappingProxyType

import pytest

from caseflow.expr import Expression
from caseflow.model import parse_bpmn
from caseflow.model.elements import (
    BoundaryEvent,
    CancelEventDefinition,
    CompensateEventDefinition,
    ComplexGateway,
    ConditionalEventDefinition,
    EndEvent,
    ErrorEventDefinition,
    EscalationEventDefinition,
    EventBasedGateway,
    ExclusiveGateway,
    ExternalTask,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    LinkEventDefinition,
    MessageEventDefinition,
    ParallelGateway,
    ReceiveTask,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    Task,
    TerminateEventDefinition,
    TimerEventDefinition,
    UserTask,
)

from .snippets import chain, definitions, flow, line_of, process, with_code

ORDER = process(
    """
  <documentation>Handles orders</documentation>
  <laneSet id="ls">
    <lane id="sales" name="Sales">
      <flowNodeRef>start</flowNodeRef>
      <childLaneSet id="ls2">
        <lane id="inner"><flowNodeRef>check</flowNodeRef></lane>
      </childLaneSet>
    </lane>
    <lane id="ops"><flowNodeRef>ship</flowNodeRef></lane>
  </laneSet>
  <startEvent id="start" name="Order received">
    <messageEventDefinition id="med" messageRef="msg"/>
  </startEvent>
  <userTask id="check" name="Check order">
    <documentation>Look at it</documentation>
  </userTask>
  <exclusiveGateway id="ok" default="f_no"/>
  <subProcess id="ship">
    <startEvent id="ship_start"/>
    <serviceTask id="pack" camunda:type="external" camunda:topic="pack"/>
    <endEvent id="ship_end"/>
    <sequenceFlow id="s1" sourceRef="ship_start" targetRef="pack"/>
    <sequenceFlow id="s2" sourceRef="pack" targetRef="ship_end"/>
  </subProcess>
  <boundaryEvent id="late" attachedToRef="ship" cancelActivity="false">
    <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
  </boundaryEvent>
  <task id="notify"/>
  <endEvent id="done"/>
  <endEvent id="rejected"><terminateEventDefinition/></endEvent>
  <endEvent id="notified"/>
  <sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
  <sequenceFlow id="f2" sourceRef="check" targetRef="ok"/>
  <sequenceFlow id="f_yes" name="yes" sourceRef="ok" targetRef="ship">
    <conditionExpression xsi:type="tFormalExpression">${approved}</conditionExpression>
  </sequenceFlow>
  <sequenceFlow id="f_no" sourceRef="ok" targetRef="rejected"/>
  <sequenceFlow id="f3" sourceRef="ship" targetRef="done"/>
  <sequenceFlow id="f4" sourceRef="late" targetRef="notify"/>
  <sequenceFlow id="f5" sourceRef="notify" targetRef="notified"/>
""",
    id="order",
    attrs='name="Order" isExecutable="true" camunda:versionTag="1.2"',
    roots='<message id="msg" name="order-received"/>',
)


def test_builds_nodes_flows_and_scopes() -> None:
    result = parse_bpmn(ORDER, resource_name="order.bpmn")
    d = result.definitions
    (p,) = d.processes
    assert (p.id, p.name, p.is_executable, p.version_tag) == ("order", "Order", True, "1.2")
    assert p.documentation == "Handles orders"
    assert p.line == line_of(ORDER, '<process id="order"')
    assert set(p.nodes) == {
        "start",
        "check",
        "ok",
        "ship",
        "late",
        "notify",
        "done",
        "rejected",
        "notified",
    }
    assert set(p.all_nodes) == set(p.nodes) | {"ship_start", "pack", "ship_end"}
    assert set(p.flows) == {"f1", "f2", "f_yes", "f_no", "f3", "f4", "f5"}
    assert set(p.all_flows) == set(p.flows) | {"s1", "s2"}
    assert isinstance(p.nodes, MappingProxyType)
    assert isinstance(p.all_nodes, MappingProxyType)

    ship = p.node("ship")
    assert isinstance(ship, SubProcess)
    assert set(ship.nodes) == {"ship_start", "pack", "ship_end"}
    assert set(ship.flows) == {"s1", "s2"}
    assert p.node("pack").scope_id == "ship"
    assert p.node("check").scope_id == "order"
    assert p.scope_of(p.node("pack")) is ship
    assert p.scope_of(p.node("check")) is p

    check = p.node("check")
    assert isinstance(check, UserTask)
    assert (check.kind, check.name, check.documentation) == (
        "userTask",
        "Check order",
        "Look at it",
    )
    assert check.line == line_of(ORDER, '<userTask id="check"')

    # incoming/outgoing derived from the flows (the XML has no <incoming>/<outgoing>)
    assert check.incoming == ("f1",) and check.outgoing == ("f2",)
    gateway = p.node("ok")
    assert isinstance(gateway, ExclusiveGateway)
    assert gateway.outgoing == ("f_yes", "f_no")
    assert gateway.default_flow == "f_no"
    assert p.node("pack").incoming == ("s1",)

    assert isinstance(ship, SubProcess) and ship.boundary_events == ("late",)
    late = p.node("late")
    assert isinstance(late, BoundaryEvent)
    assert (late.attached_to, late.cancel_activity) == ("ship", False)
    (timer,) = late.event_definitions
    assert isinstance(timer, TimerEventDefinition)
    assert (timer.timer_kind, timer.value) == ("duration", "PT1H")

    yes = p.all_flows["f_yes"]
    assert (yes.source_ref, yes.target_ref, yes.name) == ("ok", "ship", "yes")
    assert isinstance(yes.condition, Expression)
    assert yes.condition.evaluate({"approved": True}) is True
    assert yes.line == line_of(ORDER, '<sequenceFlow id="f_yes"')
    assert p.all_flows["f_no"].condition is None

    start = p.node("start")
    assert isinstance(start, StartEvent)
    (med,) = start.event_definitions
    assert isinstance(med, MessageEventDefinition)
    assert (med.id, med.message_ref) == ("med", "msg")
    assert d.messages["msg"].name == "order-received"
    assert isinstance(p.node("rejected"), EndEvent)
    assert isinstance(p.node("rejected").event_definitions[0], TerminateEventDefinition)  # type: ignore[attr-defined]

    (sales, ops) = p.lanes
    assert (sales.id, sales.name, sales.flow_node_refs) == ("sales", "Sales", ("start",))
    assert sales.child_lanes[0].flow_node_refs == ("check",)
    assert ops.flow_node_refs == ("ship",)
    assert result.problems == ()
    assert d.parse_problems == ()


def test_incoming_outgoing_come_from_flows_not_from_stale_children() -> None:
    doc = process(
        '<startEvent id="s"><outgoing>nonsense</outgoing></startEvent>'
        '<task id="t"><incoming>also_nonsense</incoming></task><endEvent id="e"/>'
        + chain("s", "t", "e")
    )
    p = parse_bpmn(doc).definitions.process("p")
    assert p.node("s").outgoing == ("f_s_t",)
    assert p.node("t").incoming == ("f_s_t",)
    assert p.node("t").outgoing == ("f_t_e",)


def test_every_event_definition_kind() -> None:
    doc = process(
        """
  <startEvent id="s1"><timerEventDefinition><timeDate>2024-01-01T10:00:00Z</timeDate>
    </timerEventDefinition></startEvent>
  <startEvent id="s2"><signalEventDefinition signalRef="sig"/></startEvent>
  <startEvent id="s3"><conditionalEventDefinition>
    <condition xsi:type="tFormalExpression">${x > 1}</condition></conditionalEventDefinition>
  </startEvent>
  <intermediateCatchEvent id="c1"><timerEventDefinition><timeCycle>R3/PT10M</timeCycle>
    </timerEventDefinition></intermediateCatchEvent>
  <intermediateCatchEvent id="c2"><linkEventDefinition name="L"/></intermediateCatchEvent>
  <intermediateThrowEvent id="t1"><linkEventDefinition name="L"/></intermediateThrowEvent>
  <intermediateThrowEvent id="t2"><escalationEventDefinition escalationRef="esc"/>
  </intermediateThrowEvent>
  <intermediateThrowEvent id="t3"><compensateEventDefinition activityRef="a"/>
  </intermediateThrowEvent>
  <intermediateThrowEvent id="t4"/>
  <endEvent id="e1"><errorEventDefinition errorRef="err" camunda:errorCodeVariable="code"
    camunda:errorMessageVariable="msg"/></endEvent>
  <endEvent id="e2"><cancelEventDefinition/></endEvent>
  <endEvent id="e3"><eventDefinitionRef>shared_timer</eventDefinitionRef></endEvent>
  <task id="a"/>
""",
        roots='<signal id="sig" name="Sig"/><error id="err" name="Err" errorCode="E1"/>'
        '<escalation id="esc" name="Esc" escalationCode="X1"/>'
        '<timerEventDefinition id="shared_timer"><timeDuration>P1D</timeDuration>'
        "</timerEventDefinition>",
    )
    result = parse_bpmn(doc)
    d = result.definitions
    p = d.process("p")

    def only(node_id: str) -> object:
        (definition,) = p.node(node_id).event_definitions  # type: ignore[attr-defined]
        return definition

    t = only("s1")
    assert isinstance(t, TimerEventDefinition) and t.timer_kind == "date"
    assert isinstance(only("s2"), SignalEventDefinition)
    cond = only("s3")
    assert isinstance(cond, ConditionalEventDefinition)
    assert cond.condition is not None and cond.condition.evaluate({"x": 2}) is True
    cycle = only("c1")
    assert isinstance(cycle, TimerEventDefinition)
    assert (cycle.timer_kind, cycle.value) == ("cycle", "R3/PT10M")
    assert isinstance(p.node("c1"), IntermediateCatchEvent)
    link = only("t1")
    assert isinstance(link, LinkEventDefinition) and link.name == "L"
    assert isinstance(p.node("t1"), IntermediateThrowEvent)
    esc = only("t2")
    assert isinstance(esc, EscalationEventDefinition) and esc.escalation_ref == "esc"
    comp = only("t3")
    assert isinstance(comp, CompensateEventDefinition) and comp.activity_ref == "a"
    assert p.node("t4").event_definitions == ()  # type: ignore[attr-defined]
    err = only("e1")
    assert isinstance(err, ErrorEventDefinition)
    assert (err.error_ref, err.error_code_variable, err.error_message_variable) == (
        "err",
        "code",
        "msg",
    )
    assert isinstance(only("e2"), CancelEventDefinition)
    shared = only("e3")
    assert isinstance(shared, TimerEventDefinition) and shared.value == "P1D"
    assert d.errors["err"].error_code == "E1"
    assert d.escalations["esc"].escalation_code == "X1"
    assert d.signals["sig"].name == "Sig"
    # compensation and cancel are kept in the model but flagged as not executed
    flagged = {p.element_id for p in with_code(result.problems, "not-executed")}
    assert flagged == {"t3", "e2"}


def test_gateways_tasks_and_subprocess_kinds() -> None:
    doc = process(
        """
  <parallelGateway id="g1"/><inclusiveGateway id="g2" gatewayDirection="Diverging"/>
  <eventBasedGateway id="g3" instantiate="true"/><complexGateway id="g4"/>
  <task id="t1"/><manualTask id="t2"/><receiveTask id="t3" messageRef="m"/>
  <sendTask id="t4" camunda:type="external" camunda:topic="mail"/>
  <transaction id="tx"><startEvent id="tx_s"/></transaction>
  <adHocSubProcess id="adhoc"><task id="adhoc_t"/></adHocSubProcess>
  <subProcess id="evsub" triggeredByEvent="true">
    <startEvent id="ev_s" isInterrupting="false"><messageEventDefinition messageRef="m"/>
    </startEvent>
  </subProcess>
""",
        roots='<message id="m" name="M"/>',
    )
    result = parse_bpmn(doc)
    p = result.definitions.process("p")
    assert isinstance(p.node("g1"), ParallelGateway)
    g2 = p.node("g2")
    assert isinstance(g2, InclusiveGateway) and g2.gateway_direction == "Diverging"
    g3 = p.node("g3")
    assert isinstance(g3, EventBasedGateway) and g3.instantiate
    assert isinstance(p.node("g4"), ComplexGateway)
    assert isinstance(p.node("t1"), Task) and p.node("t1").kind == "task"
    assert isinstance(p.node("t2"), Task) and p.node("t2").kind == "manualTask"
    t3 = p.node("t3")
    assert isinstance(t3, ReceiveTask) and t3.message_ref == "m"
    t4 = p.node("t4")
    assert isinstance(t4, ExternalTask) and (t4.kind, t4.topic) == ("sendTask", "mail")
    tx, adhoc, evsub = p.node("tx"), p.node("adhoc"), p.node("evsub")
    assert isinstance(tx, SubProcess) and tx.is_transaction and tx.kind == "transaction"
    assert isinstance(adhoc, SubProcess) and adhoc.is_ad_hoc
    assert isinstance(evsub, SubProcess) and evsub.triggered_by_event
    assert p.event_subprocesses == (evsub,)
    ev_s = p.node("ev_s")
    assert isinstance(ev_s, StartEvent) and not ev_s.is_interrupting
    messages = {m.message for m in with_code(result.problems, "not-executed")}
    assert "complexGateway 'g4' is not executed by caseflow" in messages
    assert "transaction 'tx' is not executed by caseflow" in messages
    assert "ad-hoc subprocess 'adhoc' is not executed by caseflow" in messages


def test_ignored_things_are_reported_by_name() -> None:
    doc = process(
        """
  <startEvent id="s"/>
  <userTask id="Task_1">
    <extensionElements>
      <camunda:taskListener event="create" class="a.B"/>
      <camunda:executionListener event="start" expression="${x}"/>
      <camunda:properties><camunda:property name="a" value="b"/></camunda:properties>
      <signavio:meta xmlns:signavio="http://www.signavio.com" key="k"/>
    </extensionElements>
    <ioSpecification id="io"/>
  </userTask>
  <task id="t2" camunda:someFutureAttribute="x" camunda:exclusive="false"/>
  <dataObject id="do1"/>
  <textAnnotation id="note"><text>hi</text></textAnnotation>
  <endEvent id="e"/>
"""
        + chain("s", "Task_1", "t2", "e")
    )
    result = parse_bpmn(doc)
    messages = [p.message for p in with_code(result.problems, "ignored")]
    assert (
        "ignored: camunda:taskListener, camunda:executionListener, camunda:properties, "
        "ioSpecification on 'Task_1'"
    ) in messages
    assert "ignored: camunda:someFutureAttribute on 't2'" in messages
    assert "ignored: dataObject 'do1' on 'p' (not executed)" in messages
    assert any("namespace 'http://www.signavio.com'" in m for m in messages)
    assert not any("note" in m for m in messages)  # artifacts are visual only
    task_1 = next(p for p in result.problems if p.element_id == "Task_1")
    assert task_1.line == line_of(doc, '<userTask id="Task_1"')
    assert task_1.process_id == "p"
    t2 = result.definitions.process("p").node("t2")
    assert t2.extensions["camunda:exclusive"] == "false"  # read, kept, not warned about
    assert t2.extensions["camunda:someFutureAttribute"] == "x"


def test_expression_errors_are_collected_not_raised() -> None:
    doc = process(
        """
  <startEvent id="s"/><exclusiveGateway id="g" default="f2"/><endEvent id="e1"/>
  <endEvent id="e2"/><endEvent id="e3"/>
  <userTask id="u" camunda:assignee="${(}"/>
"""
        + flow("s", "g")
        + flow("g", "e1", "${amount >}", id="f1")
        + flow("g", "e2", id="f2")
        + '<sequenceFlow id="f3" sourceRef="g" targetRef="e3">'
        '<conditionExpression xsi:type="tFormalExpression" language="javascript">'
        "amount &gt; 5</conditionExpression></sequenceFlow>"
    )
    result = parse_bpmn(doc)
    p = result.definitions.process("p")
    assert p.all_flows["f1"].condition is None
    assert p.all_flows["f3"].condition is None
    assert p.node("u").assignee is None  # type: ignore[attr-defined]
    by_element = {pr.element_id: pr for pr in result.errors}
    assert by_element["f1"].code == "expression"
    assert by_element["f1"].line == line_of(doc, 'id="f1"')
    assert "condition of 'f1' does not compile" in by_element["f1"].message
    assert by_element["u"].code == "expression"
    assert "assignee of 'u'" in by_element["u"].message
    assert by_element["f3"].code == "unsupported-language"
    assert "'javascript'" in by_element["f3"].message


def test_feel_language_attribute_selects_the_dialect() -> None:
    doc = process(
        '<startEvent id="s"/><endEvent id="e"/>'
        '<sequenceFlow id="f" sourceRef="s" targetRef="e"><conditionExpression '
        'xsi:type="tFormalExpression" language="http://www.omg.org/spec/FEEL/20140401">'
        "x &gt; 1 and y</conditionExpression></sequenceFlow>"
    )
    result = parse_bpmn(doc)
    condition = result.definitions.process("p").all_flows["f"].condition
    assert condition is not None
    assert condition.dialect == "feel"
    assert condition.evaluate({"x": 2, "y": True}) is True


def test_qualified_references_and_missing_ids() -> None:
    doc = definitions(
        '<process id="p" isExecutable="true" xmlns:tns="http://caseflow.dev/test">'
        '<startEvent id="s"><messageEventDefinition messageRef="tns:m"/></startEvent>'
        '<task/><endEvent id="e"/>'
        '<sequenceFlow id="f" sourceRef="tns:s" targetRef="e"/></process>',
        roots='<message id="m" name="M"/>',
    )
    result = parse_bpmn(doc)
    p = result.definitions.process("p")
    assert p.all_flows["f"].source_ref == "s"
    assert p.node("s").event_definitions[0].message_ref == "m"  # type: ignore[attr-defined]
    (missing,) = with_code(result.problems, "missing-id")
    assert missing.severity == "error"
    assert missing.element_id in p.all_nodes


def test_duplicate_ids_are_reported() -> None:
    doc = process('<startEvent id="x"/><task id="x"/><endEvent id="e"/>')
    result = parse_bpmn(doc)
    (dup,) = with_code(result.problems, "duplicate-id")
    assert dup.severity == "error"
    assert dup.element_id == "x"
    assert dup.line == line_of(doc, '<task id="x"')


def test_collaboration_and_diagram() -> None:
    doc = definitions(
        """
<collaboration id="c">
  <participant id="pa" name="Shop" processRef="p"/>
  <participant id="pb" name="Customer"/>
  <messageFlow id="mf" sourceRef="pb" targetRef="s" messageRef="m"/>
</collaboration>
<process id="p" isExecutable="true">
  <startEvent id="s"><messageEventDefinition messageRef="m"/></startEvent>
  <subProcess id="sp"><startEvent id="sp_s"/><endEvent id="sp_e"/>
    <sequenceFlow id="sf" sourceRef="sp_s" targetRef="sp_e"/></subProcess>
  <endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="sp"/>
  <sequenceFlow id="f2" sourceRef="sp" targetRef="e"/>
</process>
<bpmndi:BPMNDiagram id="d1" name="Main">
  <bpmndi:BPMNPlane id="plane" bpmnElement="c">
    <bpmndi:BPMNShape id="pa_di" bpmnElement="pa" isHorizontal="true">
      <dc:Bounds x="0" y="0" width="600" height="250"/>
    </bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s_di" bpmnElement="s">
      <dc:Bounds x="100.5" y="80" width="36" height="36"/>
      <bpmndi:BPMNLabel><dc:Bounds x="90" y="120" width="60" height="14"/></bpmndi:BPMNLabel>
    </bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="sp_di" bpmnElement="sp" isExpanded="true">
      <dc:Bounds x="200" y="50" width="300" height="150"/>
    </bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1">
      <di:waypoint x="136" y="98"/><di:waypoint x="200" y="98"/>
    </bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane>
</bpmndi:BPMNDiagram>
""",
        roots='<message id="m" name="M"/>',
    )
    d = parse_bpmn(doc).definitions
    (c,) = d.collaborations
    assert [(x.id, x.name, x.process_ref) for x in c.participants] == [
        ("pa", "Shop", "p"),
        ("pb", "Customer", None),
    ]
    (mf,) = c.message_flows
    assert (mf.id, mf.source_ref, mf.target_ref, mf.message_ref) == ("mf", "pb", "s", "m")
    (diagram,) = d.diagrams
    assert (diagram.id, diagram.name, diagram.plane_element) == ("d1", "Main", "c")
    shapes = {s.element_id: s for s in diagram.shapes}
    assert shapes["pa"].is_horizontal is True
    assert shapes["s"].bounds.x == 100.5
    assert shapes["s"].label is not None and shapes["s"].label.width == 60
    assert shapes["sp"].is_expanded is True and shapes["s"].is_expanded is None
    (edge,) = diagram.edges
    assert edge.element_id == "f1"
    assert edge.waypoints == ((136.0, 98.0), (200.0, 98.0))


def test_non_executable_and_multiple_processes() -> None:
    doc = definitions(
        '<process id="a" isExecutable="false"><startEvent id="a_s"/></process>'
        '<process id="b"><startEvent id="b_s"/></process>'
    )
    d = parse_bpmn(doc).definitions
    assert [p.id for p in d.processes] == ["a", "b"]
    assert d.process("a").is_executable is False
    assert d.process("b").is_executable is None
    assert [p.id for p in d.executable_processes] == ["b"]
    with pytest.raises(KeyError):
        d.process("zzz")


def test_parsing_is_fast() -> None:
    """A 100-element process parses in a few milliseconds."""
    ids = ["s"] + [f"t{i}" for i in range(98)] + ["e"]
    body = (
        '<startEvent id="s"/>'
        + "".join(
            f'<userTask id="t{i}" camunda:assignee="${{user{i}}}" camunda:candidateGroups="a,b"/>'
            for i in range(98)
        )
        + '<endEvent id="e"/>'
        + chain(*ids)
    )
    doc = process(body).encode()
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        result = parse_bpmn(doc)
        best = min(best, time.perf_counter() - began)
    assert len(result.definitions.process("p").all_nodes) == 100
    assert best < 0.05, f"parsing 100 elements took {best * 1000:.1f} ms"
