"""Timers, messages, signals, escalations, event gateways and event subprocesses,
with a clock the tests move, on every backend."""

from __future__ import annotations

import datetime as dt

import pytest

from caseflow.clock import ManualClock
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import InstanceQuery, TaskQuery
from tests.bpmn import chain, flow, process

MESSAGES = (
    '<message id="m_docs" name="DocumentsArrived"/>'
    '<message id="m_cancel" name="CancelRequested"/>'
    '<signal id="s_close" name="OfficeClosed"/>'
    '<escalation id="esc_late" escalationCode="LATE"/>'
    '<error id="err_bad" errorCode="BAD"/>'
)


def run_due_jobs(engine: ProcessEngine, node: str = "node-1") -> int:
    """Acquire every due job and run it, as the job executor does."""
    with engine.store.transaction() as tx:
        jobs = tx.acquire_jobs(node, engine.clock.now(), 100, dt.timedelta(minutes=5))
    for job in jobs:
        engine.execute_job(job.id, node)
    return len(jobs)


def open_tasks(engine: ProcessEngine, instance_id: str) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(TaskQuery(instance_id=instance_id)))


def complete(engine: ProcessEngine, instance_id: str, element_id: str, **variables: object) -> None:
    [task] = [t for t in engine.tasks(TaskQuery(instance_id=instance_id))
              if t.element_id == element_id][:1]
    engine.complete_task(task.id, variables)


def test_intermediate_timer_waits_for_the_clock(engine: ProcessEngine, clock: ManualClock) -> None:
    doc = process(
        '<startEvent id="s"/><intermediateCatchEvent id="wait"><timerEventDefinition>'
        "<timeDuration>PT2H</timeDuration></timerEventDefinition></intermediateCatchEvent>"
        '<userTask id="t"/><endEvent id="e"/>' + chain("s", "wait", "t", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    [job] = engine.jobs(inst.id)
    assert job.due_at == clock.now() + dt.timedelta(hours=2)
    assert run_due_jobs(engine) == 0
    clock.advance(dt.timedelta(hours=2))
    assert run_due_jobs(engine) == 1
    assert open_tasks(engine, inst.id) == ["t"]
    assert engine.jobs(inst.id) == []


def test_interrupting_timer_boundary_cancels_the_task(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    doc = process(
        """
        <startEvent id="s"/><userTask id="review"/>
        <boundaryEvent id="late" attachedToRef="review">
          <timerEventDefinition><timeDuration>P1D</timeDuration></timerEventDefinition>
        </boundaryEvent>
        <userTask id="escalated"/><endEvent id="e1"/><endEvent id="e2"/>
        """
        + chain("s", "review", "e1") + chain("late", "escalated", "e2")
    )
    engine.deploy(doc)
    on_time = engine.start("p")
    late = engine.start("p")
    complete(engine, on_time.id, "review")
    assert engine.jobs(on_time.id) == []  # completing the task removed its timer
    clock.advance(dt.timedelta(days=1, seconds=1))
    assert run_due_jobs(engine) == 1
    assert open_tasks(engine, late.id) == ["escalated"]
    closed = engine.tasks(TaskQuery(instance_id=late.id, include_closed=True))
    assert {(t.element_id, t.status) for t in closed} >= {("review", "CANCELLED")}


def test_non_interrupting_cycle_timer_reminds_while_the_task_waits(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    doc = process(
        """
        <startEvent id="s"/><userTask id="review"/>
        <boundaryEvent id="remind" attachedToRef="review" cancelActivity="false">
          <timerEventDefinition><timeCycle>R2/PT1H</timeCycle></timerEventDefinition>
        </boundaryEvent>
        <serviceTask id="notify" camunda:type="external" camunda:topic="remind"/>
        <endEvent id="e1"/><endEvent id="e2"/>
        """
        + chain("s", "review", "e1") + chain("remind", "notify", "e2")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    for _ in range(3):
        clock.advance(dt.timedelta(hours=1))
        run_due_jobs(engine)
    assert len(engine.instance(inst.id).external_tasks) == 2  # R2: two reminders, not three
    assert open_tasks(engine, inst.id) == ["review"]


def test_message_boundary_and_intermediate_catch_with_correlation_keys(
    engine: ProcessEngine,
) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <intermediateCatchEvent id="docs"><messageEventDefinition messageRef="m_docs"/>
        </intermediateCatchEvent>
        <userTask id="review"/>
        <boundaryEvent id="cancelled" attachedToRef="review">
          <messageEventDefinition messageRef="m_cancel"/>
        </boundaryEvent>
        <endEvent id="done"/><endEvent id="stopped"/>
        """
        + chain("s", "docs", "review", "done") + chain("cancelled", "stopped"),
        roots=MESSAGES,
    )
    engine.deploy(doc)
    a = engine.start("p", business_key="A")
    b = engine.start("p", business_key="B")
    engine.correlate_message("DocumentsArrived", business_key="A", variables={"pages": 3})
    assert open_tasks(engine, a.id) == ["review"]
    assert engine.instance(b.id).active_elements == ["docs"]
    engine.correlate_message("CancelRequested", business_key="A")
    assert engine.instance_record(a.id).status == "COMPLETED"
    assert engine.variables(a.id)["pages"] == 3


def test_signal_reaches_every_waiting_instance_and_starts_processes(
    engine: ProcessEngine,
) -> None:
    waiting = process(
        '<startEvent id="s"/><intermediateCatchEvent id="closed"><signalEventDefinition '
        'signalRef="s_close"/></intermediateCatchEvent><userTask id="t"/><endEvent id="e"/>'
        + chain("s", "closed", "t", "e"),
        id="waiting",
        roots=MESSAGES,
    )
    started = process(
        '<startEvent id="onClose"><signalEventDefinition signalRef="s_close"/></startEvent>'
        '<userTask id="report"/><endEvent id="e"/>' + chain("onClose", "report", "e"),
        id="reporter",
        roots=MESSAGES,
    )
    thrower = process(
        '<startEvent id="s"/><intermediateThrowEvent id="close"><signalEventDefinition '
        'signalRef="s_close"/></intermediateThrowEvent><endEvent id="e"/>'
        + chain("s", "close", "e"),
        id="thrower",
        roots=MESSAGES,
    )
    engine.deploy(waiting, resource_name="waiting.bpmn")
    engine.deploy(started, resource_name="reporter.bpmn")
    engine.deploy(thrower, resource_name="thrower.bpmn")
    one = engine.start("waiting")
    two = engine.start("waiting")
    engine.start("thrower")
    assert open_tasks(engine, one.id) == ["t"]
    assert open_tasks(engine, two.id) == ["t"]
    assert len(engine.instances(InstanceQuery(process_key="reporter"))) == 1
    assert engine.throw_signal("OfficeClosed") == 1  # only the start event is left


def test_event_based_gateway_takes_the_first_event(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    doc = process(
        """
        <startEvent id="s"/><eventBasedGateway id="gw"/>
        <intermediateCatchEvent id="answer"><messageEventDefinition messageRef="m_docs"/>
        </intermediateCatchEvent>
        <intermediateCatchEvent id="timeout"><timerEventDefinition>
          <timeDuration>P10D</timeDuration></timerEventDefinition></intermediateCatchEvent>
        <userTask id="process_answer"/><userTask id="reminder"/>
        <endEvent id="e1"/><endEvent id="e2"/>
        """
        + chain("s", "gw") + chain("gw", "answer", "process_answer", "e1")
        + chain("gw", "timeout", "reminder", "e2"),
        roots=MESSAGES,
    )
    engine.deploy(doc)
    answered = engine.start("p", business_key="A")
    silent = engine.start("p", business_key="B")
    engine.correlate_message("DocumentsArrived", business_key="A")
    assert open_tasks(engine, answered.id) == ["process_answer"]
    assert engine.jobs(answered.id) == []  # the other branch's timer is gone
    clock.advance(dt.timedelta(days=10))
    assert run_due_jobs(engine) == 1
    assert open_tasks(engine, silent.id) == ["reminder"]
    from caseflow.runtime import MessageNotCorrelated

    with pytest.raises(MessageNotCorrelated):
        engine.correlate_message("DocumentsArrived", business_key="B")


def test_interrupting_message_event_subprocess_ends_the_main_flow(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/><userTask id="work"/><endEvent id="e"/>
        <subProcess id="onCancel" triggeredByEvent="true">
          <startEvent id="cs"><messageEventDefinition messageRef="m_cancel"/></startEvent>
          <userTask id="refund"/><endEvent id="ce"/>
          <sequenceFlow id="c1" sourceRef="cs" targetRef="refund"/>
          <sequenceFlow id="c2" sourceRef="refund" targetRef="ce"/>
        </subProcess>
        """
        + chain("s", "work", "e"),
        roots=MESSAGES,
    )
    engine.deploy(doc)
    inst = engine.start("p", business_key="X")
    engine.correlate_message("CancelRequested", business_key="X")
    assert open_tasks(engine, inst.id) == ["refund"]
    complete(engine, inst.id, "refund")
    assert engine.instance_record(inst.id).status == "COMPLETED"


def test_non_interrupting_timer_event_subprocess_runs_beside(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    doc = process(
        """
        <startEvent id="s"/><userTask id="work"/><endEvent id="e"/>
        <subProcess id="watch" triggeredByEvent="true">
          <startEvent id="ws" isInterrupting="false"><timerEventDefinition>
            <timeDuration>PT8H</timeDuration></timerEventDefinition></startEvent>
          <userTask id="check_in"/><endEvent id="we"/>
          <sequenceFlow id="w1" sourceRef="ws" targetRef="check_in"/>
          <sequenceFlow id="w2" sourceRef="check_in" targetRef="we"/>
        </subProcess>
        """
        + chain("s", "work", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    clock.advance(dt.timedelta(hours=8))
    assert run_due_jobs(engine) == 1
    assert open_tasks(engine, inst.id) == ["check_in", "work"]
    complete(engine, inst.id, "work")
    complete(engine, inst.id, "check_in")
    assert engine.instance_record(inst.id).status == "COMPLETED"


def test_error_event_subprocess_catches_an_error_end_event(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/><exclusiveGateway id="g" default="ok"/>
        <endEvent id="fail"><errorEventDefinition errorRef="err_bad"/></endEvent>
        <userTask id="work"/><endEvent id="e"/>
        <subProcess id="handler" triggeredByEvent="true">
          <startEvent id="hs"><errorEventDefinition errorRef="err_bad"
              camunda:errorCodeVariable="code"/></startEvent>
          <userTask id="fix"/><endEvent id="he"/>
          <sequenceFlow id="h1" sourceRef="hs" targetRef="fix"/>
          <sequenceFlow id="h2" sourceRef="fix" targetRef="he"/>
        </subProcess>
        """
        + chain("s", "g") + flow("g", "fail", "${bad}") + flow("g", "work", id="ok")
        + chain("work", "e"),
        roots=MESSAGES,
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"bad": True})
    assert open_tasks(engine, inst.id) == ["fix"]
    assert engine.variables(inst.id)["code"] == "BAD"


def test_escalation_from_a_subprocess_to_a_non_interrupting_boundary(
    engine: ProcessEngine,
) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <subProcess id="handle">
          <startEvent id="hs"/>
          <intermediateThrowEvent id="raise"><escalationEventDefinition escalationRef="esc_late"/>
          </intermediateThrowEvent>
          <userTask id="work"/><endEvent id="he"/>
          <sequenceFlow id="h1" sourceRef="hs" targetRef="raise"/>
          <sequenceFlow id="h2" sourceRef="raise" targetRef="work"/>
          <sequenceFlow id="h3" sourceRef="work" targetRef="he"/>
        </subProcess>
        <boundaryEvent id="onLate" attachedToRef="handle" cancelActivity="false">
          <escalationEventDefinition escalationRef="esc_late"/>
        </boundaryEvent>
        <userTask id="supervisor"/><endEvent id="e"/><endEvent id="e2"/>
        """
        + chain("s", "handle", "e") + chain("onLate", "supervisor", "e2"),
        roots=MESSAGES,
    )
    engine.deploy(doc)
    inst = engine.start("p")
    assert open_tasks(engine, inst.id) == ["supervisor", "work"]


def test_timer_start_event_starts_instances_on_its_cycle(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    doc = process(
        '<startEvent id="daily"><timerEventDefinition><timeCycle>R3/PT24H</timeCycle>'
        '</timerEventDefinition></startEvent><userTask id="report"/><endEvent id="e"/>'
        + chain("daily", "report", "e")
    )
    engine.deploy(doc)
    for day in range(1, 5):
        clock.advance(dt.timedelta(hours=24))
        run_due_jobs(engine)
        assert len(engine.instances()) == min(day, 3)
    redeployed = doc.replace('id="report"', 'id="report" name="Daily report"')
    engine.deploy(redeployed)
    assert len([j for j in engine.jobs() if j.instance_id is None]) == 1


def test_message_start_event_starts_an_instance(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="received"><messageEventDefinition messageRef="m_docs"/></startEvent>'
        '<userTask id="t"/><endEvent id="e"/>' + chain("received", "t", "e"),
        roots=MESSAGES,
    )
    engine.deploy(doc)
    [instance_id] = engine.correlate_message("DocumentsArrived", business_key="HS-1",
                                             variables={"pages": 2})
    record = engine.instance_record(instance_id)
    assert record.business_key == "HS-1"
    assert engine.variables(instance_id) == {"pages": 2}


def test_terminating_removes_timers_and_subscriptions(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    doc = process(
        '<startEvent id="s"/><userTask id="t"/><boundaryEvent id="b" attachedToRef="t">'
        "<timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>"
        '</boundaryEvent><endEvent id="e"/><endEvent id="e2"/>'
        + chain("s", "t", "e") + chain("b", "e2")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    engine.terminate(inst.id, "withdrawn")
    assert engine.jobs(inst.id) == []
    clock.advance(dt.timedelta(hours=2))
    assert run_due_jobs(engine) == 0


def test_async_before_turns_a_failure_into_a_job_that_can_be_retried(
    engine: ProcessEngine,
) -> None:
    doc = process(
        '<startEvent id="s"/><scriptTask id="calc" scriptFormat="python" camunda:asyncBefore='
        '"true"><script>fee = amount * rate</script></scriptTask><userTask id="t"/>'
        '<endEvent id="e"/>' + chain("s", "calc", "t", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"amount": 100})  # the caller's command succeeds
    assert engine.instance(inst.id).active_elements == ["calc"]
    [job] = engine.jobs(inst.id)
    assert job.kind == "async-continuation"
    with pytest.raises(Exception, match="rate"):
        run_due_jobs(engine)
    assert engine.instance(inst.id).active_elements == ["calc"]  # rolled back, job kept
    engine.set_variables(inst.id, {"rate": 2})
    with engine.store.transaction() as tx:
        tx.release_job(job.id, "node-1")
    assert run_due_jobs(engine) == 1
    assert engine.variables(inst.id)["fee"] == 200
    assert open_tasks(engine, inst.id) == ["t"]


def test_async_after_commits_the_activity_before_moving_on(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><userTask id="t" camunda:asyncAfter="true"/><userTask id="next"/>'
        '<endEvent id="e"/>' + chain("s", "t", "next", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    complete(engine, inst.id, "t")
    assert open_tasks(engine, inst.id) == []
    assert run_due_jobs(engine) == 1
    assert open_tasks(engine, inst.id) == ["next"]


def test_a_job_out_of_retries_is_an_incident_until_retried(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><scriptTask id="calc" scriptFormat="python" camunda:asyncBefore='
        '"true"><script>x = missing + 1</script></scriptTask><endEvent id="e"/>'
        + chain("s", "calc", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    [job] = engine.jobs(inst.id)
    now = engine.clock.now()
    with engine.store.transaction() as tx:
        [locked] = tx.acquire_jobs("n", now, 10, dt.timedelta(minutes=1))
        for _ in range(locked.retries):
            tx.record_job_failure(job.id, "n", "missing is unknown", now, now)
            tx.acquire_jobs("n", now, 10, dt.timedelta(minutes=1))
    [incident] = engine.incidents(inst.id)
    assert (incident.kind, incident.job_id) == ("failedJob", job.id)
    engine.retry_job(job.id, retries=1)
    assert engine.incidents(inst.id) == []
    engine.set_variables(inst.id, {"missing": 1})
    assert run_due_jobs(engine) == 1
    assert engine.instance_record(inst.id).status == "COMPLETED"
    from caseflow.errors import NotFound

    with pytest.raises(NotFound):
        engine.retry_job("no-such-job")


def test_ending_an_instance_drops_its_pending_async_continuation(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><scriptTask id="calc" scriptFormat="python" camunda:asyncBefore='
        '"true"><script>fee = 1</script></scriptTask><endEvent id="e"/>'
        + chain("s", "calc", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    [job] = engine.jobs(inst.id)
    assert job.kind == "async-continuation"
    engine.terminate(inst.id, "withdrawn")
    assert engine.jobs(inst.id) == []  # no job left to fail on a finished instance
    assert run_due_jobs(engine) == 0


def test_a_cancelled_scope_drops_the_async_continuation_waiting_in_it(
    engine: ProcessEngine,
) -> None:
    doc = process(
        """
        <startEvent id="s"/>
        <subProcess id="sub">
          <startEvent id="sub_s"/>
          <scriptTask id="calc" scriptFormat="python" camunda:asyncBefore="true">
            <script>fee = 1</script></scriptTask>
          <endEvent id="sub_e"/>
          """ + chain("sub_s", "calc", "sub_e") + """
        </subProcess>
        <boundaryEvent id="cancelled" attachedToRef="sub">
          <messageEventDefinition messageRef="m_cancel"/>
        </boundaryEvent>
        <userTask id="after_cancel"/><endEvent id="e"/><endEvent id="e2"/>
        """
        + chain("s", "sub", "e") + chain("cancelled", "after_cancel", "e2"),
        roots=MESSAGES,
    )
    engine.deploy(doc)
    inst = engine.start("p")
    [job] = engine.jobs(inst.id)
    assert job.kind == "async-continuation"
    engine.correlate_message("CancelRequested", instance_id=inst.id)
    assert open_tasks(engine, inst.id) == ["after_cancel"]
    assert engine.jobs(inst.id) == []  # nothing left to fail against a cancelled token
    assert run_due_jobs(engine) == 0
    assert engine.incidents(inst.id) == []
