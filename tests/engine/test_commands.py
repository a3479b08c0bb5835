"""Deployments, scripts, messages, variables, idempotency and refusals, on every backend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from caseflow.errors import (
    IllegalState,
    NotFound,
    StepLimitExceeded,
    ValidationFailed,
    XmlError,
)
from caseflow.runtime import DefinitionMetadata, MessageNotCorrelated, ProcessEngine
from caseflow.runtime.ports import TaskQuery
from tests.bpmn import chain, flow, process

SIMPLE = process(
    '<startEvent id="s"/><userTask id="t"/><endEvent id="e"/>' + chain("s", "t", "e"), name="Simple"
)


def test_deploy_versions_per_key_and_unchanged_deploy_is_a_noop(engine: ProcessEngine) -> None:
    first = engine.deploy(
        SIMPLE,
        metadata=DefinitionMetadata(
            category="permits", procedure_code="1.001234", sla_target_hours=40
        ),
    )
    [v1] = first.definitions
    assert (v1.key, v1.version, v1.name, v1.status) == ("p", 1, "Simple", "Deployed")
    assert (v1.category, v1.procedure_code, v1.sla_target_hours) == ("permits", "1.001234", 40)
    again = engine.deploy(SIMPLE)
    assert again.deployment_id is None
    assert [d.id for d in again.unchanged] == [v1.id]
    changed = engine.deploy(SIMPLE.replace('name="Simple"', 'name="Simple v2"'))
    [v2] = changed.definitions
    assert v2.version == 2
    assert [d.version for d in engine.definitions("p")] == [1, 2] or sorted(
        d.version for d in engine.definitions("p")
    ) == [1, 2]
    assert engine.definition_source(v1.id) == SIMPLE
    assert engine.start("p").definition_id == v2.id
    assert engine.start("p", version=1).definition_id == v1.id


def test_definition_status_controls_new_instances(engine: ProcessEngine) -> None:
    [v1] = engine.deploy(SIMPLE).definitions
    running = engine.start("p")
    engine.set_definition_status(v1.id, "Deprecated")
    with pytest.raises(IllegalState, match="Deployed"):
        engine.start("p")
    [task] = engine.tasks(TaskQuery(instance_id=running.id))
    engine.complete_task(task.id)  # running instances go on
    assert engine.instance_record(running.id).status == "COMPLETED"
    draft = engine.deploy(
        SIMPLE.replace("Simple", "Draft"), metadata=DefinitionMetadata(status="Draft")
    )
    with pytest.raises(IllegalState):
        engine.start("p", version=draft.definitions[0].version)


def test_invalid_documents_are_refused_with_reasons(engine: ProcessEngine) -> None:
    with pytest.raises(XmlError):
        engine.deploy("<definitions")
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol2;</definitions>'
    )
    with pytest.raises(XmlError):
        engine.deploy(hostile)
    external = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</definitions>'
    )
    with pytest.raises(XmlError):
        engine.deploy(external)
    complex_gateway = process(
        '<startEvent id="s"/><complexGateway id="cx"/><endEvent id="e"/>' + chain("s", "cx", "e")
    )
    with pytest.raises(ValidationFailed) as refused:
        engine.deploy(complex_gateway)
    assert any(p.element_id == "cx" for p in refused.value.problems)
    assert engine.definitions() == []


def test_script_task_loop_of_ten_thousand_runs_to_its_real_end(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <scriptTask id="count" scriptFormat="python"><script>i = i + 1</script></scriptTask>
        <exclusiveGateway id="more" default="done"/>
        <endEvent id="e"/>
        """
        + chain("s", "count", "more")
        + flow("more", "count", "${i < 10000}", id="again")
        + flow("more", "e", id="done")
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"i": 0})
    assert engine.instance_record(inst.id).status == "COMPLETED"
    assert engine.variables(inst.id)["i"] == 10000
    history = engine.history(inst.id)
    assert sum(1 for h in history if h.element_id == "count") == 10000
    view = engine.instance(inst.id)
    assert view.active_elements == []


def test_runaway_loop_stops_with_an_error_and_leaves_nothing(store: object) -> None:
    from caseflow.runtime.ports import Store

    assert isinstance(store, Store)
    engine = ProcessEngine(store, max_steps=5_000)
    doc = process(
        '<startEvent id="s"/><exclusiveGateway id="g"/><task id="t"/>'
        '<exclusiveGateway id="again" default="back"/><endEvent id="e"/>'
        + chain("s", "g", "t", "again")
        + flow("again", "e", "${false}")
        + flow("again", "g", id="back")
    )
    engine.deploy(doc)
    with pytest.raises(StepLimitExceeded):
        engine.start("p")
    assert engine.instances() == []


def test_script_results_and_feel_scripts(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <scriptTask id="py" scriptFormat="python"><script>
total = sum(prices)
label = "big" if total > 100 else "small"
        </script></scriptTask>
        <scriptTask id="feel" scriptFormat="feel" camunda:resultVariable="withTax">
          <script>total * 1.1</script></scriptTask>
        <userTask id="t"/><endEvent id="e"/>
        """
        + chain("s", "py", "feel", "t", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"prices": [50, 70]})
    variables = engine.variables(inst.id)
    assert (variables["total"], variables["label"]) == (120, "big")
    assert variables["withTax"] == Decimal("132.0")


RECEIVE = process(
    """
    <startEvent id="s"/><receiveTask id="wait" messageRef="m_paid"/>
    <userTask id="t"/><endEvent id="e"/>
    """
    + chain("s", "wait", "t", "e"),
    roots='<message id="m_paid" name="PaymentReceived"/>',
)


def test_message_correlates_by_business_key(engine: ProcessEngine) -> None:
    engine.deploy(RECEIVE)
    a = engine.start("p", business_key="A")
    b = engine.start("p", business_key="B")
    assert engine.correlate_message(
        "PaymentReceived", business_key="B", variables={"paid": 10}
    ) == [b.id]
    assert [t.element_id for t in engine.tasks(TaskQuery(instance_id=b.id))] == ["t"]
    assert engine.variables(b.id)["paid"] == 10
    assert engine.tasks(TaskQuery(instance_id=a.id)) == []
    with pytest.raises(MessageNotCorrelated, match="PaymentReceived"):
        engine.correlate_message("PaymentReceived", business_key="B")
    with pytest.raises(MessageNotCorrelated):
        engine.correlate_message("Unknown")


def test_ambiguous_message_is_refused_unless_delivered_to_all(engine: ProcessEngine) -> None:
    engine.deploy(RECEIVE)
    a = engine.start("p")
    b = engine.start("p")
    with pytest.raises(IllegalState, match="2"):
        engine.correlate_message("PaymentReceived")
    assert sorted(engine.correlate_message("PaymentReceived", all_matches=True)) == sorted(
        [a.id, b.id]
    )


def test_typed_variables_round_trip(engine: ProcessEngine) -> None:
    engine.deploy(SIMPLE)
    when = dt.datetime(2025, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    values = {
        "text": "Hồ sơ đăng ký kinh doanh",
        "count": 2**40,
        "amount": Decimal("1234.56"),
        "ratio": 0.25,
        "flag": False,
        "day": dt.date(2025, 1, 29),
        "at": when,
        "doc": {"items": [1, "two", None, {"nested": True}]},
        "nothing": None,
    }
    inst = engine.start("p", variables=values)
    stored = engine.variables(inst.id)
    assert stored == values
    assert isinstance(stored["amount"], Decimal)
    assert (isinstance(stored["count"], int) and not isinstance(stored["flag"], int | float)) or (
        stored["flag"] is False
    )


def test_start_answers_the_instance_as_stored(engine: ProcessEngine) -> None:
    # start answers from the command's own state, not a second read: it must be the row
    engine.deploy(SIMPLE)
    waiting = engine.start("p", business_key="B-1", started_by="an")
    assert waiting == engine.instance_record(waiting.id)
    assert waiting.status == "ACTIVE"
    engine.deploy(process('<startEvent id="s"/><endEvent id="e"/>' + flow("s", "e"), id="q"))
    done = engine.start("q")
    assert done == engine.instance_record(done.id)
    assert done.status == "COMPLETED"
    assert done.ended_at is not None


def test_idempotency_key_makes_a_retried_start_act_once(engine: ProcessEngine) -> None:
    engine.deploy(SIMPLE)
    first = engine.start("p", idempotency_key="req-1")
    second = engine.start("p", idempotency_key="req-1")
    assert first.id == second.id
    assert len(engine.instances()) == 1
    [task] = engine.tasks(TaskQuery(instance_id=first.id))
    engine.complete_task(task.id, idempotency_key="req-2")
    engine.complete_task(task.id, idempotency_key="req-2")  # the retry is answered, not refused
    with pytest.raises(IllegalState):
        engine.complete_task(task.id, idempotency_key="req-1")  # a key names one command


def test_unknown_variables_in_conditions_name_the_flow(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><exclusiveGateway id="g" default="d"/><endEvent id="e"/>'
        + flow("s", "g")
        + flow("g", "e", "${missing > 1}", id="cond")
        + flow("g", "e", id="d")
    )
    engine.deploy(doc)
    with pytest.raises(Exception, match="cond") as raised:
        engine.start("p")
    assert "missing" in str(raised.value)


def test_start_of_unknown_version_is_refused(engine: ProcessEngine) -> None:
    engine.deploy(SIMPLE)
    with pytest.raises(NotFound):
        engine.start("p", version=9)


def test_task_listeners_route_new_tasks_before_they_are_written(store: object) -> None:
    from caseflow.runtime.ports import Store, TaskChanges, TaskListener, Transaction

    assert isinstance(store, Store)
    seen: list[tuple[str, list[str]]] = []

    class Router(TaskListener):
        def tasks_changed(self, tx: Transaction, changes: TaskChanges, now: dt.datetime) -> None:
            for task in changes.created:
                task.queue = f"queue-for-{task.element_id}"
            seen.extend(
                (kind, [t.element_id for t in tasks])
                for kind, tasks in (
                    ("created", changes.created),
                    ("completed", changes.completed),
                    ("cancelled", changes.cancelled),
                )
                if tasks
            )

    engine = ProcessEngine(store, task_listeners=[Router()])
    engine.deploy(SIMPLE)
    inst = engine.start("p")
    [task] = engine.tasks(TaskQuery(instance_id=inst.id))
    assert task.queue == "queue-for-t"
    refused: list[str] = []

    def only_lan(tx: Transaction, stored: object) -> None:
        refused.append("checked")
        raise IllegalState("only lan may complete this task")

    with pytest.raises(IllegalState, match="lan"):
        engine.complete_task(task.id, user="binh", authorize=only_lan)
    assert engine.task(task.id).status == "OPEN"
    engine.complete_task(task.id, user="lan")
    assert seen == [("created", ["t"]), ("completed", ["t"])]


def test_user_task_sla_must_be_a_business_time_duration(engine: ProcessEngine) -> None:
    good = process(
        '<startEvent id="s"/><userTask id="t" caseflow:sla="2d"/><endEvent id="e"/>'
        + chain("s", "t", "e")
    )
    engine.deploy(good)
    bad = good.replace('caseflow:sla="2d"', 'caseflow:sla="two weeks"')
    with pytest.raises(ValidationFailed) as refused:
        engine.deploy(bad)
    assert [(p.code, p.element_id) for p in refused.value.problems] == [("sla", "t")]


def test_a_finished_task_cannot_be_completed_and_nothing_changes(engine: ProcessEngine) -> None:
    engine.deploy(process(
        '<startEvent id="s"/><userTask id="a"/><userTask id="b"/><endEvent id="e"/>'
        + chain("s", "a", "b", "e")
    ))
    inst = engine.start("p")
    [a] = engine.tasks(TaskQuery(instance_id=inst.id))
    [b] = engine.complete_task(a.id, {"x": 1})
    before = engine.instance_record(inst.id).revision
    with pytest.raises(IllegalState, match="COMPLETED"):
        engine.complete_task(a.id, {"x": 2})
    assert engine.instance_record(inst.id).revision == before
    assert engine.variables(inst.id)["x"] == 1
    assert [t.id for t in engine.tasks(TaskQuery(instance_id=inst.id))] == [b.id]
    engine.terminate(inst.id, "withdrawn")
    with pytest.raises(IllegalState, match="CANCELLED"):
        engine.complete_task(b.id)
    assert engine.instance(inst.id).tasks == []  # the view shows open work only
