"""Routing: a new task's queue, capacity and overflow, auto-assignment, the case's way."""

from __future__ import annotations

import datetime as dt

import pytest

from caseflow.clock import ManualClock
from caseflow.errors import ExpressionError
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import TaskQuery
from caseflow.store import open_store
from caseflow.work import WorkService
from tests.bpmn import chain, flow, process
from tests.work.conftest import Org, one_task_process, user_task


def test_candidate_groups_lead_to_the_queue_of_their_role(org: Org) -> None:
    task_id = org.start()
    task = org.work.task("lan", task_id)
    assert task.queue == "intake"
    create = org.work.task_history(task_id)[0]
    assert (create.action, create.queue) == ("CREATE", "intake")
    assert create.data == {"routed_by": "candidate group 'clerks'"}


def test_a_group_without_a_bound_queue_uses_its_queue_assignments(org: Org) -> None:
    work = org.work
    work.create_role("reviewers", "Reviewers")
    work.assign_queue("legal", "reviewers", priority_level=10)
    work.assign_queue("intake", "reviewers", priority_level=90)
    org.engine.deploy(one_task_process("rev", groups="nobody,reviewers"))
    assert work.task("sup", org.start("rev")).queue == "intake"


def test_the_bpmn_queue_attribute_is_used_as_written(org: Org) -> None:
    org.engine.deploy(one_task_process("q", groups="clerks", queue="legal"))
    task_id = org.start("q")
    assert org.work.task("chi", task_id).queue == "legal"
    assert org.work.task("lan", task_id).queue == "legal"  # a candidate group still sees it


def test_a_task_nobody_routes_has_no_queue_and_only_its_candidates_see_it(org: Org) -> None:
    org.engine.deploy(one_task_process("solo", users="chi"))
    task_id = org.start("solo")
    task = org.work.task("chi", task_id)
    assert task.queue is None and task.candidate_users == ("chi",)
    assert org.work.tasks("lan") == []
    assert org.work.claim_next("chi") is None  # claim-next works queues
    assert org.work.claim("chi", task_id).assignee == "chi"


def test_routing_rules_by_process_element_and_condition(org: Org) -> None:
    work = org.work
    work.add_routing_rule("big amounts to legal", "legal", process_key="p",
                          condition="${amount > 1000}", priority=80)
    work.add_routing_rule("north to legal", "legal", element_id="t",
                          condition="=region = \"north\"")
    work.add_routing_rule("other process", "legal", process_key="other")
    small = org.start(variables={"amount": 10, "region": "south"})
    big = org.start(variables={"amount": 5000, "region": "south"})
    north = org.start(variables={"amount": 10, "region": "north"})
    assert work.task("sup", small).queue == "intake"
    assert (work.task("sup", big).queue, work.task("sup", big).priority) == ("legal", 80)
    assert work.task("sup", north).queue == "legal"
    assert work.task_history(big)[0].data == {"routed_by": "rule 'big amounts to legal'"}
    assert [r.name for r in work.routing_rules()] == [
        "big amounts to legal", "north to legal", "other process",
    ]
    with pytest.raises(ExpressionError):
        work.add_routing_rule("broken", "legal", condition="${amount >")


def test_a_rule_whose_condition_fails_is_skipped_and_noted(org: Org) -> None:
    org.work.add_routing_rule("needs a number", "legal", condition="${amount * 2 > 10}")
    task_id = org.start(variables={"amount": "lots"})
    assert org.work.task("sup", task_id).queue == "intake"
    data = org.work.task_history(task_id)[0].data
    assert data is not None and data["rule_errors"][0].startswith("needs a number:")


def test_rules_see_variables_set_by_the_command_that_opens_the_task(org: Org) -> None:
    work = org.work
    body = (
        '<startEvent id="s"/>' + user_task("t1", groups="clerks", name="Check")
        + user_task("t2", groups="clerks", name="Decide") + '<endEvent id="e"/>'
        + chain("s", "t1", "t2", "e")
    )
    org.engine.deploy(process(body, id="two"))
    work.add_routing_rule("risky second step", "legal", element_id="t2",
                          condition="${risk == 'high'}")
    first = org.start("two")
    work.claim("lan", first)
    instance = work.task("lan", first).instance_id
    work.complete("lan", first, {"risk": "high"})
    [second] = org.engine.tasks(TaskQuery(instance_id=instance))
    assert work.task("sup", second.id).queue == "legal"


def test_a_full_queue_overflows_and_history_says_so(org: Org) -> None:
    work = org.work
    work.create_queue("spill", type="OVERFLOW", department="legal")
    work.assign_queue("spill", "clerks")
    work.update_queue("intake", max_capacity=2, overflow="spill")
    first, second = org.start(), org.start()
    third = org.start()
    assert [work.task("sup", t).queue for t in (first, second)] == ["intake", "intake"]
    assert work.task("lan", third).queue == "spill"
    history = work.task_history(third)
    assert [h.action for h in history] == ["CREATE", "OVERFLOW"]
    assert history[1].comment == "queue 'intake' is at capacity (2/2): overflowed to 'spill'"
    assert history[1].data == {"load": 2, "max_capacity": 2, "overflow_to": "spill"}
    assert history[0].queue == "spill"
    # finished work makes room again: load is counted, never kept
    work.claim("lan", first)
    work.complete("lan", first)
    assert work.task("lan", org.start()).queue == "intake"
    [stats] = work.queue_stats(queues=["intake"])
    assert (stats.load, stats.max_capacity, stats.utilisation) == (2, 2, 1.0)


def test_overflow_with_no_room_anywhere_keeps_the_task_where_it_was_routed(org: Org) -> None:
    work = org.work
    work.create_queue("spill", max_capacity=1, overflow="intake")
    work.update_queue("intake", max_capacity=1, overflow="spill")
    work.assign_queue("spill", "clerks")
    tasks = [org.start() for _ in range(3)]
    assert [work.task("lan", t).queue for t in tasks] == ["intake", "spill", "intake"]
    history = work.task_history(tasks[2])
    assert [h.action for h in history] == ["CREATE", "OVERFLOW", "OVERFLOW"]
    assert history[-1].comment == (
        "queue 'spill' is at capacity (1/1): no overflow queue has room: it stays in 'intake'"
    )


@pytest.mark.parametrize("strategy", ["ROUND_ROBIN", "LEAST_LOADED"])
def test_auto_assignment_never_beyond_max_tasks(org: Org, strategy: str) -> None:
    work = org.work
    work.create_role("auto", "Auto")
    work.assign_queue("intake", "auto", strategy=strategy, auto_assign=True,  # type: ignore[arg-type]
                      max_tasks_per_user=2)
    work.grant("lan", "auto", by="admin")
    work.grant("binh", "auto", by="admin")
    tasks = [org.start() for _ in range(5)]
    assignees = [work.task("sup", t).assignee for t in tasks]
    assert sorted(a for a in assignees[:4] if a) == ["binh", "binh", "lan", "lan"]
    if strategy == "ROUND_ROBIN":
        assert assignees[:4] == ["binh", "lan", "binh", "lan"]
    assert assignees[4] is None  # both hold two: the fifth waits in the queue
    fifth = work.task("sup", tasks[4])
    assert fifth.status == "OPEN"
    assert [t.id for t in work.available_tasks("lan")] == [tasks[4]]
    first = work.task("sup", tasks[0])
    assert (first.status, first.claimed_at) == ("CLAIMED", work.now())
    assert [h.action for h in work.task_history(tasks[0])] == ["CREATE", "ASSIGN"]
    assert work.task_history(tasks[0])[1].data == {"strategy": strategy}


def test_least_loaded_counts_every_task_a_user_holds(org: Org) -> None:
    work = org.work
    busy = [org.start(), org.start()]
    for t in busy:
        work.claim("lan", t)
    work.create_role("auto", "Auto")
    work.assign_queue("intake", "auto", strategy="LEAST_LOADED", auto_assign=True)
    work.grant("lan", "auto", by="admin")
    work.grant("binh", "auto", by="admin")
    # lan holds 2: binh gets tasks until he holds as many (a tie goes by id), then turns
    got = [work.task("sup", org.start()).assignee for _ in range(5)]
    assert got == ["binh", "binh", "binh", "lan", "binh"]


def test_skill_based_assignment_follows_the_queue_requirements(org: Org) -> None:
    work = org.work
    work.create_skill("land", "Land law")
    work.create_skill("vi", "Vietnamese")
    work.create_queue("land", type="SPECIALIZED", min_experience=2,
                      required_skills={"land": 3, "vi": 2})
    work.create_role("land_team", "Land team", queue="land")
    work.assign_queue("land", "land_team", strategy="SKILL_BASED", auto_assign=True)
    for user_id, level, skills in (
        ("an", 1, {"land": 5, "vi": 5}),  # too junior
        ("bao", 3, {"land": 2, "vi": 5}),  # not enough land law
        ("cuc", 2, {"land": 3, "vi": 2}),
        ("dao", 4, {"land": 5, "vi": 4}),
    ):
        work.create_user(user_id, user_id.title(), experience_level=level)
        work.grant(user_id, "land_team", by="admin")
        for skill, at in skills.items():
            work.set_user_skill(user_id, skill, at)
    assert work.user_skills("dao") == {"land": 5, "vi": 4}
    org.engine.deploy(one_task_process("land_case", queue="land"))
    got = [work.task("dao", org.start("land_case")).assignee for _ in range(3)]
    assert got == ["dao", "cuc", "dao"]  # equal load: the more skilled first


def test_priority_weighted_assignment_spreads_urgent_work(org: Org) -> None:
    work = org.work
    work.create_queue("urgent", type="PRIORITY", priority_weights={"0": 1, "80": 10})
    work.create_role("desk", "Desk", queue="urgent")
    work.assign_queue("urgent", "desk", strategy="PRIORITY_WEIGHTED", auto_assign=True)
    work.create_user("senior", "Senior", experience_level=4)
    work.create_user("junior", "Junior", experience_level=1)
    for u in ("senior", "junior"):
        work.grant(u, "desk", by="admin")
    org.engine.deploy(one_task_process("hot", queue="urgent", priority="90"))
    org.engine.deploy(one_task_process("cold", queue="urgent", priority="10"))
    hot = work.task("senior", org.start("hot"))
    assert hot.assignee == "senior"  # nobody loaded: the most experienced
    colds = [work.task("senior", org.start("cold")).assignee for _ in range(3)]
    assert colds == ["junior", "junior", "junior"]  # one urgent task weighs ten routine ones


def test_a_bpmn_assignee_is_kept_and_claimed_at_is_set(org: Org) -> None:
    org.engine.deploy(one_task_process("mine", groups="clerks", assignee="lan"))
    task = org.work.task("lan", org.start("mine"))
    assert (task.status, task.assignee, task.queue) == ("CLAIMED", "lan", "intake")
    assert task.claimed_at == org.work.now()
    assert org.work.claim_next("binh") is None


def test_the_case_follows_its_tasks_from_department_to_department(
    org: Org, clock: ManualClock
) -> None:
    work = org.work
    body = (
        '<startEvent id="s"/>' + user_task("t1", groups="clerks", name="Receive")
        + user_task("t2", groups="lawyers", name="Assess") + '<endEvent id="e"/>'
        + chain("s", "t1", "t2", "e")
    )
    org.engine.deploy(process(body, id="case"))
    first = org.start("case", case_id="HS-001", business_key="BK-1")
    [mapping] = work.case("HS-001")
    intake_id = next(d.id for d in work.departments() if d.code == "intake")
    legal_id = next(d.id for d in work.departments() if d.code == "legal")
    assert (mapping.current_department_id, mapping.previous_department_id) == (intake_id, None)
    assert (mapping.current_queue, mapping.business_key) == ("intake", "BK-1")
    work.claim("lan", first)
    clock.advance(dt.timedelta(hours=1))
    work.complete("lan", first)
    [mapping] = work.case("HS-001")
    assert (mapping.current_department_id, mapping.previous_department_id) == (legal_id, intake_id)
    assert mapping.current_queue == "legal"
    assert [(s["element_id"], s["queue"]) for s in mapping.routing_history] == [
        ("t1", "intake"), ("t2", "legal"),
    ]
    assert work.case("nothing") == []


def test_a_boundary_or_end_event_leaving_the_task_removes_it_from_its_queue(
    org: Org,
) -> None:
    body = (
        '<startEvent id="s"/><parallelGateway id="fork"/>'
        + user_task("t", groups="clerks") + user_task("u", groups="clerks")
        + '<endEvent id="e1"/><endEvent id="stop"><terminateEventDefinition/></endEvent>'
        + flow("s", "fork") + flow("fork", "t") + flow("fork", "u")
        + flow("t", "e1") + flow("u", "stop")
    )
    org.engine.deploy(process(body, id="race"))
    instance = org.engine.start("race")
    tasks = {t.element_id: t.id for t in org.engine.tasks(TaskQuery(instance_id=instance.id))}
    org.work.claim("lan", tasks["u"])
    org.work.complete("lan", tasks["u"])  # the terminate end event cancels t
    assert org.work.task("sup", tasks["t"]).status == "CANCELLED"
    assert org.work.claim_next("binh") is None
    assert org.work.task_history(tasks["t"])[-1].action == "CANCEL"


def test_the_memory_store_is_refused() -> None:
    engine = ProcessEngine(open_store("memory://"))
    with pytest.raises(TypeError, match="SQLite or PostgreSQL"):
        WorkService(engine)


def test_one_router_per_engine_and_tenant(engine: ProcessEngine) -> None:
    first, second = WorkService(engine), WorkService(engine)
    assert first.router is second.router
    other = WorkService(engine, tenant_id="other")
    assert other.router is not first.router
    assert len(engine.task_listeners) == 2
