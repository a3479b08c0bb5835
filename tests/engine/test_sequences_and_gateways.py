"""Tokens through tasks and gateways, on every storage backend."""

from __future__ import annotations

import pytest

from caseflow.errors import ExecutionError, IllegalState, InstanceNotActive, NotFound
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import TaskQuery
from tests.bpmn import chain, flow, process


def open_tasks(engine: ProcessEngine, instance_id: str) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(TaskQuery(instance_id=instance_id)))


def complete(engine: ProcessEngine, instance_id: str, element_id: str, **variables: object) -> None:
    [task] = [
        t for t in engine.tasks(TaskQuery(instance_id=instance_id)) if t.element_id == element_id
    ]
    engine.complete_task(task.id, variables)


SEQUENCE = process(
    """
    <startEvent id="start"/>
    <userTask id="review" name="Review application" camunda:candidateGroups="clerks"/>
    <userTask id="approve" name="Approve" camunda:assignee="${manager}"/>
    <endEvent id="end"/>
    """
    + chain("start", "review", "approve", "end")
)


def test_user_tasks_in_sequence_run_to_completion(engine: ProcessEngine) -> None:
    engine.deploy(SEQUENCE)
    inst = engine.start("p", business_key="HS-001", variables={"manager": "lan"})
    assert inst.status == "ACTIVE"
    [review] = engine.tasks(TaskQuery(instance_id=inst.id))
    assert (review.element_id, review.name, review.candidate_groups) == (
        "review",
        "Review application",
        ("clerks",),
    )
    assert review.business_key == "HS-001"
    engine.complete_task(review.id, {"note": "ok"})
    [approve] = engine.tasks(TaskQuery(instance_id=inst.id))
    assert approve.assignee == "lan"
    engine.complete_task(approve.id)
    done = engine.instance_record(inst.id)
    assert done.status == "COMPLETED"
    assert done.ended_at is not None
    assert engine.variables(inst.id) == {"manager": "lan", "note": "ok"}
    history = engine.history(inst.id)
    assert sorted(h.element_id for h in history) == ["approve", "end", "review", "start"]
    assert all(h.ended_at is not None and h.outcome == "completed" for h in history)


def test_completing_a_finished_task_is_refused_and_changes_nothing(engine: ProcessEngine) -> None:
    engine.deploy(SEQUENCE)
    inst = engine.start("p", variables={"manager": "lan"})
    [review] = engine.tasks(TaskQuery(instance_id=inst.id))
    engine.complete_task(review.id)
    before = engine.variables(inst.id)
    with pytest.raises(IllegalState):
        engine.complete_task(review.id, {"sneaky": True})
    assert engine.variables(inst.id) == before
    assert open_tasks(engine, inst.id) == ["approve"]


def test_unknown_ids_and_undeployed_keys_are_refused(engine: ProcessEngine) -> None:
    with pytest.raises(NotFound):
        engine.start("nope")
    with pytest.raises(NotFound):
        engine.complete_task("no-such-task")
    with pytest.raises(NotFound):
        engine.instance("no-such-instance")
    assert engine.instances() == []


EXCLUSIVE = process(
    """
    <startEvent id="start"/>
    <exclusiveGateway id="gw" default="toClerk"/>
    <userTask id="manager"/><userTask id="director"/><userTask id="clerk"/>
    <endEvent id="end"/>
    """
    + flow("start", "gw")
    + flow("gw", "director", "${amount > 10000 && !urgent}")
    + flow("gw", "manager", "=amount > 1000")
    + flow("gw", "clerk", id="toClerk")
    + chain("manager", "end")
    + chain("director", "end")
    + chain("clerk", "end")
)


@pytest.mark.parametrize(
    ("amount", "urgent", "expected"),
    [
        (50000, False, "director"),
        (50000, True, "manager"),
        (2000, False, "manager"),
        (10, False, "clerk"),
    ],
)
def test_exclusive_gateway_takes_first_true_condition_or_default(
    engine: ProcessEngine, amount: int, urgent: bool, expected: str
) -> None:
    engine.deploy(EXCLUSIVE)
    inst = engine.start("p", variables={"amount": amount, "urgent": urgent})
    assert open_tasks(engine, inst.id) == [expected]


def test_exclusive_gateway_without_a_way_out_refuses_the_command(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><exclusiveGateway id="gw"/><endEvent id="a"/><endEvent id="b"/>'
        + flow("s", "gw")
        + flow("gw", "a", "${x == 1}")
        + flow("gw", "b", "${x == 2}")
    )
    engine.deploy(doc)
    with pytest.raises(ExecutionError, match="gw"):
        engine.start("p", variables={"x": 3})
    assert engine.instances() == []  # the failed start left nothing behind


PARALLEL = process(
    """
    <startEvent id="start"/>
    <parallelGateway id="fork"/>
    <userTask id="a"/><userTask id="b"/><userTask id="c"/>
    <parallelGateway id="join"/>
    <userTask id="after"/>
    <endEvent id="end"/>
    """
    + chain("start", "fork")
    + chain("fork", "a", "join")
    + chain("fork", "b", "join")
    + chain("fork", "c", "join")
    + chain("join", "after", "end")
)


def test_parallel_gateway_forks_and_joins_all_branches(engine: ProcessEngine) -> None:
    engine.deploy(PARALLEL)
    inst = engine.start("p")
    assert open_tasks(engine, inst.id) == ["a", "b", "c"]
    complete(engine, inst.id, "b")
    complete(engine, inst.id, "a")
    assert open_tasks(engine, inst.id) == ["c"]
    assert engine.instance(inst.id).active_elements == ["c", "join"]
    complete(engine, inst.id, "c")
    assert open_tasks(engine, inst.id) == ["after"]
    assert engine.instance(inst.id).active_elements == ["after"]


INCLUSIVE = process(
    """
    <startEvent id="start"/>
    <inclusiveGateway id="split" default="toArchive"/>
    <userTask id="legal"/><userTask id="finance"/><userTask id="archive"/>
    <inclusiveGateway id="merge"/>
    <userTask id="decide"/>
    <endEvent id="end"/>
    """
    + flow("start", "split")
    + flow("split", "legal", "${needsLegal}")
    + flow("split", "finance", "${amount > 100}")
    + flow("split", "archive", id="toArchive")
    + chain("legal", "merge")
    + chain("finance", "merge")
    + chain("archive", "merge")
    + chain("merge", "decide", "end")
)


def test_inclusive_join_waits_only_for_the_branches_taken(engine: ProcessEngine) -> None:
    engine.deploy(INCLUSIVE)
    inst = engine.start("p", variables={"needsLegal": True, "amount": 500})
    assert open_tasks(engine, inst.id) == ["finance", "legal"]
    complete(engine, inst.id, "legal")
    assert open_tasks(engine, inst.id) == ["finance"]
    complete(engine, inst.id, "finance")
    assert open_tasks(engine, inst.id) == ["decide"]


def test_inclusive_join_with_a_skipped_branch_fires_on_one_token(engine: ProcessEngine) -> None:
    engine.deploy(INCLUSIVE)
    inst = engine.start("p", variables={"needsLegal": False, "amount": 500})
    assert open_tasks(engine, inst.id) == ["finance"]
    complete(engine, inst.id, "finance")
    assert open_tasks(engine, inst.id) == ["decide"]


def test_inclusive_split_falls_back_to_default(engine: ProcessEngine) -> None:
    engine.deploy(INCLUSIVE)
    inst = engine.start("p", variables={"needsLegal": False, "amount": 1})
    assert open_tasks(engine, inst.id) == ["archive"]


def test_inclusive_join_waits_for_a_token_that_can_still_arrive(engine: ProcessEngine) -> None:
    # one branch has two tasks in a row: the join must wait while a token is on the way
    doc = process(
        """
        <startEvent id="s"/><parallelGateway id="fork"/>
        <userTask id="quick"/><userTask id="slow1"/><userTask id="slow2"/>
        <inclusiveGateway id="merge"/><userTask id="after"/><endEvent id="e"/>
        """
        + chain("s", "fork")
        + chain("fork", "quick", "merge")
        + chain("fork", "slow1", "slow2", "merge")
        + chain("merge", "after", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    complete(engine, inst.id, "quick")
    complete(engine, inst.id, "slow1")
    assert open_tasks(engine, inst.id) == ["slow2"]
    complete(engine, inst.id, "slow2")
    assert open_tasks(engine, inst.id) == ["after"]


def test_loop_back_through_a_gateway(engine: ProcessEngine) -> None:
    doc = process(
        """
        <startEvent id="s"/><exclusiveGateway id="merge"/><userTask id="fix"/>
        <exclusiveGateway id="check" default="again"/><endEvent id="e"/>
        """
        + chain("s", "merge", "fix", "check")
        + flow("check", "e", "${approved}")
        + flow("check", "merge", id="again")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    for _ in range(3):
        complete(engine, inst.id, "fix", approved=False)
        assert open_tasks(engine, inst.id) == ["fix"]
    complete(engine, inst.id, "fix", approved=True)
    assert engine.instance_record(inst.id).status == "COMPLETED"
    fixes = [h for h in engine.history(inst.id) if h.element_id == "fix"]
    assert len(fixes) == 4


def test_activity_with_conditional_outgoing_flows_splits(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><task id="t"/><userTask id="a"/><userTask id="b"/>'
        '<endEvent id="e1"/><endEvent id="e2"/>'
        + flow("s", "t")
        + flow("t", "a", "${x > 0}")
        + flow("t", "b", "${x > 5}")
        + chain("a", "e1")
        + chain("b", "e2")
    )
    engine.deploy(doc)
    assert open_tasks(engine, engine.start("p", variables={"x": 7}).id) == ["a", "b"]
    assert open_tasks(engine, engine.start("p", variables={"x": 1}).id) == ["a"]


def test_suspended_instance_refuses_work_until_resumed(engine: ProcessEngine) -> None:
    engine.deploy(SEQUENCE)
    inst = engine.start("p", variables={"manager": "lan"})
    [review] = engine.tasks(TaskQuery(instance_id=inst.id))
    engine.suspend(inst.id)
    assert engine.instance_record(inst.id).status == "SUSPENDED"
    with pytest.raises(InstanceNotActive):
        engine.complete_task(review.id)
    with pytest.raises(IllegalState):
        engine.suspend(inst.id)
    engine.resume(inst.id)
    engine.complete_task(review.id)
    assert open_tasks(engine, inst.id) == ["approve"]


def test_terminate_cancels_open_work(engine: ProcessEngine) -> None:
    engine.deploy(PARALLEL)
    inst = engine.start("p")
    engine.terminate(inst.id, reason="applicant withdrew")
    record = engine.instance_record(inst.id)
    assert (record.status, record.end_reason) == ("TERMINATED", "applicant withdrew")
    assert open_tasks(engine, inst.id) == []
    closed = engine.tasks(TaskQuery(instance_id=inst.id, include_closed=True))
    assert {t.status for t in closed} == {"CANCELLED"}
    with pytest.raises(InstanceNotActive):
        engine.terminate(inst.id)
    assert {h.outcome for h in engine.history(inst.id) if h.element_id in "abc"} == {"cancelled"}


def test_terminate_end_event_ends_every_branch(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><parallelGateway id="fork"/><userTask id="slow"/>'
        '<endEvent id="stop"><terminateEventDefinition/></endEvent><endEvent id="e"/>'
        + chain("s", "fork")
        + chain("fork", "stop")
        + chain("fork", "slow", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    record = engine.instance_record(inst.id)
    assert record.status == "COMPLETED"
    assert open_tasks(engine, inst.id) == []


def test_plain_and_manual_tasks_pass_through(engine: ProcessEngine) -> None:
    doc = process(
        '<startEvent id="s"/><task id="t"/><manualTask id="m"/><endEvent id="e"/>'
        + chain("s", "t", "m", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    assert engine.instance_record(inst.id).status == "COMPLETED"
    assert {h.element_id for h in engine.history(inst.id)} == {"s", "t", "m", "e"}


def test_inclusive_join_fires_when_the_other_token_turns_away(engine: ProcessEngine) -> None:
    # the second token can reach the join only through "route"; once routed elsewhere
    # (to a task that never leads to the join) the join must not keep waiting for it
    doc = process(
        """
        <startEvent id="s"/><parallelGateway id="fork"/><userTask id="quick"/>
        <userTask id="first"/><exclusiveGateway id="route" default="away"/>
        <userTask id="elsewhere"/><endEvent id="e2"/>
        <inclusiveGateway id="merge"/><userTask id="after"/><endEvent id="e"/>
        """
        + chain("s", "fork")
        + chain("fork", "quick", "merge")
        + chain("fork", "first", "route")
        + flow("route", "merge", "${toMerge}")
        + flow("route", "elsewhere", id="away")
        + chain("elsewhere", "e2")
        + chain("merge", "after", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p")
    complete(engine, inst.id, "quick")
    assert open_tasks(engine, inst.id) == ["first"]
    complete(engine, inst.id, "first", toMerge=False)
    assert open_tasks(engine, inst.id) == ["after", "elsewhere"]


def test_completing_a_task_returns_the_tasks_it_opened(engine: ProcessEngine) -> None:
    engine.deploy(PARALLEL)
    inst = engine.start("p")
    a, b, c = sorted(engine.tasks(TaskQuery(instance_id=inst.id)), key=lambda t: t.element_id)
    assert engine.complete_task(a.id) == []
    assert engine.complete_task(b.id) == []
    [after] = engine.complete_task(c.id)
    assert after.element_id == "after"
    assert [t.id for t in engine.complete_task(after.id, idempotency_key="k")] == []
    assert engine.complete_task(after.id, idempotency_key="k") == []
