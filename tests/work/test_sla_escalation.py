"""SLA due dates in business time, SLA status, and automatic and manual escalation, on
SQLite and PostgreSQL with a moved clock and the real job executor."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from caseflow.clock import ManualClock
from caseflow.errors import Forbidden, IllegalState
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import TaskQuery
from caseflow.runtime.process_engine import DefinitionMetadata
from caseflow.store import schema as s
from caseflow.store.sql import SqlStore
from caseflow.time import Override
from caseflow.time.calendar_store import (
    CalendarRecord,
    OverrideRecord,
    save_calendar,
    save_override,
    vietnam_calendar_record,
)
from caseflow.time.jobs import JobExecutor
from caseflow.time.sla import SlaStatus
from caseflow.work import TaskFilter, WorkService
from caseflow.work.escalation import Escalations, supervisors
from caseflow.work.routing import work_sql
from caseflow.work.sla import SLA_CHECK_KIND, SlaSettings
from tests.bpmn import chain, process
from tests.work.conftest import Org

VN = dt.timezone(dt.timedelta(hours=7))


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=VN)  # type: ignore[misc]


def sla_process(
    key: str = "sla", *, sla: str | None = None, queue: str = "intake", due: str | None = None
) -> str:
    attrs = f'id="t" name="Review" caseflow:queue="{queue}"'
    if sla:
        attrs += f' caseflow:sla="{sla}"'
    if due:
        attrs += f' camunda:dueDate="{due}"'
    return process(
        f'<startEvent id="s"/><userTask {attrs}/><endEvent id="e"/>' + chain("s", "t", "e"),
        id=key,
    )


@pytest.fixture
def esc(org: Org) -> Escalations:
    return Escalations(org.work)


@pytest.fixture
def executor(engine: ProcessEngine, esc: Escalations) -> JobExecutor:
    node = JobExecutor(engine, node_id="test-node", max_workers=1)
    esc.register(node)
    return node


def start(org: Org, key: str = "sla") -> str:
    return org.start(key)


def set_queue_sla(org: Org, queue: str, minutes: int | None) -> None:
    store = org.engine.store
    assert isinstance(store, SqlStore)
    with store.transaction() as tx:
        work_sql(tx, org.work.tenant_id, org.engine.clock.now()).update_row(
            s.work_queue, {"name": queue}, {"sla_minutes": minutes}
        )
    org.work.router.invalidate()


def outbox(org: Org, kind: str) -> list[dict[str, object]]:
    store = org.engine.store
    assert isinstance(store, SqlStore)
    with store.transaction(read_only=True) as tx:
        rows = tx.conn.execute(
            select(s.outbox_event.c.payload)
            .where(s.outbox_event.c.type == kind)
            .order_by(s.outbox_event.c.seq)
        ).all()
    return [dict(r[0]) for r in rows]


# ---------------------------------------------------------------- due dates


def test_the_tightest_sla_sets_the_due_date_in_business_hours(
    org: Org, esc: Escalations, clock: ManualClock
) -> None:
    clock.set(local(2025, 1, 13, 8, 0))  # Monday, opening time
    set_queue_sla(org, "intake", 600)  # 10 working hours: the tightest
    org.engine.deploy(sla_process(sla="PT16H"), metadata=DefinitionMetadata(sla_target_hours=40))
    task_id = start(org)
    task = org.engine.task(task_id)
    assert task.due_at == local(2025, 1, 14, 10, 0)  # Mon 8h, Tue 2h
    sla = esc.task_sla(task_id)
    assert sla is not None
    assert (sla.source, sla.status) == ("queue", SlaStatus.ON_TRACK)
    # 80% of 10 working hours = 8 h: the close of Monday
    assert sla.at_risk_at == local(2025, 1, 13, 17, 0)
    # the work item shows the same due date
    assert org.work.task("sup", task_id).due_at == local(2025, 1, 14, 10, 0)


def test_the_step_sla_wins_when_it_is_tighter_and_counts_across_tet(
    org: Org, esc: Escalations, clock: ManualClock
) -> None:
    clock.set(local(2025, 1, 24, 16, 0))  # Friday before Tết 2025 (25 Jan - 2 Feb off)
    set_queue_sla(org, "intake", 600)
    org.engine.deploy(sla_process(sla="PT2H"), metadata=DefinitionMetadata(sla_target_hours=40))
    task_id = start(org)
    sla = esc.task_sla(task_id)
    assert sla is not None
    assert sla.source == "task"
    assert sla.due_at == local(2025, 2, 3, 9, 0)  # Fri 16-17, then Monday after Tết 8-9


def test_a_definition_target_counts_working_days_over_the_weekend(
    org: Org, esc: Escalations, clock: ManualClock
) -> None:
    clock.set(local(2025, 3, 7, 13, 0))  # Friday afternoon
    org.engine.deploy(sla_process(), metadata=DefinitionMetadata(sla_target_hours=8))
    task_id = start(org)
    sla = esc.task_sla(task_id)
    assert sla is not None
    # Friday 13-17, Monday 8-12 (the lunch break is not counted)
    assert (sla.source, sla.due_at) == ("definition", local(2025, 3, 10, 12, 0))
    instance = org.engine.task(task_id).instance_id
    found = esc.instance_sla(instance)
    assert found is not None
    assert found.due_at == local(2025, 3, 10, 12, 0)
    assert found.status is SlaStatus.ON_TRACK


def test_an_explicit_bpmn_due_date_is_kept_only_when_tighter(
    org: Org, esc: Escalations, clock: ManualClock
) -> None:
    clock.set(local(2025, 1, 13, 8, 0))
    tight = "2025-01-13T03:00:00Z"  # 10:00 local: before the 16 working hours
    loose = "2025-02-28T10:00:00Z"
    org.engine.deploy(sla_process("tight", sla="PT16H", due=tight))
    org.engine.deploy(sla_process("loose", sla="PT16H", due=loose))
    t1, t2 = start(org, "tight"), start(org, "loose")
    one, two = esc.task_sla(t1), esc.task_sla(t2)
    assert one is not None and two is not None
    assert (one.source, one.due_at) == ("bpmn", local(2025, 1, 13, 10, 0))
    assert (two.source, two.due_at) == ("task", local(2025, 1, 14, 17, 0))
    assert org.engine.task(t2).due_at == local(2025, 1, 14, 17, 0)


def test_a_queue_calendar_with_a_decreed_working_saturday(
    org: Org, esc: Escalations, clock: ManualClock, sql_store: SqlStore
) -> None:
    now = clock.now()
    with sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn-office", now, name="vn-office"))
        save_override(tx, OverrideRecord(
            "o1", "vn-office", Override.working_day(dt.date(2025, 3, 8), reason="decree"), now
        ))
    esc.set_calendar("vn-office", department="intake")
    clock.set(local(2025, 3, 7, 13, 0))  # Friday afternoon; Saturday is a working day
    org.engine.deploy(sla_process(sla="PT8H"))
    sla = esc.task_sla(start(org))
    assert sla is not None
    assert (sla.calendar, sla.due_at) == ("vn-office", local(2025, 3, 8, 12, 0))
    assert isinstance(vietnam_calendar_record("x", now), CalendarRecord)


def test_no_sla_means_no_row_and_no_checks(org: Org, esc: Escalations) -> None:
    org.engine.deploy(sla_process())
    task_id = start(org)
    assert esc.task_sla(task_id) is None
    assert org.engine.task(task_id).due_at is None


# ---------------------------------------------------------------- status and checks


def test_status_moves_on_track_at_risk_breached_and_queries_follow(
    org: Org, esc: Escalations, clock: ManualClock, executor: JobExecutor
) -> None:
    clock.set(local(2025, 1, 13, 8, 0))
    org.engine.deploy(sla_process(sla="PT10H"))
    task_id = start(org)

    def status() -> SlaStatus:
        found = esc.task_sla(task_id)
        assert found is not None
        return found.status

    def listed(*statuses: str) -> list[str]:
        return [t.id for t in org.work.tasks("sup", TaskFilter(sla_statuses=statuses))]

    clock.set(local(2025, 1, 13, 16, 59))
    assert status() is SlaStatus.ON_TRACK
    assert listed("ON_TRACK") == [task_id]
    clock.set(local(2025, 1, 13, 17, 0))  # 8 of 10 working hours used: 80%
    assert status() is SlaStatus.AT_RISK
    assert listed("AT_RISK") == [task_id]
    assert listed("ON_TRACK", "BREACHED") == []
    clock.set(local(2025, 1, 14, 10, 0, 1))
    assert status() is SlaStatus.BREACHED
    assert listed("BREACHED") == [task_id]
    # no policy: the breach is reported once, nothing escalates
    assert executor.run_until_idle() == 2
    assert [e["taskId"] for e in outbox(org, "SLABreached")] == [task_id]
    assert org.work.task("sup", task_id).escalation_level == 0
    org.work.claim("lan", task_id)
    org.work.complete("lan", task_id)
    assert status() is SlaStatus.BREACHED  # completed late


def test_completing_in_time_is_met_and_removes_the_checks(
    org: Org, esc: Escalations, clock: ManualClock, executor: JobExecutor, sql_store: SqlStore
) -> None:
    clock.set(local(2025, 1, 13, 8, 0))
    org.engine.deploy(sla_process(sla="PT10H"))
    task_id = start(org)
    with sql_store.transaction(read_only=True) as tx:
        assert len(tx.query_jobs(kind=SLA_CHECK_KIND)) == 2
    org.work.claim("lan", task_id)
    org.work.complete("lan", task_id)
    found = esc.task_sla(task_id)
    assert found is not None and found.status is SlaStatus.MET
    with sql_store.transaction(read_only=True) as tx:
        assert tx.query_jobs(kind=SLA_CHECK_KIND) == []
    clock.set(local(2025, 1, 16, 8, 0))
    assert executor.run_until_idle() == 0
    assert outbox(org, "SLABreached") == []


def test_instance_status_and_filter(
    org: Org, esc: Escalations, clock: ManualClock
) -> None:
    clock.set(local(2025, 1, 13, 8, 0))
    org.engine.deploy(sla_process(), metadata=DefinitionMetadata(sla_target_hours=10))
    late = org.engine.task(start(org)).instance_id
    clock.set(local(2025, 1, 14, 8, 0))
    fresh = org.engine.task(start(org)).instance_id
    clock.set(local(2025, 1, 14, 11, 0))
    assert [i.instance_id for i in esc.instance_slas(statuses=["BREACHED"])] == [late]
    assert [i.instance_id for i in esc.instance_slas(statuses=["ON_TRACK"])] == [fresh]
    [task] = org.engine.tasks(TaskQuery(instance_id=fresh))
    org.work.claim("lan", task.id)
    org.work.complete("lan", task.id)
    found = esc.instance_sla(fresh)
    assert found is not None and found.status is SlaStatus.MET


# ---------------------------------------------------------------- escalation


def test_breach_escalates_level_by_level_to_the_maximum_then_stops(
    org: Org, esc: Escalations, clock: ManualClock, executor: JobExecutor
) -> None:
    esc.set_policy("intake", "BREACHED", action="NONE", priority_step=5, repeat_minutes=60)
    clock.set(local(2025, 1, 13, 8, 0))
    org.engine.deploy(sla_process(sla="PT1H"))
    task_id = start(org)
    levels = []
    for hour in (9, 10, 11, 13, 14):
        clock.set(local(2025, 1, 13, hour, 0, 2))
        executor.run_until_idle()
        levels.append(org.work.task("sup", task_id).escalation_level)
    assert levels == [1, 2, 3, 3, 3]
    task = org.work.task("sup", task_id)
    assert (task.status, task.priority) == ("ESCALATED", 50 + 3 * 5)
    log = org.work.escalations(task_id=task_id)
    assert [(e.kind, e.trigger, e.level) for e in log] == [("AUTOMATIC", "BREACHED", n)
                                                          for n in (1, 2, 3)]
    assert len(outbox(org, "SLABreached")) == 1
    assert [e["level"] for e in outbox(org, "EscalationTriggered")] == [1, 2, 3]
    assert [h.action for h in org.work.history("sup", task_id)].count("ESCALATE") == 3


def test_repeat_checks_skip_the_lunch_break(
    org: Org, esc: Escalations, clock: ManualClock, executor: JobExecutor, sql_store: SqlStore
) -> None:
    esc.set_policy("intake", "BREACHED", repeat_minutes=60)
    clock.set(local(2025, 1, 13, 10, 0))
    org.engine.deploy(sla_process(sla="PT2H"))
    task_id = start(org)
    clock.set(local(2025, 1, 13, 12, 0, 1))  # due at noon
    executor.run_until_idle()
    with sql_store.transaction(read_only=True) as tx:
        [job] = tx.query_jobs(kind=SLA_CHECK_KIND)
    assert job.due_at == local(2025, 1, 13, 14, 0)  # 12:00:01 is lunch: 13:00 + 1 h
    org.work.claim("lan", task_id)
    org.work.complete("lan", task_id)  # ending the task removes the pending repeat check
    with sql_store.transaction(read_only=True) as tx:
        assert tx.query_jobs(kind=SLA_CHECK_KIND) == []


def test_at_risk_reassigns_to_the_supervisor(
    org: Org, esc: Escalations, clock: ManualClock, executor: JobExecutor
) -> None:
    esc.set_policy("intake", "AT_RISK", action="REASSIGN", target="SUPERVISOR")
    clock.set(local(2025, 1, 13, 8, 0))
    org.engine.deploy(sla_process(sla="PT10H"))
    task_id = start(org)
    org.work.claim("lan", task_id)
    clock.set(local(2025, 1, 13, 17, 0))
    assert executor.run_until_idle() == 1
    task = org.work.task("sup", task_id)
    assert (task.assignee, task.escalation_level, task.status) == ("sup", 1, "ESCALATED")
    [entry] = org.work.escalations(task_id=task_id)
    assert (entry.trigger, entry.from_user, entry.to_user) == ("AT_RISK", "lan", "sup")
    [event] = outbox(org, "EscalationTriggered")
    assert (event["toUser"], event["trigger"]) == ("sup", "AT_RISK")


def test_breach_moves_the_task_to_an_escalation_queue(
    org: Org, esc: Escalations, clock: ManualClock, executor: JobExecutor
) -> None:
    org.work.create_queue("intake-escalated", department="intake")
    org.work.assign_queue("intake-escalated", "supervisors")
    esc.set_policy("intake", "BREACHED", action="MOVE_TO_QUEUE", target_queue="intake-escalated")
    clock.set(local(2025, 1, 13, 8, 0))
    org.engine.deploy(sla_process(sla="PT1H"))
    task_id = start(org)
    clock.set(local(2025, 1, 13, 9, 1))
    executor.run_until_idle()
    task = org.work.task("sup", task_id)
    assert (task.queue, task.escalation_level) == ("intake-escalated", 1)
    [entry] = org.work.escalations(task_id=task_id)
    assert (entry.from_queue, entry.to_queue) == ("intake", "intake-escalated")


def test_parent_department_managers_become_candidates(
    org: Org, esc: Escalations, clock: ManualClock, executor: JobExecutor
) -> None:
    work = org.work
    work.create_department("office", "Head office")
    store = org.engine.store
    assert isinstance(store, SqlStore)
    with store.transaction() as tx:
        w = work_sql(tx, work.tenant_id, clock.now())
        office = w.one(s.work_department, code="office")
        w.update_row(s.work_department, {"code": "intake"}, {"parent_id": office.id})
    work.create_role("directors", "Directors", type="DEPARTMENT", department="office",
                     can_manage=True)
    work.create_user("dir", "Director", department="office")
    work.grant("dir", "directors", by="admin")
    with store.transaction(read_only=True) as tx:
        w = work_sql(tx, work.tenant_id, clock.now())
        assert supervisors(w, "intake", parent=True) == ["dir"]
        assert "sup" in supervisors(w, "intake")
    esc.set_policy("intake", "BREACHED", action="ADD_CANDIDATES", target="PARENT_DEPARTMENT")
    clock.set(local(2025, 1, 13, 8, 0))
    org.engine.deploy(sla_process(sla="PT1H"))
    task_id = start(org)
    clock.set(local(2025, 1, 13, 9, 1))
    executor.run_until_idle()
    task = work.task("sup", task_id)
    assert "dir" in task.candidate_users
    assert task.escalation_level == 1
    assert [t.id for t in work.tasks("dir", TaskFilter(scope="available"))] == [task_id]


def test_manual_escalation_goes_through_the_same_path_and_is_resolved(
    org: Org, esc: Escalations, clock: ManualClock
) -> None:
    org.engine.deploy(sla_process())
    task_id = start(org)
    org.work.claim("lan", task_id)
    org.work.escalate("lan", task_id, comment="citizen complaint")
    [entry] = org.work.escalations(task_id=task_id)
    assert (entry.kind, entry.trigger, entry.level, entry.reason, entry.escalated_by) == (
        "MANUAL", "MANUAL", 1, "citizen complaint", "lan"
    )
    [event] = outbox(org, "EscalationTriggered")
    assert (event["kind"], event["taskId"]) == ("MANUAL", task_id)
    assert org.work.escalations(unresolved=True) == [entry]
    with pytest.raises(Forbidden):
        org.work.resolve_escalation("chi", entry.id, resolution="not mine")
    clock.advance(dt.timedelta(hours=1))
    done = org.work.resolve_escalation("sup", entry.id, resolution="called the citizen")
    assert (done.resolved_by, done.resolved_at, done.resolution) == (
        "sup", clock.now(), "called the citizen"
    )
    assert org.work.escalations(unresolved=True) == []
    with pytest.raises(IllegalState):
        org.work.resolve_escalation("sup", entry.id)


def test_bad_policies_are_refused(org: Org, esc: Escalations) -> None:
    with pytest.raises(ValueError, match="trigger"):
        esc.set_policy("intake", "LATE")
    with pytest.raises(ValueError, match="target"):
        esc.set_policy("intake", "BREACHED", action="REASSIGN")
    with pytest.raises(ValueError, match="target_queue"):
        esc.set_policy("intake", "BREACHED", action="MOVE_TO_QUEUE")
    assert esc.policies("intake") == []


def test_a_custom_at_risk_share(org: Org, work: WorkService, clock: ManualClock) -> None:
    esc = Escalations(work, SlaSettings(at_risk_share=0.5))
    clock.set(local(2025, 1, 13, 8, 0))
    org.engine.deploy(sla_process(sla="PT8H"))
    sla = esc.task_sla(start(org))
    assert sla is not None and sla.at_risk_at == local(2025, 1, 13, 12, 0)


def test_an_instance_without_user_tasks_gets_its_sla_from_its_start(
    org: Org, esc: Escalations, clock: ManualClock
) -> None:
    clock.set(local(2025, 1, 24, 16, 0))  # the Friday before Tết
    waiting = process(
        '<startEvent id="s"/><intermediateCatchEvent id="w">'
        '<messageEventDefinition messageRef="m"/></intermediateCatchEvent><endEvent id="e"/>'
        + chain("s", "w", "e"),
        id="waits",
        roots='<message id="m" name="go"/>',
    )
    org.engine.deploy(waiting, metadata=DefinitionMetadata(sla_target_hours=2))
    instance = org.engine.start("waits")
    found = esc.instance_sla(instance.id)
    assert found is not None
    assert (found.started_at, found.due_at) == (local(2025, 1, 24, 16, 0), local(2025, 2, 3, 9, 0))
    clock.set(local(2025, 2, 3, 9, 0, 1))
    assert [i.instance_id for i in esc.instance_slas(statuses=["BREACHED"])] == [instance.id]
