"""Camunda 7, Flowable, Activiti and Zeebe exports map to the same model fields."""

from __future__ import annotations

from typing import Any

import pytest

from caseflow.expr import Expression
from caseflow.model import parse_bpmn
from caseflow.model.bpmn import split_list
from caseflow.model.elements import (
    CallActivity,
    ExternalTask,
    FlowNode,
    Process,
    ScriptTask,
    StartEvent,
    SubProcess,
    UserTask,
)

from .snippets import chain, process, with_code


def _text(value: object) -> object:
    """A Value as comparable text: literals as they are, expressions by source."""
    if isinstance(value, Expression):
        return ("expr", value.source)
    return value


def _parse(body: str, roots: str = "") -> tuple[Process, Any]:
    result = parse_bpmn(process(body, roots=roots))
    return result.definitions.process("p"), result


# --- the same user task, exported by four engines --------------------------------------

USER_TASKS = {
    "camunda": """<userTask id="u" camunda:assignee="${starter}"
        camunda:candidateUsers="anna, bob" camunda:candidateGroups="sales,${region}"
        camunda:formKey="app:review" camunda:dueDate="${due}"
        camunda:followUpDate="2024-01-01T00:00:00Z" camunda:priority="50"/>""",
    "flowable": """<userTask id="u" flowable:assignee="${starter}"
        flowable:candidateUsers="anna, bob" flowable:candidateGroups="sales,${region}"
        flowable:formKey="app:review" flowable:dueDate="${due}" flowable:priority="50"/>""",
    "activiti": """<userTask id="u" activiti:assignee="${starter}"
        activiti:candidateUsers="anna,bob" activiti:candidateGroups="sales, ${region}"
        activiti:formKey="app:review" activiti:dueDate="${due}" activiti:priority="50"/>""",
    "zeebe": """<userTask id="u"><extensionElements>
        <zeebe:assignmentDefinition assignee="=starter" candidateUsers="anna, bob"
          candidateGroups="sales"/>
        <zeebe:formDefinition formKey="app:review"/>
        <zeebe:taskSchedule dueDate="=due" followUpDate="2024-01-01T00:00:00Z"/>
        <zeebe:priorityDefinition priority="50"/>
        <zeebe:userTask/>
      </extensionElements></userTask>""",
}


@pytest.mark.parametrize("vendor", sorted(USER_TASKS))
def test_user_task_fields(vendor: str) -> None:
    p, result = _parse(USER_TASKS[vendor])
    task = p.node("u")
    assert isinstance(task, UserTask)
    assignee = _text(task.assignee)
    assert assignee == (("expr", "=starter") if vendor == "zeebe" else ("expr", "${starter}"))
    assert [_text(u) for u in task.candidate_users] == ["anna", "bob"]
    groups = [_text(g) for g in task.candidate_groups]
    assert groups[0] == "sales"
    if vendor != "zeebe":
        assert groups[1] == ("expr", "${region}")
    assert task.form_key == "app:review"
    assert isinstance(task.due_date, Expression)
    assert task.priority == "50"
    if vendor in ("camunda", "zeebe"):
        assert task.follow_up_date == "2024-01-01T00:00:00Z"
    if vendor == "zeebe":
        assert task.extensions["zeebe:userTask"] is True
    assert result.problems == ()


def test_zeebe_candidate_groups_expression_is_not_split() -> None:
    p, _ = _parse(
        '<userTask id="u"><extensionElements><zeebe:assignmentDefinition '
        'candidateGroups="=[&quot;a&quot;, &quot;b&quot;]"/></extensionElements></userTask>'
    )
    task = p.node("u")
    assert isinstance(task, UserTask)
    (groups,) = task.candidate_groups
    assert isinstance(groups, Expression)
    assert groups.evaluate({}) == ["a", "b"]


def test_split_list_keeps_expressions_whole() -> None:
    assert split_list(" a, b ,,c ") == ["a", "b", "c"]
    assert split_list("${f(a, b)}, x") == ["${f(a, b)}", "x"]
    assert split_list("=[1, 2]") == ["=[1, 2]"]
    assert split_list("") == []


def test_caseflow_queue_and_topic() -> None:
    p, _ = _parse(
        '<userTask id="u" caseflow:queue="claims"/><serviceTask id="s" caseflow:topic="billing"/>'
    )
    assert p.node("u").queue == "claims"  # type: ignore[attr-defined]
    assert p.node("s").topic == "billing"  # type: ignore[attr-defined]


def test_standard_potential_owner_and_human_performer() -> None:
    p, _ = _parse(
        '<userTask id="u"><potentialOwner><resourceAssignmentExpression><formalExpression>'
        "user(kermit), group(management), accounting</formalExpression>"
        "</resourceAssignmentExpression></potentialOwner></userTask>"
        '<userTask id="v"><humanPerformer><resourceAssignmentExpression><formalExpression>'
        "fozzie</formalExpression></resourceAssignmentExpression></humanPerformer></userTask>"
    )
    u, v = p.node("u"), p.node("v")
    assert isinstance(u, UserTask) and isinstance(v, UserTask)
    assert u.candidate_users == ("kermit",)
    assert u.candidate_groups == ("management", "accounting")
    assert v.assignee == "fozzie"


# --- external work ----------------------------------------------------------------------

EXTERNAL = {
    "camunda": """<serviceTask id="t" camunda:type="external" camunda:topic="payments"
        camunda:taskPriority="10"><extensionElements>
        <camunda:failedJobRetryTimeCycle>R3/PT5M</camunda:failedJobRetryTimeCycle>
      </extensionElements></serviceTask>""",
    "flowable": """<serviceTask id="t" flowable:type="external-worker"
        flowable:topic="payments"><extensionElements>
        <flowable:failedJobRetryTimeCycle>R3/PT5M</flowable:failedJobRetryTimeCycle>
      </extensionElements></serviceTask>""",
    "activiti": """<serviceTask id="t" activiti:type="external-worker"
        activiti:topic="payments"><extensionElements>
        <activiti:failedJobRetryTimeCycle>R3/PT5M</activiti:failedJobRetryTimeCycle>
      </extensionElements></serviceTask>""",
    "zeebe": """<serviceTask id="t"><extensionElements>
        <zeebe:taskDefinition type="payments" retries="3"/>
        <zeebe:taskHeaders><zeebe:header key="k" value="v"/></zeebe:taskHeaders>
      </extensionElements></serviceTask>""",
}


@pytest.mark.parametrize("vendor", sorted(EXTERNAL))
def test_external_task_topic_and_retries(vendor: str) -> None:
    p, result = _parse(EXTERNAL[vendor])
    task = p.node("t")
    assert isinstance(task, ExternalTask)
    assert (task.kind, task.topic, task.retries) == ("serviceTask", "payments", 3)
    if vendor == "camunda":
        assert task.priority == "10"
    if vendor == "zeebe":
        assert dict(task.extensions["task_headers"]) == {"k": "v"}  # type: ignore[call-overload]
    else:
        assert task.extensions["retry_time_cycle"] == "R3/PT5M"
    assert result.problems == ()


@pytest.mark.parametrize(
    ("element", "named"),
    [
        ('<serviceTask id="t" camunda:class="com.acme.Pay"/>', "camunda:class='com.acme.Pay'"),
        ('<serviceTask id="t" camunda:expression="${pay.run()}"/>', "camunda:expression="),
        ('<serviceTask id="t" camunda:delegateExpression="${pay}"/>', "camunda:delegateExpr"),
        ('<serviceTask id="t" flowable:class="org.acme.Pay"/>', "flowable:class="),
        ('<serviceTask id="t" activiti:expression="#{pay}"/>', "activiti:expression="),
        ('<sendTask id="t" flowable:type="mail"/>', "flowable:type='mail'"),
        (
            '<serviceTask id="t"><extensionElements><camunda:connector>'
            "<camunda:connectorId>http-connector</camunda:connectorId></camunda:connector>"
            "</extensionElements></serviceTask>",
            "camunda:connector",
        ),
        ('<serviceTask id="t"/>', "names no external task topic"),
        ('<sendTask id="t"/>', "names no external task topic"),
    ],
)
def test_java_only_or_topicless_service_task_falls_back_to_its_id(element: str, named: str) -> None:
    p, result = _parse(element)
    task = p.node("t")
    assert isinstance(task, ExternalTask)
    assert task.topic == "t"
    (warning,) = with_code(result.problems, "external-task-topic")
    assert warning.severity == "warning"
    assert warning.element_id == "t"
    assert named in warning.message
    assert "it becomes an external task with topic 't'" in warning.message


def test_business_rule_tasks() -> None:
    p, result = _parse(
        '<businessRuleTask id="c7" camunda:decisionRef="approve" '
        'camunda:resultVariable="decision" camunda:mapDecisionResult="singleEntry"/>'
        '<businessRuleTask id="c8"><extensionElements><zeebe:calledDecision '
        'decisionId="approve" resultVariable="decision"/></extensionElements>'
        "</businessRuleTask>"
    )
    for node_id in ("c7", "c8"):
        task = p.node(node_id)
        assert isinstance(task, ExternalTask)
        assert (task.kind, task.decision_ref, task.result_variable, task.topic) == (
            "businessRuleTask",
            "approve",
            "decision",
            node_id,
        )
    assert p.node("c7").extensions["camunda:mapDecisionResult"] == "singleEntry"
    assert result.problems == ()  # a decision needs no topic warning


# --- scripts ----------------------------------------------------------------------------


def test_script_tasks() -> None:
    p, result = _parse(
        '<scriptTask id="py" scriptFormat="python" camunda:resultVariable="r">'
        "<script>x = a + 1\nx * 2</script></scriptTask>"
        '<scriptTask id="fl" scriptFormat="python" flowable:resultVariable="r">'
        "<script>a</script></scriptTask>"
        '<scriptTask id="zb"><extensionElements><zeebe:script expression="=a + 1" '
        'resultVariable="r"/></extensionElements></scriptTask>'
        '<scriptTask id="groovy" scriptFormat="groovy"><script>println a</script></scriptTask>'
        '<scriptTask id="noformat"><script>a</script></scriptTask>'
    )
    py, fl, zb = p.node("py"), p.node("fl"), p.node("zb")
    assert isinstance(py, ScriptTask) and isinstance(fl, ScriptTask)
    assert isinstance(zb, ScriptTask)
    assert (py.script_format, py.result_variable) == ("python", "r")
    assert py.script is not None
    assert py.script.run({"a": 1})[0] == 4
    assert fl.result_variable == "r"
    assert (zb.script_format, zb.result_variable) == ("feel", "r")
    assert zb.script is not None and zb.script.run({"a": 1})[0] == 2
    errors = {pr.element_id: pr for pr in result.errors}
    assert set(errors) == {"groovy", "noformat"}
    assert errors["groovy"].code == "script"
    assert "groovy" in errors["groovy"].message
    assert "no scriptFormat" in errors["noformat"].message
    assert p.node("groovy").script is None  # type: ignore[attr-defined]


# --- call activities --------------------------------------------------------------------


def test_camunda_call_activity() -> None:
    p, result = _parse(
        """<callActivity id="c" calledElement="child" camunda:calledElementBinding="version"
            camunda:calledElementVersion="3">
          <extensionElements>
            <camunda:in businessKey="${orderId}"/>
            <camunda:in source="a" target="b"/>
            <camunda:in sourceExpression="${x + 1}" target="y" local="true"/>
            <camunda:in variables="all"/>
            <camunda:out source="r" target="result"/>
            <camunda:out variables="all" local="true"/>
          </extensionElements>
        </callActivity>"""
    )
    c = p.node("c")
    assert isinstance(c, CallActivity)
    assert (c.called_element, c.binding, c.version) == ("child", "version", 3)
    assert c.business_key is not None and c.business_key.source == "${orderId}"
    first, second, third = c.in_mappings
    assert (first.source, first.target) == ("a", "b")
    assert second.source_expression is not None and second.local and second.target == "y"
    assert third.all_variables and third.target is None
    assert [(m.source, m.target) for m in c.out_mappings] == [("r", "result"), (None, None)]
    assert c.out_mappings[1].all_variables and c.out_mappings[1].local
    assert not c.propagate_all_parent_variables
    assert result.problems == ()


def test_zeebe_call_activity_propagates_by_default() -> None:
    p, _ = _parse(
        '<callActivity id="c1"><extensionElements><zeebe:calledElement processId="child"/>'
        "</extensionElements></callActivity>"
        '<callActivity id="c2"><extensionElements><zeebe:calledElement processId="=which" '
        'propagateAllChildVariables="false"/><zeebe:ioMapping>'
        '<zeebe:input source="=a" target="x"/><zeebe:output source="=r" target="y"/>'
        "</zeebe:ioMapping></extensionElements></callActivity>"
    )
    c1, c2 = p.node("c1"), p.node("c2")
    assert isinstance(c1, CallActivity) and isinstance(c2, CallActivity)
    assert c1.called_element == "child"
    assert c1.propagate_all_parent_variables and c1.propagate_all_child_variables
    assert isinstance(c2.called_element, Expression)
    assert c2.propagate_all_parent_variables and not c2.propagate_all_child_variables
    assert [m.target for m in c2.input_mappings] == ["x"]
    assert [m.target for m in c2.output_mappings] == ["y"]


@pytest.mark.parametrize("prefix", ["flowable", "activiti"])
def test_flowable_call_activity(prefix: str) -> None:
    p, _ = _parse(
        f'<callActivity id="c" calledElement="child" {prefix}:inheritVariables="true">'
        f'<extensionElements><{prefix}:in source="a" target="b"/>'
        f'<{prefix}:out sourceExpression="${{x}}" target="y"/></extensionElements>'
        "</callActivity>"
    )
    c = p.node("c")
    assert isinstance(c, CallActivity)
    assert c.propagate_all_parent_variables
    assert [(m.source, m.target) for m in c.in_mappings] == [("a", "b")]
    (out,) = c.out_mappings
    assert out.source_expression is not None and out.target == "y"


# --- multi-instance, I/O, async, start events -------------------------------------------

MULTI_INSTANCE = {
    "camunda": """<userTask id="m"><multiInstanceLoopCharacteristics isSequential="true"
        camunda:collection="${items}" camunda:elementVariable="item">
        <completionCondition>${nrOfCompletedInstances == 2}</completionCondition>
      </multiInstanceLoopCharacteristics></userTask>""",
    "flowable": """<userTask id="m"><multiInstanceLoopCharacteristics isSequential="true"
        flowable:collection="${items}" flowable:elementVariable="item">
        <completionCondition>${nrOfCompletedInstances == 2}</completionCondition>
      </multiInstanceLoopCharacteristics></userTask>""",
    "activiti": """<userTask id="m"><multiInstanceLoopCharacteristics isSequential="true"
        activiti:collection="${items}" activiti:elementVariable="item">
        <completionCondition>${nrOfCompletedInstances == 2}</completionCondition>
      </multiInstanceLoopCharacteristics></userTask>""",
    "zeebe": """<userTask id="m"><multiInstanceLoopCharacteristics isSequential="true">
        <extensionElements><zeebe:loopCharacteristics inputCollection="=items"
          inputElement="item" outputCollection="results" outputElement="=item * 2"/>
        </extensionElements>
        <completionCondition>=nrOfCompletedInstances = 2</completionCondition>
      </multiInstanceLoopCharacteristics></userTask>""",
}


@pytest.mark.parametrize("vendor", sorted(MULTI_INSTANCE))
def test_multi_instance(vendor: str) -> None:
    p, result = _parse(MULTI_INSTANCE[vendor])
    mi = p.node("m").multi_instance  # type: ignore[attr-defined]
    assert mi.is_sequential
    assert mi.collection.evaluate({"items": [1, 2]}) == [1, 2]
    assert mi.element_variable == "item"
    assert mi.completion_condition.evaluate({"nrOfCompletedInstances": 2}) is True
    if vendor == "zeebe":
        assert mi.output_collection == "results"
        assert mi.output_element.evaluate({"item": 3}) == 6
    assert result.problems == ()


def test_loop_cardinality_and_standard_loop() -> None:
    p, _ = _parse(
        '<task id="a"><multiInstanceLoopCharacteristics><loopCardinality>3</loopCardinality>'
        "</multiInstanceLoopCharacteristics></task>"
        '<task id="b"><standardLoopCharacteristics testBefore="true" loopMaximum="5">'
        '<loopCondition xsi:type="tFormalExpression">${n &lt; 3}</loopCondition>'
        "</standardLoopCharacteristics></task>"
    )
    a = p.node("a").multi_instance  # type: ignore[attr-defined]
    assert not a.is_sequential and a.loop_cardinality.evaluate({}) == 3
    loop = p.node("b").standard_loop  # type: ignore[attr-defined]
    assert loop.test_before and loop.loop_maximum == 5
    assert loop.loop_condition.evaluate({"n": 1}) is True


def test_io_mappings_camunda_and_zeebe() -> None:
    p, result = _parse(
        """<task id="c"><extensionElements><camunda:inputOutput>
            <camunda:inputParameter name="x">${a}</camunda:inputParameter>
            <camunda:inputParameter name="lit">hello "world"</camunda:inputParameter>
            <camunda:inputParameter name="nothing"/>
            <camunda:inputParameter name="l"><camunda:list><camunda:value>1</camunda:value>
              </camunda:list></camunda:inputParameter>
            <camunda:outputParameter name="y">${b}</camunda:outputParameter>
          </camunda:inputOutput></extensionElements></task>
          <task id="z"><extensionElements><zeebe:ioMapping>
            <zeebe:input source="=a" target="x"/>
            <zeebe:input source="hello" target="lit"/>
            <zeebe:output source="=b" target="y"/>
          </zeebe:ioMapping></extensionElements></task>"""
    )
    c, z = p.node("c"), p.node("z")
    inputs = {m.target: m.source for m in c.input_mappings}  # type: ignore[attr-defined]
    assert set(inputs) == {"x", "lit", "nothing"}
    assert inputs["x"].evaluate({"a": 1}) == 1
    assert inputs["lit"].evaluate({}) == 'hello "world"'
    assert inputs["nothing"] is None
    assert [m.target for m in c.output_mappings] == ["y"]  # type: ignore[attr-defined]
    z_in = {m.target: m.source for m in z.input_mappings}  # type: ignore[attr-defined]
    assert z_in["lit"].evaluate({}) == "hello"
    assert z_in["x"].evaluate({"a": 5}) == 5
    (ignored,) = with_code(result.problems, "ignored")
    assert "camunda:inputParameter 'l'" in ignored.message
    assert "camunda:list" in ignored.message


def test_async_flags_and_start_event_extensions() -> None:
    p, result = _parse(
        '<startEvent id="s" camunda:initiator="starter" camunda:formKey="app:start" '
        'camunda:asyncBefore="true"/>'
        '<startEvent id="s2" flowable:initiator="who"><extensionElements>'
        '<zeebe:formDefinition formId="start-form"/></extensionElements></startEvent>'
        '<task id="a" camunda:asyncBefore="true" camunda:asyncAfter="true"/>'
        '<task id="b" flowable:async="true"/>'
        '<task id="c" activiti:async="true" activiti:exclusive="false"/>'
    )
    s, s2 = p.node("s"), p.node("s2")
    assert isinstance(s, StartEvent) and isinstance(s2, StartEvent)
    assert (s.initiator, s.form_key) == ("starter", "app:start")
    assert s.extensions["camunda:asyncBefore"] == "true"
    assert (s2.initiator, s2.form_key) == ("who", "start-form")
    a, b, c = p.node("a"), p.node("b"), p.node("c")
    assert a.async_before and a.async_after  # type: ignore[attr-defined]
    assert b.async_before and not b.async_after  # type: ignore[attr-defined]
    assert c.async_before  # type: ignore[attr-defined]
    assert c.extensions["activiti:exclusive"] == "false"
    assert result.problems == ()


def test_process_level_attributes_and_message_correlation() -> None:
    result = parse_bpmn(
        process(
            '<startEvent id="s"/>',
            attrs='isExecutable="true" camunda:versionTag="v7" '
            'camunda:candidateStarterGroups="sales, admins" '
            'camunda:candidateStarterUsers="anna" camunda:historyTimeToLive="30"',
            roots='<message id="m" name="order"><extensionElements>'
            '<zeebe:subscription correlationKey="=orderId"/></extensionElements></message>',
        )
    )
    d = result.definitions
    p = d.process("p")
    assert p.version_tag == "v7"
    assert p.candidate_starter_groups == ("sales", "admins")
    assert p.candidate_starter_users == ("anna",)
    key = d.messages["m"].correlation_key
    assert key is not None and key.evaluate({"orderId": 7}) == 7
    assert result.problems == ()


def test_message_throw_event_with_external_implementation() -> None:
    p, _ = _parse(
        '<intermediateThrowEvent id="c7"><messageEventDefinition camunda:type="external" '
        'camunda:topic="notify"/></intermediateThrowEvent>'
        '<endEvent id="c8"><extensionElements><zeebe:taskDefinition type="notify" '
        'retries="2"/></extensionElements><messageEventDefinition/></endEvent>'
    )
    assert p.node("c7").extensions["topic"] == "notify"
    assert p.node("c8").extensions["topic"] == "notify"
    assert p.node("c8").extensions["retries"] == "2"


def test_vendor_neutral_model_equality_across_exports() -> None:
    """One small process in each vendor's dialect: the same model, field by field."""
    bodies = {
        "camunda": '<userTask id="u" camunda:assignee="demo" camunda:candidateGroups="a,b"/>'
        '<serviceTask id="t" camunda:type="external" camunda:topic="work"/>',
        "flowable": '<userTask id="u" flowable:assignee="demo" flowable:candidateGroups="a,b"/>'
        '<serviceTask id="t" flowable:type="external-worker" flowable:topic="work"/>',
        "activiti": '<userTask id="u" activiti:assignee="demo" activiti:candidateGroups="a,b"/>'
        '<serviceTask id="t" activiti:type="external-worker" activiti:topic="work"/>',
        "zeebe": '<userTask id="u"><extensionElements><zeebe:assignmentDefinition '
        'assignee="demo" candidateGroups="a,b"/></extensionElements></userTask>'
        '<serviceTask id="t"><extensionElements><zeebe:taskDefinition type="work"/>'
        "</extensionElements></serviceTask>",
    }
    models: dict[str, tuple[FlowNode, FlowNode]] = {}
    for vendor, body in bodies.items():
        p, _ = _parse('<startEvent id="s"/>' + body + '<endEvent id="e"/>' + chain("s", "u", "t"))
        models[vendor] = (p.node("u"), p.node("t"))
    reference = models.pop("camunda")
    for vendor, (user, task) in models.items():
        assert user == reference[0], vendor
        assert task == reference[1], vendor


def test_subprocess_of_a_vendor_keeps_its_children_mapped() -> None:
    p, _ = _parse(
        '<subProcess id="sp" camunda:asyncBefore="true"><startEvent id="a"/>'
        '<userTask id="b" camunda:assignee="x"/><endEvent id="c"/>'
        + chain("a", "b", "c")
        + "</subProcess>"
    )
    sp = p.node("sp")
    assert isinstance(sp, SubProcess) and sp.async_before
    assert p.node("b").assignee == "x"  # type: ignore[attr-defined]
    assert p.node("b").scope_id == "sp"
